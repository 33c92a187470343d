#include "mesh/watcher.h"

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/file.h"

namespace remora::mesh {
namespace {

class WatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("remora-mesh-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "remora.yaml").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write(const std::string& text) { ASSERT_TRUE(writeFileAtomic(path_, text)); }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(WatcherTest, AcceptsChangesAndKeepsTheLastGoodConfigOnErrors) {
  write("services: [{name: a, ports: [{port: 80}]}]\n");
  EventLoop loop;
  std::vector<SnapshotPtr> updates;
  ConfigWatcher watcher(loop, path_, {}, [&](SnapshotPtr s) { updates.push_back(std::move(s)); });
  auto first = watcher.start();
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ((*first)->generation(), 0U);

  watcher.poll();  // unchanged: nothing
  EXPECT_TRUE(updates.empty());

  write("services: [{name: a, ports: [{port: 80}]}, {name: b, ports: [{port: 81}]}]\n");
  watcher.poll();
  ASSERT_EQ(updates.size(), 1U);
  EXPECT_EQ(updates[0]->generation(), 1U);
  EXPECT_EQ(updates[0]->config().services.size(), 2U);

  // An edit that keeps the file's size is a change too (the watcher keeps
  // the size and a hash of the last file, not its bytes).
  write("services: [{name: a, ports: [{port: 80}]}, {name: c, ports: [{port: 81}]}]\n");
  watcher.poll();
  ASSERT_EQ(updates.size(), 2U);
  EXPECT_EQ(updates[1]->config().services[1].name, "c");
  updates.pop_back();

  write("services: [{name: a, ports: [{port: 99999}]}]\n");  // refused
  watcher.poll();
  EXPECT_EQ(updates.size(), 1U);
  EXPECT_EQ(watcher.rejected(), 1U);
  watcher.poll();  // the same refused file: not parsed (nor refused) again
  EXPECT_EQ(watcher.rejected(), 1U);

  std::filesystem::remove(path_);  // vanished: kept
  watcher.poll();
  EXPECT_EQ(updates.size(), 1U);

  write("mesh: {outboundTrafficPolicy: {mode: REGISTRY_ONLY}}\n");
  watcher.poll();
  ASSERT_EQ(updates.size(), 2U);
  EXPECT_EQ(updates[1]->generation(), 3U);
  EXPECT_EQ(updates[1]->mesh().outbound_policy, OutboundPolicy::RegistryOnly);
}

TEST_F(WatcherTest, ABrokenFileAtStartIsAnError) {
  write("mesh: [\n");
  EventLoop loop;
  ConfigWatcher watcher(loop, path_, {}, [](SnapshotPtr) {});
  auto first = watcher.start();
  ASSERT_FALSE(first);
  EXPECT_NE(first.error().message.find(path_), std::string::npos);
}

TEST_F(WatcherTest, AMissingFileAtStartIsAnError) {
  EventLoop loop;
  ConfigWatcher watcher(loop, path_ + ".absent", {}, [](SnapshotPtr) {});
  EXPECT_FALSE(watcher.start());
}

}  // namespace
}  // namespace remora::mesh

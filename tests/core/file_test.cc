#include "core/file.h"

#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

namespace remora {
namespace {

class FileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("remora-file-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const char* name) const { return (dir_ / name).string(); }
  std::filesystem::path dir_;
};

TEST_F(FileTest, WriteThenRead) {
  ASSERT_TRUE(writeFileAtomic(path("a"), "hello", 0600));
  auto content = readFile(path("a"), 100);
  ASSERT_TRUE(content);
  EXPECT_EQ(*content, "hello");
  struct stat st {};
  ASSERT_EQ(::stat(path("a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // Replacing leaves no temporary behind.
  ASSERT_TRUE(writeFileAtomic(path("a"), "world", 0644));
  EXPECT_EQ(*readFile(path("a"), 100), "world");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_), {}), 1);
}

TEST_F(FileTest, BoundedRead) {
  ASSERT_TRUE(writeFileAtomic(path("big"), std::string(1000, 'x')));
  auto r = readFile(path("big"), 999);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::PayloadTooLarge);
  auto missing = readFile(path("missing"), 10);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::NotFound);
  EXPECT_FALSE(readFile(dir_.string(), 10));
}

TEST_F(FileTest, WriteIntoMissingDirectoryFails) {
  auto r = writeFileAtomic(path("no/such/dir"), "x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::NotFound);
}

}  // namespace
}  // namespace remora

#include "core/event_loop.h"

#include <memory>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace remora {
namespace {

struct Recorder : DeferredDeletable {
  explicit Recorder(std::vector<int>& log, int id) : log_(log), id_(id) {}
  ~Recorder() override { log_.push_back(id_); }
  std::vector<int>& log_;
  int id_;
};

TEST(EventLoopTest, PostFromAnotherThreadRunsOnLoopThread) {
  EventLoop loop;
  std::thread::id ran_on;
  std::thread runner([&] { loop.run(); });
  std::thread poster([&] {
    loop.post([&] {
      ran_on = std::this_thread::get_id();
      EXPECT_TRUE(loop.isThreadSafe());
      loop.stop();
    });
  });
  poster.join();
  auto runner_id = runner.get_id();
  runner.join();
  EXPECT_EQ(ran_on, runner_id);
}

TEST(EventLoopTest, DeferDeleteRunsAfterCurrentCallback) {
  EventLoop loop;
  std::vector<int> log;
  loop.post([&] {
    loop.deferDelete(std::make_unique<Recorder>(log, 1));
    log.push_back(0);  // still inside the callback: nothing destroyed yet
    loop.post([&] {
      log.push_back(2);
      loop.stop();
    });
  });
  loop.run();
  EXPECT_EQ(log, (std::vector<int>{0, 1, 2}));
}

}  // namespace
}  // namespace remora

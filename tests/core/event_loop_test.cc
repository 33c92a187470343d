#include "core/event_loop.h"

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include <asio/steady_timer.hpp>
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

TEST(EventLoopTest, PostBeforeRunRunsOnTheLoopThreadOnceItRuns) {
  EventLoop loop;
  std::vector<int> log;
  loop.post([&] { log.push_back(1); });
  loop.post([&] {
    log.push_back(2);
    EXPECT_TRUE(loop.onLoopThread());
    loop.stop();
  });
  EXPECT_TRUE(log.empty());
  std::thread runner([&] { loop.run(); });
  runner.join();
  EXPECT_EQ(log, (std::vector<int>{1, 2}));
}

// The loop's own posts take asio's unlocked path; other threads' the inbox.
// Every callback runs once, on the loop thread, each thread's in its order.
TEST(EventLoopTest, ManyThreadsPostingAtOnceLoseNothing) {
  constexpr int kThreads = 4;
  constexpr int kPosts = 20000;
  EventLoop loop;
  std::vector<int> last(kThreads, -1);  // touched on the loop thread only
  int ran = 0;
  bool in_order = true;
  std::atomic<bool> all_on_loop{true};
  std::thread runner([&] { loop.run(); });
  std::vector<std::thread> posters;
  posters.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    posters.emplace_back([&, t] {
      for (int i = 0; i < kPosts; ++i) {
        loop.post([&, t, i] {
          if (!loop.onLoopThread()) all_on_loop = false;
          if (last[t] != i - 1) in_order = false;
          last[t] = i;
          // A post from the loop itself, interleaved with the others'.
          loop.post([&] {
            if (++ran == kThreads * kPosts) loop.stop();
          });
        });
      }
    });
  }
  for (auto& p : posters) p.join();
  runner.join();
  EXPECT_EQ(ran, kThreads * kPosts);
  EXPECT_TRUE(in_order);
  EXPECT_TRUE(all_on_loop);
}

TEST(EventLoopTest, StopFromAnotherThreadEndsRunWithTimersPending) {
  EventLoop loop;
  asio::steady_timer never(loop.context(), std::chrono::hours(1));
  bool fired = false;
  never.async_wait([&](const std::error_code& ec) { fired = !ec; });
  std::atomic<bool> started{false};
  loop.post([&] { started = true; });
  std::thread runner([&] { loop.run(); });
  while (!started) std::this_thread::yield();
  loop.stop();
  runner.join();
  EXPECT_FALSE(fired);
}

}  // namespace
}  // namespace remora

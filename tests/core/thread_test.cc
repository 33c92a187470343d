#include "core/thread.h"

#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

namespace remora {
namespace {

#if defined(__SANITIZE_ADDRESS__)  // g++
constexpr bool kAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)  // clang
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif
#else
constexpr bool kAsan = false;
#endif

TEST(BackgroundThread, RunsUnderSchedBatchAndLeavesOtherThreadsAlone) {
  int background_policy = -1;
  std::thread t([&] {
    runAsBackgroundThread();
    background_policy = sched_getscheduler(0);
  });
  t.join();
  EXPECT_EQ(background_policy, SCHED_BATCH);
  // Per thread, not per process: the caller (a worker, say) keeps its own.
  EXPECT_EQ(sched_getscheduler(0), SCHED_OTHER);
}

TEST(ScratchArena, RunsOnAnotherThreadAndHandsBackTheResult) {
  std::thread::id ran_on;
  auto result = runInScratchArena([&] {
    ran_on = std::this_thread::get_id();
    return std::make_unique<std::string>("parsed");  // move-only comes back too
  });
  EXPECT_NE(ran_on, std::this_thread::get_id());
  ASSERT_NE(result, nullptr);
  EXPECT_EQ(*result, "parsed");
}

TEST(ScratchArena, RethrowsWhatTheWorkThrows) {
  EXPECT_THROW(runInScratchArena([]() -> int { throw std::runtime_error("bad"); }),
               std::runtime_error);
}

// The point of it: the work's allocations do not come from the caller's
// heap (here the main thread's, glibc's brk heap), so freeing them leaves
// no holes there.
TEST(ScratchArena, TheWorksAllocationsAreNotOnTheCallersHeap) {
  if (kAsan) GTEST_SKIP() << "ASan's allocator has no glibc arenas";
  auto* brk_end = static_cast<char*>(::sbrk(0));
  auto mine = std::make_unique<char[]>(100);
  ASSERT_LT(mine.get(), brk_end) << "the test thread allocates from the brk heap";
  auto scratch = runInScratchArena([] { return std::make_unique<char[]>(100); });
  EXPECT_GT(scratch.get(), static_cast<char*>(::sbrk(0)))
      << "a scratch thread's allocation landed on the brk heap";
}

}  // namespace
}  // namespace remora

#include "core/thread.h"

#include <thread>

#include <gtest/gtest.h>
#include <sched.h>

namespace remora {
namespace {

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

}  // namespace
}  // namespace remora

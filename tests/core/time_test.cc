#include "core/time.h"

#include <gtest/gtest.h>

namespace remora {
namespace {

TEST(TimeTest, ManualClockMovesOnlyWhenTold) {
  ManualClock clock;
  EXPECT_EQ(formatRfc3339(clock.now()), "2025-01-01T00:00:00Z");
  auto mono = clock.monotonicNow();
  clock.advance(std::chrono::seconds(90));
  EXPECT_EQ(formatRfc3339(clock.now()), "2025-01-01T00:01:30Z");
  EXPECT_EQ(clock.monotonicNow() - mono, std::chrono::seconds(90));
  clock.setWall(fromTimeT(0));
  EXPECT_EQ(formatRfc3339(clock.now()), "1970-01-01T00:00:00Z");
  EXPECT_EQ(clock.monotonicNow() - mono, std::chrono::seconds(90));
}

TEST(TimeTest, SystemClockIsMonotonic) {
  const Clock& clock = systemClock();
  auto a = clock.monotonicNow();
  auto b = clock.monotonicNow();
  EXPECT_LE(a, b);
  EXPECT_GT(toTimeT(clock.now()), 1700000000);
}

}  // namespace
}  // namespace remora

#include "core/time.h"

#include <fmt/format.h>

namespace remora {

namespace {

class SystemClock final : public Clock {
 public:
  SystemTime now() const override { return std::chrono::system_clock::now(); }
  MonoTime monotonicNow() const override { return std::chrono::steady_clock::now(); }
};

// 2025-01-01T00:00:00Z: a fixed start makes test output reproducible.
constexpr std::int64_t kManualStartSeconds = 1735689600;

std::int64_t toNs(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

const Clock& systemClock() {
  static const SystemClock clock;
  return clock;
}

ManualClock::ManualClock() : ManualClock(SystemTime(Seconds(kManualStartSeconds))) {}

ManualClock::ManualClock(SystemTime start) : wall_ns_(toNs(start)) {}

SystemTime ManualClock::now() const {
  return SystemTime(std::chrono::duration_cast<SystemTime::duration>(
      std::chrono::nanoseconds(wall_ns_.load(std::memory_order_acquire))));
}

MonoTime ManualClock::monotonicNow() const {
  return MonoTime(std::chrono::duration_cast<MonoTime::duration>(
      std::chrono::nanoseconds(mono_ns_.load(std::memory_order_acquire))));
}

void ManualClock::advance(std::chrono::nanoseconds d) {
  wall_ns_.fetch_add(d.count(), std::memory_order_acq_rel);
  mono_ns_.fetch_add(d.count(), std::memory_order_acq_rel);
}

void ManualClock::setWall(SystemTime t) { wall_ns_.store(toNs(t), std::memory_order_release); }

std::time_t toTimeT(SystemTime t) { return std::chrono::system_clock::to_time_t(t); }

SystemTime fromTimeT(std::time_t t) { return std::chrono::system_clock::from_time_t(t); }

std::string formatRfc3339(SystemTime t) {
  std::time_t secs = toTimeT(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

}  // namespace remora

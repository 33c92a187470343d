// Time: the one place that reads the wall clock (scripts/lint.sh keeps
// `system_clock::now` here), behind a Clock that tests replace.
//
// Wall time (SystemTime) is for things that other machines judge: a
// certificate's validity window, a token's expiry, log timestamps. Monotonic
// time (MonoTime) is for durations and deadlines inside this process: timers,
// back-off, rotation delays. Code that needs either takes a `const Clock&`;
// tests pass a ManualClock and move it by hand, never sleep.
//
// Threading: systemClock() is immutable and thread-safe. ManualClock is for
// tests; its setters and readers may be called from different threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <string>

namespace remora {

using SystemTime = std::chrono::system_clock::time_point;
using MonoTime = std::chrono::steady_clock::time_point;
using Seconds = std::chrono::seconds;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual SystemTime now() const = 0;
  virtual MonoTime monotonicNow() const = 0;
};

// The real clocks of the machine.
const Clock& systemClock();

// A clock that moves only when told to. Both times start at a fixed,
// realistic wall time (2025-01-01T00:00:00Z) unless set.
class ManualClock : public Clock {
 public:
  ManualClock();
  explicit ManualClock(SystemTime start);
  SystemTime now() const override;
  MonoTime monotonicNow() const override;
  // Moves both clocks forward by `d`.
  void advance(std::chrono::nanoseconds d);
  // Sets the wall clock only (a clock jump); the monotonic clock is untouched.
  void setWall(SystemTime t);

 private:
  std::atomic<std::int64_t> wall_ns_;
  std::atomic<std::int64_t> mono_ns_{0};
};

// Seconds since the epoch, as the C library and OpenSSL want it.
std::time_t toTimeT(SystemTime t);
SystemTime fromTimeT(std::time_t t);

// RFC 3339 in UTC with second precision: "2025-01-01T00:00:00Z".
std::string formatRfc3339(SystemTime t);

}  // namespace remora

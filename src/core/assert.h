// Invariant checks, for our own bugs (never for bad input, which is an Error).
//
//   REMORA_ASSERT(cond)                 debug builds only; free in release.
//   REMORA_CHECK(cond, fmt, args...)    every build: logs the message with the
//                                       file and line, then aborts.
//
// If a test cannot trigger a condition through the public interface, it is an
// assertion, not error handling (DuckDB's rule, see STYLE.md).
#pragma once

#include <fmt/format.h>

namespace remora::detail {
[[noreturn]] void checkFailed(const char* file, int line, const char* condition,
                              const std::string& message) noexcept;
}  // namespace remora::detail

#define REMORA_CHECK(cond, ...)                                                             \
  do {                                                                                      \
    if (!(cond)) [[unlikely]] {                                                             \
      ::remora::detail::checkFailed(__FILE__, __LINE__, #cond, ::fmt::format(__VA_ARGS__)); \
    }                                                                                       \
  } while (false)

#ifdef NDEBUG
#define REMORA_ASSERT(cond) \
  do {                      \
    (void)sizeof(cond);     \
  } while (false)
#else
#define REMORA_ASSERT(cond) REMORA_CHECK(cond, "assertion failed")
#endif

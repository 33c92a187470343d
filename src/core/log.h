// Logging: one spdlog logger per module, diagnostics to stderr.
//
// stdout belongs to the program's output (injected manifests, access logs),
// so diagnostics never go there. Macros check the level before formatting,
// so a disabled debug line costs one branch:
//
//   REMORA_LOG(inject, debug, "skipping {}: {}", name, reason);
//   REMORA_CONN_LOG(proxy, trace, conn.id(), "read {} bytes", n);     // "[C42] read ..."
//   REMORA_STREAM_LOG(proxy, debug, conn.id(), stream.id(), "reset"); // "[C42][S3] reset"
//
// Levels are spdlog's enumerators: trace, debug, info, warn, err (not
// "error"), critical.
//
// Loggers are created on first use and live until exit. `logger()` is
// thread-safe but takes spdlog's registry lock; the macros look it up once
// per call site (a function-local static), so the hot path takes no lock.
#pragma once

#include <string_view>

#include <spdlog/spdlog.h>

namespace remora::log {

// The logger named `module`, created on first use with the process-wide level.
spdlog::logger& logger(std::string_view module);

// Sets the level of every logger, present and future. Accepts spdlog's names:
// trace, debug, info, warn, error, critical, off. Returns false on a bad name.
bool setLevel(std::string_view level);

}  // namespace remora::log

#define REMORA_LOG(module, lvl, ...)                              \
  do {                                                            \
    static auto& remora_logger_ = ::remora::log::logger(#module); \
    if (remora_logger_.should_log(::spdlog::level::lvl)) {        \
      remora_logger_.log(::spdlog::level::lvl, __VA_ARGS__);      \
    }                                                             \
  } while (false)

#define REMORA_CONN_LOG(module, lvl, conn_id, fmt_str, ...)                               \
  do {                                                                                    \
    static auto& remora_logger_ = ::remora::log::logger(#module);                         \
    if (remora_logger_.should_log(::spdlog::level::lvl)) {                                \
      remora_logger_.log(::spdlog::level::lvl, "[C{}] " fmt_str, conn_id, ##__VA_ARGS__); \
    }                                                                                     \
  } while (false)

#define REMORA_STREAM_LOG(module, lvl, conn_id, stream_id, fmt_str, ...)                  \
  do {                                                                                    \
    static auto& remora_logger_ = ::remora::log::logger(#module);                         \
    if (remora_logger_.should_log(::spdlog::level::lvl)) {                                \
      remora_logger_.log(::spdlog::level::lvl, "[C{}][S{}] " fmt_str, conn_id, stream_id, \
                         ##__VA_ARGS__);                                                  \
    }                                                                                     \
  } while (false)

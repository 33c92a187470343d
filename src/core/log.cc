#include "core/log.h"

#include <atomic>
#include <mutex>
#include <string>

#include <spdlog/sinks/stdout_color_sinks.h>

namespace remora::log {
namespace {

std::atomic<spdlog::level::level_enum> g_level{spdlog::level::info};

// Guards creation of loggers, so two threads asking for the same new module
// get the same logger. Lookups after creation still take spdlog's own lock.
std::mutex g_create_mutex;

spdlog::sink_ptr sharedSink() {
  static spdlog::sink_ptr sink = [] {
    auto s = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    s->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %^%l%$ [%n] %v");
    return s;
  }();
  return sink;
}

}  // namespace

spdlog::logger& logger(std::string_view module) {
  std::string name(module);
  if (auto existing = spdlog::get(name)) return *existing;
  std::lock_guard lock(g_create_mutex);
  if (auto existing = spdlog::get(name)) return *existing;
  auto created = std::make_shared<spdlog::logger>(name, sharedSink());
  created->set_level(g_level.load(std::memory_order_relaxed));
  spdlog::register_logger(created);
  // The registry keeps the logger alive until exit; the reference stays valid.
  return *created;
}

bool setLevel(std::string_view level) {
  auto parsed = spdlog::level::from_str(std::string(level));
  if (parsed == spdlog::level::off && level != "off") return false;
  g_level.store(parsed, std::memory_order_relaxed);
  spdlog::set_level(parsed);
  return true;
}

}  // namespace remora::log

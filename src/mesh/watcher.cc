#include "mesh/watcher.h"

#include <functional>
#include <string_view>
#include <utility>

#include "core/file.h"
#include "core/log.h"
#include "core/thread.h"

namespace remora::mesh {
namespace {
constexpr std::size_t kMaxConfigBytes = 16 * 1024 * 1024;
}  // namespace

Result<Config> loadConfigFile(const std::string& path, const IdentityDefaults& defaults) {
  auto text = readFile(path, kMaxConfigBytes);
  if (!text) return std::move(text).error().context(path);
  auto config = parseConfig(*text, defaults);
  if (!config) return std::move(config).error().context(path);
  return config;
}

ConfigWatcher::ConfigWatcher(EventLoop& loop, std::string path, IdentityDefaults defaults,
                             UpdateFn on_update, std::chrono::milliseconds interval)
    : loop_(loop),
      path_(std::move(path)),
      defaults_(std::move(defaults)),
      on_update_(std::move(on_update)),
      interval_(interval),
      timer_(loop.context()) {}

ConfigWatcher::~ConfigWatcher() {
  *alive_ = false;
  timer_.cancel();
}

Result<SnapshotPtr> ConfigWatcher::start() {
  REMORA_ASSERT(loop_.isThreadSafe());
  auto text = readFile(path_, kMaxConfigBytes);
  if (!text) return std::move(text).error().context(path_);
  auto config = parseConfig(*text, defaults_);
  if (!config) return std::move(config).error().context(path_);
  content_size_ = text->size();
  content_hash_ = std::hash<std::string_view>{}(*text);
  arm();
  SnapshotPtr snapshot = Snapshot::build(std::move(*config), generation_);
  // The first config is read before the workers start, so their idle check
  // is seconds away: hand the parse's free pages back now. A reload needs
  // no trim here: the workers' next check trims once the old snapshot is
  // gone (Worker::checkIdleMemory).
  releaseFreeHeapPages();
  return snapshot;
}

void ConfigWatcher::arm() {
  timer_.expires_after(interval_);
  timer_.async_wait([this, alive = alive_](const std::error_code& ec) {
    if (ec || !*alive) return;
    poll();
    arm();
  });
}

void ConfigWatcher::poll() {
  REMORA_ASSERT(loop_.isThreadSafe());
  auto text = readFile(path_, kMaxConfigBytes);
  if (!text) {
    // A file briefly absent during a rename-based save: keep the snapshot.
    if (last_error_ != text.error().message) {
      last_error_ = text.error().message;
      REMORA_LOG(mesh, warn, "config {}: {} (keeping the last good config)", path_, last_error_);
    }
    return;
  }
  std::size_t hash = std::hash<std::string_view>{}(*text);
  if (text->size() == content_size_ && hash == content_hash_) return;
  content_size_ = text->size();
  content_hash_ = hash;
  auto config = parseConfig(*text, defaults_);
  if (!config) {
    ++rejected_;
    last_error_ = config.error().message;
    REMORA_LOG(mesh, err, "config {} refused: {} (keeping the last good config)", path_,
               last_error_);
    return;
  }
  last_error_.clear();
  ++generation_;
  REMORA_LOG(mesh, info, "config {} accepted (generation {}, {} services)", path_, generation_,
             config->services.size());
  on_update_(Snapshot::build(std::move(*config), generation_));
}

}  // namespace remora::mesh

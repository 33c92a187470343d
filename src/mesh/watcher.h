// ConfigWatcher: the config file, read at start and re-read when it changes.
//
// It polls (stat every `interval`, then a content comparison) rather than
// using inotify: a Kubernetes ConfigMap volume changes by swapping a symlink
// two levels up, editors save by rename, and `remora local` rewrites in
// place; polling one stat() a second sees all of them the same way, at a
// cost nobody can measure.
//
// A changed file that parses becomes a new Snapshot with the next
// generation, handed to `on_update` on the watcher's loop. A file that does
// not parse (or vanished) is logged once per distinct error and ignored: the
// last good snapshot stays in force (RELIABILITY.md test 15).
//
// Threading: lives on one EventLoop; construct, start() and destroy there.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <asio/steady_timer.hpp>

#include "core/event_loop.h"
#include "core/result.h"
#include "mesh/config.h"

namespace remora::mesh {

// Reads and parses `path` (at most 16 MiB).
Result<Config> loadConfigFile(const std::string& path, const IdentityDefaults& defaults);

class ConfigWatcher {
 public:
  using UpdateFn = std::function<void(SnapshotPtr)>;

  ConfigWatcher(EventLoop& loop, std::string path, IdentityDefaults defaults, UpdateFn on_update,
                std::chrono::milliseconds interval = std::chrono::milliseconds(1000));
  ~ConfigWatcher();
  ConfigWatcher(const ConfigWatcher&) = delete;
  ConfigWatcher& operator=(const ConfigWatcher&) = delete;

  // Loads the file once (an error here is fatal to the caller: a proxy does
  // not start on a broken config) and starts polling.
  Result<SnapshotPtr> start();
  // Checks the file now (tests; the timer calls it too).
  void poll();
  // Number of changed files refused so far.
  std::uint64_t rejected() const { return rejected_; }

 private:
  void arm();

  EventLoop& loop_;
  std::string path_;
  IdentityDefaults defaults_;
  UpdateFn on_update_;
  std::chrono::milliseconds interval_;
  asio::steady_timer timer_;
  // Of the last file seen (accepted or not): its size and hash, not its
  // bytes, which a large mesh's config makes megabytes. A change that keeps
  // both (a 64-bit hash collision) would go unnoticed until the next edit.
  std::size_t content_size_ = 0;
  std::size_t content_hash_ = 0;
  std::string last_error_;  // logged once per distinct error
  std::uint64_t generation_ = 0;
  std::uint64_t rejected_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace remora::mesh

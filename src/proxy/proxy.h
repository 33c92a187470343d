// Proxy: the data plane of `remora proxy sidecar` — the workers, their
// threads, config snapshots handed to every worker, and the drain.
//
//   Proxy proxy(options, snapshot, &observer);
//   REMORA_TRY(proxy.start());          // binds 15001/15006 on every worker
//   proxy.update(new_snapshot);         // from the config watcher, any thread
//   proxy.drain(std::chrono::seconds(5));
//   proxy.wait();                       // the workers have finished
//
// Threading: start(), drain(), update() and wait() may be called from any
// one controlling thread; workers run on their own threads.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

#include "core/result.h"
#include "mesh/config.h"
#include "proxy/observer.h"
#include "proxy/worker.h"

namespace remora::proxy {

class Proxy {
 public:
  // `observer` (nullable) must outlive the proxy.
  Proxy(ProxyOptions options, mesh::SnapshotPtr snapshot, Observer* observer);
  ~Proxy();
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  // Binds every worker's listeners and starts the threads.
  Status start();
  std::uint16_t outboundPort() const { return outbound_port_; }
  std::uint16_t inboundPort() const { return inbound_port_; }

  // The new snapshot reaches every worker; requests in flight finish on theirs.
  void update(mesh::SnapshotPtr snapshot);
  // Stops accepting, closes idle keep-alive connections, lets the rest
  // finish, and closes what remains after `deadline`. Workers then stop.
  void drain(std::chrono::milliseconds deadline);
  // Ends at once (tests, a second signal).
  void stop();
  // Joins the worker threads (after drain() or stop()).
  void wait();

  std::size_t connections() const;
  std::size_t workers() const { return workers_.size(); }
  // Buffers the workers' idle-memory checks released: read buffers and TLS
  // connections' record buffers (approximate).
  std::uint64_t idleBuffersReleased() const;

 private:
  ProxyOptions options_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  std::uint16_t outbound_port_ = 0;
  std::uint16_t inbound_port_ = 0;
};

}  // namespace remora::proxy

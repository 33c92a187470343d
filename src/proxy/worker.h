// Worker: one thread, one EventLoop, its own SO_REUSEPORT listeners on the
// outbound (15001) and inbound (15006) capture ports; every connection it
// accepts lives and dies on it, so the hot path takes no lock.
//
// A worker holds the current config snapshot (replaced through post(), see
// setSnapshot()), its load-balancer state and its upstream connection pools.
// Requests copy the snapshot pointer when they start and finish on it.
//
// Lifecycle: listen() binds (on the caller's thread, before run());
// run() is the thread's body; drain() stops accepting and lets
// connections finish; stop() ends run(). drain() and stop() are
// thread-safe (they post).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "core/event_loop.h"
#include "core/result.h"
#include "mesh/config.h"
#include "proxy/load_balancer.h"
#include "proxy/observer.h"
#include "proxy/route.h"
#include "tls/certificate_store.h"

namespace remora::proxy {

// Where a captured connection was going. The default reads SO_ORIGINAL_DST;
// component tests, which have no iptables, substitute a function.
using OriginalDstFn =
    std::function<Result<asio::ip::tcp::endpoint>(asio::ip::tcp::socket&, Direction)>;

struct ProxyOptions {
  std::size_t concurrency = 2;
  // Listeners: IPv4 on bind_v4; IPv6 on bind_v6 too when not empty and the
  // host has IPv6 (a failure to bind it is logged, not fatal).
  std::string bind_v4 = "0.0.0.0";
  std::string bind_v6 = "::";
  std::uint16_t outbound_port = 15001;  // 0 in tests: any free port, see Proxy::ports()
  std::uint16_t inbound_port = 15006;
  OriginalDstFn original_dst;  // empty: SO_ORIGINAL_DST
  // Idle upstream connections kept per endpoint and worker.
  std::size_t max_idle_per_endpoint = 64;
  // How often each worker gives idle memory back to the kernel: the read
  // buffers of connections quiet since the previous check (so idle for one
  // to two periods), and freed heap pages. Zero: never.
  std::chrono::milliseconds idle_memory_check{5000};
  // The workload certificate and the mTLS contexts built from it (issue 8),
  // kept current by the certificate provider. Null: no mTLS at all (TLS from
  // peers is proxied as opaque TCP, mTLS endpoints are dialled in plaintext).
  // Must outlive the proxy.
  const tls::CertificateStore* certificates = nullptr;
};

// This proxy's own Istio metadata-exchange headers (x-envoy-peer-metadata-id
// and x-envoy-peer-metadata, telemetry/peer_metadata.h), encoded once per
// snapshot so that requests only copy the bytes. Both empty when the proxy
// does not know its workload or namespace: then it sends none.
struct PeerMetadataHeaders {
  std::string id;
  std::string value;
  bool empty() const { return value.empty(); }
};
PeerMetadataHeaders peerMetadataHeaders(const mesh::ProxyIdentity& self);

class UpstreamPool;
class Session;

class Worker {
 public:
  Worker(std::size_t index, const ProxyOptions& options, mesh::SnapshotPtr snapshot,
         Observer* observer);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Binds the listeners. With port 0 the first worker picks the port and
  // the others reuse it (pass them the bound ports).
  Status listen(std::uint16_t outbound_port, std::uint16_t inbound_port);
  std::uint16_t outboundPort() const { return outbound_port_; }
  std::uint16_t inboundPort() const { return inbound_port_; }

  void run();
  void stop() { loop_.stop(); }

  // Thread-safe: queue on this worker's loop.
  void postSnapshot(mesh::SnapshotPtr snapshot);
  // Stop accepting; HTTP responses say Connection: close from now on; idle
  // keep-alive connections close now; everything closes at `deadline`.
  void postDrain(std::chrono::steady_clock::time_point deadline);
  // Open downstream connections (any thread; approximate).
  std::size_t connections() const { return open_.load(std::memory_order_relaxed); }
  // Buffers the idle-memory checks gave back: read buffers, and the TLS
  // record buffers of those connections (any thread).
  std::uint64_t idleBuffersReleased() const {
    return idle_buffers_released_.load(std::memory_order_relaxed);
  }

  // --- for the sessions (loop thread only) ---
  EventLoop& loop() { return loop_; }
  std::size_t index() const { return index_; }
  const mesh::SnapshotPtr& snapshot() const { return snapshot_; }
  LbState& lb() { return lb_; }
  UpstreamPool& pool() { return *pool_; }
  Observer* observer() { return observer_; }
  // Of the current snapshot's identity (requests on an older snapshot send
  // the newer identity: it is the same pod).
  const PeerMetadataHeaders& peerMetadata() const { return peer_metadata_; }
  // The workload certificate's current contexts; null when the proxy runs
  // without mTLS (no store) or has no certificate yet.
  const tls::CertificateStore::Snapshot* certificates();
  // Whether outbound connections to mTLS endpoints use TLS: a store is
  // configured (with no certificate yet they fail rather than go plaintext).
  bool mtlsEnabled() const { return options_.certificates != nullptr; }
  // A client connection to `endpoint` at `upstream` (the server must prove
  // `endpoint.workload().principal` when known), offering Istio's ALPN for
  // HTTP ("istio-http/1.1") or TCP ("istio-peer-exchange", "istio"), and
  // resuming the last session that upstream gave this worker.
  Result<tls::SslPtr> newMtlsClient(const mesh::Endpoint& endpoint,
                                    const asio::ip::tcp::endpoint& upstream, bool http);
  // Counts a completed mTLS handshake, full or resumed.
  void tlsHandshook(Direction direction, const SSL* ssl) {
    if (observer_ != nullptr)
      observer_->onTlsHandshake(index_, direction, SSL_session_reused(ssl) == 1);
  }
  // Counts a failed mTLS handshake on `ssl` by its reason; returns the
  // reason's name for the log line.
  std::string_view tlsFailed(Direction direction, const SSL* ssl);
  // Counts an inbound connection closed unanswered (Observer::onInboundRefused).
  void inboundRefused(std::string_view reason) {
    if (observer_ != nullptr) observer_->onInboundRefused(index_, reason);
  }
  bool draining() const { return draining_; }
  // Takes ownership of a session; it stays until closeSession().
  Session& adopt(std::unique_ptr<Session> session);
  // Removes the session and destroys it after the current callback.
  void closeSession(Session& session);
  std::uint64_t nextId() { return next_id_++; }

 private:
  struct Listener;
  void accept(Listener& listener);
  void onAccepted(Listener& listener, asio::ip::tcp::socket socket);
  void tick();
  void checkIdleMemory();
  void checkDrained();

  std::size_t index_;
  const ProxyOptions& options_;
  EventLoop loop_;
  mesh::SnapshotPtr snapshot_;
  Observer* observer_;                        // nullable: no telemetry
  PeerMetadataHeaders peer_metadata_;         // of snapshot_->proxy()
  tls::CertificateStore::SnapshotPtr certs_;  // cached; refreshed when the generation moves
  std::uint64_t certs_generation_ = 0;
  // Client TLS sessions by upstream address, port and expected identity
  // (binary key). Never erased:
  // a connection's SSL points at its slot until it ends, and the keys are
  // bounded by the mesh's endpoints.
  std::unordered_map<std::string, tls::SessionSlot> tls_sessions_;
  std::string session_key_;  // scratch: no allocation to look a slot up
  LbState lb_;
  std::unique_ptr<UpstreamPool> pool_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::uint16_t outbound_port_ = 0;
  std::uint16_t inbound_port_ = 0;
  std::unordered_map<std::uint64_t, std::unique_ptr<Session>> sessions_;
  std::uint64_t next_id_ = 1;
  bool draining_ = false;
  std::chrono::steady_clock::time_point drain_deadline_{};
  asio::steady_timer tick_timer_;
  asio::steady_timer idle_memory_timer_;
  const mesh::Snapshot* trimmed_for_ = nullptr;  // the snapshot of the last heap trim
  std::atomic<std::size_t> open_{0};
  std::atomic<std::uint64_t> idle_buffers_released_{0};
};

// The base of every connection a worker owns (sniffing, TCP, HTTP,
// tunnels). Closed sessions are destroyed by the loop after the callback
// that closed them (deferDelete).
class Session : public DeferredDeletable {
 public:
  explicit Session(Worker& worker) : worker_(worker), id_(worker.nextId()) {}
  std::uint64_t id() const { return id_; }
  // Drain started: finish what is in flight, close when idle.
  virtual void onDrain() {}
  // The drain deadline passed: close now.
  virtual void forceClose() = 0;
  // The worker's idle-memory check: release what this connection holds but
  // has not used since the previous check (ReadBuffer::releaseIfIdle on
  // buffers that hold nothing needed, and then Stream::releaseIdleTlsBuffers).
  // Returns how many buffers (read buffers and TLS connections) let go now.
  virtual std::size_t releaseIdleMemory() { return 0; }

 protected:
  Worker& worker_;
  std::uint64_t id_;
  // Handlers capture this token; after the session is gone they do nothing.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

 public:
  ~Session() override { *alive_ = false; }
};

}  // namespace remora::proxy

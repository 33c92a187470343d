// WebhookServer: `remora webhook` on the network. The WebhookService
// (webhook_service.h) over HTTPS on 15017, on `workers` threads.
//
// Routes (every other path: 404; another method: 405):
//   POST /inject              the default revision
//   POST /inject/<revision>   a revision (istio.io/rev=<revision>)
//   GET  /healthz             200 while the process serves
//   GET  /readyz              200 once a valid serving certificate is loaded
//                             and until shutdown starts; 503 otherwise
//   GET  /metrics             Prometheus text (the service's counters, plus
//                             certificate expiry and reloads)
//
// Workers: each has its own EventLoop thread and http::Server listening on
// the same port with SO_REUSEPORT, so the kernel spreads connections and a
// review (CPU work: render and diff) never waits for another thread's.
// The http::Server's limits protect each: body cap (413 before the handler),
// header and body timeouts (408: slow drip), connection cap (accept and
// close), plain HTTP on the TLS port (400).
//
// Certificates: read from --tls-cert/--tls-key (tls::ServingFiles) at start
// (an error there fails start()), then polled every `poll_interval`; a
// changed, consistent pair becomes every worker's context for new
// connections, while open connections finish on the old one, so a rotation
// fails no review. A pair that does not load (half written, mismatched) is
// logged and retried at the next poll; the old one stays in use.
//
// Threading: start() and stop() from one controlling thread; the workers'
// loops run on their own threads. Counters are readable from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <asio/steady_timer.hpp>

#include "control/webhook_service.h"
#include "core/event_loop.h"
#include "core/result.h"
#include "http/server.h"
#include "tls/serving.h"

namespace remora::control {

struct WebhookServerOptions {
  std::string address = "0.0.0.0";
  std::uint16_t port = 15017;  // 0: any free port (tests)
  std::string cert_path;
  std::string key_path;
  std::size_t workers = 2;
  std::chrono::milliseconds poll_interval{1000};
  // http::Server limits (see server.h); the body cap is the service's JSON cap.
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{10'000};
  std::chrono::milliseconds idle_timeout{60'000};
  std::size_t max_connections = 4096;  // per worker
};

class WebhookServer {
 public:
  WebhookServer(WebhookService& service, WebhookServerOptions options);
  ~WebhookServer();
  WebhookServer(const WebhookServer&) = delete;
  WebhookServer& operator=(const WebhookServer&) = delete;

  // Loads the certificate, binds, starts the workers.
  [[nodiscard]] Status start();
  // Readiness goes to 503 (for a drain period, the caller's choice), then
  // stop() closes everything. Both idempotent.
  void beginShutdown() { ready_.store(false, std::memory_order_relaxed); }
  void stop();

  std::uint16_t port() const { return port_; }
  // The serial of the certificate new connections get, and how many reloads.
  std::string servingSerial() const;
  std::uint64_t certificateReloads() const { return reloads_.load(std::memory_order_relaxed); }
  std::uint64_t certificateReloadFailures() const {
    return reload_failures_.load(std::memory_order_relaxed);
  }
  // Refused connections (over the cap), summed over workers.
  std::uint64_t connectionsRefused() const;

 private:
  struct Worker {
    EventLoop loop;
    std::unique_ptr<http::Server> server;
    std::thread thread;
  };

  void routes(http::Server& server);
  void schedulePoll();
  void poll();
  std::string metricsText() const;

  WebhookService& service_;
  WebhookServerOptions options_;
  tls::ServingFiles files_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<asio::steady_timer> poll_timer_;  // on worker 0's loop
  std::uint16_t port_ = 0;
  std::atomic<bool> ready_{false};
  std::atomic<bool> stopped_{false};
  std::atomic<std::uint64_t> reloads_{0};
  std::atomic<std::uint64_t> reload_failures_{0};
  std::atomic<std::int64_t> not_after_s_{0};
  mutable std::mutex serial_mutex_;  // guards serial_
  std::string serial_;
};

}  // namespace remora::control

// The proxy's local endpoints, Envoy's and pilot-agent's ports so that
// kubelet probes, Prometheus scrapes and people's habits carry over:
//
//   127.0.0.1:15000  admin     GET  /config_dump   the proxy's config (JSON, callback)
//                              GET  /stats         metrics as "name{labels}: value" lines
//                              GET  /stats/prometheus
//                              GET  /clusters      upstream clusters (text, callback)
//                              GET  /certs         the workload certificate (JSON, callback)
//                              GET  /ready         200 LIVE, or 503 with the state
//                              POST /drain_listeners  starts the drain (callback)
//                              POST /quitquitquit  asks the proxy to exit (callback)
//   0.0.0.0:15090    GET  /stats/prometheus        the proxy's metrics
//   0.0.0.0:15021    GET  /healthz/ready           200 when LIVE and nothing else holds
//                                                  it back (not_ready: "no workload
//                                                  certificate"), 503 otherwise
//   0.0.0.0:15020    GET  /stats/prometheus        merged: the proxy's metrics, the
//                                                  agent's, and the app's own (scraped
//                                                  from ISTIO_PROMETHEUS_ANNOTATIONS)
//                    GET  /healthz/ready           as on 15021
//                    GET  /app-health/<c>/livez|readyz|startupz
//                    GET  /app-lifecycle/<c>/prestopz|poststartz
//                                                  the app's original probe, run now
//                                                  (ISTIO_KUBE_APP_PROBERS); 404 for a
//                                                  path not in the map
//
// Threads: AdminServer runs two threads of its own, off the workers' loops:
// one serves 15000, 15090 and 15021 (quick answers), the other 15020, whose
// handlers block on the app (a probe waits up to its timeoutSeconds, an app
// scrape up to app_scrape_timeout), so a dead app cannot delay a
// /healthz/ready or a proxy scrape. The callbacks run on the admin thread:
// the proxy makes them thread-safe (an atomic state, a post() to its loop).
//
// Ownership: AdminServer borrows the StatsRegistry (which outlives it) and
// owns its servers and threads; stop() or the destructor joins them.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "core/event_loop.h"
#include "core/result.h"
#include "http/server.h"
#include "proxy/admin/app_probers.h"
#include "telemetry/records.h"

namespace remora::proxy::admin {

// Envoy's server states, as /ready prints them.
enum class ServerState { PreInitializing, Live, Draining };
std::string_view serverStateName(ServerState state) noexcept;  // "LIVE", ...

struct AdminCallbacks {
  std::function<ServerState()> state;  // required
  // GET /config_dump (JSON; "{}" when unset), with the endpoints when the
  // query has include_eds, as Envoy's.
  std::function<std::string(bool include_eds)> config_dump;
  // GET /clusters: Envoy's text ("" when unset), or JSON with ?format=json.
  std::function<std::string(bool json)> clusters;
  std::function<void()> drain;  // POST /drain_listeners
  std::function<void()> quit;   // POST /quitquitquit
  // Why the pod is not ready although the proxy is LIVE ("" when nothing
  // holds it back): /healthz/ready answers 503 with it, as Istio's
  // readiness waits for the proxy's secrets. Envoy's own /ready on 15000
  // reports the server state only.
  std::function<std::string()> not_ready;
  // Prometheus lines appended to the proxy's metrics (15090, /stats, and
  // 15020): the agent's own, such as the workload certificate's.
  std::function<std::string()> extra_metrics;
  std::function<std::string()> certs;  // GET /certs, JSON; {"certificates":[]} when unset
};

struct AdminOptions {
  std::string admin_address = "127.0.0.1";  // Envoy's admin is never exposed
  std::uint16_t admin_port = 15000;         // 0 everywhere: any free port (tests)
  std::string public_address = "0.0.0.0";
  std::uint16_t stats_port = 15090;
  std::uint16_t health_port = 15021;
  std::uint16_t status_port = 15020;
  AppProbers probers;                   // parseAppProbers(ISTIO_KUBE_APP_PROBERS)
  std::optional<AppScrape> app_scrape;  // parsePrometheusAnnotations(...)
  std::string app_host = "127.0.0.1";   // where the app's probes and metrics are
  std::chrono::milliseconds app_scrape_timeout{5'000};
};

class AdminServer {
 public:
  AdminServer(const telemetry::StatsRegistry& stats, AdminCallbacks callbacks,
              AdminOptions options);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds the four ports and starts the threads. Errors: Errc::Io naming the
  // port (address in use). On error nothing is left listening.
  [[nodiscard]] Status start();
  // Closes the ports and joins the threads. Idempotent.
  void stop();

  std::uint16_t adminPort() const;
  std::uint16_t statsPort() const;
  std::uint16_t healthPort() const;
  std::uint16_t statusPort() const;

  // The texts the endpoints serve, for tests and the CLI.
  std::string proxyPrometheus() const;   // 15090: the proxy's and extra_metrics
  std::string mergedPrometheus() const;  // 15020: the above, the agent's, the app's

 private:
  void addRoutes();

  const telemetry::StatsRegistry& stats_;
  AdminCallbacks callbacks_;
  AdminOptions options_;
  EventLoop admin_loop_;
  EventLoop agent_loop_;
  std::unique_ptr<http::Server> admin_;
  std::unique_ptr<http::Server> prom_;
  std::unique_ptr<http::Server> health_;
  std::unique_ptr<http::Server> status_;
  std::thread admin_thread_;
  std::thread agent_thread_;
  bool started_ = false;
  // The agent's own counters (istio_agent_scrapes_total, ..._failures_total),
  // bumped on the agent thread, read by any scrape.
  mutable std::atomic<std::uint64_t> app_scrapes_{0};
  mutable std::atomic<std::uint64_t> app_scrape_failures_{0};
};

}  // namespace remora::proxy::admin

#include "proxy/admin/admin.h"

#include <future>

#include <fmt/format.h>

#include "core/log.h"
#include "core/thread.h"
#include "http/client.h"

namespace remora::proxy::admin {

std::string_view serverStateName(ServerState state) noexcept {
  switch (state) {
    case ServerState::PreInitializing: return "PRE_INITIALIZING";
    case ServerState::Live: return "LIVE";
    case ServerState::Draining: return "DRAINING";
  }
  return "UNKNOWN";
}

namespace {

// Whether the query has `param`: "include_eds" matches "include_eds" and
// "include_eds=", "format=json" matches itself only.
bool queryHas(std::string_view query, std::string_view param) {
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    if (part == param) return true;
    if (param.find('=') == std::string_view::npos && part.starts_with(param) &&
        part.size() > param.size() && part[param.size()] == '=') {
      return true;
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return false;
}

http::Response prometheusResponse(std::string body) {
  http::Response r;
  r.status = 200;
  r.headers.set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
  r.body = std::move(body);
  return r;
}

// Envoy's /stats shape, one "name{labels}: value" line per sample, from
// the exposition text (comments dropped).
std::string plainStats(std::string_view prometheus) {
  std::string out;
  out.reserve(prometheus.size());
  std::size_t pos = 0;
  while (pos < prometheus.size()) {
    auto nl = prometheus.find('\n', pos);
    if (nl == std::string_view::npos) nl = prometheus.size();
    std::string_view line = prometheus.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty() || line.front() == '#') continue;
    const auto sp = line.rfind(' ');
    if (sp == std::string_view::npos) continue;
    out.append(line.substr(0, sp));
    out.append(": ");
    out.append(line.substr(sp + 1));
    out.push_back('\n');
  }
  return out;
}

// The app's exposition, made safe to append to ours: OpenMetrics' "# EOF"
// terminator dropped (it would end the document early), and a final newline.
std::string normalizeAppMetrics(std::string body) {
  std::size_t end = body.size();
  while (end > 0 && (body[end - 1] == '\n' || body[end - 1] == '\r' || body[end - 1] == ' ')) {
    --end;
  }
  body.resize(end);
  if (body.ends_with("# EOF")) body.resize(body.size() - 5);
  if (!body.empty() && body.back() != '\n') body.push_back('\n');
  return body;
}

void stopOnLoop(EventLoop& loop, std::thread& thread,
                std::vector<std::unique_ptr<http::Server>*> servers) {
  if (!thread.joinable()) {
    for (auto* s : servers) s->reset();
    return;
  }
  // Servers close on their own loop's thread, then the loop ends.
  loop.post([&loop, servers] {
    for (auto* s : servers) s->reset();
    loop.stop();
  });
  thread.join();
}

}  // namespace

AdminServer::AdminServer(const telemetry::StatsRegistry& stats, AdminCallbacks callbacks,
                         AdminOptions options)
    : stats_(stats), callbacks_(std::move(callbacks)), options_(std::move(options)) {
  REMORA_CHECK(static_cast<bool>(callbacks_.state), "AdminServer needs a state callback");
  auto make = [](EventLoop& loop, std::string address, std::uint16_t port, std::string name) {
    return std::make_unique<http::Server>(
        loop, http::ServerOptions{.address = std::move(address),
                                  .port = port,
                                  .max_body_bytes = 4096,
                                  .header_timeout = std::chrono::milliseconds(5'000),
                                  .max_connections = 256,
                                  .name = std::move(name)});
  };
  admin_ = make(admin_loop_, options_.admin_address, options_.admin_port, "admin");
  prom_ = make(admin_loop_, options_.public_address, options_.stats_port, "stats");
  health_ = make(admin_loop_, options_.public_address, options_.health_port, "health");
  status_ = make(agent_loop_, options_.public_address, options_.status_port, "status");
  addRoutes();
}

AdminServer::~AdminServer() { stop(); }

void AdminServer::addRoutes() {
  auto ready = [this](const http::Request&) {
    const ServerState s = callbacks_.state();
    return http::Response::text(s == ServerState::Live ? 200 : 503,
                                std::string(serverStateName(s)) + "\n");
  };
  auto pod_ready = [this](const http::Request&) {
    const ServerState s = callbacks_.state();
    if (s != ServerState::Live) {
      return http::Response::text(503, std::string(serverStateName(s)) + "\n");
    }
    std::string why = callbacks_.not_ready ? callbacks_.not_ready() : std::string();
    if (!why.empty()) return http::Response::text(503, why + "\n");
    return http::Response::text(200, "LIVE\n");
  };
  auto prometheus = [this](const http::Request&) { return prometheusResponse(proxyPrometheus()); };

  admin_->route("GET", "/ready", ready);
  admin_->route("GET", "/stats/prometheus", prometheus);
  admin_->route("GET", "/stats", [this](const http::Request& req) {
    if (queryHas(req.query(), "format=prometheus")) {
      return prometheusResponse(proxyPrometheus());
    }
    return http::Response::text(200, plainStats(proxyPrometheus()));
  });
  admin_->route("GET", "/certs", [this](const http::Request&) {
    return http::Response::json(200,
                                callbacks_.certs ? callbacks_.certs() : R"({"certificates":[]})");
  });
  admin_->route("GET", "/config_dump", [this](const http::Request& req) {
    bool eds = queryHas(req.query(), "include_eds");
    return http::Response::json(200, callbacks_.config_dump ? callbacks_.config_dump(eds) : "{}");
  });
  admin_->route("GET", "/clusters", [this](const http::Request& req) {
    if (queryHas(req.query(), "format=json")) {
      return http::Response::json(
          200, callbacks_.clusters ? callbacks_.clusters(true) : R"({"cluster_statuses":[]})");
    }
    return http::Response::text(200, callbacks_.clusters ? callbacks_.clusters(false) : "");
  });
  // Mutations are POST only, as Envoy requires (a GET from a browser or a
  // crawler must not drain the pod); the server answers 405 to a GET.
  admin_->route("POST", "/drain_listeners", [this](const http::Request&) {
    if (callbacks_.drain) callbacks_.drain();
    return http::Response::text(200, "OK\n");
  });
  admin_->route("POST", "/quitquitquit", [this](const http::Request&) {
    if (callbacks_.quit) callbacks_.quit();
    return http::Response::text(200, "OK\n");
  });

  prom_->route("GET", "/stats/prometheus", prometheus);
  health_->route("GET", "/healthz/ready", pod_ready);

  status_->route("GET", "/healthz/ready", pod_ready);
  status_->route("GET", "/stats/prometheus",
                 [this](const http::Request&) { return prometheusResponse(mergedPrometheus()); });
  auto probe = [this](const http::Request& req) {
    auto it = options_.probers.find(req.path());
    if (it == options_.probers.end()) {
      return http::Response::text(404, "no such probe\n");
    }
    ProbeOutcome outcome = runAppProbe(it->second, options_.app_host);
    if (outcome.status >= 400) {
      REMORA_LOG(admin, debug, "probe {} failed: {} {}", it->first, outcome.status, outcome.detail);
    }
    return http::Response::text(outcome.status, outcome.detail + "\n");
  };
  status_->routePrefix("GET", "/app-health/", probe);
  status_->routePrefix("GET", "/app-lifecycle/", probe);
}

std::string AdminServer::proxyPrometheus() const {
  std::string out = stats_.renderPrometheus();
  if (callbacks_.extra_metrics) out += callbacks_.extra_metrics();
  return out;
}

std::string AdminServer::mergedPrometheus() const {
  std::string out = proxyPrometheus();
  std::string app;
  if (options_.app_scrape) {
    app_scrapes_.fetch_add(1, std::memory_order_relaxed);
    http::Client client(http::ClientOptions{.connect_timeout = options_.app_scrape_timeout,
                                            .read_timeout = options_.app_scrape_timeout,
                                            .max_response_bytes = 16 * 1024 * 1024});
    const std::string host = options_.app_host.find(':') != std::string::npos
                                 ? "[" + options_.app_host + "]"
                                 : options_.app_host;
    http::ClientRequest req;
    req.url =
        fmt::format("http://{}:{}{}", host, options_.app_scrape->port, options_.app_scrape->path);
    // Ask for the classic text format: we append, we do not translate.
    req.headers.set("Accept", "text/plain;version=0.0.4;q=1,*/*;q=0.1");
    auto resp = client.send(req);
    if (resp && resp->status == 200) {
      app = normalizeAppMetrics(std::move(resp->body));
    } else {
      app_scrape_failures_.fetch_add(1, std::memory_order_relaxed);
      REMORA_LOG(admin, warn, "scraping the app at {}: {}", req.url,
                 resp ? fmt::format("status {}", resp->status) : resp.error().message);
    }
  }
  fmt::format_to(std::back_inserter(out),
                 "# HELP istio_agent_scrapes_total Scrapes of the application's metrics.\n"
                 "# TYPE istio_agent_scrapes_total counter\n"
                 "istio_agent_scrapes_total{{type=\"application\"}} {}\n"
                 "# HELP istio_agent_scrape_failures_total Failed scrapes of the application's "
                 "metrics.\n"
                 "# TYPE istio_agent_scrape_failures_total counter\n"
                 "istio_agent_scrape_failures_total{{type=\"application\"}} {}\n",
                 app_scrapes_.load(std::memory_order_relaxed),
                 app_scrape_failures_.load(std::memory_order_relaxed));
  out.append(app);
  return out;
}

Status AdminServer::start() {
  REMORA_CHECK(!started_, "AdminServer::start twice");
  struct Named {
    http::Server* server;
    const char* what;
  };
  for (Named n : {Named{admin_.get(), "admin"}, Named{prom_.get(), "stats"},
                  Named{health_.get(), "health"}, Named{status_.get(), "status"}}) {
    if (auto st = n.server->start(); !st) {
      stopOnLoop(admin_loop_, admin_thread_, {&admin_, &prom_, &health_});
      stopOnLoop(agent_loop_, agent_thread_, {&status_});
      return st.error().context(fmt::format("{} port", n.what));
    }
  }
  started_ = true;
  // Scrapes and probes can wait a moment; the workers' requests cannot.
  admin_thread_ = std::thread([this] {
    runAsBackgroundThread();
    admin_loop_.run();
  });
  agent_thread_ = std::thread([this] {
    runAsBackgroundThread();
    agent_loop_.run();
  });
  return {};
}

void AdminServer::stop() {
  stopOnLoop(admin_loop_, admin_thread_, {&admin_, &prom_, &health_});
  stopOnLoop(agent_loop_, agent_thread_, {&status_});
}

std::uint16_t AdminServer::adminPort() const { return admin_ ? admin_->port() : 0; }
std::uint16_t AdminServer::statsPort() const { return prom_ ? prom_->port() : 0; }
std::uint16_t AdminServer::healthPort() const { return health_ ? health_->port() : 0; }
std::uint16_t AdminServer::statusPort() const { return status_ ? status_->port() : 0; }

}  // namespace remora::proxy::admin

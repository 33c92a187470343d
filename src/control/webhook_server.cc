#include "control/webhook_server.h"

#include <fmt/format.h>

#include "core/log.h"

namespace remora::control {

WebhookServer::WebhookServer(WebhookService& service, WebhookServerOptions options)
    : service_(service),
      options_(std::move(options)),
      files_(options_.cert_path, options_.key_path) {}

WebhookServer::~WebhookServer() { stop(); }

Status WebhookServer::start() {
  auto loaded = files_.load();
  if (!loaded) return std::move(loaded).error().context("serving certificate");
  auto tls = std::make_shared<asio::ssl::context>(loaded->context->asioContext());
  {
    std::lock_guard lock(serial_mutex_);
    serial_ = loaded->serial_hex;
  }
  not_after_s_.store(
      std::chrono::duration_cast<Seconds>(loaded->not_after.time_since_epoch()).count(),
      std::memory_order_relaxed);

  std::size_t count = std::max<std::size_t>(options_.workers, 1);
  std::uint16_t port = options_.port;
  for (std::size_t i = 0; i < count; ++i) {
    auto worker = std::make_unique<Worker>();
    http::ServerOptions http_options;
    http_options.address = options_.address;
    http_options.port = port;
    http_options.max_body_bytes = 4 * 1024 * 1024;
    http_options.header_timeout = options_.header_timeout;
    http_options.body_timeout = options_.body_timeout;
    http_options.idle_timeout = options_.idle_timeout;
    http_options.max_connections = options_.max_connections;
    http_options.reuse_port = true;
    http_options.tls = tls;
    http_options.name = "webhook";
    worker->server = std::make_unique<http::Server>(worker->loop, std::move(http_options));
    routes(*worker->server);
    if (auto started = worker->server->start(); !started) {
      workers_.push_back(std::move(worker));
      stop();
      return std::move(started).error();
    }
    port = worker->server->port();  // port 0: the others join the first one's
    workers_.push_back(std::move(worker));
  }
  port_ = port;
  poll_timer_ = std::make_unique<asio::steady_timer>(workers_.front()->loop.context());
  schedulePoll();
  for (auto& worker : workers_) {
    worker->thread = std::thread([w = worker.get()] { w->loop.run(); });
  }
  ready_.store(true, std::memory_order_relaxed);
  REMORA_LOG(webhook, info, "serving on {}:{} with {} worker(s), certificate serial {}",
             options_.address, port_, count, loaded->serial_hex);
  return ok();
}

void WebhookServer::stop() {
  if (stopped_.exchange(true)) return;
  ready_.store(false, std::memory_order_relaxed);
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    Worker* w = workers_[i].get();
    auto shutdown = [this, w, first = i == 0] {
      if (first && poll_timer_) poll_timer_->cancel();
      w->server.reset();
      w->loop.stop();
    };
    if (w->thread.joinable()) {
      w->loop.post(shutdown);
      w->thread.join();
    } else {
      shutdown();  // never ran: we are the loop's thread
    }
  }
  poll_timer_.reset();
  workers_.clear();
}

std::string WebhookServer::servingSerial() const {
  std::lock_guard lock(serial_mutex_);
  return serial_;
}

std::uint64_t WebhookServer::connectionsRefused() const {
  std::uint64_t n = 0;
  for (const auto& w : workers_) {
    if (w->server) n += w->server->connectionsRefused();
  }
  return n;
}

void WebhookServer::routes(http::Server& server) {
  auto answer = [](ReviewAnswer a) {
    http::Response r;
    r.status = a.http_status;
    r.headers.add("Content-Type", a.content_type);
    r.body = std::move(a.body);
    return r;
  };
  server.route("POST", "/inject", [this, answer](const http::Request& request) {
    return answer(service_.review("", request.body));
  });
  server.routePrefix("POST", "/inject/", [this, answer](const http::Request& request) {
    std::string_view revision = request.path().substr(std::string_view("/inject/").size());
    if (revision.empty() || revision.find('/') != std::string_view::npos) {
      return http::Response::text(404, "POST /inject or /inject/<revision>\n");
    }
    return answer(service_.review(revision, request.body));
  });
  server.route("GET", "/healthz",
               [](const http::Request&) { return http::Response::text(200, "ok\n"); });
  server.route("GET", "/readyz", [this](const http::Request&) {
    if (!ready_.load(std::memory_order_relaxed)) {
      return http::Response::text(503, "not ready: starting or shutting down\n");
    }
    auto now = std::chrono::duration_cast<Seconds>(systemClock().now().time_since_epoch()).count();
    if (now >= not_after_s_.load(std::memory_order_relaxed)) {
      return http::Response::text(503, "not ready: the serving certificate has expired\n");
    }
    return http::Response::text(200, "ok\n");
  });
  server.route("GET", "/metrics", [this](const http::Request&) {
    http::Response r = http::Response::text(200, metricsText());
    r.headers = http::HeaderMap();
    r.headers.add("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    return r;
  });
}

std::string WebhookServer::metricsText() const {
  std::string extra = fmt::format(
      "# HELP remora_webhook_certificate_expiry_timestamp_seconds notAfter of the serving "
      "certificate in use.\n"
      "# TYPE remora_webhook_certificate_expiry_timestamp_seconds gauge\n"
      "remora_webhook_certificate_expiry_timestamp_seconds {}\n"
      "# HELP remora_webhook_certificate_reloads_total Serving certificates reloaded from "
      "changed files.\n"
      "# TYPE remora_webhook_certificate_reloads_total counter\n"
      "remora_webhook_certificate_reloads_total {}\n"
      "# HELP remora_webhook_certificate_reload_failures_total Changed certificate files that "
      "did not load (the previous pair stays in use).\n"
      "# TYPE remora_webhook_certificate_reload_failures_total counter\n"
      "remora_webhook_certificate_reload_failures_total {}\n",
      not_after_s_.load(std::memory_order_relaxed), certificateReloads(),
      certificateReloadFailures());
  return service_.metrics().prometheusText(extra);
}

void WebhookServer::schedulePoll() {
  poll_timer_->expires_after(options_.poll_interval);
  poll_timer_->async_wait([this](const asio::error_code& ec) {
    if (ec || stopped_.load()) return;
    poll();
    schedulePoll();
  });
}

void WebhookServer::poll() {
  if (!files_.changed()) return;
  auto loaded = files_.load();
  if (!loaded) {
    // Typically the key is replaced and the certificate not yet: the next
    // poll sees both. Logged each time: it lasts one poll when benign.
    reload_failures_.fetch_add(1, std::memory_order_relaxed);
    REMORA_LOG(webhook, warn, "changed serving certificate not loaded (keeping serial {}): {}",
               servingSerial(), loaded.error().message);
    return;
  }
  auto tls = std::make_shared<asio::ssl::context>(loaded->context->asioContext());
  for (auto& worker : workers_) worker->server->setTlsContext(tls);
  {
    std::lock_guard lock(serial_mutex_);
    serial_ = loaded->serial_hex;
  }
  not_after_s_.store(
      std::chrono::duration_cast<Seconds>(loaded->not_after.time_since_epoch()).count(),
      std::memory_order_relaxed);
  reloads_.fetch_add(1, std::memory_order_relaxed);
  REMORA_LOG(webhook, info, "serving certificate reloaded: serial {}, valid until {}",
             loaded->serial_hex, formatRfc3339(loaded->not_after));
}

}  // namespace remora::control

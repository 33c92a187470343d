// AdminServer over real sockets on 127.0.0.1 (every port 0): the admin,
// stats, health and status endpoints; the app's probes against a real local
// HTTP server, an HTTPS one with a certificate nobody trusts, and a dead
// port; the merged stats with the app's own metrics.
#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "core/json.h"
#include "http/client.h"
#include "proxy/admin/admin.h"
#include "tests/http/component_support.h"
#include "tests/http/test_pki.h"
#include "tests/telemetry/prom_parse.h"

namespace remora::proxy::admin {
namespace {

using http::testing::RunningServer;

// A port nothing listens on: bound then closed, so connects are refused.
std::uint16_t deadPort() {
  asio::io_context io;
  asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = a.local_endpoint().port();
  a.close();
  return port;
}

struct Fixture {
  telemetry::StatsRegistry stats{2};
  std::atomic<ServerState> state{ServerState::PreInitializing};
  std::atomic<int> drains{0};
  std::atomic<int> quits{0};
  std::unique_ptr<AdminServer> admin;

  explicit Fixture(AdminOptions options = {}) {
    options.admin_port = options.stats_port = options.health_port = options.status_port = 0;
    options.public_address = "127.0.0.1";
    AdminCallbacks cb;
    cb.state = [this] { return state.load(); };
    cb.config_dump = [](bool include_eds) {
      return std::string(include_eds ? R"({"configs":[{"name":"listeners"},{"name":"eds"}]})"
                                     : R"({"configs":[{"name":"listeners"}]})");
    };
    cb.clusters = [](bool json) {
      return std::string(
          json
              ? R"({"cluster_statuses":[{"name":"outbound|80||web.default.svc.cluster.local"}]})"
              : "outbound|80||web.default.svc.cluster.local::10.0.0.1:80::health_flags::healthy\n");
    };
    cb.drain = [this] { ++drains; };
    cb.quit = [this] { ++quits; };
    admin = std::make_unique<AdminServer>(stats, std::move(cb), std::move(options));
    auto started = admin->start();
    REMORA_CHECK(started.has_value(), "admin start: {}", started.error().message);
  }

  http::ClientResponse call(std::uint16_t port, std::string path, std::string method = "GET") {
    http::Client client(http::ClientOptions{.connect_timeout = std::chrono::seconds(10),
                                            .read_timeout = std::chrono::seconds(30)});
    http::ClientRequest req;
    req.method = std::move(method);
    req.url = "http://127.0.0.1:" + std::to_string(port) + path;
    auto r = client.send(req);
    EXPECT_TRUE(r.has_value()) << path << ": " << (r ? "" : r.error().message);
    return r ? *r : http::ClientResponse{};
  }
};

telemetry::RequestRecord someRequest() {
  static const telemetry::Workload self{.name = "web", .namespace_ = "default", .app = "web"};
  telemetry::RequestRecord r;
  r.reporter = telemetry::Reporter::Destination;
  r.destination = &self;
  r.destination_service = "web.default.svc.cluster.local";
  r.response_code = 200;
  return r;
}

TEST(AdminComponent, ReadinessFollowsTheServerState) {
  Fixture f;
  auto r = f.call(f.admin->adminPort(), "/ready");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "PRE_INITIALIZING\n");
  EXPECT_EQ(f.call(f.admin->healthPort(), "/healthz/ready").status, 503);
  f.state = ServerState::Live;
  r = f.call(f.admin->adminPort(), "/ready");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "LIVE\n");
  EXPECT_EQ(f.call(f.admin->healthPort(), "/healthz/ready").status, 200);
  EXPECT_EQ(f.call(f.admin->statusPort(), "/healthz/ready").status, 200);
  f.state = ServerState::Draining;
  r = f.call(f.admin->healthPort(), "/healthz/ready");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "DRAINING\n");
}

TEST(AdminComponent, StatsOnEveryPortParse) {
  Fixture f;
  f.stats.worker(0).recordRequest(someRequest());
  f.stats.worker(1).recordRequest(someRequest());
  for (auto [port, path] : {std::pair{f.admin->statsPort(), "/stats/prometheus"},
                            std::pair{f.admin->adminPort(), "/stats/prometheus"},
                            std::pair{f.admin->adminPort(), "/stats?format=prometheus"},
                            std::pair{f.admin->statusPort(), "/stats/prometheus"}}) {
    auto r = f.call(port, path);
    ASSERT_EQ(r.status, 200) << path;
    EXPECT_EQ(r.headers.get("content-type").value_or(""),
              "text/plain; version=0.0.4; charset=utf-8");
    auto ex = telemetry::test::parseExposition(r.body);
    ASSERT_EQ(ex.error, "") << path;
    EXPECT_EQ(ex.value("istio_requests_total"), 2) << path;
  }
  auto plain = f.call(f.admin->adminPort(), "/stats");
  EXPECT_NE(plain.body.find("istio_requests_total{reporter=\"destination\""), std::string::npos);
  EXPECT_NE(plain.body.find("}: 2\n"), std::string::npos);
  EXPECT_EQ(plain.body.find("# TYPE"), std::string::npos);
}

TEST(AdminComponent, ConfigDumpClustersDrainAndQuit) {
  Fixture f;
  auto dump = f.call(f.admin->adminPort(), "/config_dump");
  EXPECT_EQ(dump.status, 200);
  ASSERT_TRUE(parseJson(dump.body).has_value());
  EXPECT_EQ((*parseJson(dump.body))["configs"].size(), 1u);
  // Envoy's ?include_eds, with or without a value, adds the endpoints.
  for (const char* query : {"?include_eds", "?include_eds=true", "?a=b&include_eds"}) {
    auto eds = parseJson(f.call(f.admin->adminPort(), std::string("/config_dump") + query).body);
    ASSERT_TRUE(eds.has_value()) << query;
    EXPECT_EQ((*eds)["configs"].size(), 2u) << query;
  }
  EXPECT_EQ((*parseJson(f.call(f.admin->adminPort(), "/config_dump?include_edsx").body))["configs"]
                .size(),
            1u);
  auto clusters = f.call(f.admin->adminPort(), "/clusters");
  EXPECT_NE(clusters.body.find("outbound|80||web"), std::string::npos);
  EXPECT_EQ(clusters.headers.get("content-type").value_or(""), "text/plain; charset=utf-8");
  auto json = f.call(f.admin->adminPort(), "/clusters?format=json");
  ASSERT_TRUE(parseJson(json.body).has_value()) << json.body;
  EXPECT_EQ((*parseJson(json.body))["cluster_statuses"][0]["name"],
            "outbound|80||web.default.svc.cluster.local");
  // GET must not drain or quit.
  EXPECT_EQ(f.call(f.admin->adminPort(), "/drain_listeners").status, 405);
  EXPECT_EQ(f.call(f.admin->adminPort(), "/quitquitquit").status, 405);
  EXPECT_EQ(f.drains.load(), 0);
  EXPECT_EQ(f.quits.load(), 0);
  EXPECT_EQ(f.call(f.admin->adminPort(), "/drain_listeners", "POST").status, 200);
  EXPECT_EQ(f.call(f.admin->adminPort(), "/quitquitquit", "POST").status, 200);
  EXPECT_EQ(f.drains.load(), 1);
  EXPECT_EQ(f.quits.load(), 1);
  EXPECT_EQ(f.call(f.admin->adminPort(), "/nothing").status, 404);
}

TEST(AdminComponent, AdminListensOnLoopbackOnly) {
  Fixture f;
  // The admin port is bound to 127.0.0.1: the same port on another local
  // address is not ours.
  asio::io_context io;
  asio::ip::tcp::socket s(io);
  std::error_code ec;
  s.connect({asio::ip::make_address("127.0.0.2"), f.admin->adminPort()}, ec);
  EXPECT_TRUE(ec) << "admin answered on 127.0.0.2";
}

TEST(AdminComponent, AppProbesRunTheOriginalHandlers) {
  std::atomic<int> ready_calls{0};
  RunningServer app({}, [&](http::Server& s) {
    s.route("GET", "/healthz", [&](const http::Request& req) {
      ++ready_calls;
      // The probe's httpHeaders reach the app.
      return http::Response::text(
          req.head.headers.get("x-probe") == std::optional<std::string_view>("1") ? 200 : 400,
          "ok");
    });
    s.route("GET", "/sick", [](const http::Request&) { return http::Response::text(500, "no"); });
  });
  const std::uint16_t dead = deadPort();
  const std::string probers =
      R"({
    "/app-health/web/readyz": {"httpGet": {"path": "/healthz", "port": )" +
      std::to_string(app.port()) +
      R"(, "httpHeaders": [{"name": "X-Probe", "value": "1"}]}, "timeoutSeconds": 2},
    "/app-health/web/livez": {"tcpSocket": {"port": )" +
      std::to_string(app.port()) + R"(}},
    "/app-health/web/startupz": {"httpGet": {"path": "/sick", "port": )" +
      std::to_string(app.port()) + R"(}},
    "/app-health/db/readyz": {"httpGet": {"path": "/", "port": )" +
      std::to_string(dead) + R"(}},
    "/app-health/db/livez": {"tcpSocket": {"port": )" +
      std::to_string(dead) + R"(}},
    "/app-health/grpc/livez": {"grpc": {"port": )" +
      std::to_string(app.port()) + R"(}}
  })";
  AdminOptions options;
  auto parsed = parseAppProbers(probers);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  options.probers = std::move(*parsed);
  Fixture f(std::move(options));
  const auto port = f.admin->statusPort();
  EXPECT_EQ(f.call(port, "/app-health/web/readyz").status, 200);
  EXPECT_EQ(ready_calls.load(), 1);
  EXPECT_EQ(f.call(port, "/app-health/web/livez").status, 200);
  EXPECT_EQ(f.call(port, "/app-health/web/startupz").status, 500);  // the app's own status
  EXPECT_EQ(f.call(port, "/app-health/db/readyz").status, 503);     // app down: 503, no hang
  EXPECT_EQ(f.call(port, "/app-health/db/livez").status, 503);
  EXPECT_EQ(f.call(port, "/app-health/grpc/livez").status, 200);
  // Not in the map: 404, whatever it looks like.
  EXPECT_EQ(f.call(port, "/app-health/other/readyz").status, 404);
  EXPECT_EQ(f.call(port, "/app-health/web/readyz/extra").status, 404);
  EXPECT_EQ(f.call(port, "/app-health/").status, 404);
  EXPECT_EQ(f.call(port, "/app-lifecycle/web/prestopz").status, 404);
  // Probes are served on the status port only.
  EXPECT_EQ(f.call(f.admin->adminPort(), "/app-health/web/readyz").status, 404);
}

TEST(AdminComponent, HttpsProbeDoesNotVerifyTheAppCertificate) {
  auto pki = http::testing::makeTestPki("some-other-name");  // nobody trusts this CA
  http::ServerOptions tls_options;
  tls_options.tls = http::testing::serverContext(pki);
  RunningServer app(tls_options, [](http::Server& s) {
    s.route("GET", "/healthz",
            [](const http::Request& r) { return http::Response::text(r.tls ? 200 : 400, "ok"); });
  });
  AdminOptions options;
  options.probers =
      parseAppProbers(R"({"/app-health/web/livez": {"httpGet": {"path": "/healthz", "port": )" +
                      std::to_string(app.port()) + R"(, "scheme": "HTTPS"}}})")
          .value();
  Fixture f(std::move(options));
  EXPECT_EQ(f.call(f.admin->statusPort(), "/app-health/web/livez").status, 200);
}

TEST(AdminComponent, ProbeOfAHungAppTimesOutWith503) {
  // An app that accepts but never answers: the probe's timeout ends it.
  asio::io_context io;
  asio::ip::tcp::acceptor hung(io, {asio::ip::make_address("127.0.0.1"), 0});
  AdminOptions options;
  options.probers =
      parseAppProbers(R"({"/app-health/web/livez": {"httpGet": {"path": "/", "port": )" +
                      std::to_string(hung.local_endpoint().port()) + R"(}, "timeoutSeconds": 1}})")
          .value();
  Fixture f(std::move(options));
  auto r = f.call(f.admin->statusPort(), "/app-health/web/livez");
  EXPECT_EQ(r.status, 503);
  // Meanwhile the health port was never blocked by the probe's thread.
  EXPECT_EQ(f.call(f.admin->healthPort(), "/healthz/ready").status, 503);
}

TEST(AdminComponent, MergedStatsAppendTheAppsMetrics) {
  RunningServer app({}, [](http::Server& s) {
    s.route("GET", "/metrics", [](const http::Request&) {
      return http::Response::text(200,
                                  "# HELP app_hits_total Hits.\n# TYPE app_hits_total counter\n"
                                  "app_hits_total{path=\"/\"} 7\n# EOF\n");
    });
  });
  AdminOptions options;
  options.app_scrape =
      parsePrometheusAnnotations(R"({"scrape":"true","port":")" + std::to_string(app.port()) +
                                 R"(","path":"/metrics"})")
          .value();
  Fixture f(std::move(options));
  f.stats.worker(0).recordRequest(someRequest());
  auto r = f.call(f.admin->statusPort(), "/stats/prometheus");
  ASSERT_EQ(r.status, 200);
  auto ex = telemetry::test::parseExposition(r.body);
  ASSERT_EQ(ex.error, "") << r.body;
  EXPECT_EQ(ex.value("istio_requests_total"), 1);
  EXPECT_EQ(ex.value("app_hits_total"), 7);
  EXPECT_EQ(ex.value("istio_agent_scrapes_total"), 1);
  EXPECT_EQ(ex.value("istio_agent_scrape_failures_total"), 0);
  EXPECT_EQ(r.body.find("# EOF"), std::string::npos);
  // The proxy-only port has no app metrics.
  EXPECT_EQ(f.call(f.admin->statsPort(), "/stats/prometheus").body.find("app_hits_total"),
            std::string::npos);
}

TEST(AdminComponent, MergedStatsSurviveADeadApp) {
  AdminOptions options;
  options.app_scrape = AppScrape{.port = deadPort(), .path = "/metrics"};
  Fixture f(std::move(options));
  auto r = f.call(f.admin->statusPort(), "/stats/prometheus");
  ASSERT_EQ(r.status, 200);
  auto ex = telemetry::test::parseExposition(r.body);
  ASSERT_EQ(ex.error, "");
  EXPECT_EQ(ex.value("istio_agent_scrape_failures_total"), 1);
}

TEST(AdminComponent, PortInUseIsAnErrorNamingThePort) {
  asio::io_context io;
  asio::ip::tcp::acceptor taken(io, {asio::ip::make_address("127.0.0.1"), 0});
  telemetry::StatsRegistry stats(1);
  AdminOptions options;
  options.admin_port = taken.local_endpoint().port();
  options.stats_port = options.health_port = options.status_port = 0;
  options.public_address = "127.0.0.1";
  AdminServer admin(stats, AdminCallbacks{.state = [] { return ServerState::Live; }},
                    std::move(options));
  auto started = admin.start();
  ASSERT_FALSE(started.has_value());
  EXPECT_NE(started.error().message.find("admin port"), std::string::npos)
      << started.error().message;
}

// Prometheus scrapes the status port while workers record: the scrape
// crosses threads through the registry's published tables only (run under
// the tsan preset to check).
TEST(AdminComponent, ScrapeWhileWorkersRecord) {
  Fixture f;
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  for (std::size_t w = 0; w < 2; ++w) {
    workers.emplace_back([&, w] {
      auto r = someRequest();
      for (std::uint32_t i = 0; !stop.load(); ++i) {
        r.response_code = 200 + i % 5;
        f.stats.worker(w).recordRequest(r);
      }
    });
  }
  for (int i = 0; i < 10; ++i) {
    auto r = f.call(f.admin->statsPort(), "/stats/prometheus");
    auto ex = telemetry::test::parseExposition(r.body);
    EXPECT_EQ(ex.error, "");
  }
  stop = true;
  for (auto& t : workers) t.join();
}

}  // namespace
}  // namespace remora::proxy::admin

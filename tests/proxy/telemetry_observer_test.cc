// TelemetryObserver: a report in, Istio's metric labels and access-log
// fields out (request and TCP reports share their labels).
#include "proxy/telemetry_observer.h"

#include <string>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "proxy/route.h"
#include "telemetry/records.h"

namespace remora::proxy {
namespace {

constexpr const char* kYaml = R"(
proxy: {workload: pp-v1, namespace: shop, app: pp, version: v1, serviceAccount: pp}
services:
- name: web
  namespace: shop
  addresses: [10.255.0.1]
  ports: [{port: 80, protocol: HTTP}]
  endpoints: [{address: 127.0.0.1, workload: web-v2, serviceAccount: web,
               labels: {app: web, version: v2}}]
)";

class TelemetryObserverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto config = mesh::parseConfig(kYaml);
    ASSERT_TRUE(config) << config.error().message;
    snapshot_ = mesh::Snapshot::build(std::move(*config));
    route_ = resolveRoute(*snapshot_, Direction::Outbound,
                          asio::ip::tcp::endpoint(asio::ip::make_address("10.255.0.1"), 80));
    ASSERT_EQ(route_.kind, Route::Kind::Service);
    ASSERT_EQ(::pipe(pipe_), 0);
    ::fcntl(pipe_[0], F_SETFL, O_NONBLOCK);
  }
  void TearDown() override {
    ::close(pipe_[0]);
    ::close(pipe_[1]);
  }
  std::string drainPipe() {
    std::string out;
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(pipe_[0], buf, sizeof(buf));
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }
  template <typename Report>
  void fill(Report& r) {
    r.worker = 0;
    r.snapshot = &snapshot_;
    r.route = &route_;
    r.endpoint = &route_.service->endpoints[0];
    r.self = &snapshot_->proxy().workload;
    r.upstream_host = asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 8080);
    r.downstream_remote = asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 40000);
  }

  mesh::SnapshotPtr snapshot_;
  Route route_;
  int pipe_[2] = {-1, -1};
};

TEST_F(TelemetryObserverTest, RequestReportCarriesLabelsAndResponseFlags) {
  telemetry::StatsRegistry stats(1);
  std::string log;
  {
    telemetry::AccessLog access_log(1, pipe_[1]);
    TelemetryObserver observer(1, stats, &access_log);
    RequestReport r;
    fill(r);
    r.method = "GET";
    r.path = "/slow";
    r.protocol = "HTTP/1.1";
    r.response_code = 504;
    r.response_flags = flags::kUpstreamRequestTimeout;
    r.response_code_details = "upstream_response_timeout";
    observer.onRequest(r);
    observer.onTick(0);
  }
  log = drainPipe();
  std::string prom = stats.renderPrometheus();
  EXPECT_NE(prom.find("response_flags=\"UT\""), std::string::npos) << prom;
  EXPECT_NE(prom.find("response_code=\"504\""), std::string::npos) << prom;
  EXPECT_NE(prom.find("reporter=\"source\""), std::string::npos) << prom;
  EXPECT_NE(prom.find("source_workload=\"pp-v1\""), std::string::npos) << prom;
  EXPECT_NE(prom.find("destination_workload=\"web-v2\""), std::string::npos) << prom;
  EXPECT_NE(prom.find("destination_service=\"web.shop.svc.cluster.local\""), std::string::npos)
      << prom;
  EXPECT_NE(log.find("\"response_flags\":\"UT\""), std::string::npos) << log;
  EXPECT_NE(log.find("upstream_response_timeout"), std::string::npos) << log;
  EXPECT_NE(log.find("outbound|80||web.shop.svc.cluster.local"), std::string::npos) << log;
}

TEST_F(TelemetryObserverTest, TcpReportCarriesTheSameLabels) {
  telemetry::StatsRegistry stats(1);
  std::string log;
  {
    telemetry::AccessLog access_log(1, pipe_[1]);
    TelemetryObserver observer(1, stats, &access_log);
    ConnectionReport r;
    fill(r);
    r.bytes_sent = 7;
    r.bytes_received = 5;
    r.response_flags = flags::kUpstreamConnectionFailure;
    observer.onTcpOpen(r);
    observer.onTcpClose(r);
    observer.onTick(0);
  }
  log = drainPipe();
  std::string prom = stats.renderPrometheus();
  EXPECT_NE(prom.find("istio_tcp_connections_closed_total"), std::string::npos) << prom;
  EXPECT_NE(prom.find("source_workload=\"pp-v1\""), std::string::npos) << prom;
  EXPECT_NE(prom.find("destination_workload=\"web-v2\""), std::string::npos) << prom;
  EXPECT_NE(prom.find("destination_service=\"web.shop.svc.cluster.local\""), std::string::npos)
      << prom;
  EXPECT_NE(log.find("\"response_flags\":\"UF\""), std::string::npos) << log;
  EXPECT_NE(log.find("outbound|80||web.shop.svc.cluster.local"), std::string::npos) << log;
}

TEST_F(TelemetryObserverTest, AnEmptyAccessLogFileKeepsTheMetricsAndDropsTheLines) {
  auto config = mesh::parseConfig(std::string(kYaml) + "mesh: {accessLogFile: \"\"}\n");
  ASSERT_TRUE(config) << config.error().message;
  snapshot_ = mesh::Snapshot::build(std::move(*config));
  route_ = resolveRoute(*snapshot_, Direction::Outbound,
                        asio::ip::tcp::endpoint(asio::ip::make_address("10.255.0.1"), 80));
  telemetry::StatsRegistry stats(1);
  {
    telemetry::AccessLog access_log(1, pipe_[1]);
    TelemetryObserver observer(1, stats, &access_log);
    RequestReport request;
    fill(request);
    request.method = "GET";
    request.response_code = 200;
    observer.onRequest(request);
    ConnectionReport connection;
    fill(connection);
    observer.onTcpOpen(connection);
    observer.onTcpClose(connection);
    observer.onTick(0);
  }
  EXPECT_EQ(drainPipe(), "");
  std::string prom = stats.renderPrometheus();
  EXPECT_NE(prom.find("istio_requests_total{"), std::string::npos) << prom;
  EXPECT_NE(prom.find("istio_tcp_connections_closed_total{"), std::string::npos) << prom;
}

}  // namespace
}  // namespace remora::proxy

// TelemetryObserver: a report in, Istio's metric labels and access-log
// fields out (request and TCP reports share their labels).
#include "proxy/telemetry_observer.h"

#include <string>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "proxy/route.h"
#include "telemetry/peer_metadata.h"
#include "telemetry/records.h"

long allocationCount();  // tests/http/alloc_counter.cc

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

// The value of the one istio_requests_total sample whose labels hold
// `label` (name="value"): "none" when no sample does, "several" when more
// than one does.
std::string requestsTotalWith(const std::string& prom, const std::string& label) {
  std::string found = "none";
  for (auto at = prom.find("istio_requests_total{"); at != std::string::npos;
       at = prom.find("istio_requests_total{", at + 1)) {
    const std::string sample = prom.substr(at, prom.find('\n', at) - at);
    if (sample.find(label) == std::string::npos) continue;
    if (found != "none") return "several";
    found = sample.substr(sample.rfind(' ') + 1);
  }
  return found;
}

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

// ---------------------------------------------- inbound: metadata exchange

class InboundMetadataTest : public TelemetryObserverTest {
 protected:
  void SetUp() override {
    TelemetryObserverTest::SetUp();
    inbound_ = resolveRoute(*snapshot_, Direction::Inbound,
                            asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 8080));
    telemetry::PeerMetadata caller;
    caller.name = "reviews-v3-abc";
    caller.namespace_ = "shop";
    caller.workload_name = "reviews-v3";
    caller.cluster_id = "Kubernetes";
    caller.app = "reviews";
    caller.version = "v3";
    caller.canonical_name = "reviews";
    caller.canonical_revision = "v3";
    header_ = telemetry::encodePeerMetadata(caller);
  }
  // One inbound request reported by `observer`.
  void report(TelemetryObserver& observer, std::string_view header, const PeerIdentity& peer) {
    RequestReport r;
    fill(r);
    r.route = &inbound_;
    r.endpoint = nullptr;
    r.method = "GET";
    r.response_code = 200;
    r.peer_metadata = header;
    PeerIdentity none;
    r.downstream_peer = &peer;
    r.upstream_peer = &none;
    observer.onRequest(r);
  }
  Route inbound_;
  std::string header_;
};

TEST_F(InboundMetadataTest, TheHeaderNamesTheSourceWorkload) {
  telemetry::StatsRegistry stats(1);
  TelemetryObserver observer(1, stats, nullptr);
  report(observer, header_, PeerIdentity{});
  report(observer, header_, PeerIdentity{});  // the cached decode: the same labels
  std::string prom = stats.renderPrometheus();
  EXPECT_NE(prom.find("reporter=\"destination\""), std::string::npos) << prom;
  EXPECT_NE(prom.find("source_workload=\"reviews-v3\""), std::string::npos) << prom;
  EXPECT_NE(prom.find("source_workload_namespace=\"shop\""), std::string::npos) << prom;
  EXPECT_NE(prom.find("source_app=\"reviews\""), std::string::npos) << prom;
  EXPECT_NE(prom.find("source_version=\"v3\""), std::string::npos) << prom;
  EXPECT_NE(prom.find("source_canonical_service=\"reviews\""), std::string::npos) << prom;
  EXPECT_NE(prom.find("source_canonical_revision=\"v3\""), std::string::npos) << prom;
  // Without mTLS the header proves nothing: no principal.
  EXPECT_NE(prom.find("source_principal=\"unknown\""), std::string::npos) << prom;
  EXPECT_NE(prom.find("destination_workload=\"pp-v1\""), std::string::npos) << prom;
  EXPECT_EQ(stats.worker(0).labelSets(), 1U);
  EXPECT_NE(prom.find("} 2\n"), std::string::npos) << prom;
}

TEST_F(InboundMetadataTest, TheCertificatesPrincipalAndNamespaceWin) {
  telemetry::StatsRegistry stats(1);
  TelemetryObserver observer(1, stats, nullptr);
  report(observer, header_, PeerIdentity{true, "spiffe://cluster.local/ns/shop/sa/reviews"});
  std::string prom = stats.renderPrometheus();
  EXPECT_NE(prom.find("source_workload=\"reviews-v3\""), std::string::npos) << prom;
  EXPECT_NE(prom.find("source_principal=\"spiffe://cluster.local/ns/shop/sa/reviews\""),
            std::string::npos)
      << prom;
  EXPECT_NE(prom.find("source_workload_namespace=\"shop\""), std::string::npos) << prom;
}

TEST_F(InboundMetadataTest, AHeaderThatContradictsTheCertificateIsIgnored) {
  telemetry::StatsRegistry stats(1);
  TelemetryObserver observer(1, stats, nullptr);
  // The header says "shop"; the certificate proves "attacker".
  report(observer, header_, PeerIdentity{true, "spiffe://cluster.local/ns/attacker/sa/x"});
  std::string prom = stats.renderPrometheus();
  EXPECT_EQ(prom.find("reviews"), std::string::npos) << prom;
  EXPECT_NE(prom.find("source_workload=\"unknown\""), std::string::npos) << prom;
  EXPECT_NE(prom.find("source_workload_namespace=\"attacker\""), std::string::npos) << prom;
}

TEST_F(InboundMetadataTest, AnUndecodableHeaderLeavesTheSourceUnknown) {
  telemetry::StatsRegistry stats(1);
  TelemetryObserver observer(1, stats, nullptr);
  report(observer, "not base64!", PeerIdentity{});
  report(observer, "not base64!", PeerIdentity{});
  std::string prom = stats.renderPrometheus();
  EXPECT_NE(prom.find("source_workload=\"unknown\""), std::string::npos) << prom;
  EXPECT_NE(prom.find("reporter=\"destination\""), std::string::npos) << prom;
}

TEST_F(InboundMetadataTest, ASteadyCallerCostsNoAllocation) {
  telemetry::StatsRegistry stats(1);
  TelemetryObserver observer(1, stats, nullptr);
  const PeerIdentity plain;
  const PeerIdentity mtls{true, "spiffe://cluster.local/ns/shop/sa/reviews"};
  report(observer, header_, plain);  // first sight: decode, label set
  report(observer, header_, mtls);   // first sight with this certificate
  const long before = allocationCount();
  for (int i = 0; i < 10; ++i) {
    report(observer, header_, plain);
    report(observer, header_, mtls);
  }
  EXPECT_EQ(allocationCount() - before, 0);
  EXPECT_EQ(stats.worker(0).labelSets(), 2U);
}

// The merged workload is rewritten in place when another certificate comes
// with the same header: each rewrite must count under its own principal
// (the metrics remember the last label set by the workloads' revisions).
TEST_F(InboundMetadataTest, AlternatingCertificatesCountUnderTheirOwnPrincipals) {
  telemetry::StatsRegistry stats(1);
  TelemetryObserver observer(1, stats, nullptr);
  const PeerIdentity reviews{true, "spiffe://cluster.local/ns/shop/sa/reviews"};
  const PeerIdentity ratings{true, "spiffe://cluster.local/ns/shop/sa/ratings"};
  for (int i = 0; i < 5; ++i) {
    report(observer, header_, reviews);
    report(observer, header_, reviews);
    report(observer, header_, ratings);
  }
  std::string prom = stats.renderPrometheus();
  auto countOf = [&](const std::string& principal) {
    return requestsTotalWith(prom, "source_principal=\"" + principal + "\"");
  };
  EXPECT_EQ(countOf(reviews.principal), "10") << prom;
  EXPECT_EQ(countOf(ratings.principal), "5") << prom;
}

// A new snapshot rebuilds the workload cache, perhaps at the same
// addresses: requests count under the workload of their own snapshot.
TEST_F(TelemetryObserverTest, AlternatingSnapshotsCountUnderTheirOwnWorkloads) {
  std::string other_yaml = kYaml;
  other_yaml.replace(other_yaml.find("web-v2"), 6, "web-v9");
  auto other_config = mesh::parseConfig(other_yaml);
  ASSERT_TRUE(other_config) << other_config.error().message;
  mesh::SnapshotPtr other = mesh::Snapshot::build(std::move(*other_config));
  Route other_route =
      resolveRoute(*other, Direction::Outbound,
                   asio::ip::tcp::endpoint(asio::ip::make_address("10.255.0.1"), 80));
  telemetry::StatsRegistry stats(1);
  TelemetryObserver observer(1, stats, nullptr);
  for (int i = 0; i < 6; ++i) {
    const bool first = i % 3 != 2;  // two of three requests on the first snapshot
    RequestReport r;
    fill(r);
    if (!first) {
      r.snapshot = &other;
      r.route = &other_route;
      r.endpoint = &other_route.service->endpoints[0];
      r.self = &other->proxy().workload;
    }
    r.method = "GET";
    r.response_code = 200;
    PeerIdentity none;
    r.downstream_peer = &none;
    r.upstream_peer = &none;
    observer.onRequest(r);
  }
  std::string prom = stats.renderPrometheus();
  EXPECT_EQ(stats.worker(0).labelSets(), 2U);
  EXPECT_NE(prom.find("destination_workload=\"web-v2\""), std::string::npos) << prom;
  EXPECT_NE(prom.find("destination_workload=\"web-v9\""), std::string::npos) << prom;
  EXPECT_EQ(requestsTotalWith(prom, "destination_workload=\"web-v2\""), "4") << prom;
  EXPECT_EQ(requestsTotalWith(prom, "destination_workload=\"web-v9\""), "2") << prom;
}

TEST_F(InboundMetadataTest, TheCacheStaysBounded) {
  telemetry::StatsRegistry stats(1);
  TelemetryObserver observer(1, stats, nullptr);
  // More distinct headers than the cache holds: each still decodes right.
  for (int i = 0; i < 1100; ++i) {
    telemetry::PeerMetadata caller;
    caller.namespace_ = "shop";
    caller.workload_name = "w" + std::to_string(i % 3);
    caller.name = "pod-" + std::to_string(i);
    report(observer, telemetry::encodePeerMetadata(caller), PeerIdentity{});
  }
  std::string prom = stats.renderPrometheus();
  EXPECT_NE(prom.find("source_workload=\"w2\""), std::string::npos) << prom;
  EXPECT_EQ(stats.worker(0).labelSets(), 3U);
}

}  // namespace
}  // namespace remora::proxy

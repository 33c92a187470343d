// Istio's HTTP metadata exchange over real sockets on 127.0.0.1: the
// client side's proxy (outbound) adds x-envoy-peer-metadata{,-id} to what it
// sends to registry services and strips the server's from the response; the
// server side's proxy (inbound) strips the caller's from the request, labels
// its telemetry with the caller's workload, and answers with its own.
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/log.h"
#include "proxy/proxy.h"
#include "proxy/telemetry_observer.h"
#include "telemetry/peer_metadata.h"
#include "telemetry/records.h"
#include "tests/proxy/proxy_harness.h"

namespace remora::proxy {
namespace {

using namespace remora::proxy::testing;

// One sidecar: a proxy with one worker and Istio's metrics.
class Sidecar {
 public:
  Sidecar(const std::string& yaml, asio::ip::tcp::endpoint original_dst)
      : dst_(std::move(original_dst)) {
    auto config = mesh::parseConfig(yaml);
    EXPECT_TRUE(config) << config.error().message;
    ProxyOptions options = loopbackOptions(1);
    options.original_dst = [this](asio::ip::tcp::socket&,
                                  Direction) -> Result<asio::ip::tcp::endpoint> {
      std::lock_guard lock(mu_);  // guards dst_, which a test may change
      return dst_;
    };
    proxy_ =
        std::make_unique<Proxy>(options, mesh::Snapshot::build(std::move(*config)), &observer_);
    EXPECT_TRUE(proxy_->start());
  }
  ~Sidecar() {
    proxy_->stop();
    proxy_->wait();
  }
  void setDestination(asio::ip::tcp::endpoint dst) {
    std::lock_guard lock(mu_);
    dst_ = std::move(dst);
  }
  std::uint16_t inbound() const { return proxy_->inboundPort(); }
  std::uint16_t outbound() const { return proxy_->outboundPort(); }

  // The istio_requests_total line holding every one of `labels` and
  // counting `count` requests, waiting (bounded) for the reports, which
  // follow the responses' last bytes; "" when none came to be.
  std::string requestsLine(const std::vector<std::string>& labels, int count = 1) {
    const std::string value = "} " + std::to_string(count);
    for (int i = 0; i < 300; ++i) {
      std::string prom = stats_.renderPrometheus();
      std::size_t pos = 0;
      while ((pos = prom.find("istio_requests_total{", pos)) != std::string::npos) {
        std::string line = prom.substr(pos, prom.find('\n', pos) - pos);
        pos += line.size();
        bool all = line.ends_with(value);
        for (const auto& l : labels) all = all && line.find(l) != std::string::npos;
        if (all) return line;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return {};
  }
  std::string prometheus() const { return stats_.renderPrometheus(); }

 private:
  telemetry::StatsRegistry stats_{1};
  TelemetryObserver observer_{1, stats_, nullptr};
  std::mutex mu_;
  asio::ip::tcp::endpoint dst_;
  std::unique_ptr<Proxy> proxy_;
};

asio::ip::tcp::endpoint at(std::string_view address, std::uint16_t port) {
  return {asio::ip::make_address(address), port};
}

// The value of header `name` in a head (names compared in lower case),
// or "" when absent.
std::string headerValue(const std::string& head, std::string_view name) {
  std::string lower = head;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string needle = "\r\n" + std::string(name) + ": ";
  auto p = lower.find(needle);
  if (p == std::string::npos) return {};
  p += needle.size();
  return head.substr(p, head.find("\r\n", p) - p);
}

// An app that answers every request with the request head it received as
// the body, and with `extra` header lines (say, an Istio peer's metadata).
void appHandler(int fd, const std::string& extra) {
  std::string in;
  for (;;) {
    if (!readUntil(fd, in, "\r\n\r\n")) return;
    std::size_t end = in.find("\r\n\r\n") + 4;
    std::string head = in.substr(0, end);
    in.erase(0, end);
    std::string resp =
        fmt::format("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n{}\r\n{}", head.size(), extra, head);
    if (!sendAll(fd, resp)) return;
  }
}

telemetry::PeerMetadata reviewsV3() {
  telemetry::PeerMetadata m;
  m.name = "reviews-v3-7d9f-x1";
  m.namespace_ = "shop";
  m.workload_name = "reviews-v3";
  m.cluster_id = "Kubernetes";
  m.service_account = "reviews";
  m.app = "reviews";
  m.version = "v3";
  m.canonical_name = "reviews";
  m.canonical_revision = "v3";
  return m;
}

std::string istioPeerHeaders(const telemetry::PeerMetadata& m) {
  return fmt::format("x-envoy-peer-metadata-id: {}\r\nx-envoy-peer-metadata: {}\r\n",
                     telemetry::peerMetadataId(m), telemetry::encodePeerMetadata(m));
}

constexpr std::string_view kClientIdentity =
    "proxy: {workload: productpage-v1, namespace: shop, app: productpage, version: v1, "
    "serviceAccount: bookinfo-productpage, ip: 10.244.0.5}\n";
constexpr std::string_view kServerIdentity =
    "proxy: {workload: ratings-v1, namespace: shop, app: ratings, version: v1, "
    "serviceAccount: bookinfo-ratings, ip: 10.244.0.9}\n";

// `web` on 10.255.0.1:80 whose endpoint listens on 127.0.0.1:`port`.
std::string registry(std::uint16_t port) {
  return fmt::format(R"(
mesh: {{protocolDetectionTimeout: 20ms}}
services:
- name: web
  namespace: shop
  addresses: [10.255.0.1]
  ports: [{{name: http, port: 80, protocol: HTTP, targetPort: {}}}]
  endpoints: [{{address: 127.0.0.1, workload: web-v1, labels: {{app: web, version: v1}}}}]
)",
                     port);
}

std::string get(std::string_view extra = "") {
  return fmt::format("GET /x HTTP/1.1\r\nHost: web\r\n{}\r\n", extra);
}

// One GET on a new connection to 127.0.0.1:`port`; status 0 if it failed.
Response getOnce(std::uint16_t port) {
  Fd c = connectTo(port);
  if (!sendAll(c.get(), get())) return {};
  std::string rest;
  return readResponse(c.get(), rest);
}

class PeerMetadataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* level = std::getenv("REMORA_LOG_LEVEL")) log::setLevel(level);
  }
};

// ------------------------------------------------------------ client side

TEST_F(PeerMetadataTest, OutboundAddsOurMetadataAndStripsTheServersFromTheResponse) {
  Backend server([](int fd) { appHandler(fd, istioPeerHeaders(reviewsV3())); });
  Sidecar client(std::string(kClientIdentity) + registry(server.port()), at("10.255.0.1", 80));
  Response r = getOnce(client.outbound());
  ASSERT_EQ(r.status, 200) << r.head;
  // The server saw ours.
  EXPECT_EQ(headerValue(r.body, "x-envoy-peer-metadata-id"),
            "sidecar~10.244.0.5~productpage-v1.shop~shop.svc.cluster.local")
      << r.body;
  auto sent = telemetry::decodePeerMetadata(headerValue(r.body, "x-envoy-peer-metadata"));
  ASSERT_TRUE(sent) << r.body;
  EXPECT_EQ(sent->workload_name, "productpage-v1");
  EXPECT_EQ(sent->namespace_, "shop");
  EXPECT_EQ(sent->app, "productpage");
  EXPECT_EQ(sent->version, "v1");
  EXPECT_EQ(sent->service_account, "bookinfo-productpage");
  // The app does not see the server's.
  EXPECT_FALSE(hasHeader(r, "x-envoy-peer-metadata")) << r.head;
  EXPECT_TRUE(hasHeader(r, "content-length:")) << r.head;
}

TEST_F(PeerMetadataTest, OutboundReplacesWhatTheAppSent) {
  Backend server([](int fd) { appHandler(fd, ""); });
  Sidecar client(std::string(kClientIdentity) + registry(server.port()), at("10.255.0.1", 80));
  Fd c = connectTo(client.outbound());
  ASSERT_TRUE(sendAll(c.get(), get("x-envoy-peer-metadata: forged\r\n"
                                   "x-envoy-peer-metadata-id: forged\r\n")));
  std::string rest;
  Response r = readResponse(c.get(), rest);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body.find("forged"), std::string::npos) << r.body;
  EXPECT_TRUE(telemetry::decodePeerMetadata(headerValue(r.body, "x-envoy-peer-metadata")));
}

TEST_F(PeerMetadataTest, PassthroughDestinationsLearnNothingOfUs) {
  Backend outside([](int fd) { appHandler(fd, istioPeerHeaders(reviewsV3())); });
  // Not in the registry (ALLOW_ANY): passthrough.
  Sidecar client(std::string(kClientIdentity) + "mesh: {protocolDetectionTimeout: 20ms}\n",
                 at("127.0.0.1", outside.port()));
  Response r = getOnce(client.outbound());
  ASSERT_EQ(r.status, 200) << r.head;
  EXPECT_EQ(r.body.find("x-envoy-peer-metadata"), std::string::npos) << r.body;
  // A response's metadata is stripped all the same.
  EXPECT_FALSE(hasHeader(r, "x-envoy-peer-metadata")) << r.head;
}

TEST_F(PeerMetadataTest, AProxyWithoutIdentitySendsNothing) {
  Backend server([](int fd) { appHandler(fd, ""); });
  Sidecar client(registry(server.port()), at("10.255.0.1", 80));
  Response r = getOnce(client.outbound());
  ASSERT_EQ(r.status, 200) << r.head;
  EXPECT_EQ(r.body.find("x-envoy-peer-metadata"), std::string::npos) << r.body;
}

// ------------------------------------------------------------ server side

TEST_F(PeerMetadataTest, InboundReportsTheCallerStripsItsHeadersAndAnswersWithOurs) {
  Backend app([](int fd) { appHandler(fd, ""); });
  Sidecar server(std::string(kServerIdentity) + "mesh: {protocolDetectionTimeout: 20ms}\n",
                 at("127.0.0.1", app.port()));
  Fd c = connectTo(server.inbound());
  // Two requests on one connection: the second comes from the decode cache.
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(sendAll(c.get(), get(istioPeerHeaders(reviewsV3()))));
    std::string rest;
    Response r = readResponse(c.get(), rest);
    ASSERT_EQ(r.status, 200) << r.head;
    EXPECT_EQ(r.body.find("x-envoy-peer-metadata"), std::string::npos) << r.body;
    EXPECT_EQ(headerValue(r.head, "x-envoy-peer-metadata-id"),
              "sidecar~10.244.0.9~ratings-v1.shop~shop.svc.cluster.local")
        << r.head;
    auto ours = telemetry::decodePeerMetadata(headerValue(r.head, "x-envoy-peer-metadata"));
    ASSERT_TRUE(ours) << r.head;
    EXPECT_EQ(ours->workload_name, "ratings-v1");
    EXPECT_EQ(ours->app, "ratings");
  }
  std::string line = server.requestsLine(
      {"reporter=\"destination\"", "source_workload=\"reviews-v3\"",
       "source_workload_namespace=\"shop\"", "source_app=\"reviews\"", "source_version=\"v3\"",
       "source_canonical_service=\"reviews\"", "source_canonical_revision=\"v3\"",
       "destination_workload=\"ratings-v1\""},
      2);
  EXPECT_FALSE(line.empty()) << server.prometheus();
}

TEST_F(PeerMetadataTest, ABadHeaderIsStrippedAndIgnored) {
  Backend app([](int fd) { appHandler(fd, ""); });
  Sidecar server(std::string(kServerIdentity) + "mesh: {protocolDetectionTimeout: 20ms}\n",
                 at("127.0.0.1", app.port()));
  Fd c = connectTo(server.inbound());
  // Valid base64, but not a Struct (a truncated varint); then not base64.
  for (std::string_view bad : {"/w==", "%%%garbage%%%"}) {
    ASSERT_TRUE(sendAll(c.get(), get(fmt::format("x-envoy-peer-metadata: {}\r\n"
                                                 "x-envoy-peer-metadata-id: sidecar~x~y.z~z\r\n",
                                                 bad))));
    std::string rest;
    Response r = readResponse(c.get(), rest);
    ASSERT_EQ(r.status, 200) << r.head;
    EXPECT_EQ(r.body.find("x-envoy-peer-metadata"), std::string::npos) << r.body;
  }
  std::string line = server.requestsLine(
      {"reporter=\"destination\"", "source_workload=\"unknown\"", "response_code=\"200\""}, 2);
  EXPECT_FALSE(line.empty()) << server.prometheus();
}

TEST_F(PeerMetadataTest, ACallerOutsideTheExchangeGetsNoMetadata) {
  Backend app([](int fd) { appHandler(fd, ""); });
  Sidecar server(std::string(kServerIdentity) + "mesh: {protocolDetectionTimeout: 20ms}\n",
                 at("127.0.0.1", app.port()));
  Response r = getOnce(server.inbound());
  ASSERT_EQ(r.status, 200) << r.head;
  EXPECT_FALSE(hasHeader(r, "x-envoy-peer-metadata")) << r.head;
}

// ------------------------------------------------------------ both sides

TEST_F(PeerMetadataTest, APairOfSidecarsKnowsEachOther) {
  Backend app([](int fd) { appHandler(fd, ""); });
  Sidecar server(std::string(kServerIdentity) + "mesh: {protocolDetectionTimeout: 20ms}\n",
                 at("127.0.0.1", app.port()));
  Sidecar client(std::string(kClientIdentity) + registry(server.inbound()), at("10.255.0.1", 80));
  Response r = getOnce(client.outbound());
  ASSERT_EQ(r.status, 200) << r.head;
  // Neither app sees the exchange.
  EXPECT_EQ(r.body.find("x-envoy-peer-metadata"), std::string::npos) << r.body;
  EXPECT_FALSE(hasHeader(r, "x-envoy-peer-metadata")) << r.head;
  std::string line =
      server.requestsLine({"reporter=\"destination\"", "source_workload=\"productpage-v1\"",
                           "source_app=\"productpage\"", "source_version=\"v1\"",
                           "destination_workload=\"ratings-v1\""});
  EXPECT_FALSE(line.empty()) << server.prometheus();
  EXPECT_FALSE(
      client.requestsLine({"reporter=\"source\"", "source_workload=\"productpage-v1\""}).empty())
      << client.prometheus();
}

}  // namespace
}  // namespace remora::proxy

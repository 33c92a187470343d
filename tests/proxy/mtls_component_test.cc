// Two sidecars on 127.0.0.1, a client's and a server's, each with a
// workload certificate from one test CA (issue 8): auto mTLS for HTTP and
// TCP, both principals in the reports, plaintext still served under
// PERMISSIVE, the app's own TLS passed through untouched, secure naming
// (a server with a valid certificate for the wrong identity is refused), a
// server from another CA refused, and rotations under load losing nothing.
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/log.h"
#include "proxy/proxy.h"
#include "proxy/read_buffer.h"
#include "proxy/telemetry_observer.h"
#include "tests/proxy/proxy_harness.h"
#include "tests/tls/pki.h"
#include "tls/certificate_store.h"

namespace remora::proxy {
namespace {

using namespace std::chrono_literals;
using namespace remora::proxy::testing;
namespace pki = remora::tls::testing;

constexpr const char* kSleep = "spiffe://cluster.local/ns/default/sa/sleep";
constexpr const char* kWeb = "spiffe://cluster.local/ns/default/sa/web";

// What each proxy reported about TLS, per request and per TCP connection;
// requests also go to Istio's metrics (`stats`, one worker).
class PeerRecorder : public Observer {
 public:
  struct Seen {
    int code = 0;
    std::uint32_t flags = 0;
    bool downstream_mtls = false;
    std::string downstream_principal;
    bool upstream_mtls = false;
    std::string upstream_principal;
  };
  void onRequest(const RequestReport& r) override {
    telemetry_.onRequest(r);  // first: a test that waited for the report sees its metrics
    add(r, r.response_code);
  }
  void onTcpOpen(const ConnectionReport&) override {}
  void onTcpClose(const ConnectionReport& r) override { add(r, 0); }
  void onTlsFailure(std::size_t, Direction d, std::string_view reason) override {
    std::lock_guard lock(mu_);
    failures_.push_back(
        fmt::format("{}:{}", d == Direction::Inbound ? "inbound" : "outbound", reason));
  }
  void onTlsHandshake(std::size_t, Direction d, bool resumed) override {
    std::lock_guard lock(mu_);
    handshakes_.push_back(fmt::format("{}:{}", d == Direction::Inbound ? "inbound" : "outbound",
                                      resumed ? "resumed" : "full"));
  }
  void onInboundRefused(std::size_t, std::string_view reason) override {
    std::lock_guard lock(mu_);
    failures_.push_back(fmt::format("refused:{}", reason));
  }
  std::vector<std::string> waitHandshakes(std::size_t n) { return waitFor(handshakes_, n); }
  std::vector<std::string> waitFailures(std::size_t n) { return waitFor(failures_, n); }

  std::vector<Seen> wait(std::size_t n) { return waitFor(seen_, n); }
  std::string prometheus() const { return stats_.renderPrometheus(); }

 private:
  // A copy of `list` once it holds `n` entries (or after 5 s): workers
  // report from their own threads.
  template <typename T>
  std::vector<T> waitFor(const std::vector<T>& list, std::size_t n) {
    for (int i = 0; i < 500; ++i) {
      {
        std::lock_guard lock(mu_);
        if (list.size() >= n) return list;
      }
      std::this_thread::sleep_for(10ms);
    }
    std::lock_guard lock(mu_);
    return list;
  }

  template <typename Report>
  void add(const Report& r, int code) {
    std::lock_guard lock(mu_);  // workers report from their threads
    seen_.push_back({code, r.response_flags, r.downstream_peer->mutual_tls,
                     r.downstream_peer->principal, r.upstream_peer->mutual_tls,
                     r.upstream_peer->principal});
  }
  telemetry::StatsRegistry stats_{1};
  TelemetryObserver telemetry_{1, stats_, nullptr};
  std::mutex mu_;
  std::vector<Seen> seen_;
  std::vector<std::string> failures_;
  std::vector<std::string> handshakes_;
};

// One sidecar: a proxy with its own certificate store.
class Sidecar {
 public:
  // `with_certificates` false: a proxy without a CA (no store, no mTLS).
  Sidecar(const pki::Ca& ca, const std::string& identity, const std::string& yaml,
          asio::ip::tcp::endpoint original_dst, bool with_certificates = true,
          std::chrono::milliseconds idle_memory_check = ProxyOptions{}.idle_memory_check)
      : store_({.trust_domains = {"cluster.local"}}), dst_(std::move(original_dst)) {
    rotate(ca, identity);
    auto config = mesh::parseConfig(yaml);
    EXPECT_TRUE(config) << config.error().message;
    ProxyOptions options = loopbackOptions(1);
    options.certificates = with_certificates ? &store_ : nullptr;
    options.idle_memory_check = idle_memory_check;
    options.original_dst = [this](asio::ip::tcp::socket&,
                                  Direction) -> Result<asio::ip::tcp::endpoint> { return dst_; };
    proxy_ = std::make_unique<Proxy>(options, mesh::Snapshot::build(std::move(*config)), &seen);
    EXPECT_TRUE(proxy_->start());
  }
  ~Sidecar() {
    proxy_->stop();
    proxy_->wait();
  }
  // A new certificate for `identity` from `ca` (a rotation, or a CA switch).
  void rotate(const pki::Ca& ca, const std::string& identity) {
    auto status = store_.update(pki::workload(ca, identity), ca.bundle());
    EXPECT_TRUE(status) << status.error().message;
  }
  // A new config (as a reload of the watched file would bring).
  void reconfigure(const std::string& yaml) {
    auto config = mesh::parseConfig(yaml);
    ASSERT_TRUE(config) << config.error().message;
    proxy_->update(mesh::Snapshot::build(std::move(*config)));
  }
  std::uint16_t inbound() const { return proxy_->inboundPort(); }
  std::uint16_t outbound() const { return proxy_->outboundPort(); }
  std::uint64_t generation() const { return store_.generation(); }
  std::uint64_t idleBuffersReleased() const { return proxy_->idleBuffersReleased(); }

  PeerRecorder seen;

 private:
  tls::CertificateStore store_;
  asio::ip::tcp::endpoint dst_;  // read by workers; set once before start
  std::unique_ptr<Proxy> proxy_;
};

asio::ip::tcp::endpoint loopback(std::uint16_t port) {
  return {asio::ip::make_address("127.0.0.1"), port};
}

// The client sidecar's registry: `web` on VIP 10.255.0.1 whose one endpoint
// is the server sidecar's inbound port, a pod with a sidecar (tlsMode istio).
std::string clientYaml(std::uint16_t server_inbound, std::string_view protocol = "HTTP",
                       std::string_view service_account = "web") {
  return fmt::format(R"(
mesh: {{protocolDetectionTimeout: 20ms}}
services:
- name: web
  addresses: [10.255.0.1]
  ports: [{{name: p, port: 80, protocol: {}, targetPort: {}}}]
  endpoints:
  - address: 127.0.0.1
    serviceAccount: {}
    labels: {{security.istio.io/tlsMode: istio}}
)",
                     protocol, server_inbound, service_account);
}

std::string get(std::string_view path) {
  return fmt::format("GET {} HTTP/1.1\r\nHost: web\r\n\r\n", path);
}

class MtlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* level = std::getenv("REMORA_LOG_LEVEL")) log::setLevel(level);
  }
  pki::Ca ca_ = pki::newRoot();
};

TEST_F(MtlsTest, HttpBetweenSidecarsIsMutualTlsWithBothPrincipals) {
  Backend web([](int fd) { httpHandler(fd, "web"); });
  Sidecar server(ca_, kWeb, "mesh: {protocolDetectionTimeout: 20ms}\n", loopback(web.port()));
  Sidecar client(ca_, kSleep, clientYaml(server.inbound()),
                 {asio::ip::make_address("10.255.0.1"), 80});
  Fd c = connectTo(client.outbound());
  std::string rest;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(sendAll(c.get(), get(fmt::format("/r{}", i))));
    Response r = readResponse(c.get(), rest);
    ASSERT_EQ(r.status, 200) << r.head;
    // The app behind the server sidecar got plain HTTP.
    EXPECT_NE(r.body.find(fmt::format("GET /r{} HTTP/1.1", i)), std::string::npos) << r.body;
  }
  EXPECT_EQ(web.connections(), 1);  // the mTLS upstream connection is pooled too
  auto at_client = client.seen.wait(3);
  ASSERT_EQ(at_client.size(), 3U);
  EXPECT_TRUE(at_client[0].upstream_mtls);
  EXPECT_EQ(at_client[0].upstream_principal, kWeb);
  // Later requests ride the pooled connection and still report its peer.
  EXPECT_TRUE(at_client[2].upstream_mtls);
  EXPECT_EQ(at_client[2].upstream_principal, kWeb);
  EXPECT_FALSE(at_client[0].downstream_mtls);  // the app spoke plaintext to its sidecar
  auto at_server = server.seen.wait(3);
  ASSERT_EQ(at_server.size(), 3U);
  EXPECT_EQ(at_server[2].code, 200);
  EXPECT_TRUE(at_server[2].downstream_mtls);
  EXPECT_EQ(at_server[2].downstream_principal, kSleep);
}

// A quiet mTLS connection gives back its TLS record buffers as well as its
// read buffer (the contexts do not set SSL_MODE_RELEASE_BUFFERS, which
// would free and allocate them on every record), and works on afterwards.
TEST_F(MtlsTest, QuietMtlsConnectionsReleaseTheirRecordBuffersAndKeepWorking) {
  using namespace std::chrono_literals;
  Backend web([](int fd) { httpHandler(fd, "web"); });
  Sidecar server(ca_, kWeb, "mesh: {protocolDetectionTimeout: 20ms}\n", loopback(web.port()), true,
                 20ms);
  Sidecar client(ca_, kSleep, clientYaml(server.inbound()),
                 {asio::ip::make_address("10.255.0.1"), 80}, true, 20ms);
  Fd c = connectTo(client.outbound());
  std::string rest;
  auto request = [&](int i) {
    ASSERT_TRUE(sendAll(c.get(), get(fmt::format("/q{}", i))));
    Response r = readResponse(c.get(), rest);
    ASSERT_EQ(r.status, 200) << r.head;
    EXPECT_NE(r.body.find(fmt::format("GET /q{} HTTP/1.1", i)), std::string::npos) << r.body;
  };
  request(0);
  if (ReadBuffer::kOwnPages) {
    // The server's inbound connection: its read buffer, then its TLS
    // buffers. The client's: the app's connection (plaintext) and the
    // pooled mTLS upstream's two.
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while ((server.idleBuffersReleased() < 2 || client.idleBuffersReleased() < 3) &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    EXPECT_GE(server.idleBuffersReleased(), 2U);
    EXPECT_GE(client.idleBuffersReleased(), 3U);
  }
  for (int i = 1; i < 4; ++i) request(i);
  EXPECT_EQ(web.connections(), 1);  // the same mTLS connection served again
  auto at_server = server.seen.wait(4);
  ASSERT_EQ(at_server.size(), 4U);
  EXPECT_TRUE(at_server[3].downstream_mtls);
}

// Istio's metadata exchange rides the mTLS connection: the server side
// names its caller's workload from the header and its principal and
// namespace from the certificate; neither app sees the headers.
TEST_F(MtlsTest, MetadataExchangeNamesTheCallerBesideItsCertificate) {
  Backend web([](int fd) { httpHandler(fd, "web"); });
  Sidecar server(ca_, kWeb,
                 "mesh: {protocolDetectionTimeout: 20ms}\n"
                 "proxy: {workload: web-v1, namespace: default, app: web, serviceAccount: web}\n",
                 loopback(web.port()));
  Sidecar client(ca_, kSleep,
                 clientYaml(server.inbound()) +
                     "proxy: {workload: sleep-v1, namespace: default, app: sleep, version: v2, "
                     "serviceAccount: sleep}\n",
                 {asio::ip::make_address("10.255.0.1"), 80});
  Fd c = connectTo(client.outbound());
  std::string rest;
  ASSERT_TRUE(sendAll(c.get(), get("/")));
  Response r = readResponse(c.get(), rest);
  ASSERT_EQ(r.status, 200) << r.head;
  EXPECT_EQ(r.body.find("x-envoy-peer-metadata"), std::string::npos) << r.body;
  EXPECT_FALSE(hasHeader(r, "x-envoy-peer-metadata")) << r.head;
  auto at_server = server.seen.wait(1);
  ASSERT_EQ(at_server.size(), 1U);
  ASSERT_TRUE(at_server[0].downstream_mtls);
  std::string prom = server.seen.prometheus();
  bool found = false;
  for (std::size_t pos = 0; (pos = prom.find("istio_requests_total{", pos)) != std::string::npos;
       ++pos) {
    std::string line = prom.substr(pos, prom.find('\n', pos) - pos);
    found =
        found || (line.find("reporter=\"destination\"") != std::string::npos &&
                  line.find("source_workload=\"sleep-v1\"") != std::string::npos &&
                  line.find("source_app=\"sleep\"") != std::string::npos &&
                  line.find("source_version=\"v2\"") != std::string::npos &&
                  line.find(fmt::format("source_principal=\"{}\"", kSleep)) != std::string::npos &&
                  line.find("source_workload_namespace=\"default\"") != std::string::npos &&
                  line.find("connection_security_policy=\"mutual_tls\"") != std::string::npos);
  }
  EXPECT_TRUE(found) << prom;
}

TEST_F(MtlsTest, TcpBetweenSidecarsIsMutualTlsAndKeepsHalfClose) {
  Backend echo(echoHandler);
  Sidecar server(ca_, kWeb, "mesh: {protocolDetectionTimeout: 20ms}\n", loopback(echo.port()));
  Sidecar client(ca_, kSleep, clientYaml(server.inbound(), "TCP"),
                 {asio::ip::make_address("10.255.0.1"), 80});
  std::string data(256 * 1024, 'x');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 131);
  Fd c = connectTo(client.outbound());
  std::thread writer([&] {
    sendAll(c.get(), data);
    ::shutdown(c.get(), SHUT_WR);  // the echo must still come back through both TLS hops
  });
  std::string got = readAll(c.get());
  writer.join();
  EXPECT_TRUE(got == data) << got.size() << " of " << data.size() << " bytes";
  auto at_server = server.seen.wait(1);
  ASSERT_EQ(at_server.size(), 1U);
  EXPECT_TRUE(at_server[0].downstream_mtls);
  EXPECT_EQ(at_server[0].downstream_principal, kSleep);
  auto at_client = client.seen.wait(1);
  ASSERT_EQ(at_client.size(), 1U);
  EXPECT_EQ(at_client[0].upstream_principal, kWeb);
}

TEST_F(MtlsTest, PlaintextFromAPodWithoutSidecarIsServedUnderPermissive) {
  Backend web([](int fd) { httpHandler(fd, "web"); });
  Sidecar server(ca_, kWeb, "mesh: {protocolDetectionTimeout: 20ms}\n", loopback(web.port()));
  Fd c = connectTo(server.inbound());
  std::string rest;
  ASSERT_TRUE(sendAll(c.get(), get("/plain")));
  Response r = readResponse(c.get(), rest);
  EXPECT_EQ(r.status, 200) << r.head;
  auto at_server = server.seen.wait(1);
  ASSERT_EQ(at_server.size(), 1U);
  EXPECT_FALSE(at_server[0].downstream_mtls);
  EXPECT_EQ(at_server[0].downstream_principal, "");
}

// A ClientHello that does not offer Istio's ALPN is the app's own TLS: the
// inbound sidecar must not terminate it but pass it through byte for byte.
TEST_F(MtlsTest, AppTlsWithoutIstioAlpnPassesThroughUntouched) {
  Backend echo(echoHandler);
  Sidecar server(ca_, kWeb, "mesh: {protocolDetectionTimeout: 20ms}\n", loopback(echo.port()));
  tls::SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  ASSERT_TRUE(ctx);
  static constexpr unsigned char kH2[] = "\x02h2";
  SSL_CTX_set_alpn_protos(ctx.get(), kH2, sizeof kH2 - 1);
  tls::SslPtr ssl(SSL_new(ctx.get()));
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl.get(), in, out);
  SSL_set_connect_state(ssl.get());
  ASSERT_NE(SSL_do_handshake(ssl.get()), 1);
  char* bytes = nullptr;
  long n = BIO_get_mem_data(out, &bytes);
  ASSERT_GT(n, 0);
  std::string hello(bytes, static_cast<std::size_t>(n));
  Fd c = connectTo(server.inbound());
  sendAll(c.get(), hello);
  ::shutdown(c.get(), SHUT_WR);
  EXPECT_TRUE(readAll(c.get()) == hello);
  auto at_server = server.seen.wait(1);
  ASSERT_EQ(at_server.size(), 1U);
  EXPECT_FALSE(at_server[0].downstream_mtls);
}

TEST_F(MtlsTest, ServerWithAValidCertificateForTheWrongIdentityIsRefused) {
  Backend web([](int fd) { httpHandler(fd, "web"); });
  Sidecar server(ca_, "spiffe://cluster.local/ns/default/sa/impostor",
                 "mesh: {protocolDetectionTimeout: 20ms}\n", loopback(web.port()));
  Sidecar client(ca_, kSleep, clientYaml(server.inbound()),
                 {asio::ip::make_address("10.255.0.1"), 80});
  Fd c = connectTo(client.outbound());
  std::string rest;
  ASSERT_TRUE(sendAll(c.get(), get("/")));
  Response r = readResponse(c.get(), rest);
  EXPECT_EQ(r.status, 503) << r.head;
  EXPECT_EQ(web.connections(), 0);  // nothing reached the app
  auto at_client = client.seen.wait(1);
  ASSERT_EQ(at_client.size(), 1U);
  EXPECT_NE(at_client[0].flags & flags::kUpstreamConnectionFailure, 0U);
  EXPECT_EQ(client.seen.waitFailures(1).at(0), "outbound:identity_not_allowed");
}

TEST_F(MtlsTest, ServerFromAnotherCaIsRefused) {
  Backend web([](int fd) { httpHandler(fd, "web"); });
  pki::Ca other = pki::newRoot();
  Sidecar server(other, kWeb, "mesh: {protocolDetectionTimeout: 20ms}\n", loopback(web.port()));
  Sidecar client(ca_, kSleep, clientYaml(server.inbound()),
                 {asio::ip::make_address("10.255.0.1"), 80});
  Fd c = connectTo(client.outbound());
  std::string rest;
  ASSERT_TRUE(sendAll(c.get(), get("/")));
  Response r = readResponse(c.get(), rest);
  EXPECT_EQ(r.status, 503) << r.head;
  EXPECT_EQ(web.connections(), 0);
  EXPECT_EQ(client.seen.waitFailures(1).at(0), "outbound:untrusted_chain");
}

// A caller whose certificate breaks one rule never reaches the app, and the
// server sidecar counts the refusal by its reason.
class BadClientTest : public MtlsTest, public ::testing::WithParamInterface<pki::BadPeerCase> {};

TEST_P(BadClientTest, IsRefusedAndCountedByReason) {
  const pki::BadPeerCase& bad = GetParam();
  Backend web([](int fd) { httpHandler(fd, "web"); });
  Sidecar server(ca_, kWeb, "mesh: {protocolDetectionTimeout: 20ms}\n", loopback(web.port()));
  pki::Ca other = pki::newRoot();
  tls::CertificateTemplate t = pki::workloadTemplate(kSleep);
  bad.tweak(t);
  tls::CertifiedKey cred = pki::issue(bad.from_other_ca ? other : ca_, t);
  tls::TrustBundle trust = ca_.bundle();
  auto ctx = pki::context(tls::TlsMode::MtlsClient, &cred, &trust);
  Fd c = connectTo(server.inbound());
  tls::SslPtr ssl(SSL_new(ctx->native()));
  SSL_set_fd(ssl.get(), c.get());
  SSL_set_connect_state(ssl.get());
  // TLS 1.3: the client may finish before the server judges its certificate;
  // either way no request may come through.
  if (SSL_connect(ssl.get()) == 1) {
    std::string req = "GET / HTTP/1.1\r\nHost: web\r\n\r\n";
    SSL_write(ssl.get(), req.data(), static_cast<int>(req.size()));
    char buf[256];
    EXPECT_LE(SSL_read(ssl.get(), buf, sizeof buf), 0);
  }
  ERR_clear_error();
  EXPECT_EQ(web.connections(), 0);
  auto failures = server.seen.waitFailures(1);
  ASSERT_EQ(failures.size(), 1U);
  EXPECT_EQ(failures[0], fmt::format("inbound:{}", tls::peerFailureName(bad.reason)));
}

INSTANTIATE_TEST_SUITE_P(All, BadClientTest, ::testing::ValuesIn(pki::badPeerCases()),
                         [](const auto& param_info) {
                           std::string name = param_info.param.name;
                           for (char& ch : name) {
                             if (ch == '-') ch = '_';
                           }
                           return name;
                         });

// Ten rotations on each side while requests keep coming, each on a new
// connection (so each handshake may meet a new certificate): none fails.
TEST_F(MtlsTest, RotationsUnderLoadLoseNoRequest) {
  Backend web([](int fd) { httpHandler(fd, "web"); });
  Sidecar server(ca_, kWeb, "mesh: {protocolDetectionTimeout: 20ms}\n", loopback(web.port()));
  Sidecar client(ca_, kSleep, clientYaml(server.inbound()),
                 {asio::ip::make_address("10.255.0.1"), 80});
  std::atomic<bool> done{false};
  std::thread rotator([&] {
    for (int i = 0; i < 10; ++i) {
      std::this_thread::sleep_for(20ms);
      server.rotate(ca_, kWeb);
      client.rotate(ca_, kSleep);
    }
    done = true;
  });
  int ok = 0;
  int total = 0;
  while (!done || total < 50) {
    Fd c = connectTo(client.outbound());
    std::string rest;
    std::string req = "GET / HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n";
    if (sendAll(c.get(), req) && readResponse(c.get(), rest).status == 200) ++ok;
    ++total;
  }
  rotator.join();
  EXPECT_EQ(ok, total);
  EXPECT_EQ(server.generation(), 11U);
  EXPECT_EQ(client.generation(), 11U);
}

// ------------------------------------------- PeerAuthentication, AuthorizationPolicy

// The server pod's config: workload web in namespace default, with `policies`
// (YAML list items) appended.
std::string serverYaml(std::string_view policies = "") {
  std::string yaml = R"(
mesh: {protocolDetectionTimeout: 20ms}
proxy: {namespace: default, labels: {app: web}}
)";
  if (!policies.empty()) yaml += fmt::format("policies:\n{}", policies);
  return yaml;
}

constexpr std::string_view kStrict = R"(- apiVersion: security.istio.io/v1
  kind: PeerAuthentication
  metadata: {name: default}
  spec: {mtls: {mode: STRICT}}
)";

// True when the server closed `fd` without a byte of answer.
bool closedWithoutAnswer(int fd) {
  std::string rest;
  Response r = readResponse(fd, rest);
  return r.status == 0 && rest.empty();
}

// The seed's partial-injection symptom: a pod without a sidecar calls a
// STRICT pod in plaintext and is cut off; the meshed client still gets in.
TEST_F(MtlsTest, StrictRefusesPlaintextAndServesSidecars) {
  Backend web([](int fd) { httpHandler(fd, "web"); });
  Sidecar server(ca_, kWeb, serverYaml(kStrict), loopback(web.port()));
  Sidecar client(ca_, kSleep, clientYaml(server.inbound()),
                 {asio::ip::make_address("10.255.0.1"), 80});
  Fd plain = connectTo(server.inbound());
  ASSERT_TRUE(sendAll(plain.get(), get("/plain")));
  EXPECT_TRUE(closedWithoutAnswer(plain.get()));
  Fd meshed = connectTo(client.outbound());
  std::string rest;
  ASSERT_TRUE(sendAll(meshed.get(), get("/meshed")));
  EXPECT_EQ(readResponse(meshed.get(), rest).status, 200);
  EXPECT_EQ(web.connections(), 1);  // the plaintext one never reached the app
  EXPECT_EQ(server.seen.waitFailures(1), std::vector<std::string>{"refused:strict_mtls"});
}

// STRICT on a proxy without a CA cannot be mTLS: it refuses every
// connection rather than quietly serving plaintext.
TEST_F(MtlsTest, StrictWithoutACaRefusesRatherThanServePlaintext) {
  Backend web([](int fd) { httpHandler(fd, "web"); });
  Sidecar server(ca_, kWeb, serverYaml(kStrict), loopback(web.port()), /*with_certificates=*/false);
  Fd plain = connectTo(server.inbound());
  ASSERT_TRUE(sendAll(plain.get(), get("/plain")));
  EXPECT_TRUE(closedWithoutAnswer(plain.get()));
  EXPECT_EQ(web.connections(), 0);
  EXPECT_EQ(server.seen.waitFailures(1), std::vector<std::string>{"refused:strict_mtls"});
}

// A workload-level PeerAuthentication with portLevelMtls: STRICT for the
// pod, PERMISSIVE on one port (narrowest wins).
TEST_F(MtlsTest, PortLevelMtlsOverridesTheWorkloadMode) {
  Backend web([](int fd) { httpHandler(fd, "web"); });
  std::string policies = fmt::format(R"({}- apiVersion: security.istio.io/v1
  kind: PeerAuthentication
  metadata: {{name: web}}
  spec:
    selector: {{matchLabels: {{app: web}}}}
    mtls: {{mode: STRICT}}
    portLevelMtls: {{"{}": {{mode: PERMISSIVE}}}}
)",
                                     kStrict, web.port());
  Sidecar server(ca_, kWeb, serverYaml(policies), loopback(web.port()));
  Fd plain = connectTo(server.inbound());
  std::string rest;
  ASSERT_TRUE(sendAll(plain.get(), get("/plain")));
  EXPECT_EQ(readResponse(plain.get(), rest).status, 200);
}

// DENY on /admin: every spelling that normalises to it (Istio's BASE) is
// denied with 403 "RBAC: access denied"; the app receives normalised paths.
TEST_F(MtlsTest, DenyPolicyCoversEveryNormalisedSpellingOfThePath) {
  Backend web([](int fd) { httpHandler(fd, "web"); });
  Sidecar server(ca_, kWeb, serverYaml(R"(- apiVersion: security.istio.io/v1
  kind: AuthorizationPolicy
  metadata: {name: no-admin}
  spec:
    action: DENY
    rules: [{to: [{operation: {paths: ["/admin", "/admin/*"]}}]}]
)"),
                 loopback(web.port()));
  Sidecar client(ca_, kSleep, clientYaml(server.inbound()),
                 {asio::ip::make_address("10.255.0.1"), 80});
  Fd c = connectTo(client.outbound());
  std::string rest;
  for (std::string_view path : {"/admin", "/%61dmin", "/%61%64%6D%69%6E", "/./admin", "/x/../admin",
                                "/admin/", "/admin/./x", "/public/../admin/y", "/admin?q=1"}) {
    ASSERT_TRUE(sendAll(c.get(), get(path)));
    Response r = readResponse(c.get(), rest);
    EXPECT_EQ(r.status, 403) << path << "\n" << r.head;
    EXPECT_EQ(r.body, "RBAC: access denied") << path;
  }
  ASSERT_TRUE(sendAll(c.get(), get("/%70ublic/./page")));
  Response r = readResponse(c.get(), rest);
  ASSERT_EQ(r.status, 200) << r.head;
  EXPECT_NE(r.body.find("GET /public/page HTTP/1.1"), std::string::npos) << r.body;
  auto at_server = server.seen.wait(10);
  ASSERT_EQ(at_server.size(), 10U);
  EXPECT_EQ(at_server[0].code, 403);
  EXPECT_EQ(at_server[9].code, 200);
}

// ALLOW on the caller's principal: the meshed sleep gets in; plaintext (no
// principal) and another identity are denied, over HTTP and over TCP.
TEST_F(MtlsTest, AllowPolicyAdmitsOnlyTheNamedPrincipal) {
  Backend web([](int fd) { httpHandler(fd, "web"); });
  Backend echo(echoHandler);
  constexpr std::string_view kAllowSleep = R"(- apiVersion: security.istio.io/v1
  kind: AuthorizationPolicy
  metadata: {name: only-sleep}
  spec:
    rules: [{from: [{source: {principals: ["cluster.local/ns/default/sa/sleep"]}}]}]
)";
  Sidecar server(ca_, kWeb, serverYaml(kAllowSleep), loopback(web.port()));
  Sidecar sleep(ca_, kSleep, clientYaml(server.inbound()),
                {asio::ip::make_address("10.255.0.1"), 80});
  Sidecar other(ca_, "spiffe://cluster.local/ns/other/sa/intruder", clientYaml(server.inbound()),
                {asio::ip::make_address("10.255.0.1"), 80});
  std::string rest;
  Fd ok = connectTo(sleep.outbound());
  ASSERT_TRUE(sendAll(ok.get(), get("/")));
  EXPECT_EQ(readResponse(ok.get(), rest).status, 200);
  Fd intruder = connectTo(other.outbound());
  ASSERT_TRUE(sendAll(intruder.get(), get("/")));
  EXPECT_EQ(readResponse(intruder.get(), rest).status, 403);
  Fd plain = connectTo(server.inbound());
  ASSERT_TRUE(sendAll(plain.get(), get("/")));
  EXPECT_EQ(readResponse(plain.get(), rest).status, 403);

  // TCP: the same policy decides at the connection's start.
  Sidecar tcp_server(ca_, kWeb, serverYaml(kAllowSleep), loopback(echo.port()));
  Sidecar tcp_sleep(ca_, kSleep, clientYaml(tcp_server.inbound(), "TCP"),
                    {asio::ip::make_address("10.255.0.1"), 80});
  Fd tcp_ok = connectTo(tcp_sleep.outbound());
  ASSERT_TRUE(sendAll(tcp_ok.get(), "ping"));
  ::shutdown(tcp_ok.get(), SHUT_WR);
  EXPECT_EQ(readAll(tcp_ok.get()), "ping");
  Fd tcp_plain = connectTo(tcp_server.inbound());
  ASSERT_TRUE(sendAll(tcp_plain.get(), "ping"));
  ::shutdown(tcp_plain.get(), SHUT_WR);
  EXPECT_EQ(readAll(tcp_plain.get()), "");
  EXPECT_EQ(tcp_server.seen.waitFailures(1), std::vector<std::string>{"refused:rbac_denied"});
}

// Auto mTLS follows the server's PeerAuthentication: an endpoint labelled
// as a sidecar pod but DISABLE (here its app answers on the port directly)
// is called in plaintext, as istiod's auto mTLS would program it.
TEST_F(MtlsTest, AutoMtlsCallsADisableEndpointInPlaintext) {
  Backend web([](int fd) { httpHandler(fd, "web"); });
  std::string yaml = clientYaml(web.port()) + R"(policies:
- apiVersion: security.istio.io/v1
  kind: PeerAuthentication
  metadata: {name: web-plain, namespace: default}
  spec:
    selector: {matchLabels: {app: web}}
    mtls: {mode: DISABLE}
)";
  // The endpoint carries app: web so the selector finds it.
  std::string needle = "labels: {security.istio.io/tlsMode: istio}";
  yaml.replace(yaml.find(needle), needle.size(),
               "labels: {security.istio.io/tlsMode: istio, app: web}");
  Sidecar client(ca_, kSleep, yaml, {asio::ip::make_address("10.255.0.1"), 80});
  Fd c = connectTo(client.outbound());
  std::string rest;
  ASSERT_TRUE(sendAll(c.get(), get("/plain-on-purpose")));
  Response r = readResponse(c.get(), rest);
  EXPECT_EQ(r.status, 200) << r.head;
  auto at_client = client.seen.wait(1);
  ASSERT_EQ(at_client.size(), 1U);
  EXPECT_FALSE(at_client[0].upstream_mtls);
}

// With a CA every inbound connection is looked at (a sidecar's TLS may come
// to any port), but a port declared TCP stays TCP: plaintext that happens to
// look like HTTP is proxied byte for byte, not parsed.
TEST_F(MtlsTest, DeclaredTcpPortStaysTcpForPlaintext) {
  Backend web([](int fd) { httpHandler(fd, "web"); });
  Sidecar server(ca_, kWeb,
                 fmt::format(R"(
mesh: {{protocolDetectionTimeout: 20ms}}
proxy: {{namespace: default, ip: 127.0.0.1}}
services:
- name: web
  addresses: [10.255.0.9]
  ports: [{{name: tcp, port: 80, protocol: TCP, targetPort: {}}}]
  endpoints: [{{address: 127.0.0.1}}]
)",
                             web.port()),
                 loopback(web.port()));
  {
    Fd c = connectTo(server.inbound());
    ASSERT_TRUE(sendAll(c.get(), "GET / HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n"));
    ::shutdown(c.get(), SHUT_WR);
    EXPECT_EQ(readAll(c.get()).rfind("HTTP/1.1 200", 0), 0U);
  }
  auto seen = server.seen.wait(1);
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0].code, 0);  // a TCP connection's report, not an HTTP request's
}

// New connections to an upstream resume the worker's last TLS session with
// it (a ticket), on both ends; a new workload certificate starts afresh.
TEST_F(MtlsTest, NewConnectionsResumeTheUpstreamsSession) {
  Backend echo(echoHandler);
  Sidecar server(ca_, kWeb, "mesh: {protocolDetectionTimeout: 20ms}\n", loopback(echo.port()));
  Sidecar client(ca_, kSleep, clientYaml(server.inbound(), "TCP"),
                 {asio::ip::make_address("10.255.0.1"), 80});
  auto roundTrip = [&] {
    Fd c = connectTo(client.outbound());
    ASSERT_TRUE(sendAll(c.get(), "ping"));
    ::shutdown(c.get(), SHUT_WR);
    EXPECT_EQ(readAll(c.get()), "ping");
  };
  for (int i = 0; i < 3; ++i) roundTrip();
  EXPECT_EQ(client.seen.waitHandshakes(3),
            (std::vector<std::string>{"outbound:full", "outbound:resumed", "outbound:resumed"}));
  EXPECT_EQ(server.seen.waitHandshakes(3),
            (std::vector<std::string>{"inbound:full", "inbound:resumed", "inbound:resumed"}));
  client.rotate(ca_, kSleep);
  roundTrip();
  auto after = client.seen.waitHandshakes(4);
  ASSERT_EQ(after.size(), 4U);
  EXPECT_EQ(after[3], "outbound:full");
  // Resumed connections still carry both verified identities.
  auto seen = server.seen.wait(4);
  ASSERT_EQ(seen.size(), 4U);
  EXPECT_EQ(seen[1].downstream_principal, kSleep);
  auto at_client = client.seen.wait(4);
  EXPECT_EQ(at_client[2].upstream_principal, kWeb);
}

// Secure naming holds for pooled connections: when the registry changes
// whom an endpoint must be, the connection verified for the old identity is
// not reused, and the real server fails the new check.
TEST_F(MtlsTest, PooledConnectionsFollowTheRegistrysIdentity) {
  Backend web([](int fd) { httpHandler(fd, "web"); });
  Sidecar server(ca_, kWeb, "mesh: {protocolDetectionTimeout: 20ms}\n", loopback(web.port()));
  Sidecar client(ca_, kSleep, clientYaml(server.inbound()),
                 {asio::ip::make_address("10.255.0.1"), 80});
  std::string rest;
  {
    Fd c = connectTo(client.outbound());
    ASSERT_TRUE(sendAll(c.get(), get("/first")));
    ASSERT_EQ(readResponse(c.get(), rest).status, 200);
  }
  client.reconfigure(clientYaml(server.inbound(), "HTTP", "impostor"));
  std::this_thread::sleep_for(50ms);  // the snapshot reaches the worker
  Fd c = connectTo(client.outbound());
  ASSERT_TRUE(sendAll(c.get(), get("/second")));
  EXPECT_EQ(readResponse(c.get(), rest).status, 503);
  EXPECT_EQ(client.seen.waitFailures(1), std::vector<std::string>{"outbound:identity_not_allowed"});
}

// PERMISSIVE <-> STRICT ten times while a sidecar keeps calling, on one
// kept-alive connection and on new ones: no mTLS request fails; a plaintext
// connection opened under PERMISSIVE keeps being served (open connections
// are not cut), and new plaintext ones are refused only under STRICT.
TEST_F(MtlsTest, SwitchingPermissiveAndStrictUnderLoadResetsNoMtlsConnection) {
  Backend web([](int fd) { httpHandler(fd, "web"); });
  Sidecar server(ca_, kWeb, serverYaml(), loopback(web.port()));
  Sidecar client(ca_, kSleep, clientYaml(server.inbound()),
                 {asio::ip::make_address("10.255.0.1"), 80});
  Fd old_plain = connectTo(server.inbound());
  std::string old_rest;
  ASSERT_TRUE(sendAll(old_plain.get(), get("/before")));
  ASSERT_EQ(readResponse(old_plain.get(), old_rest).status, 200);

  std::atomic<bool> done{false};
  std::thread switcher([&] {
    for (int i = 0; i < 10; ++i) {
      std::this_thread::sleep_for(15ms);
      server.reconfigure(serverYaml(i % 2 == 0 ? kStrict : ""));
    }
    done = true;
  });
  Fd kept = connectTo(client.outbound());
  std::string kept_rest;
  int ok = 0;
  int total = 0;
  while (!done || total < 60) {
    bool fresh = total % 2 == 1;
    Fd conn = fresh ? connectTo(client.outbound()) : Fd();
    int fd = fresh ? conn.get() : kept.get();
    std::string fresh_rest;
    std::string& rest = fresh ? fresh_rest : kept_rest;
    if (sendAll(fd, get("/during")) && readResponse(fd, rest).status == 200) ++ok;
    ++total;
  }
  switcher.join();
  EXPECT_EQ(ok, total);
  // The last switch left STRICT off (i = 9 -> PERMISSIVE); make it STRICT.
  server.reconfigure(serverYaml(kStrict));
  std::this_thread::sleep_for(50ms);  // the snapshot reaches the worker
  ASSERT_TRUE(sendAll(old_plain.get(), get("/after")));
  EXPECT_EQ(readResponse(old_plain.get(), old_rest).status, 200);
  Fd new_plain = connectTo(server.inbound());
  ASSERT_TRUE(sendAll(new_plain.get(), get("/after")));
  EXPECT_TRUE(closedWithoutAnswer(new_plain.get()));
}

}  // namespace
}  // namespace remora::proxy

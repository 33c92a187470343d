// The sidecar's certificate bootstrap against a real `remora control` CA
// served over TLS on 127.0.0.1, with the admin endpoints (every port 0) the
// sidecar serves: readiness waits for the first certificate, the metrics
// and /certs show it, short TTLs rotate, a CA that is down at start is
// retried until it comes up.
#include <filesystem>
#include <thread>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <gtest/gtest.h>
#include <unistd.h>

#include "agent/workload_certs.h"
#include "control/authenticator.h"
#include "control/ca.h"
#include "control/ca_server.h"
#include "control/ca_service.h"
#include "control/issuance_log.h"
#include "core/event_loop.h"
#include "core/file.h"
#include "core/json.h"
#include "http/client.h"
#include "proxy/admin/admin.h"
#include "tests/telemetry/prom_parse.h"

namespace remora::agent {
namespace {

using namespace std::chrono_literals;

constexpr const char* kTokens = "sleep-token-0123456789 default sleep\n";
constexpr const char* kSleep = "spiffe://cluster.local/ns/default/sa/sleep";

// A CA (its state in `dir`) served on a loop thread, as `remora control` runs it.
class RunningCa {
 public:
  explicit RunningCa(const std::filesystem::path& dir, std::uint16_t port = 0) {
    auto ca = control::CertificateAuthority::loadOrCreateSelfSigned(
        (dir / "ca").string(), {.max_ttl = std::chrono::hours(48)}, systemClock());
    REMORA_CHECK(ca.has_value(), "{}", ca.error().message);
    ca_ = std::move(*ca);
    auth_ = std::move(control::TokenFileAuthenticator::fromText(kTokens)).value();
    log_ = std::move(control::IssuanceLog::open((dir / "issuance.log").string(), systemClock()))
               .value();
    service_ = std::make_unique<control::CaService>(*ca_, *auth_, *log_);
    server_ = std::make_unique<control::CaServer>(
        loop_, *ca_, *service_,
        control::CaServerOptions{.address = "127.0.0.1", .port = port, .dns_names = {"localhost"}});
    auto started = server_->start();
    REMORA_CHECK(started.has_value(), "CA start: {}", started.error().message);
    thread_ = std::thread([this] { loop_.run(); });
  }
  ~RunningCa() {
    loop_.post([this] {
      server_.reset();
      loop_.stop();
    });
    thread_.join();
  }
  std::uint16_t port() const { return server_->port(); }
  std::string rootPem() const { return ca_->rootCertPem(); }

 private:
  EventLoop loop_;
  std::unique_ptr<control::CertificateAuthority> ca_;
  std::unique_ptr<control::TokenFileAuthenticator> auth_;
  std::unique_ptr<control::IssuanceLog> log_;
  std::unique_ptr<control::CaService> service_;
  std::unique_ptr<control::CaServer> server_;
  std::thread thread_;
};

// What `remora proxy sidecar` builds: the bootstrap, and the admin server
// reading it through the callbacks.
struct Sidecar {
  telemetry::StatsRegistry stats{1};
  std::unique_ptr<WorkloadCertificates> certs;
  std::unique_ptr<proxy::admin::AdminServer> admin;

  explicit Sidecar(WorkloadCertOptions options) {
    auto made = WorkloadCertificates::create(std::move(options));
    REMORA_CHECK(made.has_value(), "{}", made.error().message);
    certs = std::move(*made);
    proxy::admin::AdminCallbacks cb;
    cb.state = [] { return proxy::admin::ServerState::Live; };
    cb.not_ready = [this] { return certs->notReadyReason(); };
    cb.extra_metrics = [this] { return certs->prometheus(); };
    cb.certs = [this] { return certs->certsJson(); };
    proxy::admin::AdminOptions o;
    o.admin_port = o.stats_port = o.health_port = o.status_port = 0;
    o.public_address = "127.0.0.1";
    admin = std::make_unique<proxy::admin::AdminServer>(stats, std::move(cb), std::move(o));
    auto started = admin->start();
    REMORA_CHECK(started.has_value(), "admin start: {}", started.error().message);
  }
  ~Sidecar() {
    admin->stop();
    certs->stop();
  }

  http::ClientResponse get(std::uint16_t port, const std::string& path) {
    http::Client client(http::ClientOptions{.connect_timeout = 5s, .read_timeout = 5s});
    auto r =
        client.send({.method = "GET", .url = "http://127.0.0.1:" + std::to_string(port) + path});
    EXPECT_TRUE(r.has_value()) << path << ": " << (r ? "" : r.error().message);
    return r ? *r : http::ClientResponse{};
  }
  http::ClientResponse ready() { return get(admin->healthPort(), "/healthz/ready"); }
  telemetry::test::Exposition metrics() {
    auto r = get(admin->statsPort(), "/stats/prometheus");
    auto ex = telemetry::test::parseExposition(r.body);
    EXPECT_EQ(ex.error, "") << r.body;
    return ex;
  }
  Json certsJson() { return *parseJson(get(admin->adminPort(), "/certs").body); }
};

// Polls `cond` every 20 ms for up to `timeout`.
template <typename F>
bool eventually(F cond, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

class WorkloadCertsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("remora-agent-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    ASSERT_TRUE(writeFileAtomic(tokenPath(), "sleep-token-0123456789\n", 0600));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string tokenPath() const { return (dir_ / "istio-token").string(); }
  std::string rootPath() const { return (dir_ / "root-cert.pem").string(); }
  void writeRoot(const RunningCa& ca) {
    ASSERT_TRUE(writeFileAtomic(rootPath(), ca.rootPem(), 0644));
  }
  WorkloadCertOptions options(std::uint16_t port) const {
    WorkloadCertOptions o;
    o.ca_addr = "localhost:" + std::to_string(port);
    o.root_cert_path = rootPath();
    o.token_path = tokenPath();
    o.pod_namespace = "default";
    o.service_account = "sleep";
    o.ca_timeout = 2s;
    o.initial_backoff = 100ms;
    o.max_backoff = 400ms;
    return o;
  }

  std::filesystem::path dir_;
};

TEST(CaAddress, IstioFormsAndHostileOnes) {
  struct Case {
    const char* in;
    const char* url;  // nullptr: refused
    const char* name;
  };
  const Case cases[] = {
      {"istiod.istio-system.svc:15012", "https://istiod.istio-system.svc:15012",
       "istiod.istio-system.svc"},
      {"https://remora-control.istio-system.svc:15012/",
       "https://remora-control.istio-system.svc:15012", "remora-control.istio-system.svc"},
      {"10.0.0.1:15012", "https://10.0.0.1:15012", "10.0.0.1"},
      {"[fd00::1]:15012", "https://[fd00::1]:15012", "fd00::1"},
      {"http://istiod:15010", nullptr, nullptr},
      {"istiod:15012/v1/certificate", nullptr, nullptr},
      {":15012", nullptr, nullptr},
      {"[fd00::1:15012", nullptr, nullptr},
      {"https://", nullptr, nullptr},
  };
  for (const auto& c : cases) {
    auto got = parseCaAddress(c.in);
    if (c.url == nullptr) {
      EXPECT_FALSE(got) << c.in;
      continue;
    }
    ASSERT_TRUE(got) << c.in << ": " << got.error().message;
    EXPECT_EQ(got->url, c.url);
    EXPECT_EQ(got->server_name, c.name);
  }
  WorkloadCertOptions o;
  EXPECT_EQ(o.identity(), "");
  o.pod_namespace = "shop";
  o.service_account = "web";
  o.trust_domain = "example.org";
  EXPECT_EQ(o.identity(), "spiffe://example.org/ns/shop/sa/web");
  o.ca_addr = "istiod:15012";
  o.service_account = "a/b";  // a path segment cannot hold a slash
  EXPECT_FALSE(WorkloadCertificates::create(o));
}

TEST_F(WorkloadCertsTest, FirstCertificateMakesThePodReady) {
  RunningCa ca(dir_);
  writeRoot(ca);
  Sidecar sidecar(options(ca.port()));
  auto before = sidecar.ready();
  EXPECT_EQ(before.status, 503);
  EXPECT_EQ(before.body, "no workload certificate\n");
  EXPECT_FALSE(sidecar.metrics().value("istio_agent_cert_expiry_seconds", {}));
  EXPECT_EQ(sidecar.certsJson()["certificates"].size(), 0u);

  sidecar.certs->start();
  ASSERT_TRUE(sidecar.certs->waitForCertificate(10s)) << sidecar.certs->provider().lastError();
  auto snap = sidecar.certs->store().current();
  ASSERT_EQ(snap->leaf.uri_sans.size(), 1u);
  EXPECT_EQ(snap->leaf.uri_sans[0], kSleep);
  EXPECT_NE(snap->server, nullptr);
  EXPECT_NE(snap->client, nullptr);
  EXPECT_EQ(sidecar.ready().status, 200);

  auto m = sidecar.metrics();
  auto left = m.value("istio_agent_cert_expiry_seconds", {{"resource_name", "default"}});
  ASSERT_TRUE(left);
  EXPECT_GT(*left, 23 * 3600);  // 24 h asked for
  EXPECT_LE(*left, 24 * 3600);
  EXPECT_EQ(m.value("remora_workload_cert_expiry_timestamp_seconds", {{"identity", kSleep}}),
            static_cast<double>(toTimeT(snap->leaf.not_after)));
  EXPECT_EQ(m.value("remora_workload_cert_rotations_total"), 1.0);
  EXPECT_EQ(m.value("istio_agent_num_outgoing_requests", {{"request_type", "csr"}}), 1.0);
  EXPECT_EQ(m.value("istio_agent_num_failed_outgoing_requests", {{"request_type", "csr"}}), 0.0);
  EXPECT_EQ(m.value("remora_ca_connected"), 1.0);
  EXPECT_EQ(m.value("remora_ca_consecutive_failures"), 0.0);
  EXPECT_EQ(m.types["istio_agent_cert_expiry_seconds"], "gauge");
  // The admin's /stats shows the same lines, Envoy's way.
  auto plain = sidecar.get(sidecar.admin->adminPort(), "/stats").body;
  EXPECT_NE(plain.find("remora_ca_connected: 1\n"), std::string::npos) << plain;

  Json certs = sidecar.certsJson();
  EXPECT_EQ(certs["identity"], kSleep);
  EXPECT_EQ(certs["generation"], 1);
  ASSERT_EQ(certs["certificates"].size(), 1u);
  const Json& leaf = certs["certificates"][0]["cert_chain"][0];
  EXPECT_EQ(leaf["serial_number"], snap->leaf.serial_hex);
  EXPECT_EQ(leaf["subject_alt_names"][0]["uri"], kSleep);
  EXPECT_EQ(leaf["days_until_expiration"], "0");  // a little under 24 h
  EXPECT_EQ(leaf["expiration_time"], formatRfc3339(snap->leaf.not_after));
  EXPECT_GT(leaf["seconds_until_expiration"].get<std::int64_t>(), 23 * 3600);
  EXPECT_EQ(certs["certificates"][0]["ca_cert"].size(), 1u);
  EXPECT_EQ(certs["ca"]["connected"], true);
}

TEST_F(WorkloadCertsTest, ShortTtlRotatesWithNewCertificates) {
  RunningCa ca(dir_);
  writeRoot(ca);
  WorkloadCertOptions o = options(ca.port());
  o.ttl = 60s;                // the CA's minimum
  o.refresh_fraction = 0.05;  // 3 s after each fetch
  o.jitter_fraction = 0;
  Sidecar sidecar(o);
  sidecar.certs->start();
  ASSERT_TRUE(sidecar.certs->waitForCertificate(10s));
  auto first = sidecar.certs->store().current();
  // Not at once (the backdated notBefore does not count), but within 3 s.
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(sidecar.certs->store().generation(), 1u);
  ASSERT_TRUE(eventually([&] { return sidecar.certs->store().generation() >= 3; }, 15s))
      << sidecar.certs->provider().lastError();
  auto third = sidecar.certs->store().current();
  EXPECT_NE(third->leaf.serial_hex, first->leaf.serial_hex);
  EXPECT_EQ(third->leaf.uri_sans[0], kSleep);
  auto m = sidecar.metrics();
  EXPECT_GE(*m.value("remora_workload_cert_rotations_total"), 3.0);
  EXPECT_LE(*m.value("istio_agent_cert_expiry_seconds", {{"resource_name", "default"}}), 60.0);
  EXPECT_EQ(sidecar.ready().status, 200);
  EXPECT_GE(sidecar.certsJson()["generation"].get<int>(), 3);
}

TEST_F(WorkloadCertsTest, CaDownAtStartIsRetriedUntilItComesUp) {
  std::uint16_t port = 0;
  {
    RunningCa ca(dir_);  // makes the CA's root, then goes away
    port = ca.port();
    writeRoot(ca);
  }
  // The CA's port stays bound, not listening, while the CA is down: a
  // connection to it is refused as to a CA that is not there, and no other
  // socket is given the port meanwhile (the sidecar's own admin ports, bound
  // to port 0 just below, once were, and the CA could not come back).
  asio::io_context io;
  asio::ip::tcp::socket reserved(io);
  reserved.open(asio::ip::tcp::v4());
  reserved.set_option(asio::socket_base::reuse_address(true));
  reserved.bind({asio::ip::make_address_v4("127.0.0.1"), port});
  Sidecar sidecar(options(port));
  sidecar.certs->start();
  ASSERT_TRUE(eventually([&] { return sidecar.certs->provider().failures() >= 3; }, 10s));
  auto r = sidecar.ready();
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "no workload certificate\n");
  auto m = sidecar.metrics();
  EXPECT_EQ(m.value("remora_ca_connected"), 0.0);
  EXPECT_GE(*m.value("remora_ca_consecutive_failures"), 3.0);
  EXPECT_GE(*m.value("istio_agent_num_failed_outgoing_requests", {{"request_type", "csr"}}), 3.0);
  Json certs = sidecar.certsJson();
  EXPECT_EQ(certs["ca"]["connected"], false);
  EXPECT_NE(certs["ca"]["last_error"].get<std::string>().find("cannot reach the CA"),
            std::string::npos)
      << certs;

  reserved.close();
  RunningCa back(dir_, port);  // the same CA, on its port
  ASSERT_TRUE(sidecar.certs->waitForCertificate(5s)) << sidecar.certs->provider().lastError();
  EXPECT_EQ(sidecar.ready().status, 200);
  EXPECT_EQ(sidecar.metrics().value("remora_ca_connected"), 1.0);
  EXPECT_EQ(sidecar.certs->store().current()->leaf.uri_sans[0], kSleep);
}

TEST_F(WorkloadCertsTest, RootMountedLateIsPickedUp) {
  RunningCa ca(dir_);
  Sidecar sidecar(options(ca.port()));  // no root-cert.pem yet
  sidecar.certs->start();
  ASSERT_TRUE(eventually([&] { return sidecar.certs->provider().failures() >= 2; }, 10s));
  EXPECT_NE(sidecar.certs->provider().lastError().find("mesh root"), std::string::npos)
      << sidecar.certs->provider().lastError();
  writeRoot(ca);
  ASSERT_TRUE(sidecar.certs->waitForCertificate(5s)) << sidecar.certs->provider().lastError();
  EXPECT_EQ(sidecar.ready().status, 200);
}

TEST_F(WorkloadCertsTest, RefusedTokenNeverMakesThePodReady) {
  RunningCa ca(dir_);
  writeRoot(ca);
  ASSERT_TRUE(writeFileAtomic(tokenPath(), "stolen-token-0123456789\n", 0600));
  Sidecar sidecar(options(ca.port()));
  sidecar.certs->start();
  ASSERT_TRUE(eventually([&] { return sidecar.certs->provider().failures() >= 2; }, 10s));
  EXPECT_EQ(sidecar.certs->store().generation(), 0u);
  EXPECT_EQ(sidecar.ready().status, 503);
  EXPECT_NE(sidecar.certs->provider().lastError().find("refused the token"), std::string::npos)
      << sidecar.certs->provider().lastError();
}

}  // namespace
}  // namespace remora::agent

// `remora control`'s CA over real TLS on 127.0.0.1: the proxy-side provider
// against it, the hostile requests of RELIABILITY.md test 14 over HTTPS,
// and a CA that goes away and comes back (test 15).
#include <filesystem>
#include <future>
#include <string>
#include <thread>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <gtest/gtest.h>
#include <unistd.h>

#include "control/ca_client.h"
#include "control/ca_server.h"
#include "core/file.h"
#include "core/json.h"
#include "http/client.h"
#include "tests/tls/pki.h"
#include "tls/certificate_provider.h"
#include "tls/csr.h"
#include "tls/pem.h"

namespace remora::control {
namespace {

using std::chrono::minutes;

constexpr const char* kTokens =
    "sleep-token-0123456789 default sleep\n"
    "httpbin-token-0123456789 default httpbin\n";

// A CA (state in a temporary directory) served on a loop thread.
class RunningCa {
 public:
  explicit RunningCa(const std::filesystem::path& dir, std::uint16_t port = 0,
                     Seconds serving_ttl = std::chrono::hours(24)) {
    auto ca = CertificateAuthority::loadOrCreateSelfSigned(
        (dir / "ca").string(), {.max_ttl = std::chrono::hours(48)}, systemClock());
    REMORA_CHECK(ca.has_value(), "{}", ca.error().message);
    ca_ = std::move(*ca);
    auth_ = std::move(TokenFileAuthenticator::fromText(kTokens)).value();
    log_ = std::move(IssuanceLog::open((dir / "issuance.log").string(), systemClock())).value();
    service_ = std::make_unique<CaService>(*ca_, *auth_, *log_);
    server_ = std::make_unique<CaServer>(loop_, *ca_, *service_,
                                         CaServerOptions{.address = "127.0.0.1",
                                                         .port = port,
                                                         .dns_names = {"localhost"},
                                                         .serving_ttl = serving_ttl});
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
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port()); }
  const CertificateAuthority& ca() const { return *ca_; }
  std::string servingSerial() {
    std::promise<std::string> p;
    loop_.post([&] { p.set_value(server_->servingSerial()); });
    return p.get_future().get();
  }

 private:
  EventLoop loop_;
  std::unique_ptr<CertificateAuthority> ca_;
  std::unique_ptr<TokenFileAuthenticator> auth_;
  std::unique_ptr<IssuanceLog> log_;
  std::unique_ptr<CaService> service_;
  std::unique_ptr<CaServer> server_;
  std::thread thread_;
};

class CaServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("remora-ca-server-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    ca_ = std::make_unique<RunningCa>(dir_);
    writeToken("sleep", "sleep-token-0123456789");
    writeToken("httpbin", "httpbin-token-0123456789");
  }
  void TearDown() override {
    ca_.reset();
    std::filesystem::remove_all(dir_);
  }

  void writeToken(const std::string& name, const std::string& token) {
    ASSERT_TRUE(writeFileAtomic((dir_ / ("token-" + name)).string(), token + "\n", 0600));
  }
  std::string tokenPath(const std::string& name) const {
    return (dir_ / ("token-" + name)).string();
  }
  CaClientOptions clientOptions() const {
    return {.url = ca_->url(),
            .root_cert_pem = ca_->ca().rootCertPem(),
            .server_name = "localhost",
            .timeout = std::chrono::seconds(5)};
  }
  tls::ProviderOptions providerOptions(const std::string& sa) const {
    return {.token_path = tokenPath(sa),
            .expected_identity = "spiffe://cluster.local/ns/default/sa/" + sa};
  }
  std::vector<Json> issuanceLog() const {
    std::vector<Json> lines;
    auto text = readFile((dir_ / "issuance.log").string(), 1 << 24);
    if (!text) return lines;
    std::size_t pos = 0;
    while (pos < text->size()) {
      std::size_t eol = text->find('\n', pos);
      lines.push_back(*parseJson(std::string_view(*text).substr(pos, eol - pos)));
      pos = eol + 1;
    }
    return lines;
  }

  std::filesystem::path dir_;
  std::unique_ptr<RunningCa> ca_;
  tls::CertificateStore::Options store_options_{.trust_domains = {"cluster.local"}};
};

TEST_F(CaServerTest, ProvidersGetCertificatesAndTheirProxiesTalkMtls) {
  HttpsCaClient sleep_client(clientOptions());
  HttpsCaClient httpbin_client(clientOptions());
  tls::CertificateStore sleep_store(store_options_);
  tls::CertificateStore httpbin_store(store_options_);
  tls::CertificateProvider sleep(providerOptions("sleep"), sleep_client, sleep_store,
                                 systemClock());
  tls::CertificateProvider httpbin(providerOptions("httpbin"), httpbin_client, httpbin_store,
                                   systemClock());
  ASSERT_TRUE(sleep.fetchOnce()) << sleep.lastError();
  ASSERT_TRUE(httpbin.fetchOnce()) << httpbin.lastError();
  EXPECT_EQ(sleep_store.current()->leaf.uri_sans[0], "spiffe://cluster.local/ns/default/sa/sleep");

  auto h =
      tls::testing::handshake(*sleep_store.current()->client, *httpbin_store.current()->server);
  ASSERT_TRUE(h.ok()) << h.client_error << " / " << h.server_error;
  EXPECT_EQ(tls::peerIdentity(h.server.get())->principal(), "cluster.local/ns/default/sa/sleep");
  EXPECT_EQ(tls::peerIdentity(h.client.get())->principal(), "cluster.local/ns/default/sa/httpbin");

  auto lines = issuanceLog();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["serial"], sleep_store.current()->leaf.serial_hex);
}

TEST_F(CaServerTest, RootEndpointAndCaAuthentication) {
  HttpsCaClient client(clientOptions());
  auto root = client.rootCertificate();
  ASSERT_TRUE(root) << root.error().message;
  EXPECT_EQ(*root, ca_->ca().rootCertPem());

  // A client that trusts another root refuses this CA: no token is sent.
  auto stranger = tls::testing::newRoot();
  CaClientOptions wrong = clientOptions();
  wrong.root_cert_pem = *tls::certificateToPem(stranger.cert.get());
  HttpsCaClient untrusting(wrong);
  tls::CertificateStore store(store_options_);
  tls::CertificateProvider provider(providerOptions("sleep"), untrusting, store, systemClock());
  auto status = provider.fetchOnce();
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::Unavailable);
  CaClientOptions wrong_name = clientOptions();
  wrong_name.server_name = "evil.example";
  HttpsCaClient misnamed(wrong_name);
  EXPECT_FALSE(misnamed.rootCertificate());
  EXPECT_TRUE(issuanceLog().empty());
}

TEST_F(CaServerTest, HostileRequestsOverHttps) {
  http::Client client({.tls = {.ca_pem = ca_->ca().rootCertPem(), .server_name = "localhost"}});
  auto key = tls::testing::newKey();
  std::string good = *tls::createCsrPem(key.get(), {});
  std::string foreign = *tls::createCsrPem(
      key.get(), {.uri_sans = {"spiffe://cluster.local/ns/kube-system/sa/admin"}});
  std::vector<std::string> many;
  for (int i = 0; i < 100; ++i)
    many.push_back("spiffe://cluster.local/ns/n/sa/s" + std::to_string(i));
  std::string hundred = *tls::createCsrPem(key.get(), {.uri_sans = many});
  auto post = [&](std::string body, std::string token, int authorizations = 1) {
    http::ClientRequest req{
        .method = "POST", .url = ca_->url() + "/v1/certificate", .body = std::move(body)};
    for (int i = 0; i < authorizations; ++i) req.headers.add("Authorization", "Bearer " + token);
    return client.send(req);
  };
  auto json = [](const std::string& csr, std::optional<std::int64_t> ttl = std::nullopt) {
    Json j = {{"csr", csr}};
    if (ttl) j["ttlSeconds"] = *ttl;
    return dumpJson(j);
  };
  const std::string sleep = "sleep-token-0123456789";

  auto issued = post(json(foreign), sleep);
  ASSERT_TRUE(issued);
  ASSERT_EQ(issued->status, 200) << issued->body;
  EXPECT_EQ((*parseJson(issued->body))["identity"], "spiffe://cluster.local/ns/default/sa/sleep");
  auto clamped = post(json(good, 10'000'000), sleep);
  ASSERT_TRUE(clamped);
  ASSERT_EQ(clamped->status, 200);
  EXPECT_EQ((*parseJson(clamped->body))["ttlSeconds"], 48 * 3600);

  struct Case {
    const char* name;
    std::string body;
    std::string token;
    int authorizations;
    int status;
  };
  const Case cases[] = {
      {"no-token", json(good), sleep, 0, 401},
      {"unknown-token", json(good), "stolen-token-0123456789", 1, 401},
      {"two-authorizations", json(good), sleep, 2, 401},
      {"malformed-csr",
       json("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
            "-----END CERTIFICATE REQUEST-----\n"),
       sleep, 1, 400},
      {"one-megabyte", json(good + std::string(1 << 20, 'A')), sleep, 1, 413},
      {"hundred-sans", json(hundred), sleep, 1, 400},
      {"not-json", "csr=" + good, sleep, 1, 400},
  };
  for (const auto& c : cases) {
    auto r = post(c.body, c.token, c.authorizations);
    if (!r) {
      // The server answers 413 as soon as the declared length is over the
      // limit and closes: a client still sending may see the close first.
      EXPECT_EQ(c.status, 413) << c.name << ": " << r.error().message;
      continue;
    }
    EXPECT_EQ(r->status, c.status) << c.name << ": " << r->body.substr(0, 200);
    EXPECT_EQ(r->body.find("certChain"), std::string::npos) << c.name;
  }
  auto get = client.send({.method = "GET", .url = ca_->url() + "/v1/certificate"});
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 405);
  // Plain HTTP to the TLS port: a clear 400, not a hang.
  http::Client plain;
  auto p = plain.send(
      {.method = "GET", .url = "http://127.0.0.1:" + std::to_string(ca_->port()) + "/v1/root"});
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->status, 400);

  // The log: two issued, both for the caller; every refusal that reached
  // the handler recorded (the 413 is cut by the server before it).
  int issued_lines = 0;
  for (const auto& line : issuanceLog()) {
    if (line["event"] == "issued") {
      ++issued_lines;
      EXPECT_EQ(line["identity"], "spiffe://cluster.local/ns/default/sa/sleep");
    }
  }
  EXPECT_EQ(issued_lines, 2);
}

TEST_F(CaServerTest, CaGoesAwayAndComesBack) {
  ManualClock clock{fromTimeT(toTimeT(systemClock().now()))};
  HttpsCaClient client(clientOptions());
  tls::CertificateStore store(store_options_);
  tls::CertificateProvider provider(providerOptions("sleep"), client, store, clock,
                                    [] { return 0.5; });
  provider.step();
  ASSERT_EQ(store.generation(), 1u) << provider.lastError();
  auto before = store.current();
  std::uint16_t port = ca_->port();

  ca_.reset();  // the CA goes away
  // Its port stays bound, not listening, until it comes back: refused as a
  // CA that is not there, and given to no other socket meanwhile (a test
  // running beside this one binds port 0 too).
  asio::io_context io;
  asio::ip::tcp::socket reserved(io);
  reserved.open(asio::ip::tcp::v4());
  reserved.set_option(asio::socket_base::reuse_address(true));
  reserved.bind({asio::ip::make_address_v4("127.0.0.1"), port});
  clock.advance(minutes(12 * 60 + 1));  // past the half-life of 24 h
  auto delay = provider.step();
  EXPECT_EQ(delay, std::chrono::milliseconds(750));  // first back-off, mid-jitter
  EXPECT_EQ(provider.step(), std::chrono::milliseconds(1500));
  EXPECT_EQ(store.current(), before) << "the proxy keeps serving with what it has";
  EXPECT_FALSE(provider.connected());
  EXPECT_EQ(provider.consecutiveFailures(), 2u);
  EXPECT_NE(provider.lastError().find("cannot reach the CA"), std::string::npos)
      << provider.lastError();
  // mTLS still works with the old certificate meanwhile.
  auto h = tls::testing::handshake(*before->client, *before->server);
  EXPECT_TRUE(h.ok());

  reserved.close();
  ca_ = std::make_unique<RunningCa>(dir_, port);  // the same CA, back on its port
  provider.step();
  EXPECT_TRUE(provider.connected()) << provider.lastError();
  EXPECT_EQ(store.generation(), 2u);
  EXPECT_EQ(provider.consecutiveFailures(), 0u);
  EXPECT_NE(store.current()->leaf.serial_hex, before->leaf.serial_hex);
}

TEST_F(CaServerTest, ServingCertificateIsRenewedWithoutRestart) {
  RunningCa short_lived(dir_ / "short", 0, Seconds(4));  // renewed after ~2 s
  std::string first = short_lived.servingSerial();
  std::string now = first;
  for (int i = 0; i < 100 && now == first; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    now = short_lived.servingSerial();
  }
  EXPECT_NE(now, first);
  CaClientOptions o{.url = short_lived.url(),
                    .root_cert_pem = short_lived.ca().rootCertPem(),
                    .server_name = "localhost"};
  HttpsCaClient client(o);
  EXPECT_TRUE(client.rootCertificate());
}

}  // namespace
}  // namespace remora::control

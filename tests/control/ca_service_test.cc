// The CA's request handler against RELIABILITY.md test 14: every hostile
// request is refused with the right status, and the issuance log never
// shows a certificate for an identity other than the caller's.
#include "control/ca_service.h"

#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

#include "core/file.h"
#include "core/json.h"
#include "tests/tls/pki.h"
#include "tls/csr.h"
#include "tls/pem.h"

namespace remora::control {
namespace {

using tls::testing::newKey;

constexpr const char* kSleepToken = "sleep-token-0123456789";
constexpr const char* kTokens =
    "sleep-token-0123456789 default sleep\n"
    "httpbin-token-0123456789 default httpbin\n";

std::string requestJson(const std::string& csr, std::optional<Json> ttl = std::nullopt) {
  Json j = {{"csr", csr}};
  if (ttl) j["ttlSeconds"] = *ttl;
  return dumpJson(j);
}

class CaServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("remora-ca-svc-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    auto ca = CertificateAuthority::loadOrCreateSelfSigned(
        (dir_ / "ca").string(), {.max_ttl = std::chrono::hours(48)}, clock_);
    ASSERT_TRUE(ca) << ca.error().message;
    ca_ = std::move(*ca);
    auth_ = std::move(TokenFileAuthenticator::fromText(kTokens)).value();
    log_path_ = (dir_ / "issuance.log").string();
    log_ = std::move(IssuanceLog::open(log_path_, clock_)).value();
    service_ = std::make_unique<CaService>(*ca_, *auth_, *log_);
    key_ = newKey();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string csr(std::vector<std::string> uri_sans = {}) {
    return *tls::createCsrPem(key_.get(), {.uri_sans = std::move(uri_sans)});
  }
  CaHttpResponse post(const std::string& body, std::string token = kSleepToken) {
    return service_->createCertificate(token.empty() ? "" : "Bearer " + token, body);
  }
  std::vector<Json> logLines() {
    std::vector<Json> lines;
    std::string text = *readFile(log_path_, 1 << 24);
    std::size_t pos = 0;
    while (pos < text.size()) {
      std::size_t eol = text.find('\n', pos);
      lines.push_back(*parseJson(text.substr(pos, eol - pos)));
      pos = eol + 1;
    }
    return lines;
  }

  ManualClock clock_;
  std::filesystem::path dir_;
  std::unique_ptr<CertificateAuthority> ca_;
  std::unique_ptr<TokenFileAuthenticator> auth_;
  std::string log_path_;
  std::unique_ptr<IssuanceLog> log_;
  std::unique_ptr<CaService> service_;
  tls::PKeyPtr key_;
};

TEST_F(CaServiceTest, IssuesForTheCaller) {
  auto r = post(requestJson(csr()));
  ASSERT_EQ(r.status, 200) << r.body;
  auto doc = *parseJson(r.body);
  EXPECT_EQ(doc["identity"], "spiffe://cluster.local/ns/default/sa/sleep");
  EXPECT_EQ(doc["ttlSeconds"], 86400);
  ASSERT_EQ(doc["certChain"].size(), 1u);
  auto leaf = tls::readCertificatePem(doc["certChain"][0].get<std::string>());
  ASSERT_TRUE(leaf);
  EXPECT_EQ(X509_check_private_key(leaf->get(), key_.get()), 1) << "issued for the CSR's key";
  EXPECT_EQ(doc["rootCert"], ca_->rootCertPem());
  auto lines = logLines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["event"], "issued");
  EXPECT_EQ(lines[0]["serial"], doc["serial"]);
}

TEST_F(CaServiceTest, RootEndpoint) {
  auto r = service_->rootCertificate();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ((*parseJson(r.body))["rootCert"], ca_->rootCertPem());
}

TEST_F(CaServiceTest, CsrForAnotherIdentityGetsTheCallersIdentity) {
  auto r = post(requestJson(csr({"spiffe://cluster.local/ns/default/sa/httpbin",
                                 "spiffe://cluster.local/ns/kube-system/sa/admin"})));
  ASSERT_EQ(r.status, 200) << r.body;
  auto doc = *parseJson(r.body);
  EXPECT_EQ(doc["identity"], "spiffe://cluster.local/ns/default/sa/sleep");
  auto leaf = tls::readCertificatePem(doc["certChain"][0].get<std::string>());
  auto info = tls::describeCertificate(leaf->get());
  EXPECT_EQ(info->uri_sans,
            (std::vector<std::string>{"spiffe://cluster.local/ns/default/sa/sleep"}));
  auto line = logLines().back();
  EXPECT_EQ(line["identity"], "spiffe://cluster.local/ns/default/sa/sleep");
  EXPECT_EQ(line["requestedSans"][0], "spiffe://cluster.local/ns/default/sa/httpbin");
}

TEST_F(CaServiceTest, TtlAboveMaximumIsClamped) {
  auto r = post(requestJson(csr(), Json(365 * 86400)));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ((*parseJson(r.body))["ttlSeconds"], 48 * 3600);
  EXPECT_EQ(logLines().back()["ttlClamped"], true);
  auto huge = post(requestJson(csr(), Json(std::uint64_t{18446744073709551615ull})));
  ASSERT_EQ(huge.status, 200) << huge.body;
  EXPECT_EQ((*parseJson(huge.body))["ttlSeconds"], 48 * 3600);
}

TEST_F(CaServiceTest, RefusesEveryHostileRequest) {
  auto ed = tls::PKeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  std::string ed_csr = *tls::createCsrPem(ed.get(), {});
  std::vector<std::string> many;
  for (int i = 0; i < 100; ++i)
    many.push_back("spiffe://cluster.local/ns/n/sa/s" + std::to_string(i));
  std::string good = csr();
  struct Case {
    const char* name;
    std::string authorization;
    std::string body;
    int status;
  };
  const std::string bearer = std::string("Bearer ") + kSleepToken;
  const Case cases[] = {
      {"no-token", "", requestJson(good), 401},
      {"unknown-token", "Bearer not-a-known-token-xyz", requestJson(good), 401},
      {"basic-auth", "Basic c2xlZXA6c2xlZXA=", requestJson(good), 401},
      {"token-with-space", "Bearer sleep token", requestJson(good), 401},
      {"huge-token", "Bearer " + std::string(100000, 'a'), requestJson(good), 401},
      {"not-json", bearer, "csr=" + good, 400},
      {"json-array", bearer, "[1,2]", 400},
      {"deep-json", bearer, std::string(5000, '[') + std::string(5000, ']'), 400},
      {"no-csr", bearer, "{}", 400},
      {"csr-not-string", bearer, R"({"csr": 5})", 400},
      {"unknown-field", bearer, R"({"csr": "x", "identity": "spiffe://cluster.local/ns/a/sa/b"})",
       400},
      {"malformed-csr", bearer,
       requestJson("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
                   "-----END CERTIFICATE REQUEST-----\n"),
       400},
      {"truncated-csr", bearer, requestJson(good.substr(0, good.size() / 2)), 400},
      {"one-megabyte-body", bearer, requestJson(good + std::string(1 << 20, 'A')), 413},
      {"csr-over-limit", bearer, requestJson(good + std::string(20000, ' ')), 413},
      {"hundred-sans", bearer, requestJson(csr(many)), 400},
      {"ed25519-key", bearer, requestJson(ed_csr), 400},
      {"negative-ttl", bearer, requestJson(good, Json(-10)), 400},
      {"float-ttl", bearer, requestJson(good, Json(1.5)), 400},
      {"string-ttl", bearer, requestJson(good, Json("3600")), 400},
  };
  for (const auto& c : cases) {
    auto r = service_->createCertificate(c.authorization, c.body);
    EXPECT_EQ(r.status, c.status) << c.name << ": " << r.body.substr(0, 300);
    auto doc = parseJson(r.body);
    ASSERT_TRUE(doc) << c.name;
    ASSERT_TRUE(doc->contains("error")) << c.name;
    EXPECT_FALSE((*doc)["error"]["message"].get<std::string>().empty()) << c.name;
    EXPECT_FALSE(doc->contains("certChain")) << c.name;
  }
  // Nothing was issued, and every refusal was logged.
  auto lines = logLines();
  ASSERT_EQ(lines.size(), std::size(cases));
  for (const auto& line : lines) EXPECT_EQ(line["event"], "refused");
}

TEST_F(CaServiceTest, IssuanceLogNeverShowsAForeignIdentity) {
  // Each caller asks for the other's identity.
  ASSERT_EQ(post(requestJson(csr({"spiffe://cluster.local/ns/default/sa/httpbin"}))).status, 200);
  ASSERT_EQ(post(requestJson(csr({"spiffe://cluster.local/ns/default/sa/sleep"})),
                 "httpbin-token-0123456789")
                .status,
            200);
  auto lines = logLines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["identity"], "spiffe://cluster.local/ns/default/sa/sleep");
  EXPECT_EQ(lines[1]["identity"], "spiffe://cluster.local/ns/default/sa/httpbin");
}

TEST_F(CaServiceTest, TokenReviewOutcomes) {
  auto expired =
      R"({"kind":"TokenReview","status":{"authenticated":false,"error":"token has expired"}})";
  auto wrong_aud =
      R"({"kind":"TokenReview","status":{"authenticated":true,"audiences":["kubernetes"],)"
      R"("user":{"username":"system:serviceaccount:default:sleep"}}})";
  for (const char* response : {expired, wrong_aud}) {
    TokenReviewAuthenticator kube(
        [&](const std::string&) -> Result<std::string> { return std::string(response); });
    CaService svc(*ca_, kube, *log_);
    auto r = svc.createCertificate("Bearer a.jwt.token", requestJson(csr()));
    EXPECT_EQ(r.status, 401) << r.body;
  }
  TokenReviewAuthenticator down([](const std::string&) -> Result<std::string> {
    return Error{Errc::Unavailable, "down"};
  });
  CaService svc(*ca_, down, *log_);
  EXPECT_EQ(svc.createCertificate("Bearer a.jwt.token", requestJson(csr())).status, 503);
}

}  // namespace
}  // namespace remora::control

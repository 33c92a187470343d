#include "tls/certificate_provider.h"

#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

#include "core/file.h"
#include "tests/tls/pki.h"
#include "tls/csr.h"
#include "tls/pem.h"

namespace remora::tls {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;

// A CA in the test: signs what it is sent with a test root, records the
// requests, and fails or misbehaves when told to.
class FakeCa : public CaClient {
 public:
  explicit FakeCa(const Clock& clock) : clock_(clock) {}

  Result<CertificateResponse> requestCertificate(const CertificateRequest& request) override {
    requests.push_back(request);
    if (down) return Error{Errc::Unavailable, "connection refused"};
    auto csr = parseCsr(request.csr_pem);
    if (!csr) return csr.error();
    auto id = SpiffeId::parse(identity);
    EVP_PKEY* subject = csr->public_key.get();
    testing::Ca& signer = sign_with_other_root ? other : root;
    auto cert = issueWorkloadCertificate(signer.issuer(), wrong_key ? other_key.get() : subject,
                                         *id, clock_.now() - backdate, ttl);
    if (!cert) return cert.error();
    CertificateResponse response;
    response.cert_chain_pem.push_back(*certificateToPem(cert->get()));
    response.root_cert_pem = *certificateToPem(root.cert.get());
    if (garbage) response.cert_chain_pem[0] = "-----BEGIN CERTIFICATE-----\nAAAA\n";
    return response;
  }

  testing::Ca root = testing::newRoot();
  testing::Ca other = testing::newRoot();
  PKeyPtr other_key = testing::newKey();
  std::vector<CertificateRequest> requests;
  std::string identity = "spiffe://cluster.local/ns/default/sa/sleep";
  Seconds ttl = hours(1);
  Seconds backdate{0};
  bool down = false;
  bool wrong_key = false;
  bool sign_with_other_root = false;
  bool garbage = false;

 private:
  const Clock& clock_;
};

class ProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    token_path_ = std::filesystem::temp_directory_path() /
                  ("remora-provider-token-" + std::to_string(::getpid()));
    ASSERT_TRUE(writeFileAtomic(token_path_.string(), "the-token\n", 0600));
  }
  void TearDown() override { std::filesystem::remove(token_path_); }

  ProviderOptions options() {
    return {.token_path = token_path_.string(),
            .expected_identity = "spiffe://cluster.local/ns/default/sa/sleep"};
  }

  ManualClock clock_{fromTimeT(toTimeT(systemClock().now()))};  // whole seconds, as X.509
  FakeCa ca_{clock_};
  CertificateStore store_{{.trust_domains = {"cluster.local"}}};
  std::filesystem::path token_path_;
  double random_ = 0.5;  // no jitter unless a test moves it
  std::function<double()> rnd_ = [this] { return random_; };
};

TEST_F(ProviderTest, FirstFetchInstallsACertificateForALocalKey) {
  CertificateProvider provider(options(), ca_, store_, clock_, rnd_);
  ASSERT_TRUE(provider.fetchOnce()) << provider.lastError();
  ASSERT_EQ(ca_.requests.size(), 1u);
  EXPECT_EQ(ca_.requests[0].token, "the-token");
  EXPECT_EQ(ca_.requests[0].csr_pem.find("PRIVATE KEY"), std::string::npos);
  auto snap = store_.current();
  ASSERT_NE(snap, nullptr);
  // The CSR carried the public half of the key the store now holds.
  auto csr = parseCsr(ca_.requests[0].csr_pem);
  EXPECT_EQ(EVP_PKEY_eq(csr->public_key.get(), snap->credential->key.get()), 1);
  EXPECT_EQ(provider.expiry(), snap->leaf.not_after);
  EXPECT_TRUE(provider.connected());
  EXPECT_EQ(provider.rotations(), 1u);
}

TEST_F(ProviderTest, RotatesAtHalfLifeWithANewKey) {
  CertificateProvider provider(options(), ca_, store_, clock_, rnd_);
  // The lifetime counts from the fetch, not from the backdated notBefore:
  // half of the 1 h left is 30 min from now.
  const milliseconds half = std::chrono::seconds(1800);
  EXPECT_EQ(provider.step(), half);  // fetched
  auto first = store_.current();
  EXPECT_EQ(provider.step(), half);  // nothing due: no request
  EXPECT_EQ(ca_.requests.size(), 1u);
  clock_.advance(half);
  EXPECT_EQ(provider.step(), half);
  ASSERT_EQ(ca_.requests.size(), 2u);
  auto second = store_.current();
  EXPECT_EQ(second->generation, first->generation + 1);
  EXPECT_NE(second->leaf.serial_hex, first->leaf.serial_hex);
  EXPECT_NE(EVP_PKEY_eq(second->credential->key.get(), first->credential->key.get()), 1);
}

TEST_F(ProviderTest, RefreshTimeHasJitter) {
  ProviderOptions o = options();
  SystemTime nb = clock_.now();
  SystemTime na = nb + hours(10);
  EXPECT_EQ(refreshTime(nb, na, 0.5, o), nb + hours(5));
  EXPECT_EQ(refreshTime(nb, na, 0.0, o), nb + minutes(270));  // 0.45
  EXPECT_EQ(refreshTime(nb, na, 1.0, o), nb + minutes(330));  // 0.55
}

TEST(BackoffTest, DoublesToTheCapWithJitter) {
  Backoff b(milliseconds(1000), milliseconds(60000));
  EXPECT_EQ(b.next(1.0), milliseconds(1000));
  EXPECT_EQ(b.next(0.0), milliseconds(1000));  // [1 s, 2 s]
  EXPECT_EQ(b.next(1.0), milliseconds(4000));
  for (int i = 0; i < 10; ++i) b.next(0.5);
  EXPECT_EQ(b.next(1.0), milliseconds(60000));
  EXPECT_EQ(b.next(0.0), milliseconds(30000));
  b.reset();
  EXPECT_EQ(b.next(1.0), milliseconds(1000));
}

TEST_F(ProviderTest, CaDownKeepsServingAndBacksOff) {
  CertificateProvider provider(options(), ca_, store_, clock_, rnd_);
  ASSERT_TRUE(provider.fetchOnce());
  auto good = store_.current();
  ca_.down = true;
  clock_.advance(minutes(30));
  random_ = 1.0;  // the top of each back-off range
  std::vector<milliseconds> delays;
  for (int i = 0; i < 9; ++i) {
    delays.push_back(provider.step());
    clock_.advance(delays.back());
  }
  EXPECT_EQ(delays, (std::vector<milliseconds>{
                        milliseconds(1000), milliseconds(2000), milliseconds(4000),
                        milliseconds(8000), milliseconds(16000), milliseconds(32000),
                        milliseconds(60000), milliseconds(60000), milliseconds(60000)}));
  EXPECT_EQ(store_.current(), good) << "the old certificate stays in service";
  EXPECT_EQ(provider.consecutiveFailures(), 9u);
  EXPECT_EQ(provider.requests(), 10u);
  EXPECT_EQ(provider.failures(), 9u);
  EXPECT_FALSE(provider.connected());
  EXPECT_NE(provider.lastError().find("connection refused"), std::string::npos);

  // Past expiry it still only retries (and says so); then the CA returns.
  clock_.advance(hours(1));
  EXPECT_EQ(provider.step(), milliseconds(60000));
  ca_.down = false;
  provider.step();
  EXPECT_TRUE(provider.connected());
  EXPECT_EQ(provider.consecutiveFailures(), 0u);
  EXPECT_EQ(provider.failures(), 10u) << "the total stays";
  EXPECT_EQ(store_.current()->generation, good->generation + 1);
}

TEST_F(ProviderTest, RefusesBadAnswersAndKeepsTheOldCertificate) {
  CertificateProvider provider(options(), ca_, store_, clock_, rnd_);
  ASSERT_TRUE(provider.fetchOnce());
  auto good = store_.current();
  struct Case {
    const char* name;
    std::function<void(FakeCa&)> setup;
    const char* why;
  };
  const Case cases[] = {
      {"other-identity",
       [](FakeCa& ca) { ca.identity = "spiffe://cluster.local/ns/default/sa/admin"; },
       "identity_not_allowed"},
      {"wrong-trust-domain", [](FakeCa& ca) { ca.identity = "spiffe://evil/ns/default/sa/sleep"; },
       "wrong_trust_domain"},
      {"not-our-key", [](FakeCa& ca) { ca.wrong_key = true; }, "does not match"},
      {"other-root", [](FakeCa& ca) { ca.sign_with_other_root = true; }, "untrusted_chain"},
      {"garbage", [](FakeCa& ca) { ca.garbage = true; }, "certificate chain"},
      {"already-expired",
       [](FakeCa& ca) {
         ca.backdate = hours(2);
         ca.ttl = hours(1);
       },
       "expired"},
  };
  for (const auto& c : cases) {
    FakeCa bad(clock_);
    c.setup(bad);
    CertificateProvider p(options(), bad, store_, clock_, rnd_);
    auto status = p.fetchOnce();
    ASSERT_FALSE(status) << c.name;
    EXPECT_NE(status.error().message.find(c.why), std::string::npos)
        << c.name << ": " << status.error().message;
    EXPECT_EQ(store_.current(), good) << c.name;
  }
}

TEST_F(ProviderTest, MissingOrEmptyTokenSendsNothing) {
  ProviderOptions o = options();
  o.token_path = "/nonexistent/remora/token";
  CertificateProvider provider(o, ca_, store_, clock_, rnd_);
  EXPECT_FALSE(provider.fetchOnce());
  ASSERT_TRUE(writeFileAtomic(token_path_.string(), "\n"));
  CertificateProvider empty(options(), ca_, store_, clock_, rnd_);
  auto status = empty.fetchOnce();
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::Unauthenticated);
  EXPECT_TRUE(ca_.requests.empty());
}

TEST_F(ProviderTest, ThreadStartsAndStopsPromptly) {
  CertificateProvider provider(options(), ca_, store_, systemClock(), rnd_);
  provider.start();
  for (int i = 0; i < 500 && store_.generation() == 0; ++i) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(store_.generation(), 1u);
  auto t0 = std::chrono::steady_clock::now();
  provider.stop();  // the thread sleeps ~30 min; stop must not wait for it
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

}  // namespace
}  // namespace remora::tls

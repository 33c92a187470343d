#include "control/ca.h"

#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"
#include "tests/tls/pki.h"
#include "tls/csr.h"
#include "tls/pem.h"
#include "tls/verify.h"

namespace remora::control {
namespace {

using tls::testing::newKey;

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("remora-ca-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::remove_all(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string str() const { return path_.string(); }
  std::string file(const char* name) const { return (path_ / name).string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

tls::ParsedCsr csrFor(EVP_PKEY* key, std::vector<std::string> uri_sans = {}) {
  auto pem = tls::createCsrPem(key, {.uri_sans = std::move(uri_sans)});
  REMORA_CHECK(pem.has_value(), "{}", pem.error().message);
  auto csr = tls::parseCsr(*pem);
  REMORA_CHECK(csr.has_value(), "{}", csr.error().message);
  return std::move(csr).value();
}

const tls::WorkloadIdentity kSleep{"default", "sleep"};

TEST(CaTest, SelfSignedIsCreatedOnceAndReloaded) {
  TempDir dir;
  ManualClock clock;
  auto ca = CertificateAuthority::loadOrCreateSelfSigned(dir.str(), {}, clock);
  ASSERT_TRUE(ca) << ca.error().message;
  for (const char* f : {"ca-cert.pem", "ca-key.pem", "root-cert.pem", "cert-chain.pem"}) {
    EXPECT_TRUE(std::filesystem::exists(dir.file(f))) << f;
  }
  struct stat st {};
  ASSERT_EQ(::stat(dir.file("ca-key.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string root = (*ca)->rootCertPem();

  auto again = CertificateAuthority::loadOrCreateSelfSigned(dir.str(), {}, clock);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ((*again)->rootCertPem(), root) << "a restart must keep the same root";
}

TEST(CaTest, SignsForTheCallerWhateverTheCsrAsks) {
  TempDir dir;
  ManualClock clock;
  auto ca = CertificateAuthority::loadOrCreateSelfSigned(dir.str(), {}, clock);
  ASSERT_TRUE(ca);
  auto key = newKey();
  auto csr = csrFor(key.get(), {"spiffe://cluster.local/ns/kube-system/sa/admin"});
  auto issued = (*ca)->sign(csr, kSleep, std::nullopt);
  ASSERT_TRUE(issued) << issued.error().message;
  EXPECT_EQ(issued->identity.uri(), "spiffe://cluster.local/ns/default/sa/sleep");
  auto info = tls::describeCertificate(issued->certificate.get());
  ASSERT_TRUE(info);
  EXPECT_EQ(info->uri_sans,
            (std::vector<std::string>{"spiffe://cluster.local/ns/default/sa/sleep"}));
  EXPECT_EQ(issued->ttl, std::chrono::hours(24));
  EXPECT_FALSE(issued->ttl_clamped);
  EXPECT_EQ(issued->not_after, clock.now() + std::chrono::hours(24));
  EXPECT_EQ(issued->chain_pem.size(), 1u);  // a root signer: the leaf alone
  // The leaf verifies against the published root under the SVID rules.
  auto roots = tls::TrustBundle::fromPem(issued->root_pem);
  ASSERT_TRUE(roots);
  auto store = roots->newStore();
  tls::VerifyPolicy policy{.peer_role = tls::PeerRole::Client, .trust_domains = {"cluster.local"}};
  auto verdict =
      tls::verifyPeerChain(issued->certificate.get(), {}, store->get(), policy, clock.now());
  EXPECT_TRUE(verdict.ok()) << verdict.toError().message;
}

TEST(CaTest, TtlIsClampedToTheConfiguredRange) {
  TempDir dir;
  ManualClock clock;
  auto ca = CertificateAuthority::loadOrCreateSelfSigned(
      dir.str(), {.max_ttl = std::chrono::hours(48)}, clock);
  ASSERT_TRUE(ca);
  auto key = newKey();
  auto csr = csrFor(key.get());
  struct Case {
    std::optional<Seconds> requested;
    Seconds expected;
    bool clamped;
  };
  const Case cases[] = {
      {std::nullopt, std::chrono::hours(24), false},
      {Seconds(0), std::chrono::hours(24), false},
      {Seconds(3600), Seconds(3600), false},
      {std::chrono::hours(24 * 365), std::chrono::hours(48), true},
      {Seconds(1), kMinWorkloadTtl, true},
  };
  for (const auto& c : cases) {
    auto issued = (*ca)->sign(csr, kSleep, c.requested);
    ASSERT_TRUE(issued);
    EXPECT_EQ(issued->ttl, c.expected);
    EXPECT_EQ(issued->ttl_clamped, c.clamped);
  }
  EXPECT_FALSE((*ca)->sign(csr, kSleep, Seconds(-5)));
}

TEST(CaTest, NeverOutlivesTheSigner) {
  TempDir dir;
  ManualClock clock;
  auto ca = CertificateAuthority::loadOrCreateSelfSigned(dir.str(), {}, clock);
  ASSERT_TRUE(ca);
  // Ten years later, one hour before the root expires.
  clock.advance((*ca)->signerExpiry() - clock.now() - std::chrono::hours(1));
  auto key = newKey();
  auto issued = (*ca)->sign(csrFor(key.get()), kSleep, std::nullopt);
  ASSERT_TRUE(issued) << issued.error().message;
  EXPECT_EQ(issued->ttl, std::chrono::hours(1));
  EXPECT_TRUE(issued->ttl_clamped);
  clock.advance(std::chrono::hours(1));
  auto late = (*ca)->sign(csrFor(key.get()), kSleep, std::nullopt);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, Errc::Unavailable);
}

// Istio's plugged-in layout, with an intermediate signing workloads.
struct PluggedIn {
  tls::testing::Ca root = tls::testing::newRoot();
  tls::testing::Ca mid = tls::testing::newIntermediate(root);

  void write(const TempDir& dir) const {
    std::filesystem::create_directories(dir.str());
    std::string mid_pem = *tls::certificateToPem(mid.cert.get());
    std::string root_pem = *tls::certificateToPem(root.cert.get());
    ASSERT_TRUE(
        writeFileAtomic(dir.file("ca-key.pem"), *tls::privateKeyToPem(mid.key.get()), 0600));
    ASSERT_TRUE(writeFileAtomic(dir.file("ca-cert.pem"), mid_pem));
    ASSERT_TRUE(writeFileAtomic(dir.file("root-cert.pem"), root_pem));
    ASSERT_TRUE(writeFileAtomic(dir.file("cert-chain.pem"), mid_pem + root_pem));
  }
};

TEST(CaTest, PluggedInIntermediateSignsWithChain) {
  TempDir dir;
  PluggedIn pki;
  pki.write(dir);
  auto ca = CertificateAuthority::loadCacerts(dir.str(), {}, systemClock());
  ASSERT_TRUE(ca) << ca.error().message;
  auto key = newKey();
  auto issued = (*ca)->sign(csrFor(key.get()), kSleep, std::nullopt);
  ASSERT_TRUE(issued);
  ASSERT_EQ(issued->chain_pem.size(), 2u);  // leaf + intermediate, no root
  EXPECT_EQ(issued->chain_pem[1], *tls::certificateToPem(pki.mid.cert.get()));
  EXPECT_EQ(issued->root_pem, *tls::certificateToPem(pki.root.cert.get()));
  auto store = pki.root.bundle().newStore();
  X509* chain[] = {pki.mid.cert.get()};
  tls::VerifyPolicy policy{.peer_role = tls::PeerRole::Server, .trust_domains = {"cluster.local"}};
  EXPECT_TRUE(tls::verifyPeerChain(issued->certificate.get(), chain, store->get(), policy).ok());
}

TEST(CaTest, RefusesBrokenCacerts) {
  PluggedIn pki;
  tls::testing::Ca stranger = tls::testing::newRoot();
  struct Case {
    const char* name;
    std::function<void(const TempDir&)> breakIt;
    const char* why;
  };
  const Case cases[] = {
      {"missing-key", [](const TempDir& d) { std::filesystem::remove(d.file("ca-key.pem")); },
       "ca-key.pem"},
      {"wrong-key",
       [](const TempDir& d) {
         auto other = newKey();
         ASSERT_TRUE(writeFileAtomic(d.file("ca-key.pem"), *tls::privateKeyToPem(other.get())));
       },
       "does not match"},
      {"foreign-root",
       [&](const TempDir& d) {
         ASSERT_TRUE(
             writeFileAtomic(d.file("root-cert.pem"), *tls::certificateToPem(stranger.cert.get())));
       },
       "does not chain"},
      {"truncated-cert",
       [](const TempDir& d) {
         auto text = *readFile(d.file("ca-cert.pem"), 1 << 20);
         ASSERT_TRUE(writeFileAtomic(d.file("ca-cert.pem"), text.substr(0, text.size() / 2)));
       },
       "ca-cert.pem"},
      {"leaf-as-signer",
       [&](const TempDir& d) {
         auto leaf = tls::testing::workload(pki.root);
         ASSERT_TRUE(writeFileAtomic(d.file("ca-cert.pem"),
                                     *tls::certificateToPem(leaf.certificate.get())));
         ASSERT_TRUE(writeFileAtomic(d.file("ca-key.pem"), *leaf.keyPem()));
       },
       "not a CA"},
      {"huge-root",
       [](const TempDir& d) {
         ASSERT_TRUE(writeFileAtomic(d.file("root-cert.pem"), std::string(1 << 20, 'A')));
       },
       "limit"},
  };
  for (const auto& c : cases) {
    TempDir dir;
    pki.write(dir);
    c.breakIt(dir);
    auto ca = CertificateAuthority::loadCacerts(dir.str(), {}, systemClock());
    ASSERT_FALSE(ca) << c.name;
    EXPECT_NE(ca.error().message.find(c.why), std::string::npos)
        << c.name << ": " << ca.error().message;
  }
}

TEST(CaTest, RefusesExpiredSigner) {
  TempDir dir;
  ManualClock clock;
  ASSERT_TRUE(CertificateAuthority::loadOrCreateSelfSigned(dir.str(), {}, clock));
  clock.advance(std::chrono::hours(24 * 365 * 11));
  auto ca = CertificateAuthority::loadCacerts(dir.str(), {}, clock);
  ASSERT_FALSE(ca);
  EXPECT_NE(ca.error().message.find("not now"), std::string::npos) << ca.error().message;
}

TEST(CaTest, RefusesBadOptions) {
  TempDir dir;
  EXPECT_FALSE(CertificateAuthority::loadOrCreateSelfSigned(
      dir.str(), {.trust_domain = "Bad Domain"}, systemClock()));
  TempDir dir2;
  EXPECT_FALSE(CertificateAuthority::loadOrCreateSelfSigned(
      dir2.str(), {.default_ttl = std::chrono::hours(100), .max_ttl = std::chrono::hours(10)},
      systemClock()));
}

TEST(CaTest, ServingCertificateForItsOwnPort) {
  TempDir dir;
  PluggedIn pki;
  pki.write(dir);
  auto ca = CertificateAuthority::loadCacerts(dir.str(), {}, systemClock());
  ASSERT_TRUE(ca);
  auto serving =
      (*ca)->issueServing({"remora-control.istio-system.svc", "localhost"}, std::chrono::hours(24));
  ASSERT_TRUE(serving) << serving.error().message;
  EXPECT_EQ(serving->chain.size(), 1u);
  EXPECT_EQ(X509_check_host(serving->certificate.get(), "localhost", 0, 0, nullptr), 1);
}

}  // namespace
}  // namespace remora::control

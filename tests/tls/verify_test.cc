#include "tls/verify.h"

#include <functional>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "tests/tls/pki.h"

namespace remora::tls {
namespace {

using testing::badPeerCases;
using testing::Ca;
using testing::issue;
using testing::newRoot;
using testing::workloadTemplate;

class VerifyTest : public ::testing::Test {
 protected:
  Ca root_ = newRoot();
  Ca other_ = newRoot("cluster.local");
  X509StorePtr store_ = std::move(root_.bundle().newStore()).value();
  VerifyPolicy policy_{.peer_role = PeerRole::Client, .trust_domains = {"cluster.local"}};
};

TEST_F(VerifyTest, AcceptsValidWorkload) {
  auto leaf = testing::workload(root_);
  auto verdict = verifyPeerChain(leaf.certificate.get(), {}, store_.get(), policy_);
  ASSERT_TRUE(verdict.ok()) << verdict.toError().message;
  EXPECT_EQ(verdict.identity().principal(), "cluster.local/ns/default/sa/sleep");
}

TEST_F(VerifyTest, AcceptsThroughIntermediate) {
  auto mid = testing::newIntermediate(root_);
  auto leaf = testing::workload(mid);
  X509* chain[] = {mid.cert.get()};
  auto verdict = verifyPeerChain(leaf.certificate.get(), chain, store_.get(), policy_);
  ASSERT_TRUE(verdict.ok()) << verdict.toError().message;
  // Without the intermediate the chain is broken.
  auto broken = verifyPeerChain(leaf.certificate.get(), {}, store_.get(), policy_);
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.reason(), PeerFailure::UntrustedChain);
}

TEST_F(VerifyTest, RefusesEachBrokenRuleWithItsReason) {
  for (const auto& c : badPeerCases()) {
    CertificateTemplate t = workloadTemplate();
    c.tweak(t);
    auto leaf = issue(c.from_other_ca ? other_ : root_, t);
    auto verdict = verifyPeerChain(leaf.certificate.get(), {}, store_.get(), policy_);
    ASSERT_FALSE(verdict.ok()) << c.name;
    EXPECT_EQ(verdict.reason(), c.reason) << c.name << ": got " << peerFailureName(verdict.reason())
                                          << " (" << verdict.rejection().detail << ")";
    EXPECT_EQ(verdict.toError().code, Errc::PermissionDenied);
  }
}

TEST_F(VerifyTest, ServerRoleNeedsServerAuth) {
  CertificateTemplate t = workloadTemplate();
  t.server_auth = false;
  auto leaf = issue(root_, t);
  VerifyPolicy as_server = policy_;
  as_server.peer_role = PeerRole::Server;
  auto verdict = verifyPeerChain(leaf.certificate.get(), {}, store_.get(), as_server);
  ASSERT_FALSE(verdict.ok());
  EXPECT_EQ(verdict.reason(), PeerFailure::ExtendedKeyUsage);
  EXPECT_TRUE(verifyPeerChain(leaf.certificate.get(), {}, store_.get(), policy_).ok());
}

TEST_F(VerifyTest, SecureNaming) {
  auto leaf = testing::workload(root_, "spiffe://cluster.local/ns/default/sa/impostor");
  VerifyPolicy p = policy_;
  p.allowed_identities = {"spiffe://cluster.local/ns/default/sa/httpbin"};
  auto verdict = verifyPeerChain(leaf.certificate.get(), {}, store_.get(), p);
  ASSERT_FALSE(verdict.ok());
  EXPECT_EQ(verdict.reason(), PeerFailure::IdentityNotAllowed);
  p.allowed_identities.push_back("spiffe://cluster.local/ns/default/sa/impostor");
  EXPECT_TRUE(verifyPeerChain(leaf.certificate.get(), {}, store_.get(), p).ok());
}

TEST_F(VerifyTest, VerificationTimeIsInjectable) {
  auto leaf = testing::workload(root_);
  auto later = systemClock().now() + std::chrono::hours(48);
  auto verdict = verifyPeerChain(leaf.certificate.get(), {}, store_.get(), policy_, later);
  ASSERT_FALSE(verdict.ok());
  EXPECT_EQ(verdict.reason(), PeerFailure::Expired);
}

TEST_F(VerifyTest, NoCertificate) {
  auto verdict = verifyPeerChain(nullptr, {}, store_.get(), policy_);
  ASSERT_FALSE(verdict.ok());
  EXPECT_EQ(verdict.reason(), PeerFailure::NoCertificate);
}

TEST(PeerFailureTest, NamesAreStableAndDistinct) {
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < kPeerFailureCount; ++i) {
    auto name = peerFailureName(static_cast<PeerFailure>(i));
    EXPECT_NE(name, "unknown");
    names.insert(name);
  }
  EXPECT_EQ(names.size(), kPeerFailureCount);
  EXPECT_EQ(peerFailureName(PeerFailure::MultipleUriSans), "multiple_uri_sans");
}

}  // namespace
}  // namespace remora::tls

// mTLS contexts in real handshakes (OpenSSL on both ends, over an in-memory
// BIO pair): what succeeds, and every refusal with its counted reason.
#include "tls/context.h"

#include <string>

#include <gtest/gtest.h>

#include "tests/tls/pki.h"

namespace remora::tls {
namespace {

using testing::badPeerCases;
using testing::Ca;
using testing::context;
using testing::handshake;
using testing::issue;
using testing::newRoot;
using testing::workload;
using testing::workloadTemplate;

class ContextTest : public ::testing::Test {
 protected:
  Ca root_ = newRoot();
  TrustBundle trust_ = root_.bundle();
  CertifiedKey server_cred_ = workload(root_, "spiffe://cluster.local/ns/default/sa/httpbin");
  CertifiedKey client_cred_ = workload(root_, "spiffe://cluster.local/ns/default/sa/sleep");
  TlsContextPtr server_ = context(TlsMode::MtlsServer, &server_cred_, &trust_);
  TlsContextPtr client_ = context(TlsMode::MtlsClient, &client_cred_, &trust_);
};

TEST_F(ContextTest, MutualHandshakeGivesBothIdentities) {
  auto h = handshake(*client_, *server_);
  ASSERT_TRUE(h.ok()) << h.client_error << " / " << h.server_error;
  EXPECT_EQ(SSL_version(h.client.get()), TLS1_3_VERSION);
  auto seen_by_server = peerIdentity(h.server.get());
  ASSERT_TRUE(seen_by_server) << seen_by_server.error().message;
  EXPECT_EQ(seen_by_server->principal(), "cluster.local/ns/default/sa/sleep");
  auto seen_by_client = peerIdentity(h.client.get());
  ASSERT_TRUE(seen_by_client) << seen_by_client.error().message;
  EXPECT_EQ(seen_by_client->principal(), "cluster.local/ns/default/sa/httpbin");
  EXPECT_EQ(negotiatedAlpn(h.server.get()), "istio-peer-exchange");
  EXPECT_EQ(negotiatedAlpn(h.client.get()), "istio-peer-exchange");
  EXPECT_EQ(testing::roundTrip(h.client.get(), h.server.get(), "ping"), "ping");
  EXPECT_EQ(testing::roundTrip(h.server.get(), h.client.get(), "pong"), "pong");
  // The X25519 group, as configured.
  EXPECT_EQ(SSL_get_negotiated_group(h.client.get()), NID_X25519);
}

TEST_F(ContextTest, AlpnFollowsServerPreferenceAndToleratesNoOverlap) {
  auto h2_client = context(TlsMode::MtlsClient, &client_cred_, &trust_, {"istio-h2", "istio"});
  auto h = handshake(*h2_client, *server_);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(negotiatedAlpn(h.server.get()), "istio-h2");
  auto other = context(TlsMode::MtlsClient, &client_cred_, &trust_, {"h2"});
  auto none = handshake(*other, *server_);
  ASSERT_TRUE(none.ok()) << none.server_error;
  EXPECT_EQ(negotiatedAlpn(none.server.get()), "");
}

TEST_F(ContextTest, Tls12UsesIstioSuites) {
  auto h = testing::Handshake{};
  h.client = testing::newSsl(*client_);
  h.server = testing::newSsl(*server_);
  ASSERT_EQ(SSL_set_max_proto_version(h.client.get(), TLS1_2_VERSION), 1);
  testing::connectPair(h);
  testing::drive(h);
  ASSERT_TRUE(h.ok()) << h.client_error << " / " << h.server_error;
  EXPECT_EQ(SSL_version(h.client.get()), TLS1_2_VERSION);
  std::string cipher = SSL_get_cipher_name(h.client.get());
  EXPECT_NE(std::string(kIstioCiphers).find(cipher), std::string::npos) << cipher;
  EXPECT_TRUE(peerIdentity(h.server.get()));
}

TEST_F(ContextTest, RefusesTls11AndForeignSuites) {
  {
    auto h = testing::Handshake{};
    h.client = testing::newSsl(*client_);
    h.server = testing::newSsl(*server_);
    SSL_set_min_proto_version(h.client.get(), TLS1_VERSION);
    SSL_set_max_proto_version(h.client.get(), TLS1_1_VERSION);
    testing::connectPair(h);
    testing::drive(h);
    EXPECT_FALSE(h.ok());
  }
  {
    auto h = testing::Handshake{};
    h.client = testing::newSsl(*client_);
    h.server = testing::newSsl(*server_);
    SSL_set_max_proto_version(h.client.get(), TLS1_2_VERSION);
    ASSERT_EQ(SSL_set_cipher_list(h.client.get(), "ECDHE-ECDSA-CHACHA20-POLY1305"), 1);
    testing::connectPair(h);
    testing::drive(h);
    EXPECT_FALSE(h.ok());
    EXPECT_TRUE(h.server_failed);
  }
}

TEST_F(ContextTest, ServerRefusesEachBadClientCertificateByReason) {
  Ca other = newRoot();
  for (const auto& c : badPeerCases()) {
    CertificateTemplate t = workloadTemplate();
    c.tweak(t);
    CertifiedKey bad = issue(c.from_other_ca ? other : root_, t);
    auto bad_client = context(TlsMode::MtlsClient, &bad, &trust_);
    auto h = handshake(*bad_client, *server_);
    EXPECT_FALSE(h.ok()) << c.name;
    EXPECT_TRUE(h.server_failed) << c.name;
    EXPECT_TRUE(h.client_failed) << c.name << ": the client must see the refusal";
    ASSERT_TRUE(h.server_failure) << c.name << ": " << h.server_error;
    EXPECT_EQ(*h.server_failure, c.reason)
        << c.name << ": got " << peerFailureName(*h.server_failure);
    // And nothing readable leaks: the server never produced application data.
    EXPECT_FALSE(peerIdentity(h.server.get())) << c.name;
  }
}

TEST_F(ContextTest, ServerRefusesClientWithoutCertificate) {
  auto anonymous = context(TlsMode::Client, nullptr, &trust_);
  auto h = handshake(*anonymous, *server_);
  EXPECT_FALSE(h.ok());
  ASSERT_TRUE(h.server_failure) << h.server_error;
  EXPECT_EQ(*h.server_failure, PeerFailure::NoCertificate);
}

TEST_F(ContextTest, ClientRefusesBadServerCertificate) {
  Ca other = newRoot();
  CertifiedKey foreign = workload(other, "spiffe://cluster.local/ns/default/sa/httpbin");
  auto impostor = context(TlsMode::MtlsServer, &foreign, &trust_);
  auto h = handshake(*client_, *impostor);
  EXPECT_TRUE(h.client_failed);
  ASSERT_TRUE(h.client_failure) << h.client_error;
  EXPECT_EQ(*h.client_failure, PeerFailure::UntrustedChain);

  CertificateTemplate t = workloadTemplate("spiffe://cluster.local/ns/default/sa/httpbin");
  t.server_auth = false;  // a client-only certificate
  CertifiedKey client_only = issue(root_, t);
  auto wrong_use = context(TlsMode::MtlsServer, &client_only, &trust_);
  auto h2 = handshake(*client_, *wrong_use);
  ASSERT_TRUE(h2.client_failure) << h2.client_error;
  EXPECT_EQ(*h2.client_failure, PeerFailure::ExtendedKeyUsage);
}

TEST_F(ContextTest, SecureNamingRefusesValidCertificateForWrongIdentity) {
  testing::Handshake h;
  h.client = testing::newSsl(*client_);
  h.server = testing::newSsl(*server_);
  ASSERT_TRUE(
      setAllowedPeerIdentities(h.client.get(), {"spiffe://cluster.local/ns/default/sa/reviews"}));
  testing::connectPair(h);
  testing::drive(h);
  EXPECT_TRUE(h.client_failed);
  ASSERT_TRUE(h.client_failure);
  EXPECT_EQ(*h.client_failure, PeerFailure::IdentityNotAllowed);

  testing::Handshake good;
  good.client = testing::newSsl(*client_);
  good.server = testing::newSsl(*server_);
  ASSERT_TRUE(setAllowedPeerIdentities(good.client.get(),
                                       {"spiffe://cluster.local/ns/default/sa/reviews",
                                        "spiffe://cluster.local/ns/default/sa/httpbin"}));
  testing::connectPair(good);
  testing::drive(good);
  EXPECT_TRUE(good.ok()) << good.client_error;
}

TEST_F(ContextTest, ResumptionKeepsPeerIdentity) {
  auto first = handshake(*client_, *server_);
  ASSERT_TRUE(first.ok());
  // TLS 1.3 tickets arrive after the handshake: let the client read them.
  EXPECT_EQ(testing::roundTrip(first.server.get(), first.client.get(), "x"), "x");
  SslSessionPtr session(SSL_get1_session(first.client.get()));
  ASSERT_TRUE(session);
  ASSERT_EQ(SSL_SESSION_is_resumable(session.get()), 1);
  auto second = handshake(*client_, *server_, session.get());
  ASSERT_TRUE(second.ok()) << second.client_error << " / " << second.server_error;
  EXPECT_EQ(SSL_session_reused(second.client.get()), 1);
  auto id = peerIdentity(second.server.get());
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(id->principal(), "cluster.local/ns/default/sa/sleep");
  auto server_id = peerIdentity(second.client.get());
  ASSERT_TRUE(server_id) << server_id.error().message;
  EXPECT_EQ(server_id->principal(), "cluster.local/ns/default/sa/httpbin");
}

TEST_F(ContextTest, OneWayTlsWithHostnameCheck) {
  auto serving_key = testing::newKey();
  auto names = serviceDnsNames("remora-control", "istio-system");
  auto cert = issueServingCertificate(root_.issuer(), serving_key.get(), names, systemClock().now(),
                                      std::chrono::hours(1));
  ASSERT_TRUE(cert);
  auto cred = CertifiedKey::make(std::move(serving_key), std::move(cert).value(), {});
  ASSERT_TRUE(cred);
  auto server = context(TlsMode::Server, &*cred, nullptr, {"http/1.1"});
  auto client = context(TlsMode::Client, nullptr, &trust_, {"http/1.1"});
  for (const char* host : {"remora-control.istio-system.svc", "evil.example"}) {
    testing::Handshake h;
    h.client = testing::newSsl(*client);
    h.server = testing::newSsl(*server);
    ASSERT_EQ(SSL_set1_host(h.client.get(), host), 1);
    testing::connectPair(h);
    testing::drive(h);
    EXPECT_EQ(h.ok(), std::string(host) != "evil.example") << host;
  }
}

TEST(ContextBuildTest, RefusesIncompleteConfigurations) {
  auto root = newRoot();
  auto trust = root.bundle();
  auto cred = workload(root);
  TrustBundle empty;
  EXPECT_FALSE(
      TlsContext::build({.mode = TlsMode::MtlsServer, .trust_domains = {"td"}}, nullptr, &trust));
  EXPECT_FALSE(
      TlsContext::build({.mode = TlsMode::MtlsServer, .trust_domains = {"td"}}, &cred, &empty));
  EXPECT_FALSE(TlsContext::build({.mode = TlsMode::MtlsClient}, &cred, &trust));
  EXPECT_FALSE(TlsContext::build({.mode = TlsMode::Server, .alpn = {std::string(300, 'a')}}, &cred,
                                 nullptr));
  EXPECT_TRUE(TlsContext::build({.mode = TlsMode::Server}, &cred, nullptr));
}

TEST(AlpnTest, WireFormat) {
  auto wire = alpnWireFormat({"istio", "h2"});
  ASSERT_TRUE(wire);
  EXPECT_EQ(*wire, std::string("\x05istio\x02h2"));
  EXPECT_FALSE(alpnWireFormat({""}));
}

}  // namespace
}  // namespace remora::tls

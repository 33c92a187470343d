#include "tls/certificate.h"

#include <string>

#include <gtest/gtest.h>

#include "tests/tls/pki.h"
#include "tls/pem.h"
#include "tls/serving.h"

namespace remora::tls {
namespace {

using testing::newKey;
using testing::newRoot;

TEST(CertificateTest, RootCaIsSelfSignedCa) {
  ManualClock clock;
  auto root = createRootCa({.organization = "cluster.local", .now = clock.now()});
  ASSERT_TRUE(root) << root.error().message;
  X509* cert = root->certificate.get();
  EXPECT_TRUE(isSelfSigned(cert));
  EXPECT_EQ(X509_check_ca(cert), 1);
  EXPECT_NE(X509_get_key_usage(cert) & KU_KEY_CERT_SIGN, 0u);
  auto info = describeCertificate(cert);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->subject, "CN=Remora CA,O=cluster.local");
  EXPECT_EQ(info->not_before, clock.now() - kBackdate);
  EXPECT_EQ(info->not_after, clock.now() + std::chrono::hours(24 * 365 * 10));
  EXPECT_EQ(describeKey(root->key.get()).type, KeyType::EcP256);
}

TEST(CertificateTest, IntermediateChainsToRoot) {
  auto root = newRoot();
  auto mid = createIntermediateCa(root.issuer(),
                                  {.organization = "cluster.local", .now = systemClock().now()});
  ASSERT_TRUE(mid) << mid.error().message;
  EXPECT_FALSE(isSelfSigned(mid->certificate.get()));
  EXPECT_EQ(X509_check_ca(mid->certificate.get()), 1);
  EXPECT_EQ(X509_check_issued(root.cert.get(), mid->certificate.get()), X509_V_OK);
  // pathlen:0 — it may sign leaves only.
  EXPECT_EQ(X509_get_pathlen(mid->certificate.get()), 0);
}

TEST(CertificateTest, WorkloadCertificateFollowsX509Svid) {
  ManualClock clock;
  auto root = newRoot("cluster.local", clock.now());
  PKeyPtr key = newKey();
  auto id = SpiffeId::forWorkload("cluster.local", "default", "sleep");
  ASSERT_TRUE(id);
  auto cert =
      issueWorkloadCertificate(root.issuer(), key.get(), *id, clock.now(), std::chrono::hours(24));
  ASSERT_TRUE(cert) << cert.error().message;
  X509* x = cert->get();
  auto info = describeCertificate(x);
  ASSERT_TRUE(info);
  ASSERT_EQ(info->uri_sans.size(), 1u);
  EXPECT_EQ(info->uri_sans[0], "spiffe://cluster.local/ns/default/sa/sleep");
  EXPECT_TRUE(info->dns_sans.empty());
  EXPECT_FALSE(info->is_ca);
  EXPECT_EQ(info->subject, "");
  EXPECT_EQ(info->not_after - clock.now(), std::chrono::hours(24));
  EXPECT_EQ(X509_get_key_usage(x),
            static_cast<std::uint32_t>(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
  EXPECT_EQ(X509_get_extended_key_usage(x),
            static_cast<std::uint32_t>(XKU_SSL_SERVER | XKU_SSL_CLIENT));
  EXPECT_EQ(info->serial_hex.size() <= 32u && !info->serial_hex.empty(), true);
  // The SAN is critical: the subject is empty.
  int idx = X509_get_ext_by_NID(x, NID_subject_alt_name, -1);
  ASSERT_GE(idx, 0);
  EXPECT_EQ(X509_EXTENSION_get_critical(X509_get_ext(x, idx)), 1);
  EXPECT_EQ(X509_verify(x, root.key.get()), 1);
}

TEST(CertificateTest, SerialsAreRandomAndPositive) {
  auto root = newRoot();
  PKeyPtr key = newKey();
  auto id = *SpiffeId::forWorkload("cluster.local", "a", "b");
  auto a = issueWorkloadCertificate(root.issuer(), key.get(), id, systemClock().now(),
                                    std::chrono::hours(1));
  auto b = issueWorkloadCertificate(root.issuer(), key.get(), id, systemClock().now(),
                                    std::chrono::hours(1));
  ASSERT_TRUE(a && b);
  EXPECT_NE(serialHex(a->get()), serialHex(b->get()));
  EXPECT_EQ(ASN1_INTEGER_get_int64(nullptr, X509_get0_serialNumber(a->get())), 0);  // > 64 bits
  clearOpenSslErrors();
  BignumPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(a->get()), nullptr));
  EXPECT_FALSE(BN_is_negative(bn.get()));
}

TEST(CertificateTest, ServingCertificateForWebhookService) {
  auto root = newRoot();
  PKeyPtr key = newKey();
  auto names = serviceDnsNames("remora-webhook", "istio-system");
  EXPECT_EQ(names, (std::vector<std::string>{"remora-webhook", "remora-webhook.istio-system",
                                             "remora-webhook.istio-system.svc",
                                             "remora-webhook.istio-system.svc.cluster.local"}));
  auto cert = issueServingCertificate(root.issuer(), key.get(), names, systemClock().now(),
                                      std::chrono::hours(24 * 365));
  ASSERT_TRUE(cert) << cert.error().message;
  auto info = describeCertificate(cert->get());
  ASSERT_TRUE(info);
  EXPECT_EQ(info->dns_sans, names);
  EXPECT_TRUE(info->uri_sans.empty());
  EXPECT_EQ(X509_check_host(cert->get(), "remora-webhook.istio-system.svc", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_get_extended_key_usage(cert->get()), static_cast<std::uint32_t>(XKU_SSL_SERVER));
  EXPECT_FALSE(issueServingCertificate(root.issuer(), key.get(), {}, systemClock().now(),
                                       std::chrono::hours(1)));
}

TEST(CertificateTest, RefusesInvertedValidity) {
  auto root = newRoot();
  PKeyPtr key = newKey();
  CertificateTemplate t = testing::workloadTemplate();
  std::swap(t.not_before, t.not_after);
  EXPECT_FALSE(signCertificate(t, key.get(), root.issuer()));
}

TEST(CertificateTest, CertifiedKeyChecksKeyMatch) {
  auto root = newRoot();
  auto other = newKey();
  auto r = CertifiedKey::make(std::move(other), upRef(root.cert.get()), {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("does not match"), std::string::npos);
}

TEST(CertificateTest, CertifiedKeyFromPemDropsSelfSignedRoot) {
  auto root = newRoot();
  auto mid = testing::newIntermediate(root);
  auto leaf = testing::workload(mid);
  std::string chain = *certificateToPem(leaf.certificate.get()) +
                      *certificateToPem(mid.cert.get()) + *certificateToPem(root.cert.get());
  auto ck = CertifiedKey::fromPem(*leaf.keyPem(), chain);
  ASSERT_TRUE(ck) << ck.error().message;
  ASSERT_EQ(ck->chain.size(), 1u);
  EXPECT_EQ(X509_cmp(ck->chain[0].get(), mid.cert.get()), 0);
}

TEST(CertificateTest, TrustBundleRefusesLeaves) {
  auto root = newRoot();
  auto leaf = testing::workload(root);
  auto bundle = TrustBundle::fromPem(*certificateToPem(leaf.certificate.get()));
  ASSERT_FALSE(bundle);
  EXPECT_NE(bundle.error().message.find("not a CA"), std::string::npos);
}

TEST(CertificateTest, ServingBundleForTheWebhook) {
  ManualClock clock;
  auto bundle =
      createServingBundle("remora-webhook", "istio-system", {"localhost"},
                          std::chrono::hours(24 * 365), std::chrono::hours(24 * 3650), clock);
  ASSERT_TRUE(bundle) << bundle.error().message;
  EXPECT_EQ(bundle->dns_names.back(), "localhost");
  auto ca = TrustBundle::fromPem(bundle->ca_pem);
  ASSERT_TRUE(ca);
  auto cred = CertifiedKey::fromPem(bundle->key_pem, bundle->cert_chain_pem);
  ASSERT_TRUE(cred) << cred.error().message;
  auto store = ca->newStore();
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  ASSERT_EQ(X509_STORE_CTX_init(ctx.get(), store->get(), cred->certificate.get(), nullptr), 1);
  X509_STORE_CTX_set_time(ctx.get(), 0, toTimeT(clock.now()));
  X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(ctx.get()),
                              "remora-webhook.istio-system.svc", 0);
  EXPECT_EQ(X509_verify_cert(ctx.get()), 1);
  EXPECT_FALSE(createServingBundle("Bad_Name", "ns", {}, std::chrono::hours(1),
                                   std::chrono::hours(2), clock));
}

}  // namespace
}  // namespace remora::tls

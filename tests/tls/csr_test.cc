#include "tls/csr.h"

#include <string>

#include <gtest/gtest.h>
#include <openssl/rsa.h>

#include "tests/tls/pki.h"
#include "tls/pem.h"

namespace remora::tls {
namespace {

using testing::newKey;

TEST(CsrTest, CreateAndParse) {
  PKeyPtr key = newKey();
  auto pem = createCsrPem(key.get(), {.uri_sans = {"spiffe://cluster.local/ns/a/sa/b"}});
  ASSERT_TRUE(pem) << pem.error().message;
  auto csr = parseCsr(*pem);
  ASSERT_TRUE(csr) << csr.error().message;
  EXPECT_EQ(csr->key.type, KeyType::EcP256);
  EXPECT_EQ(csr->uri_sans, (std::vector<std::string>{"spiffe://cluster.local/ns/a/sa/b"}));
  EXPECT_EQ(csr->san_count, 1u);
  EXPECT_EQ(EVP_PKEY_eq(csr->public_key.get(), key.get()), 1);
}

TEST(CsrTest, EmptyCsrIsFine) {
  PKeyPtr key = newKey();
  auto csr = parseCsr(*createCsrPem(key.get(), {}));
  ASSERT_TRUE(csr) << csr.error().message;
  EXPECT_EQ(csr->san_count, 0u);
}

TEST(CsrTest, RefusesAHundredSans) {
  PKeyPtr key = newKey();
  CsrOptions options;
  for (int i = 0; i < 100; ++i) {
    options.uri_sans.push_back("spiffe://cluster.local/ns/n" + std::to_string(i) + "/sa/x");
  }
  auto pem = createCsrPem(key.get(), options);
  ASSERT_TRUE(pem);
  auto csr = parseCsr(*pem);
  ASSERT_FALSE(csr);
  EXPECT_EQ(csr.error().code, Errc::InvalidArgument);
  EXPECT_NE(csr.error().message.find("SANs"), std::string::npos);
}

PKeyPtr keyOf(const char* type, const char* param = nullptr, std::size_t bits = 0) {
  if (bits != 0) return PKeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, type, bits));
  if (param != nullptr) return PKeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, type, param));
  return PKeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, type));
}

TEST(CsrTest, KeyTypes) {
  struct Case {
    const char* name;
    PKeyPtr key;
    bool accepted;
  };
  Case cases[] = {
      {"p256", keyOf("EC", "P-256"), true},
      {"p384", keyOf("EC", "P-384"), true},
      {"rsa2048", keyOf("RSA", nullptr, 2048), true},
      {"rsa1024", keyOf("RSA", nullptr, 1024), false},
      {"p521", keyOf("EC", "P-521"), false},
      {"ed25519", keyOf("ED25519"), false},
  };
  for (auto& c : cases) {
    ASSERT_TRUE(c.key) << c.name;
    auto pem = createCsrPem(c.key.get(), {});
    ASSERT_TRUE(pem) << c.name << pem.error().message;
    auto csr = parseCsr(*pem);
    EXPECT_EQ(csr.has_value(), c.accepted) << c.name;
    if (!c.accepted) {
      EXPECT_EQ(csr.error().code, Errc::Unsupported) << c.name;
      EXPECT_NE(csr.error().message.find("unsupported key type"), std::string::npos);
    }
  }
}

TEST(CsrTest, RefusesForgedSignature) {
  PKeyPtr key = newKey();
  PKeyPtr other = newKey();
  auto req = createCsr(key.get(), {});
  ASSERT_TRUE(req);
  // Swap in another public key after signing: proof of possession fails.
  ASSERT_EQ(X509_REQ_set_pubkey(req->get(), other.get()), 1);
  auto pem = csrToPem(req->get());
  ASSERT_TRUE(pem);
  auto csr = parseCsr(*pem);
  ASSERT_FALSE(csr);
  EXPECT_NE(csr.error().message.find("signature"), std::string::npos);
}

TEST(CsrTest, RefusesHostileInput) {
  PKeyPtr key = newKey();
  std::string good = *createCsrPem(key.get(), {});
  struct Case {
    const char* name;
    std::string pem;
    Errc code;
  };
  const Case cases[] = {
      {"empty", "", Errc::ParseError},
      {"garbage", "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
       Errc::ParseError},
      {"truncated", good.substr(0, good.size() / 2), Errc::ParseError},
      {"megabyte", good + std::string(1 << 20, ' '), Errc::PayloadTooLarge},
      {"two", good + good, Errc::ParseError},
  };
  for (const auto& c : cases) {
    auto csr = parseCsr(c.pem);
    ASSERT_FALSE(csr) << c.name;
    EXPECT_EQ(csr.error().code, c.code) << c.name << ": " << csr.error().message;
  }
}

}  // namespace
}  // namespace remora::tls

#include "tls/pem.h"

#include <string>

#include <gtest/gtest.h>

#include "tests/tls/pki.h"
#include "tls/csr.h"

namespace remora::tls {
namespace {

using testing::newKey;
using testing::newRoot;

TEST(PemTest, KeyRoundTrip) {
  PKeyPtr key = newKey();
  auto pem = privateKeyToPem(key.get());
  ASSERT_TRUE(pem);
  EXPECT_NE(pem->find("-----BEGIN PRIVATE KEY-----"), std::string::npos);
  auto back = readPrivateKeyPem(*pem);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(EVP_PKEY_eq(key.get(), back->get()), 1);
}

TEST(PemTest, CertificateRoundTripAndBundle) {
  auto root = newRoot();
  auto other = newRoot("other");
  auto one = certificateToPem(root.cert.get());
  ASSERT_TRUE(one);
  auto cert = readCertificatePem(*one);
  ASSERT_TRUE(cert) << cert.error().message;
  EXPECT_EQ(X509_cmp(cert->get(), root.cert.get()), 0);

  std::string two =
      *one + "explanatory text between blocks\n" + *certificateToPem(other.cert.get());
  auto both = readCertificatesPem(two);
  ASSERT_TRUE(both) << both.error().message;
  EXPECT_EQ(both->size(), 2u);
  auto single = readCertificatePem(two);
  ASSERT_FALSE(single);
  EXPECT_NE(single.error().message.find("expected one certificate"), std::string::npos);
}

TEST(PemTest, RefusesHostileDocuments) {
  auto root = newRoot();
  std::string good = *certificateToPem(root.cert.get());
  std::string body_start = good.substr(0, good.size() / 2);
  std::string corrupted = good;
  corrupted[40] = '!';
  std::string megabyte = good + std::string(1 << 20, 'A');
  std::string with_nul = good;
  with_nul.insert(10, 1, '\0');
  std::string no_end = good.substr(0, good.find("-----END"));
  std::string bad_second = good + good.substr(0, good.size() - 40) + "-----END CERTIFICATE-----\n";

  struct Case {
    const char* name;
    std::string pem;
    Errc code;
  };
  const Case cases[] = {
      {"empty", "", Errc::ParseError},
      {"not-pem", "hello", Errc::ParseError},
      {"truncated", body_start, Errc::ParseError},
      {"no-end-line", no_end, Errc::ParseError},
      {"corrupted-base64", corrupted, Errc::ParseError},
      {"one-megabyte", megabyte, Errc::PayloadTooLarge},
      {"nul-byte", with_nul, Errc::ParseError},
      {"truncated-second", bad_second, Errc::ParseError},
      {"garbage-block", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
       Errc::ParseError},
  };
  for (const auto& c : cases) {
    auto r = readCertificatesPem(c.pem);
    ASSERT_FALSE(r) << c.name;
    EXPECT_EQ(r.error().code, c.code) << c.name << ": " << r.error().message;
  }
  auto k = readPrivateKeyPem(std::string(1 << 20, 'A'));
  ASSERT_FALSE(k);
  EXPECT_EQ(k.error().code, Errc::PayloadTooLarge);
  EXPECT_FALSE(readPrivateKeyPem(good));  // a certificate is not a key
  auto csr = readCsrPem(good);
  ASSERT_FALSE(csr);
  EXPECT_FALSE(csr.error().message.empty());
}

TEST(PemTest, ErrorsCarryOpenSslText) {
  auto root = newRoot();
  std::string good = *certificateToPem(root.cert.get());
  std::string corrupted = good;
  corrupted[40] = '!';
  auto r = readCertificatePem(corrupted);
  ASSERT_FALSE(r);
  // "cannot read certificate 1 of the PEM: error:...:PEM routines..."
  EXPECT_NE(r.error().message.find("error:"), std::string::npos) << r.error().message;
}

TEST(PemTest, RefusesEncryptedKeysWithoutPrompting) {
  PKeyPtr key = newKey();
  BioPtr bio(BIO_new(BIO_s_mem()));
  static char pass[] = "secret";
  ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(bio.get(), key.get(), EVP_aes_128_cbc(), pass, 6, nullptr,
                                          nullptr),
            1);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  auto r = readPrivateKeyPem(std::string(data, static_cast<std::size_t>(len)));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::Unsupported);
}

TEST(PemTest, AcceptsOpensslEcParametersBlock) {
  // `openssl ecparam -genkey` writes EC PARAMETERS before the key.
  PKeyPtr key = newKey();
  BioPtr bio(BIO_new(BIO_s_mem()));
  ASSERT_EQ(PEM_write_bio_Parameters(bio.get(), key.get()), 1);
  ASSERT_EQ(PEM_write_bio_PrivateKey_traditional(bio.get(), key.get(), nullptr, nullptr, 0, nullptr,
                                                 nullptr),
            1);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  std::string pem(data, static_cast<std::size_t>(len));
  ASSERT_NE(pem.find("EC PARAMETERS"), std::string::npos);
  auto back = readPrivateKeyPem(pem);
  ASSERT_TRUE(back) << back.error().message;
}

}  // namespace
}  // namespace remora::tls

#include "tests/http/test_pki.h"

#include <atomic>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/assert.h"

namespace remora::http::testing {
namespace {

using KeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using CertPtr = std::unique_ptr<X509, decltype(&X509_free)>;

KeyPtr newKey() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  REMORA_CHECK(key != nullptr, "EVP_EC_gen failed");
  return KeyPtr(key, EVP_PKEY_free);
}

void addExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  REMORA_CHECK(ext != nullptr, "extension {} = {}", nid, value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

CertPtr makeCert(const std::string& cn, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key, bool ca,
                 const char* eku, const std::string& san) {
  static std::atomic<long> serial{1000};
  CertPtr cert(X509_new(), X509_free);
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial.fetch_add(1));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
  if (ca) {
    addExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    addExtension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    addExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
    addExtension(cert.get(), signer, NID_key_usage, "critical,digitalSignature");
    addExtension(cert.get(), signer, NID_ext_key_usage, eku);
    if (!san.empty()) addExtension(cert.get(), signer, NID_subject_alt_name, san.c_str());
  }
  REMORA_CHECK(X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) > 0,
               "X509_sign failed");
  return cert;
}

std::string certPem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return pem;
}

std::string keyPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return pem;
}

}  // namespace

TestPki makeTestPki(const std::string& server_name) {
  KeyPtr ca_key = newKey();
  CertPtr ca = makeCert("remora test CA", ca_key.get(), nullptr, nullptr, true, nullptr, "");
  KeyPtr server_key = newKey();
  CertPtr server = makeCert(server_name, server_key.get(), ca.get(), ca_key.get(), false,
                            "serverAuth", "DNS:" + server_name + ",IP:127.0.0.1");
  KeyPtr client_key = newKey();
  CertPtr client = makeCert("remora test client", client_key.get(), ca.get(), ca_key.get(), false,
                            "clientAuth", "");
  TestPki pki;
  pki.ca_pem = certPem(ca.get());
  pki.server_cert_pem = certPem(server.get());
  pki.server_key_pem = keyPem(server_key.get());
  pki.client_cert_pem = certPem(client.get());
  pki.client_key_pem = keyPem(client_key.get());
  return pki;
}

std::shared_ptr<asio::ssl::context> serverContext(const TestPki& pki, bool require_client_cert) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  std::error_code ec;
  ctx->use_certificate_chain(asio::buffer(pki.server_cert_pem), ec);
  REMORA_CHECK(!ec, "server certificate: {}", ec.message());
  ctx->use_private_key(asio::buffer(pki.server_key_pem), asio::ssl::context::pem, ec);
  REMORA_CHECK(!ec, "server key: {}", ec.message());
  if (require_client_cert) {
    ctx->add_certificate_authority(asio::buffer(pki.ca_pem), ec);
    REMORA_CHECK(!ec, "client CA: {}", ec.message());
    ctx->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert, ec);
    REMORA_CHECK(!ec, "verify mode: {}", ec.message());
  }
  return ctx;
}

}  // namespace remora::http::testing

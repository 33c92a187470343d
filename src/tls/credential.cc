#include "tls/credential.h"

#include <fmt/format.h>

#include "tls/pem.h"

namespace remora::tls {

bool isSelfSigned(X509* cert) {
  // X509_self_signed(cert, 1) also verifies the signature.
  int r = X509_self_signed(cert, 1);
  clearOpenSslErrors();
  return r == 1;
}

Result<CertifiedKey> CertifiedKey::make(PKeyPtr key, X509Ptr certificate,
                                        std::vector<X509Ptr> chain) {
  if (!key || !certificate) return Error{Errc::InvalidArgument, "a certified key needs both parts"};
  if (X509_check_private_key(certificate.get(), key.get()) != 1) {
    return openSslError(Errc::InvalidArgument, "the private key does not match the certificate");
  }
  CertifiedKey out;
  out.key = std::move(key);
  out.certificate = std::move(certificate);
  for (auto& cert : chain) {
    if (!isSelfSigned(cert.get())) out.chain.push_back(std::move(cert));
  }
  return out;
}

Result<CertifiedKey> CertifiedKey::fromPem(std::string_view key_pem, std::string_view chain_pem) {
  REMORA_ASSIGN_OR_RETURN(PKeyPtr key, readPrivateKeyPem(key_pem));
  REMORA_ASSIGN_OR_RETURN(std::vector<X509Ptr> certs, readCertificatesPem(chain_pem));
  X509Ptr leaf = std::move(certs.front());
  certs.erase(certs.begin());
  return make(std::move(key), std::move(leaf), std::move(certs));
}

Result<std::string> CertifiedKey::chainPem() const {
  REMORA_ASSIGN_OR_RETURN(std::string out, certificateToPem(certificate.get()));
  REMORA_ASSIGN_OR_RETURN(std::string rest, certificatesToPem(chain));
  return out + rest;
}

Result<std::string> CertifiedKey::keyPem() const { return privateKeyToPem(key.get()); }

CertifiedKey CertifiedKey::clone() const {
  CertifiedKey out;
  out.key = upRef(key.get());
  out.certificate = upRef(certificate.get());
  for (const auto& cert : chain) out.chain.push_back(upRef(cert.get()));
  return out;
}

Result<TrustBundle> TrustBundle::fromPem(std::string_view pem) {
  REMORA_ASSIGN_OR_RETURN(std::vector<X509Ptr> roots, readCertificatesPem(pem));
  for (std::size_t i = 0; i < roots.size(); ++i) {
    if (X509_check_ca(roots[i].get()) == 0) {
      return Error{Errc::InvalidArgument,
                   fmt::format("trust bundle certificate {} is not a CA certificate", i + 1)};
    }
  }
  return TrustBundle(std::move(roots));
}

Result<X509StorePtr> TrustBundle::newStore() const {
  X509StorePtr store(X509_STORE_new());
  if (!store) return openSslError(Errc::Internal, "allocating a certificate store");
  for (const auto& root : roots_) {
    if (X509_STORE_add_cert(store.get(), root.get()) != 1) {
      return openSslError(Errc::Internal, "adding a root to the certificate store");
    }
  }
  return store;
}

Result<std::string> TrustBundle::toPem() const { return certificatesToPem(roots_); }

TrustBundle TrustBundle::clone() const {
  std::vector<X509Ptr> roots;
  for (const auto& root : roots_) roots.push_back(upRef(root.get()));
  return TrustBundle(std::move(roots));
}

}  // namespace remora::tls

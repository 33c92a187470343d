// The material a TLS endpoint is made of: its own certified key, and the
// roots it trusts.
//
// Both are move-only owners of OpenSSL objects. Once built they are not
// changed: a rotation makes new ones (see CertificateStore), so a
// `shared_ptr<const ...>` of either may be read from any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "tls/openssl.h"

namespace remora::tls {

// A private key with its certificate and the intermediates that link the
// certificate to a trusted root (leaf's issuer first; self-signed roots are
// left out, peers have them).
struct CertifiedKey {
  PKeyPtr key;
  X509Ptr certificate;
  std::vector<X509Ptr> chain;

  // From a key PEM and a chain PEM that starts with the leaf. Checks that
  // the key is the certificate's; drops self-signed certificates from the
  // chain.
  static Result<CertifiedKey> fromPem(std::string_view key_pem, std::string_view chain_pem);
  // Assembles one, with the same checks as fromPem.
  static Result<CertifiedKey> make(PKeyPtr key, X509Ptr certificate, std::vector<X509Ptr> chain);

  // Leaf then intermediates, as PEM (what a TLS peer is sent).
  Result<std::string> chainPem() const;
  Result<std::string> keyPem() const;
  CertifiedKey clone() const;  // shares the OpenSSL objects (reference counts)
};

// The set of root certificates peers must chain to. During a root rotation
// it holds both the old and the new root.
class TrustBundle {
 public:
  TrustBundle() = default;
  explicit TrustBundle(std::vector<X509Ptr> roots) : roots_(std::move(roots)) {}
  // One or more certificates; each must be a CA certificate.
  static Result<TrustBundle> fromPem(std::string_view pem);

  const std::vector<X509Ptr>& roots() const { return roots_; }
  bool empty() const { return roots_.empty(); }
  // A new X509_STORE holding the roots. One per SSL_CTX: a store shared
  // between threads serialises their lookups on its lock.
  Result<X509StorePtr> newStore() const;
  Result<std::string> toPem() const;
  TrustBundle clone() const;

 private:
  std::vector<X509Ptr> roots_;
};

// True when `cert` is self-signed (issuer == subject and its own key
// verifies the signature).
bool isSelfSigned(X509* cert);

}  // namespace remora::tls

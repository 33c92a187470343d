// Test PKI: roots, intermediates and leaves made on the spot, plus an
// in-memory handshake between two SSL objects (a BIO pair, no sockets).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/err.h>

#include "core/time.h"
#include "tls/certificate.h"
#include "tls/context.h"
#include "tls/credential.h"
#include "tls/key.h"
#include "tls/openssl.h"
#include "tls/verify.h"

namespace remora::tls::testing {

inline PKeyPtr newKey() {
  auto key = generateP256Key();
  REMORA_CHECK(key.has_value(), "{}", key.error().message);
  return std::move(key).value();
}

struct Ca {
  PKeyPtr key;
  X509Ptr cert;
  Issuer issuer() const { return Issuer{cert.get(), key.get()}; }
  TrustBundle bundle() const {
    std::vector<X509Ptr> roots;
    roots.push_back(upRef(cert.get()));
    return TrustBundle(std::move(roots));
  }
};

inline Ca newRoot(std::string org = "cluster.local", SystemTime now = systemClock().now()) {
  auto root = createRootCa({.organization = std::move(org), .now = now});
  REMORA_CHECK(root.has_value(), "{}", root.error().message);
  return Ca{std::move(root->key), std::move(root->certificate)};
}

inline Ca newIntermediate(const Ca& parent, SystemTime now = systemClock().now()) {
  auto ca = createIntermediateCa(parent.issuer(), {.organization = "cluster.local", .now = now});
  REMORA_CHECK(ca.has_value(), "{}", ca.error().message);
  return Ca{std::move(ca->key), std::move(ca->certificate)};
}

// The template of a valid workload certificate; tests break one rule at a time.
inline CertificateTemplate workloadTemplate(
    std::string uri = "spiffe://cluster.local/ns/default/sa/sleep",
    SystemTime now = systemClock().now()) {
  CertificateTemplate t;
  t.uri_sans = {std::move(uri)};
  t.key_usage = kDigitalSignature | kKeyEncipherment;
  t.server_auth = true;
  t.client_auth = true;
  t.not_before = now - std::chrono::minutes(1);
  t.not_after = now + std::chrono::hours(24);
  return t;
}

inline CertifiedKey issue(const Ca& ca, const CertificateTemplate& t,
                          std::vector<X509Ptr> chain = {}) {
  PKeyPtr key = newKey();
  auto cert = signCertificate(t, key.get(), ca.issuer());
  REMORA_CHECK(cert.has_value(), "{}", cert.error().message);
  auto ck = CertifiedKey::make(std::move(key), std::move(cert).value(), std::move(chain));
  REMORA_CHECK(ck.has_value(), "{}", ck.error().message);
  return std::move(ck).value();
}

inline CertifiedKey workload(const Ca& ca,
                             std::string uri = "spiffe://cluster.local/ns/default/sa/sleep") {
  return issue(ca, workloadTemplate(std::move(uri)));
}

inline TlsContextPtr context(TlsMode mode, const CertifiedKey* cred, const TrustBundle* trust,
                             std::vector<std::string> alpn = kIstioAlpn) {
  TlsContextOptions options{
      .mode = mode, .alpn = std::move(alpn), .trust_domains = {"cluster.local"}};
  auto ctx = TlsContext::build(options, cred, trust);
  REMORA_CHECK(ctx.has_value(), "{}", ctx.error().message);
  return std::move(ctx).value();
}

// One certificate that breaks one rule, and the reason it must be refused for.
struct BadPeerCase {
  const char* name;
  std::function<void(CertificateTemplate&)> tweak;
  PeerFailure reason;
  bool from_other_ca = false;
};

inline std::vector<BadPeerCase> badPeerCases() {
  auto now = systemClock().now();
  return {
      {"two-uri-sans",
       [](auto& t) { t.uri_sans.push_back("spiffe://cluster.local/ns/default/sa/admin"); },
       PeerFailure::MultipleUriSans},
      {"dns-san-only",
       [](auto& t) {
         t.uri_sans.clear();
         t.dns_sans = {"sleep.default.svc"};
       },
       PeerFailure::NoUriSan},
      {"uri-with-nul",
       [](auto& t) {
         t.uri_sans = {std::string("spiffe://cluster.local/ns/default/sa/sleep\0.evil", 48)};
       },
       PeerFailure::InvalidSpiffeId},
      {"not-spiffe", [](auto& t) { t.uri_sans = {"https://cluster.local/ns/a/sa/b"}; },
       PeerFailure::InvalidSpiffeId},
      {"wrong-trust-domain",
       [](auto& t) { t.uri_sans = {"spiffe://evil.example/ns/default/sa/sleep"}; },
       PeerFailure::WrongTrustDomain},
      {"eku-server-only", [](auto& t) { t.client_auth = false; }, PeerFailure::ExtendedKeyUsage},
      {"no-eku",
       [](auto& t) {
         t.client_auth = false;
         t.server_auth = false;
       },
       PeerFailure::ExtendedKeyUsage},
      {"ca-true-leaf", [](auto& t) { t.is_ca = true; }, PeerFailure::LeafIsCa},
      {"key-cert-sign-leaf", [](auto& t) { t.key_usage |= kKeyCertSign; }, PeerFailure::KeyUsage},
      {"crl-sign-leaf", [](auto& t) { t.key_usage |= kCrlSign; }, PeerFailure::KeyUsage},
      {"no-digital-signature", [](auto& t) { t.key_usage = kKeyEncipherment; },
       PeerFailure::KeyUsage},
      {"expired",
       [now](auto& t) {
         t.not_before = now - std::chrono::hours(48);
         t.not_after = now - std::chrono::hours(24);
       },
       PeerFailure::Expired},
      {"not-yet-valid",
       [now](auto& t) {
         t.not_before = now + std::chrono::hours(1);
         t.not_after = now + std::chrono::hours(25);
       },
       PeerFailure::NotYetValid},
      {"another-ca", [](auto&) {}, PeerFailure::UntrustedChain, true},
  };
}

// Two connected SSL objects over a BIO pair, driven to the end of the
// handshake on one thread.
struct Handshake {
  SslPtr client;
  SslPtr server;
  bool client_done = false;
  bool server_done = false;
  bool client_failed = false;
  bool server_failed = false;
  std::optional<PeerFailure> client_failure;  // peerFailure() right after the failure
  std::optional<PeerFailure> server_failure;
  std::string client_error;
  std::string server_error;

  bool ok() const { return client_done && server_done && !client_failed && !server_failed; }
};

inline SslPtr newSsl(const TlsContext& ctx) {
  auto ssl = ctx.newSsl();
  REMORA_CHECK(ssl.has_value(), "{}", ssl.error().message);
  return std::move(ssl).value();
}

// Steps one side; returns true if it made progress or finished.
inline void stepSide(SSL* ssl, bool& done, bool& failed, std::optional<PeerFailure>& failure,
                     std::string& error) {
  if (done || failed) return;
  ERR_clear_error();
  int r = SSL_do_handshake(ssl);
  if (r == 1) {
    done = true;
    return;
  }
  int e = SSL_get_error(ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
  failed = true;
  failure = peerFailure(ssl);
  error = openSslError(Errc::Internal, "handshake").message;
}

inline void connectPair(Handshake& h) {
  BIO* client_bio = nullptr;
  BIO* server_bio = nullptr;
  REMORA_CHECK(BIO_new_bio_pair(&client_bio, 0, &server_bio, 0) == 1, "bio pair");
  SSL_set_bio(h.client.get(), client_bio, client_bio);
  SSL_set_bio(h.server.get(), server_bio, server_bio);
}

inline void drive(Handshake& h) {
  for (int i = 0; i < 100; ++i) {
    stepSide(h.client.get(), h.client_done, h.client_failed, h.client_failure, h.client_error);
    stepSide(h.server.get(), h.server_done, h.server_failed, h.server_failure, h.server_error);
    if ((h.client_done || h.client_failed) && (h.server_done || h.server_failed)) break;
  }
  // TLS 1.3: the client finishes before the server has judged its
  // certificate; a refusal reaches it as an alert on its first read.
  if (h.client_done && h.server_failed) {
    char buf[16];
    ERR_clear_error();
    int r = SSL_read(h.client.get(), buf, sizeof buf);
    if (r <= 0 && SSL_get_error(h.client.get(), r) != SSL_ERROR_WANT_READ) {
      h.client_failed = true;
      h.client_error = openSslError(Errc::Internal, "read after handshake").message;
    }
  }
}

inline Handshake handshake(const TlsContext& client_ctx, const TlsContext& server_ctx,
                           SSL_SESSION* session = nullptr) {
  Handshake h;
  h.client = newSsl(client_ctx);
  h.server = newSsl(server_ctx);
  if (session != nullptr) SSL_set_session(h.client.get(), session);
  connectPair(h);
  drive(h);
  return h;
}

// Writes `text` one way and reads it back on the other side.
inline std::string roundTrip(SSL* from, SSL* to, const std::string& text) {
  int w = SSL_write(from, text.data(), static_cast<int>(text.size()));
  if (w <= 0) return "<write failed>";
  std::string out(text.size(), '\0');
  int r = SSL_read(to, out.data(), static_cast<int>(out.size()));
  if (r <= 0) return "<read failed>";
  out.resize(static_cast<std::size_t>(r));
  return out;
}

}  // namespace remora::tls::testing

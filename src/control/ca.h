// The mesh's certificate authority: signs workload CSRs for identities that
// an Authenticator established, never for what a CSR asks.
//
// Signing material comes from a directory in Istio's `cacerts` layout:
//
//   ca-cert.pem     the signing certificate (a root, or an intermediate)
//   ca-key.pem      its private key (mode 0600)
//   root-cert.pem   the root workloads trust
//   cert-chain.pem  ca-cert up to the root (what follows a leaf in a chain)
//
// Two ways to get one:
//   - plugged in (`--cacerts-dir`, Istio's Secret mounted as files): read
//     only, all four files, checked (key matches, ca-cert chains to
//     root-cert, the signer is a valid CA now);
//   - self-signed (`--ca-dir`): on first start a P-256 root is made and the
//     same four files are written (each atomically, ca-cert.pem last, so an
//     interrupted first start is simply redone); on later starts it is
//     loaded as above.
//
// Issued certificates: one URI SAN spiffe://<trust-domain>/ns/<ns>/sa/<sa>
// from the caller's authenticated identity; TTL from the request, 24 h when
// absent, clamped into [kMinWorkloadTtl, max_ttl] and never past the
// signer's own notAfter.
//
// Threading: sign() and the accessors are const and may run on any number
// of threads at once (OpenSSL signing with a shared key is thread-safe).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/time.h"
#include "tls/certificate.h"
#include "tls/credential.h"
#include "tls/csr.h"
#include "tls/openssl.h"
#include "tls/spiffe.h"

namespace remora::control {

inline constexpr Seconds kDefaultWorkloadTtl{std::chrono::hours(24)};          // Istio's default
inline constexpr Seconds kDefaultMaxWorkloadTtl{std::chrono::hours(24 * 90)};  // Istio's max
inline constexpr Seconds kMinWorkloadTtl{60};

// A duration as Istio's environment writes it (Go's syntax, whole seconds):
// "24h", "2160h", "90m", "1h30m", "3600s", or a plain number of seconds.
Result<Seconds> parseDuration(std::string_view text);

struct CaOptions {
  std::string trust_domain = "cluster.local";
  Seconds default_ttl = kDefaultWorkloadTtl;
  Seconds max_ttl = kDefaultMaxWorkloadTtl;
};

// A certificate the CA issued, ready to send back.
struct IssuedCertificate {
  tls::X509Ptr certificate;
  std::vector<std::string> chain_pem;  // leaf first, then intermediates; no root
  std::string root_pem;
  tls::SpiffeId identity;
  std::string serial_hex;
  Seconds ttl{0};
  bool ttl_clamped = false;  // the request asked for more (or less) than allowed
  SystemTime not_after;
};

class CertificateAuthority {
 public:
  // From signing material in memory. `chain` is ca-cert up to the root
  // (cert-chain.pem); `roots` what workloads trust (root-cert.pem).
  static Result<std::unique_ptr<CertificateAuthority>> create(CaOptions options,
                                                              tls::CertifiedKey signer,
                                                              tls::TrustBundle roots,
                                                              const Clock& clock);
  // A plugged-in cacerts directory, read only.
  static Result<std::unique_ptr<CertificateAuthority>> loadCacerts(const std::string& dir,
                                                                   CaOptions options,
                                                                   const Clock& clock);
  // A self-signed CA kept in `dir` (created, mode 0700, if missing).
  static Result<std::unique_ptr<CertificateAuthority>> loadOrCreateSelfSigned(
      const std::string& dir, CaOptions options, const Clock& clock);

  // Signs `csr` for `caller`. The CSR's SANs and subject are ignored.
  // `requested_ttl` nullopt or zero: the default.
  Result<IssuedCertificate> sign(const tls::ParsedCsr& csr, const tls::WorkloadIdentity& caller,
                                 std::optional<Seconds> requested_ttl) const;

  // A serving certificate (for the CA's own port 15012, or the webhook's
  // `certs` subcommand) with a fresh P-256 key, and its chain.
  Result<tls::CertifiedKey> issueServing(const std::vector<std::string>& dns_names,
                                         Seconds ttl) const;

  const CaOptions& options() const { return options_; }
  const tls::TrustBundle& roots() const { return roots_; }
  // root-cert.pem: what the injector's istio-ca-root-cert ConfigMap carries.
  const std::string& rootCertPem() const { return root_pem_; }
  // The signer's notAfter (the CA must be renewed before it).
  SystemTime signerExpiry() const { return signer_expiry_; }

 private:
  CertificateAuthority(CaOptions options, tls::CertifiedKey signer, tls::TrustBundle roots,
                       const Clock& clock)
      : options_(std::move(options)),
        signer_(std::move(signer)),
        roots_(std::move(roots)),
        clock_(clock) {}

  CaOptions options_;
  tls::CertifiedKey signer_;  // key, ca-cert, and the chain above it (no root)
  tls::TrustBundle roots_;
  const Clock& clock_;
  std::string root_pem_;
  std::vector<std::string> chain_pem_;  // intermediates a leaf is sent with
  SystemTime signer_expiry_;
};

}  // namespace remora::control

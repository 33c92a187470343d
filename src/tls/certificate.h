// X.509 certificates: what one says, and how Remora makes them.
//
// signCertificate() is the one place that builds a certificate; the
// functions after it fill its template for each kind Remora issues:
//
//   root CA          self-signed, cA=TRUE, keyCertSign|cRLSign
//   intermediate CA  signed by a root, cA=TRUE pathlen:0 (Istio's cacerts)
//   workload         exactly one URI SAN spiffe://td/ns/N/sa/S, cA=FALSE,
//                    digitalSignature|keyEncipherment, EKU serverAuth+clientAuth
//   serving          DNS SANs (the webhook's <svc>.<ns>.svc), EKU serverAuth
//
// Serial numbers are 128 random bits (positive, never zero). notBefore is
// backdated by kBackdate so that a peer whose clock is slightly behind ours
// does not reject a certificate issued a moment ago; the TTL counts from
// `now`, so notAfter = now + ttl.
//
// All functions are thread-safe (no shared state) and return Errors rather
// than partial certificates.
#pragma once

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/time.h"
#include "tls/openssl.h"
#include "tls/spiffe.h"

namespace remora::tls {

inline constexpr Seconds kBackdate{60};

// Key usage bits as in RFC 5280 (OpenSSL's KU_* values).
enum KeyUsageBits : unsigned {
  kDigitalSignature = KU_DIGITAL_SIGNATURE,
  kKeyEncipherment = KU_KEY_ENCIPHERMENT,
  kKeyCertSign = KU_KEY_CERT_SIGN,
  kCrlSign = KU_CRL_SIGN,
};

// Everything signCertificate() puts in a certificate. Tests use it directly
// to make the certificates a peer must refuse (two URI SANs, cA=true leaf,
// EKU serverAuth only, a URI with a NUL byte, ...).
struct CertificateTemplate {
  std::string common_name;            // empty: no CN
  std::string organization;           // empty: no O
  std::vector<std::string> uri_sans;  // bytes as given, NULs included
  std::vector<std::string> dns_sans;
  std::vector<std::string> ip_sans;  // "127.0.0.1", "::1"
  bool is_ca = false;
  std::optional<int> path_length;  // CA only
  unsigned key_usage = 0;          // KeyUsageBits; 0: no keyUsage extension
  bool server_auth = false;        // extendedKeyUsage; neither: no EKU extension
  bool client_auth = false;
  SystemTime not_before;
  SystemTime not_after;
};

// Who signs: a CA certificate and its private key. Non-owning; both must
// outlive the call.
struct Issuer {
  X509* certificate = nullptr;
  EVP_PKEY* key = nullptr;
};

// Signs `tmpl` for `subject_key` (only its public half is used) with
// `issuer`, or self-signs with `subject_key` when issuer is nullopt.
// SHA-256 for every key type Remora uses.
Result<X509Ptr> signCertificate(const CertificateTemplate& tmpl, EVP_PKEY* subject_key,
                                const std::optional<Issuer>& issuer);

struct CaOptions {
  std::string organization;  // Istio uses the trust domain
  std::string common_name = "Remora CA";
  Seconds ttl{std::chrono::hours(24 * 365 * 10)};  // Istio's self-signed root: 10 years
  SystemTime now;
};

// A new P-256 key and a self-signed root certificate for it.
struct KeyAndCertificate {
  PKeyPtr key;
  X509Ptr certificate;
};
Result<KeyAndCertificate> createRootCa(const CaOptions& options);
// A new P-256 key and an intermediate CA certificate signed by `parent`.
Result<KeyAndCertificate> createIntermediateCa(const Issuer& parent, const CaOptions& options);

// A workload certificate for `identity`, valid from now (backdated) for ttl.
Result<X509Ptr> issueWorkloadCertificate(const Issuer& issuer, EVP_PKEY* subject_key,
                                         const SpiffeId& identity, SystemTime now, Seconds ttl);

// A serving certificate for `dns_names` (the first is also the CN).
Result<X509Ptr> issueServingCertificate(const Issuer& issuer, EVP_PKEY* subject_key,
                                        std::span<const std::string> dns_names, SystemTime now,
                                        Seconds ttl);

// The names a Kubernetes client may use for a Service, which the webhook's
// serving certificate must carry: svc, svc.ns, svc.ns.svc,
// svc.ns.svc.<cluster_domain>.
std::vector<std::string> serviceDnsNames(std::string_view service, std::string_view ns,
                                         std::string_view cluster_domain = "cluster.local");

// What a certificate says, decoded once (for logs, the CA's issuance log,
// rotation decisions and tests).
struct CertificateInfo {
  std::string serial_hex;  // lower-case hex, no separators
  std::string subject;     // RFC 2253 one-line form
  std::string issuer;
  SystemTime not_before;
  SystemTime not_after;
  std::vector<std::string> uri_sans;  // raw bytes, NULs included
  std::vector<std::string> dns_sans;
  bool is_ca = false;
};
Result<CertificateInfo> describeCertificate(X509* cert);

// Lower-case hex of a certificate's serial number.
std::string serialHex(X509* cert);
// The validity window (the epoch when a field cannot be decoded).
SystemTime certificateNotBefore(X509* cert);
SystemTime certificateNotAfter(X509* cert);

}  // namespace remora::tls

// The CA's API, independent of the transport: `remora control` serves it
// over HTTPS on 15012, the fuzzer calls it directly.
//
//   POST /v1/certificate
//     Authorization: Bearer <token>
//     {"csr": "-----BEGIN CERTIFICATE REQUEST-----...", "ttlSeconds": 86400}
//   200 {"certChain": ["<leaf PEM>", "<intermediate PEM>"...],
//        "rootCert": "<PEM>", "identity": "spiffe://td/ns/N/sa/S",
//        "serial": "<hex>", "ttlSeconds": N, "notAfter": "<RFC 3339>"}
//
//   GET /v1/root
//   200 {"rootCert": "<PEM>"}
//
// Errors are {"error": {"code": "<errc name>", "message": "..."}} with
// 401 (missing, malformed or refused token), 400 (bad JSON, bad CSR,
// unsupported key, too many SANs), 413 (request or CSR too large), 503
// (the authority behind the token cannot be reached, the CA expired).
//
// Order: the caller is authenticated before its body is parsed, so an
// anonymous caller costs one token check and never reaches the CSR parser.
// The identity comes from the token alone; SANs in the CSR are logged as
// "requestedSans" and otherwise ignored. Every outcome, issued or refused,
// is one line of the IssuanceLog.
//
// Threading: const and stateless; safe from any number of threads if the
// Authenticator is.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "control/authenticator.h"
#include "control/ca.h"
#include "control/issuance_log.h"

namespace remora::control {

struct CaHttpResponse {
  int status = 200;
  std::string body;  // application/json
};

class CaService {
 public:
  static constexpr std::size_t kMaxRequestBytes = 64 * 1024;

  CaService(const CertificateAuthority& ca, const Authenticator& authenticator, IssuanceLog& log)
      : ca_(ca), authenticator_(authenticator), log_(log) {}

  CaHttpResponse createCertificate(std::string_view authorization, std::string_view body) const;
  CaHttpResponse rootCertificate() const;
  // A refusal decided by the transport (e.g. two Authorization fields),
  // answered and logged like the service's own.
  CaHttpResponse refuse(const Error& error, int status) const;

 private:
  const CertificateAuthority& ca_;
  const Authenticator& authenticator_;
  IssuanceLog& log_;
};

}  // namespace remora::control

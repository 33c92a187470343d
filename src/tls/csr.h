// Certificate signing requests: made by the proxy, judged by the CA.
//
// parseCsr() is the CA's gate for untrusted input, so it is strict and
// bounded: a PEM over CsrLimits::max_bytes, anything but exactly one CSR, a
// signature that does not verify (no proof of possession), an unsupported
// key, more than max_sans subject alternative names or more than
// max_extensions requested extensions is an Error; it never crashes on any
// input (fuzz/tls_csr_fuzz.cc). The SANs it reports are what the caller
// *asked for*: the CA never copies them into a certificate.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "tls/key.h"
#include "tls/openssl.h"

namespace remora::tls {

struct CsrOptions {
  std::string common_name;  // empty: empty subject, as Istio's agent sends
  std::vector<std::string> uri_sans;
  std::vector<std::string> dns_sans;
};

// A CSR for `key`, signed with it (SHA-256).
Result<X509ReqPtr> createCsr(EVP_PKEY* key, const CsrOptions& options);
// The same, as PEM.
Result<std::string> createCsrPem(EVP_PKEY* key, const CsrOptions& options);

struct CsrLimits {
  std::size_t max_bytes = 16 * 1024;  // a P-256 CSR is ~0.5 KiB, RSA-4096 ~1.7 KiB
  std::size_t max_sans = 8;
  std::size_t max_extensions = 8;
};

struct ParsedCsr {
  X509ReqPtr request;
  PKeyPtr public_key;
  KeyInfo key;
  std::vector<std::string> uri_sans;  // raw bytes as requested
  std::vector<std::string> dns_sans;
  std::size_t san_count = 0;  // every SAN, of any type
};

// Errors: PayloadTooLarge (size), ParseError (malformed, several CSRs, bad
// signature), Unsupported (key type), InvalidArgument (too many SANs or
// extensions).
Result<ParsedCsr> parseCsr(std::string_view pem, const CsrLimits& limits = {});

}  // namespace remora::tls

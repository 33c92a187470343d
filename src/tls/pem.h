// PEM in and out, bounded and strict.
//
// Readers take the text of a PEM document and return owned objects. Limits
// are checked before OpenSSL sees a byte: a document over the limit is a
// PayloadTooLarge Error, and so is a bundle with too many certificates.
// A document with a NUL byte, no PEM block, a truncated or corrupted block,
// or (for single-object readers) more than one object is a ParseError.
// Text outside the blocks is allowed (RFC 7468's explanatory text).
// Encrypted private keys are refused, never prompted for.
//
// Writers return the PEM text; private keys are written unencrypted in
// PKCS#8 ("PRIVATE KEY"), so the file holding one must be mode 0600.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "tls/openssl.h"

namespace remora::tls {

// One key, certificate or CSR: a P-256 certificate is under 1 KiB and an
// RSA-4096 key about 3.3 KiB, so 64 KiB leaves room without inviting abuse.
inline constexpr std::size_t kMaxPemBytes = 64 * 1024;
// A certificate chain or a trust bundle (several roots during a rotation).
inline constexpr std::size_t kMaxPemBundleBytes = 512 * 1024;
inline constexpr std::size_t kMaxBundleCertificates = 64;

Result<PKeyPtr> readPrivateKeyPem(std::string_view pem);
Result<X509Ptr> readCertificatePem(std::string_view pem);
// One or more certificates, in the order they appear.
Result<std::vector<X509Ptr>> readCertificatesPem(std::string_view pem);
Result<X509ReqPtr> readCsrPem(std::string_view pem, std::size_t max_bytes = kMaxPemBytes);

Result<std::string> privateKeyToPem(EVP_PKEY* key);
Result<std::string> certificateToPem(X509* cert);
Result<std::string> certificatesToPem(std::span<const X509Ptr> certs);
Result<std::string> csrToPem(X509_REQ* csr);

}  // namespace remora::tls

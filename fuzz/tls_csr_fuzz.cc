// Everything the CA and the mTLS handshake parse from a peer: CSRs,
// certificates (and their SANs under the X509-SVID rules), private keys and
// SPIFFE IDs. Any byte string must give a value or an Error: never a crash,
// a leak or a sanitizer report.
//
// Input that is not PEM is also tried as DER, wrapped in CSR and
// CERTIFICATE PEM blocks, so the fuzzer reaches OpenSSL's ASN.1 decoders and
// our extension walking without having to discover base64 first.
//
// Oracles: a CSR that parses re-encodes to PEM and parses again to the same
// SANs; a SPIFFE ID that parses prints to a URI that parses to itself.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <openssl/evp.h>

#include "core/assert.h"
#include "tls/certificate.h"
#include "tls/csr.h"
#include "tls/pem.h"
#include "tls/spiffe.h"
#include "tls/verify.h"

namespace {

using namespace remora;       // NOLINT: a .cc file
using namespace remora::tls;  // NOLINT

std::string wrap(std::string_view der, const char* label) {
  std::string b64(4 * ((der.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()),
                          reinterpret_cast<const unsigned char*>(der.data()),
                          static_cast<int>(der.size()));
  b64.resize(static_cast<std::size_t>(n));
  std::string pem = std::string("-----BEGIN ") + label + "-----\n";
  for (std::size_t i = 0; i < b64.size(); i += 64) pem += b64.substr(i, 64) + "\n";
  pem += std::string("-----END ") + label + "-----\n";
  return pem;
}

void tryCsr(std::string_view pem) {
  auto csr = parseCsr(pem);
  if (!csr) return;
  auto again_pem = csrToPem(csr->request.get());
  REMORA_CHECK(again_pem.has_value(), "a parsed CSR does not re-encode");
  auto again = parseCsr(*again_pem);
  REMORA_CHECK(again.has_value(), "a re-encoded CSR does not parse: {}", again.error().message);
  REMORA_CHECK(again->uri_sans == csr->uri_sans && again->dns_sans == csr->dns_sans,
               "SANs changed in a round trip");
}

void tryCertificates(std::string_view pem) {
  auto certs = readCertificatesPem(pem);
  if (!certs) return;
  VerifyPolicy policy{.peer_role = PeerRole::Client, .trust_domains = {"cluster.local"}};
  for (const auto& cert : *certs) {
    (void)describeCertificate(cert.get());
    (void)checkSvidLeaf(cert.get(), policy, {});
  }
}

void trySpiffeId(std::string_view text) {
  auto id = SpiffeId::parse(text);
  if (!id) return;
  auto again = SpiffeId::parse(id->uri());
  REMORA_CHECK(again.has_value() && *again == *id, "SPIFFE ID round trip changed {}", id->uri());
  (void)id->workload();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  trySpiffeId(text);
  if (text.find("-----BEGIN ") != std::string_view::npos) {
    tryCsr(text);
    tryCertificates(text);
    (void)readPrivateKeyPem(text);
  } else if (size <= 16 * 1024) {
    tryCsr(wrap(text, "CERTIFICATE REQUEST"));
    tryCertificates(wrap(text, "CERTIFICATE"));
  }
  clearOpenSslErrors();
  return 0;
}

// Serving certificates for Remora's own HTTPS endpoints when no mesh CA is
// at hand: the webhook's `certs` subcommand makes a small CA of its own and
// a certificate for the Service's DNS names, and puts the CA in the
// MutatingWebhookConfiguration's caBundle.
//
// (With `remora control` running, CertificateAuthority::issueServing() signs
// the serving certificate with the mesh CA instead.)
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/time.h"

namespace remora::tls {

struct ServingBundle {
  std::string ca_pem;          // the caBundle (PEM; base64 it for the API object)
  std::string cert_chain_pem;  // tls.crt: the serving certificate
  std::string key_pem;         // tls.key: its P-256 key (keep it 0600)
  std::vector<std::string> dns_names;
  SystemTime not_after;
};

// A new self-signed CA (valid ca_ttl) and a serving certificate (valid ttl)
// for serviceDnsNames(service, ns) plus `extra_names` (e.g. "localhost").
Result<ServingBundle> createServingBundle(std::string_view service, std::string_view ns,
                                          const std::vector<std::string>& extra_names, Seconds ttl,
                                          Seconds ca_ttl, const Clock& clock);

}  // namespace remora::tls

#include "tls/serving.h"

#include "tls/certificate.h"
#include "tls/key.h"
#include "tls/pem.h"

namespace remora::tls {

Result<ServingBundle> createServingBundle(std::string_view service, std::string_view ns,
                                          const std::vector<std::string>& extra_names, Seconds ttl,
                                          Seconds ca_ttl, const Clock& clock) {
  REMORA_TRY(validateNamespaceName(ns));
  REMORA_TRY(validateNamespaceName(service));  // a Service name is a DNS label too
  SystemTime now = clock.now();
  if (ttl > ca_ttl) ttl = ca_ttl;
  REMORA_ASSIGN_OR_RETURN(KeyAndCertificate ca, createRootCa({.organization = "Remora",
                                                              .common_name = "Remora webhook CA",
                                                              .ttl = ca_ttl,
                                                              .now = now}));
  ServingBundle out;
  out.dns_names = serviceDnsNames(service, ns);
  out.dns_names.insert(out.dns_names.end(), extra_names.begin(), extra_names.end());
  REMORA_ASSIGN_OR_RETURN(PKeyPtr key, generateP256Key());
  REMORA_ASSIGN_OR_RETURN(X509Ptr cert,
                          issueServingCertificate({ca.certificate.get(), ca.key.get()}, key.get(),
                                                  out.dns_names, now, ttl));
  REMORA_ASSIGN_OR_RETURN(out.ca_pem, certificateToPem(ca.certificate.get()));
  REMORA_ASSIGN_OR_RETURN(out.cert_chain_pem, certificateToPem(cert.get()));
  REMORA_ASSIGN_OR_RETURN(out.key_pem, privateKeyToPem(key.get()));
  out.not_after = now + ttl;
  return out;
}

}  // namespace remora::tls

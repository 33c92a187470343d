#include "tls/serving.h"

#include <sys/stat.h>

#include "core/file.h"
#include "tls/certificate.h"
#include "tls/credential.h"
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

ServingFiles::Stamp ServingFiles::stampOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Stamp{};
  return Stamp{st.st_dev, st.st_ino, st.st_size,
               static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

bool ServingFiles::changed() const {
  return !(stampOf(cert_path_) == cert_stamp_) || !(stampOf(key_path_) == key_stamp_);
}

Result<ServingFiles::Loaded> ServingFiles::load() {
  // Stamps first: a file replaced while we read it then shows as changed at
  // the next poll, and is read again.
  Stamp cert_stamp = stampOf(cert_path_);
  Stamp key_stamp = stampOf(key_path_);
  auto cert_pem = readFile(cert_path_, kMaxPemBundleBytes);
  if (!cert_pem) return std::move(cert_pem).error().context(cert_path_);
  auto key_pem = readFile(key_path_, kMaxPemBytes);
  if (!key_pem) return std::move(key_pem).error().context(key_path_);
  auto credential = CertifiedKey::fromPem(*key_pem, *cert_pem);
  if (!credential) {
    return std::move(credential).error().context(cert_path_ + " and " + key_path_);
  }
  REMORA_ASSIGN_OR_RETURN(
      TlsContextPtr context,
      TlsContext::build({.mode = TlsMode::Server, .alpn = {"http/1.1"}}, &*credential, nullptr));
  Loaded loaded;
  loaded.context = std::move(context);
  loaded.serial_hex = serialHex(credential->certificate.get());
  loaded.not_after = certificateNotAfter(credential->certificate.get());
  cert_stamp_ = cert_stamp;
  key_stamp_ = key_stamp;
  return loaded;
}

}  // namespace remora::tls

// Serving certificates for Remora's own HTTPS endpoints when no mesh CA is
// at hand: the webhook's `certs` subcommand makes a small CA of its own and
// a certificate for the Service's DNS names, and puts the CA in the
// MutatingWebhookConfiguration's caBundle.
//
// (With `remora control` running, CertificateAuthority::issueServing() signs
// the serving certificate with the mesh CA instead.)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

#include "core/result.h"
#include "core/time.h"
#include "tls/context.h"

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

// A serving certificate and key read from files (a Secret's tls.crt and
// tls.key, cert-manager's, `remora webhook certs`'), and read again when
// they change.
//
//   ServingFiles files(cert, key);
//   REMORA_ASSIGN_OR_RETURN(auto loaded, files.load());   // at start: must work
//   ... every second: if (files.changed()) if (auto next = files.load()) swap(next)
//
// changed() compares each file's identity and content stamp (device, inode,
// size, mtime in ns; through symlinks, so a Secret volume's ..data swap
// counts) with those of the last successful load(). A failed load (say the
// key already replaced and the certificate not yet: they do not match)
// leaves the last good pair in use and the stamps as they were, so the next
// poll tries again until the pair is consistent.
//
// Threading: one owner thread.
class ServingFiles {
 public:
  ServingFiles(std::string cert_path, std::string key_path)
      : cert_path_(std::move(cert_path)), key_path_(std::move(key_path)) {}

  struct Loaded {
    TlsContextPtr context;  // one-way TLS server (TlsMode::Server), ALPN http/1.1
    std::string serial_hex;
    SystemTime not_after{};
  };

  // Reads both files (bounded), checks the key is the certificate's, builds
  // the context; on success remembers the files' stamps.
  Result<Loaded> load();
  // True when either file differs from the last successful load() (or is
  // gone: a load would then fail, and say why).
  bool changed() const;

  const std::string& certPath() const { return cert_path_; }
  const std::string& keyPath() const { return key_path_; }

 private:
  struct Stamp {
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = -1;
    std::int64_t mtime_ns = 0;
    bool operator==(const Stamp&) const = default;
  };
  static Stamp stampOf(const std::string& path);

  std::string cert_path_;
  std::string key_path_;
  Stamp cert_stamp_;
  Stamp key_stamp_;
};

}  // namespace remora::tls

// CertificateStore: the workload's current credential and trust bundle, and
// the mTLS contexts built from them, replaced all at once on rotation.
//
//   update(key+cert, roots) --build contexts--> Snapshot{generation N+1}
//                                  |  on error: nothing changes
//   worker: if (store.generation() != mine) snap = store.current();
//
// New handshakes take the current snapshot's contexts; a connection made
// from an older snapshot keeps its SSL (which holds its own SSL_CTX
// reference) until it closes, so rotation never cuts an open connection.
// Session tickets are encrypted with keys the store keeps for its lifetime,
// so sessions made before a rotation still resume after it.
//
// Threading: update() from any thread (typically the certificate
// provider's); current() and generation() from any thread. generation() is
// one atomic load, cheap enough for every accept; current() copies a
// shared_ptr under a mutex, so call it only when the generation moved.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/time.h"
#include "tls/certificate.h"
#include "tls/context.h"
#include "tls/credential.h"

namespace remora::tls {

class CertificateStore {
 public:
  struct Options {
    std::vector<std::string> trust_domains;  // peers' accepted trust domains
    std::vector<std::string> alpn = kIstioAlpn;
  };

  // One immutable generation of everything TLS needs.
  struct Snapshot {
    std::uint64_t generation = 0;
    TlsContextPtr server;  // MtlsServer
    TlsContextPtr client;  // MtlsClient
    std::shared_ptr<const CertifiedKey> credential;
    std::shared_ptr<const TrustBundle> trust;
    CertificateInfo leaf;  // serial, identity SAN, validity window
  };
  using SnapshotPtr = std::shared_ptr<const Snapshot>;

  explicit CertificateStore(Options options);

  // Builds contexts for `credential` and `trust`; on success publishes them
  // as the next generation. On error the current generation stays.
  Status update(CertifiedKey credential, TrustBundle trust);

  // nullptr until the first successful update().
  SnapshotPtr current() const;
  // 0 until the first successful update().
  std::uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }

  const Options& options() const { return options_; }

 private:
  const Options options_;
  TicketKeys ticket_keys_{};
  mutable std::mutex mutex_;  // guards current_
  SnapshotPtr current_;
  std::atomic<std::uint64_t> generation_{0};
};

}  // namespace remora::tls

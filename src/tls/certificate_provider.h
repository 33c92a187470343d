// CertificateProvider: the proxy's side of the CA (pilot-agent's job in
// Istio). It keeps the CertificateStore holding a valid workload
// certificate:
//
//   fetch:  new P-256 key (never leaves the process) -> CSR -> CA with the
//           pod's projected token (re-read every time: kubelet rotates it)
//           -> check the answer -> CertificateStore::update()
//   then:   sleep until half the certificate's lifetime (+/- jitter), fetch;
//           the lifetime counts from when the certificate arrived, as
//           Istio's secret cache counts it, not from its backdated
//           notBefore (a 1-minute TTL would otherwise be due at once)
//   error:  keep serving with what the store has; retry after an
//           exponential back-off with jitter (1 s doubling to 60 s); log a
//           warning that says how long the current certificate has left,
//           and an error once it has expired
//
//   idle --start--> fetching --ok--> waiting(refresh at half-life) --> fetching
//                      |  ^                                            ^
//                      |  +---- backing off (1 s, 2 s, ... 60 s) <-----+ (on error)
//                      +--error--^
//
// The answer is checked before it is installed: the leaf must be for our
// key, carry exactly one valid SPIFFE URI SAN (the expected identity, when
// one is configured), and chain to the root the CA sent, now.
//
// Threading: start() runs the loop above on a thread the provider owns;
// stop() (or the destructor) ends it promptly. step() is the loop's body,
// public so tests drive it with a ManualClock and no thread. The status
// accessors are atomics, safe from any thread (the admin and metrics
// endpoints read them).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/result.h"
#include "core/time.h"
#include "tls/certificate_store.h"

namespace remora::tls {

// What the provider sends to the CA, and what it gets back (ca_service.h's
// JSON API, carried by the implementation).
struct CertificateRequest {
  std::string csr_pem;
  std::string token;
  Seconds ttl{0};  // 0: the CA's default
};
struct CertificateResponse {
  std::vector<std::string> cert_chain_pem;  // leaf first
  std::string root_cert_pem;
};

// The transport to the CA. Blocking; called only from the provider's thread.
class CaClient {
 public:
  virtual ~CaClient() = default;
  // Errors: Unavailable (cannot reach the CA), Unauthenticated (token
  // refused), anything else the CA answered.
  virtual Result<CertificateResponse> requestCertificate(const CertificateRequest& request) = 0;
};

struct ProviderOptions {
  std::string token_path;         // the projected service-account token (audience istio-ca)
  std::string expected_identity;  // SPIFFE URI the certificate must carry; "" = any
  Seconds requested_ttl{0};
  double refresh_fraction = 0.5;  // of the lifetime, when to fetch the next one
  double jitter_fraction = 0.05;  // +/- of the lifetime
  std::chrono::milliseconds initial_backoff{1000};
  std::chrono::milliseconds max_backoff{60000};
};

// When to refresh a certificate valid from `not_before` to `not_after`:
// not_before + lifetime * (refresh_fraction + jitter), jitter uniform in
// [-jitter_fraction, +jitter_fraction] from `random01` in [0, 1).
SystemTime refreshTime(SystemTime not_before, SystemTime not_after, double random01,
                       const ProviderOptions& options);

// Exponential back-off with "equal jitter": the n-th delay is uniform in
// [d/2, d] where d = min(initial * 2^n, max).
class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max)
      : initial_(initial), max_(max) {}
  std::chrono::milliseconds next(double random01);
  void reset() { attempt_ = 0; }

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  int attempt_ = 0;
};

class CertificateProvider {
 public:
  // `client`, `store` and `clock` must outlive the provider. `random01`
  // draws uniform numbers in [0, 1) for jitter (tests fix it).
  CertificateProvider(ProviderOptions options, CaClient& client, CertificateStore& store,
                      const Clock& clock, std::function<double()> random01 = {});
  ~CertificateProvider();
  CertificateProvider(const CertificateProvider&) = delete;
  CertificateProvider& operator=(const CertificateProvider&) = delete;

  // One fetch, now, on the caller's thread (start-up: the proxy waits for
  // its first certificate before it accepts mTLS).
  Status fetchOnce();
  // Runs the rotation loop on the provider's thread.
  void start();
  void stop();

  // The loop's body: fetches if the refresh time has come, and returns how
  // long to wait before calling it again.
  std::chrono::milliseconds step();

  // For metrics and the admin endpoint.
  std::optional<SystemTime> expiry() const;
  std::uint64_t rotations() const { return rotations_.load(std::memory_order_relaxed); }
  std::uint64_t consecutiveFailures() const {
    return consecutive_failures_.load(std::memory_order_relaxed);
  }
  bool connected() const { return connected_.load(std::memory_order_relaxed); }
  // Every fetch attempt, and those that failed (Istio's
  // num_outgoing_requests / num_failed_outgoing_requests for "csr").
  std::uint64_t requests() const { return requests_.load(std::memory_order_relaxed); }
  std::uint64_t failures() const { return failures_.load(std::memory_order_relaxed); }
  std::string lastError() const;

 private:
  Result<CertificateStore::SnapshotPtr> fetch();
  Result<std::pair<CertifiedKey, TrustBundle>> checkResponse(PKeyPtr key,
                                                             const CertificateResponse& response);

  const ProviderOptions options_;
  CaClient& client_;
  CertificateStore& store_;
  const Clock& clock_;
  std::function<double()> random01_;
  Backoff backoff_;
  std::optional<SystemTime> next_refresh_;  // loop thread only

  std::atomic<std::int64_t> expiry_seconds_{0};  // 0: none
  std::atomic<std::uint64_t> rotations_{0};
  std::atomic<std::uint64_t> consecutive_failures_{0};
  std::atomic<std::uint64_t> requests_{0};
  std::atomic<std::uint64_t> failures_{0};
  std::atomic<bool> connected_{false};
  mutable std::mutex error_mutex_;  // guards last_error_
  std::string last_error_;

  std::mutex wake_mutex_;  // guards stopping_, with wake_
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace remora::tls

// WorkloadCertificates: the sidecar's certificate bootstrap, pilot-agent's
// job in Istio. From the injected container's environment (CA_ADDR,
// TRUST_DOMAIN, POD_NAMESPACE, SERVICE_ACCOUNT, SECRET_TTL) and its two
// mounted files (the projected token, the mesh root) it keeps a
// tls::CertificateStore holding the workload's certificate, which the data
// plane reads through proxy::ProxyOptions::certificates:
//
//   start() --> provider thread: fetch now --ok--> store generation 1 --> ready
//                                  |  ^            rotate at half-life (+/- jitter)
//                                  +--+ error: back off 1 s .. 60 s, retry
//
// The proxy starts whether or not the CA answers: until the first
// certificate arrives, notReadyReason() says "no workload certificate" and
// /healthz/ready answers 503 (Istio's readiness also waits for the proxy's
// secrets); afterwards a CA outage only shows in the metrics and the
// provider's warnings, which say how long the current certificate has left.
//
// The CA's address is Istio's CA_ADDR ("istiod.istio-system.svc:15012"),
// or a full https:// URL. The root that authenticates the CA is re-read at
// every attempt, so a root mounted late (or rotated) is picked up without a
// restart.
//
// Threading: create(), start() and stop() from the owner's thread; store(),
// notReadyReason(), prometheus() and certsJson() from any thread (the admin
// thread reads them while the provider's thread rotates).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "core/result.h"
#include "core/time.h"
#include "tls/certificate_provider.h"
#include "tls/certificate_store.h"

namespace remora::agent {

inline constexpr std::string_view kNoCertificate = "no workload certificate";

struct WorkloadCertOptions {
  std::string ca_addr;  // host:port or https://host:port; "" = no mTLS, nothing to do
  std::string root_cert_path = "/var/run/secrets/istio/root-cert.pem";
  std::string token_path = "/var/run/secrets/tokens/istio-token";
  std::string trust_domain = "cluster.local";
  std::string pod_namespace;            // $POD_NAMESPACE
  std::string service_account;          // $SERVICE_ACCOUNT
  Seconds ttl{std::chrono::hours(24)};  // $SECRET_TTL, what the proxy asks the CA for
  std::chrono::milliseconds ca_timeout{10'000};
  // Rotation and retry timing (tls::ProviderOptions'); tests shorten them.
  double refresh_fraction = 0.5;
  double jitter_fraction = 0.05;
  std::chrono::milliseconds initial_backoff{1000};
  std::chrono::milliseconds max_backoff{60'000};

  // spiffe://<trust_domain>/ns/<pod_namespace>/sa/<service_account>, or ""
  // when either is unknown (then any identity the CA grants is accepted).
  std::string identity() const;
};

// The CA's URL and the TLS name to verify, from CA_ADDR.
struct CaEndpoint {
  std::string url;          // https://host:port
  std::string server_name;  // host
};
Result<CaEndpoint> parseCaAddress(std::string_view ca_addr);

class WorkloadCertificates {
 public:
  // Errors: InvalidArgument for an unusable CA_ADDR or identity.
  static Result<std::unique_ptr<WorkloadCertificates>> create(WorkloadCertOptions options,
                                                              const Clock& clock = systemClock());
  ~WorkloadCertificates();
  WorkloadCertificates(const WorkloadCertificates&) = delete;
  WorkloadCertificates& operator=(const WorkloadCertificates&) = delete;

  // Starts the provider's thread, which fetches at once, then rotates.
  void start();
  // Ends the provider's thread; the store keeps the last certificate.
  void stop();
  // Blocks until a certificate is in the store or `timeout` passed.
  bool waitForCertificate(std::chrono::milliseconds timeout) const;

  const tls::CertificateStore& store() const { return store_; }
  const tls::CertificateProvider& provider() const { return *provider_; }
  const WorkloadCertOptions& options() const { return options_; }

  // "" once a certificate is installed, kNoCertificate before.
  std::string notReadyReason() const;
  // Prometheus exposition lines (Istio's agent names where Istio has one).
  std::string prometheus() const;
  // Envoy's /certs shape, plus the identity and the CA's state.
  std::string certsJson() const;

 private:
  WorkloadCertificates(WorkloadCertOptions options, CaEndpoint endpoint, const Clock& clock);

  WorkloadCertOptions options_;
  CaEndpoint endpoint_;
  const Clock& clock_;
  std::unique_ptr<tls::CaClient> client_;
  tls::CertificateStore store_;
  std::unique_ptr<tls::CertificateProvider> provider_;
};

}  // namespace remora::agent

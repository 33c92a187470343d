// CaServer: the CA's API (ca_service.h) served over HTTPS on 15012.
//
// The serving certificate is issued by the CA itself for `dns_names`
// (istiod's way: clients already trust the mesh root, from the
// istio-ca-root-cert ConfigMap), valid `serving_ttl`, and renewed on the
// loop at half its lifetime; connections already open keep the old one.
// Requests are read whole up to CaService::kMaxRequestBytes (413 beyond,
// before any handler runs); the HTTP server's header and body timeouts cut
// slow-drip clients.
//
// Routes: POST /v1/certificate, GET /v1/root (see ca_service.h).
//
// Threading: lives on one EventLoop; start() and stop() on its thread or
// before it runs. Handlers run on the loop, and an Authenticator call
// (TokenReview) blocks it for the duration: run the CA on a loop of its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <asio/steady_timer.hpp>

#include "control/ca.h"
#include "control/ca_service.h"
#include "core/event_loop.h"
#include "core/result.h"
#include "http/server.h"

namespace remora::control {

struct CaServerOptions {
  std::string address = "0.0.0.0";
  std::uint16_t port = 15012;  // 0: any free port (tests)
  // Names clients dial (and verify): the Service in the cluster, localhost.
  std::vector<std::string> dns_names = {"remora-control.istio-system.svc",
                                        "istiod.istio-system.svc", "localhost"};
  Seconds serving_ttl{std::chrono::hours(24 * 30)};
};

class CaServer {
 public:
  CaServer(EventLoop& loop, const CertificateAuthority& ca, const CaService& service,
           CaServerOptions options);
  ~CaServer();
  CaServer(const CaServer&) = delete;
  CaServer& operator=(const CaServer&) = delete;

  // Issues the serving certificate, binds and starts accepting.
  [[nodiscard]] Status start();
  std::uint16_t port() const;
  void stop();
  // The serving certificate's serial (changes at each renewal).
  const std::string& servingSerial() const { return serving_serial_; }

 private:
  Result<std::shared_ptr<asio::ssl::context>> servingContext();
  void scheduleRenewal(SystemTime not_after);

  EventLoop& loop_;
  const CertificateAuthority& ca_;
  const CaService& service_;
  CaServerOptions options_;
  std::unique_ptr<http::Server> server_;
  asio::steady_timer renew_timer_;
  std::string serving_serial_;
};

}  // namespace remora::control

// HttpsCaClient: the proxy's transport to `remora control`'s CA, a
// tls::CaClient over HTTPS (ca_service.h's JSON API).
//
// The CA's certificate is verified against the mesh root (the file the
// istio-ca-root-cert ConfigMap mounts) and `server_name`. Status mapping:
// 200 -> the chain; 401 -> Unauthenticated; 400/413 -> InvalidArgument
// with the CA's message; 5xx, connection and TLS failures -> Unavailable
// (the provider backs off and retries).
//
// Threading: one call at a time (tls::CertificateProvider's thread).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "core/result.h"
#include "http/client.h"
#include "tls/certificate_provider.h"

namespace remora::control {

struct CaClientOptions {
  std::string url = "https://remora-control.istio-system.svc:15012";  // the CA's base URL
  std::string root_cert_pem;  // trust for the CA's serving certificate
  std::string server_name;    // name to verify; default: the URL's host
  std::chrono::milliseconds timeout{10'000};
};

class HttpsCaClient final : public tls::CaClient {
 public:
  explicit HttpsCaClient(CaClientOptions options);
  ~HttpsCaClient() override;

  Result<tls::CertificateResponse> requestCertificate(
      const tls::CertificateRequest& request) override;
  // GET /v1/root: the CA's root certificate(s), PEM.
  Result<std::string> rootCertificate();

 private:
  CaClientOptions options_;
  std::unique_ptr<http::Client> client_;
};

// The CertificateResponse in a 200 body of POST /v1/certificate.
Result<tls::CertificateResponse> parseCertificateResponse(std::string_view body);

}  // namespace remora::control

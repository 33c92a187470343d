#include "control/ca_server.h"

#include <algorithm>

#include "core/log.h"
#include "tls/certificate.h"
#include "tls/context.h"

namespace remora::control {

CaServer::CaServer(EventLoop& loop, const CertificateAuthority& ca, const CaService& service,
                   CaServerOptions options)
    : loop_(loop),
      ca_(ca),
      service_(service),
      options_(std::move(options)),
      renew_timer_(loop.context()) {}

CaServer::~CaServer() { stop(); }

Result<std::shared_ptr<asio::ssl::context>> CaServer::servingContext() {
  REMORA_ASSIGN_OR_RETURN(tls::CertifiedKey cred,
                          ca_.issueServing(options_.dns_names, options_.serving_ttl));
  REMORA_ASSIGN_OR_RETURN(
      tls::TlsContextPtr ctx,
      tls::TlsContext::build({.mode = tls::TlsMode::Server, .alpn = {"http/1.1"}}, &cred, nullptr));
  serving_serial_ = tls::serialHex(cred.certificate.get());
  scheduleRenewal(tls::certificateNotAfter(cred.certificate.get()));
  return std::make_shared<asio::ssl::context>(ctx->asioContext());
}

void CaServer::scheduleRenewal(SystemTime not_after) {
  auto left = not_after - systemClock().now();
  auto delay = std::max<std::chrono::nanoseconds>(left / 2, std::chrono::seconds(1));
  renew_timer_.expires_after(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(delay));
  renew_timer_.async_wait([this](const asio::error_code& ec) {
    if (ec || !server_) return;
    auto ctx = servingContext();
    if (!ctx) {
      REMORA_LOG(control, err, "cannot renew the CA's serving certificate: {}",
                 ctx.error().message);
      scheduleRenewal(systemClock().now() + std::chrono::minutes(2));  // retry in a minute
      return;
    }
    server_->setTlsContext(std::move(*ctx));
    REMORA_LOG(control, info, "renewed the CA's serving certificate (serial {})", serving_serial_);
  });
}

Status CaServer::start() {
  REMORA_ASSIGN_OR_RETURN(auto tls_context, servingContext());
  http::ServerOptions http_options{.address = options_.address,
                                   .port = options_.port,
                                   .max_body_bytes = CaService::kMaxRequestBytes,
                                   .tls = std::move(tls_context),
                                   .name = "ca"};
  server_ = std::make_unique<http::Server>(loop_, std::move(http_options));
  server_->route("POST", "/v1/certificate", [this](const http::Request& request) {
    // Two Authorization fields are refused: which one would count?
    if (request.head.headers.count("authorization") > 1) {
      CaHttpResponse r =
          service_.refuse(Error{Errc::Unauthenticated, "more than one Authorization field"}, 401);
      return http::Response::json(r.status, std::move(r.body));
    }
    auto authorization = request.head.headers.get("authorization");
    CaHttpResponse r =
        service_.createCertificate(authorization.value_or(std::string_view{}), request.body);
    return http::Response::json(r.status, std::move(r.body));
  });
  server_->route("GET", "/v1/root", [this](const http::Request&) {
    CaHttpResponse r = service_.rootCertificate();
    return http::Response::json(r.status, std::move(r.body));
  });
  if (auto started = server_->start(); !started) {
    server_.reset();
    renew_timer_.cancel();
    return std::move(started).error();
  }
  REMORA_LOG(control, info, "CA serving on {}:{} (TLS, certificate for {})", options_.address,
             server_->port(), options_.dns_names.empty() ? "" : options_.dns_names.front());
  return ok();
}

std::uint16_t CaServer::port() const { return server_ ? server_->port() : 0; }

void CaServer::stop() {
  renew_timer_.cancel();
  if (server_) server_->stop();
}

}  // namespace remora::control

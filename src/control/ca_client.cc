#include "control/ca_client.h"

#include <fmt/format.h>

#include "core/json.h"

namespace remora::control {

namespace {

// The CA's {"error":{"message":...}}, or the start of whatever it sent.
std::string errorMessage(const http::ClientResponse& response) {
  auto doc = parseJson(response.body, {.max_bytes = 64 * 1024, .max_depth = 8});
  if (doc && doc->is_object()) {
    if (const Json* e = findField(*doc, "error"); e != nullptr && e->is_object()) {
      if (auto m = getString(*e, "message")) return *m;
    }
  }
  return fmt::format("HTTP {}", response.status);
}

}  // namespace

HttpsCaClient::HttpsCaClient(CaClientOptions options)
    : options_(std::move(options)),
      client_(std::make_unique<http::Client>(http::ClientOptions{
          .connect_timeout = options_.timeout,
          .read_timeout = options_.timeout,
          .max_response_bytes = 1024 * 1024,
          .tls = {.ca_pem = options_.root_cert_pem, .server_name = options_.server_name}})) {}

HttpsCaClient::~HttpsCaClient() = default;

Result<tls::CertificateResponse> parseCertificateResponse(std::string_view body) {
  auto doc = parseJson(body, {.max_bytes = 1024 * 1024, .max_depth = 8});
  if (!doc) return Error{Errc::BadGateway, "the CA's answer: " + doc.error().message};
  if (!doc->is_object()) return Error{Errc::BadGateway, "the CA's answer is not an object"};
  tls::CertificateResponse out;
  const Json* chain = findField(*doc, "certChain");
  if (chain == nullptr || !chain->is_array() || chain->empty() || chain->size() > 16) {
    return Error{Errc::BadGateway, "the CA's answer has no certChain"};
  }
  for (const auto& pem : *chain) {
    if (!pem.is_string()) return Error{Errc::BadGateway, "certChain holds a non-string"};
    out.cert_chain_pem.push_back(pem.get<std::string>());
  }
  auto root = getString(*doc, "rootCert");
  if (!root) return Error{Errc::BadGateway, "the CA's answer: " + root.error().message};
  out.root_cert_pem = std::move(*root);
  return out;
}

Result<tls::CertificateResponse> HttpsCaClient::requestCertificate(
    const tls::CertificateRequest& request) {
  Json body = {{"csr", request.csr_pem}};
  if (request.ttl.count() > 0) body["ttlSeconds"] = request.ttl.count();
  http::ClientRequest req{.method = "POST",
                          .url = options_.url + "/v1/certificate",
                          .body = dumpJson(body),
                          .bearer_token = request.token};
  req.headers.add("Content-Type", "application/json");
  auto response = client_->send(req);
  if (!response) {
    client_->closeIdle();
    return Error{Errc::Unavailable, fmt::format("cannot reach the CA at {}: {}", options_.url,
                                                response.error().message)};
  }
  switch (response->status) {
    case 200: return parseCertificateResponse(response->body);
    case 401:
      return Error{Errc::Unauthenticated, "the CA refused the token: " + errorMessage(*response)};
    case 400:
    case 413:
      return Error{Errc::InvalidArgument, "the CA refused the request: " + errorMessage(*response)};
    default:
      return Error{Errc::Unavailable, fmt::format("the CA answered {}: {}", response->status,
                                                  errorMessage(*response))};
  }
}

Result<std::string> HttpsCaClient::rootCertificate() {
  auto response = client_->send({.method = "GET", .url = options_.url + "/v1/root"});
  if (!response) return Error{Errc::Unavailable, response.error().message};
  if (response->status != 200) {
    return Error{Errc::Unavailable, fmt::format("the CA answered {}", response->status)};
  }
  auto doc = parseJson(response->body, {.max_bytes = 1024 * 1024, .max_depth = 4});
  if (!doc || !doc->is_object()) return Error{Errc::BadGateway, "the CA's answer is not JSON"};
  return getString(*doc, "rootCert");
}

}  // namespace remora::control

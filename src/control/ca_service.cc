#include "control/ca_service.h"

#include <fmt/format.h>

#include "core/json.h"
#include "tls/csr.h"

namespace remora::control {

namespace {

int statusFor(const Error& error) {
  switch (error.code) {
    case Errc::Unauthenticated: return 401;
    case Errc::PayloadTooLarge: return 413;
    case Errc::Unavailable: return 503;
    case Errc::Internal: return 500;
    default: return 400;  // the request was wrong: bad JSON, CSR, key, TTL
  }
}

std::string codeName(Errc code) {
  std::string name(errcName(code));
  for (char& c : name) {
    if (c == ' ' || c == '/') c = '_';
  }
  return name;
}

}  // namespace

CaHttpResponse CaService::refuse(const Error& error, int status) const {
  log_.refused(status, error.message, authenticator_.name());
  Json body = {{"error", {{"code", codeName(error.code)}, {"message", error.message}}}};
  return {status, dumpJson(body)};
}

CaHttpResponse CaService::createCertificate(std::string_view authorization,
                                            std::string_view body) const {
  auto token = bearerToken(authorization);
  if (!token) return refuse(token.error(), 401);
  auto caller = authenticator_.authenticate(*token);
  if (!caller) return refuse(caller.error(), statusFor(caller.error()));

  if (body.size() > kMaxRequestBytes) {
    return refuse(Error{Errc::PayloadTooLarge, fmt::format("request of {} bytes exceeds {}",
                                                           body.size(), kMaxRequestBytes)},
                  413);
  }
  auto doc = parseJson(body, {.max_bytes = kMaxRequestBytes, .max_depth = 8});
  if (!doc) return refuse(doc.error(), statusFor(doc.error()));
  if (!doc->is_object()) {
    return refuse(Error{Errc::BadRequest, "the request is not a JSON object"}, 400);
  }
  for (const auto& [key, value] : doc->items()) {
    if (key != "csr" && key != "ttlSeconds") {
      return refuse(Error{Errc::BadRequest, fmt::format("unknown field \"{}\"", key.substr(0, 64))},
                    400);
    }
  }
  auto csr_pem = getString(*doc, "csr");
  if (!csr_pem) return refuse(csr_pem.error(), 400);
  std::optional<Seconds> ttl;
  if (const Json* t = findField(*doc, "ttlSeconds")) {
    if (!t->is_number_integer()) {
      return refuse(Error{Errc::BadRequest, "ttlSeconds must be an integer"}, 400);
    }
    if (t->is_number_unsigned()) {
      // Anything above the maximum is clamped; keep the count in range first.
      auto v = t->get<std::uint64_t>();
      ttl = Seconds(static_cast<std::int64_t>(std::min<std::uint64_t>(v, INT64_MAX / 2)));
    } else {
      ttl = Seconds(t->get<std::int64_t>());
    }
  }

  auto csr = tls::parseCsr(*csr_pem);
  if (!csr) return refuse(csr.error().context("csr"), statusFor(csr.error()));
  auto issued = ca_.sign(*csr, *caller, ttl);
  if (!issued) return refuse(issued.error(), statusFor(issued.error()));

  std::vector<std::string> requested = csr->uri_sans;
  requested.insert(requested.end(), csr->dns_sans.begin(), csr->dns_sans.end());
  log_.issued(*issued, requested, authenticator_.name());

  Json chain = Json::array();
  for (const auto& pem : issued->chain_pem) chain.push_back(pem);
  Json out = {{"certChain", std::move(chain)},      {"rootCert", issued->root_pem},
              {"identity", issued->identity.uri()}, {"serial", issued->serial_hex},
              {"ttlSeconds", issued->ttl.count()},  {"notAfter", formatRfc3339(issued->not_after)}};
  return {200, dumpJson(out)};
}

CaHttpResponse CaService::rootCertificate() const {
  return {200, dumpJson(Json{{"rootCert", ca_.rootCertPem()}})};
}

}  // namespace remora::control

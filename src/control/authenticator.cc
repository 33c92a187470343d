#include "control/authenticator.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include "core/file.h"

namespace remora::control {

namespace {

Error unauthenticated(std::string message) {
  return Error{Errc::Unauthenticated, std::move(message)};
}

bool isTokenChar(char c) { return c > 0x20 && c < 0x7f; }

std::array<std::uint8_t, 32> sha256(std::string_view text) {
  std::array<std::uint8_t, 32> out{};
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

constexpr std::size_t kMinTokenBytes = 16;
constexpr std::size_t kMaxTokenFileBytes = 4 * 1024 * 1024;

}  // namespace

Result<std::string_view> bearerToken(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.empty()) return unauthenticated("no Authorization header");
  if (authorization.size() <= kScheme.size()) {
    return unauthenticated("the Authorization header is not \"Bearer <token>\"");
  }
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    char c = authorization[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kScheme[i]) {
      return unauthenticated("the Authorization header is not \"Bearer <token>\"");
    }
  }
  std::string_view token = authorization.substr(kScheme.size());
  if (token.size() > kMaxTokenBytes) {
    return unauthenticated(fmt::format("the bearer token is longer than {} bytes", kMaxTokenBytes));
  }
  for (char c : token) {
    if (!isTokenChar(c)) return unauthenticated("the bearer token has a space or control byte");
  }
  return token;
}

Result<std::unique_ptr<TokenFileAuthenticator>> TokenFileAuthenticator::fromFile(
    const std::string& path) {
  REMORA_ASSIGN_OR_RETURN(std::string text, readFile(path, kMaxTokenFileBytes));
  auto auth = fromText(text);
  if (!auth) return std::move(auth).error().context(path);
  return auth;
}

Result<std::unique_ptr<TokenFileAuthenticator>> TokenFileAuthenticator::fromText(
    std::string_view text) {
  auto auth = std::unique_ptr<TokenFileAuthenticator>(new TokenFileAuthenticator());
  std::size_t line_no = 0;
  while (!text.empty()) {
    std::size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::vector<std::string_view> fields;
    std::size_t pos = 0;
    while (pos < line.size()) {
      while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
      std::size_t end = pos;
      while (end < line.size() && line[end] != ' ' && line[end] != '\t') ++end;
      if (end > pos) fields.push_back(line.substr(pos, end - pos));
      pos = end;
    }
    if (fields.empty() || fields[0].front() == '#') continue;
    auto bad = [&](std::string_view why) {
      return Error{Errc::InvalidArgument, fmt::format("line {}: {}", line_no, why)};
    };
    if (fields.size() != 3) return bad("expected \"<token> <namespace> <service-account>\"");
    std::string_view token = fields[0];
    if (token.size() < kMinTokenBytes || token.size() > kMaxTokenBytes) {
      return bad(fmt::format("a token has {} to {} characters", kMinTokenBytes, kMaxTokenBytes));
    }
    for (char c : token) {
      if (!isTokenChar(c)) return bad("the token has a control or non-ASCII byte");
    }
    if (auto s = tls::validateNamespaceName(fields[1]); !s) return bad(s.error().message);
    if (auto s = tls::validateServiceAccountName(fields[2]); !s) return bad(s.error().message);
    auto [it, inserted] = auth->identities_.emplace(
        sha256(token), tls::WorkloadIdentity{std::string(fields[1]), std::string(fields[2])});
    if (!inserted) return bad("the token appears twice");
  }
  return auth;
}

Result<tls::WorkloadIdentity> TokenFileAuthenticator::authenticate(std::string_view token) const {
  if (token.empty() || token.size() > kMaxTokenBytes) return unauthenticated("invalid token");
  auto it = identities_.find(sha256(token));
  if (it == identities_.end()) return unauthenticated("unknown token");
  return it->second;
}

std::string TokenReviewAuthenticator::requestBody(std::string_view token,
                                                  std::string_view audience) {
  Json review = {{"apiVersion", "authentication.k8s.io/v1"},
                 {"kind", "TokenReview"},
                 {"spec", {{"token", std::string(token)}, {"audiences", {std::string(audience)}}}}};
  return dumpJson(review);
}

Result<tls::WorkloadIdentity> TokenReviewAuthenticator::parseResponse(std::string_view body,
                                                                      std::string_view audience) {
  auto doc = parseJson(body, {.max_bytes = 1 << 20, .max_depth = 32});
  if (!doc) return Error{Errc::Unavailable, "TokenReview response: " + doc.error().message};
  if (!doc->is_object()) return Error{Errc::Unavailable, "TokenReview response is not an object"};
  const Json* kind = findField(*doc, "kind");
  if (kind == nullptr || *kind != "TokenReview") {
    return Error{Errc::Unavailable, "the response is not a TokenReview"};
  }
  const Json* status = findField(*doc, "status");
  if (status == nullptr || !status->is_object()) {
    return unauthenticated("TokenReview has no status");
  }
  const Json* authenticated = findField(*status, "authenticated");
  if (authenticated == nullptr || !authenticated->is_boolean() || !authenticated->get<bool>()) {
    std::string why = "the token was not authenticated";
    if (const Json* err = findField(*status, "error"); err != nullptr && err->is_string()) {
      why += ": " + err->get<std::string>().substr(0, 256);
    }
    return unauthenticated(why);
  }
  // A bound token for another audience is authenticated but must not count
  // (Istio's audience check for third-party tokens).
  const Json* audiences = findField(*status, "audiences");
  bool audience_ok = false;
  if (audiences != nullptr && audiences->is_array()) {
    for (const auto& a : *audiences)
      audience_ok |= a.is_string() && a.get<std::string>() == audience;
  }
  if (!audience_ok) {
    return unauthenticated(fmt::format("the token is not for audience {}", audience));
  }
  const Json* user = findField(*status, "user");
  if (user == nullptr || !user->is_object()) return unauthenticated("TokenReview has no user");
  auto username = getString(*user, "username");
  if (!username) return unauthenticated("TokenReview user has no username");
  constexpr std::string_view kPrefix = "system:serviceaccount:";
  std::string_view name = *username;
  if (name.substr(0, kPrefix.size()) != kPrefix) {
    return unauthenticated(fmt::format("\"{}\" is not a service account", name.substr(0, 128)));
  }
  name.remove_prefix(kPrefix.size());
  std::size_t colon = name.find(':');
  if (colon == std::string_view::npos || name.find(':', colon + 1) != std::string_view::npos) {
    return unauthenticated("malformed service account username");
  }
  tls::WorkloadIdentity id{std::string(name.substr(0, colon)), std::string(name.substr(colon + 1))};
  if (!tls::validateNamespaceName(id.ns) || !tls::validateServiceAccountName(id.service_account)) {
    return unauthenticated("the service account username has invalid names");
  }
  return id;
}

Result<tls::WorkloadIdentity> TokenReviewAuthenticator::authenticate(std::string_view token) const {
  if (token.empty() || token.size() > kMaxTokenBytes) return unauthenticated("invalid token");
  auto response = transport_(requestBody(token, audience_));
  if (!response) {
    return Error{Errc::Unavailable, "TokenReview failed: " + response.error().message};
  }
  return parseResponse(*response, audience_);
}

}  // namespace remora::control

// Who is asking for a certificate: Authenticators turn the caller's bearer
// token into a workload identity (namespace and service account), or an
// Unauthenticated Error that says why.
//
//   TokenFileAuthenticator     local runs: a file of "<token> <ns> <sa>" lines
//   TokenReviewAuthenticator   Kubernetes: a TokenReview with audience
//                              istio-ca, as Istio's KubeJWTAuthenticator
//
// Threading: authenticate() may be called from several threads at once;
// both implementations are immutable after construction (the TokenReview
// transport must itself be thread-safe).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "core/json.h"
#include "core/result.h"
#include "tls/spiffe.h"

namespace remora::control {

// Bearer tokens longer than this are refused before any work: a projected
// service-account JWT is about 1 KiB.
inline constexpr std::size_t kMaxTokenBytes = 8 * 1024;

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // Errors: Unauthenticated (bad, expired, foreign or unknown token),
  // Unavailable (the authority cannot be asked right now).
  virtual Result<tls::WorkloadIdentity> authenticate(std::string_view token) const = 0;
  // "token-file", "kubernetes": for the issuance log.
  virtual std::string_view name() const = 0;
};

// The token of an "Authorization: Bearer <token>" header value, refusing
// anything but exactly that shape (Unauthenticated).
Result<std::string_view> bearerToken(std::string_view authorization);

// Tokens from a file, one per line: `<token> <namespace> <service-account>`;
// blank lines and lines starting with '#' are ignored. Tokens are 16 to
// kMaxTokenBytes printable characters. Only SHA-256 digests are kept, so a
// lookup compares digests, not secrets.
class TokenFileAuthenticator final : public Authenticator {
 public:
  static Result<std::unique_ptr<TokenFileAuthenticator>> fromFile(const std::string& path);
  static Result<std::unique_ptr<TokenFileAuthenticator>> fromText(std::string_view text);

  Result<tls::WorkloadIdentity> authenticate(std::string_view token) const override;
  std::string_view name() const override { return "token-file"; }
  std::size_t size() const { return identities_.size(); }

 private:
  using Digest = std::array<std::uint8_t, 32>;
  std::map<Digest, tls::WorkloadIdentity> identities_;
};

// Kubernetes TokenReview (authentication.k8s.io/v1). The HTTP call is the
// caller's: `Transport` POSTs the request body to
// /apis/authentication.k8s.io/v1/tokenreviews with the CA's own credentials
// and returns the response body (or an Unavailable Error).
class TokenReviewAuthenticator final : public Authenticator {
 public:
  using Transport = std::function<Result<std::string>(const std::string& request_body)>;
  static constexpr std::string_view kAudience = "istio-ca";

  explicit TokenReviewAuthenticator(Transport transport, std::string audience = "istio-ca")
      : transport_(std::move(transport)), audience_(std::move(audience)) {}

  Result<tls::WorkloadIdentity> authenticate(std::string_view token) const override;
  std::string_view name() const override { return "kubernetes"; }

  // The TokenReview to send for `token`.
  static std::string requestBody(std::string_view token, std::string_view audience);
  // The identity in a TokenReview response: status.authenticated, the
  // audience echoed back, and a username system:serviceaccount:<ns>:<sa>
  // with valid names. Anything else is Unauthenticated with the reason.
  static Result<tls::WorkloadIdentity> parseResponse(std::string_view body,
                                                     std::string_view audience);

 private:
  Transport transport_;
  std::string audience_;
};

}  // namespace remora::control

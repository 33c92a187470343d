// SPIFFE IDs: the workload identities of the mesh.
//
//   spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>
//
// Parsing is strict, following spiffe/spiffe standards/SPIFFE-ID.md: the
// scheme is exactly "spiffe"; the trust domain is 1-255 bytes of
// [a-z0-9._-] (no port, no user info, no upper case); the path is empty or
// a sequence of "/segment" where each segment is non-empty, made of
// [A-Za-z0-9._-] and not "." or ".."; no query, fragment, percent-encoding
// or trailing slash; no NUL anywhere; 2048 bytes at most in all. A value
// that fails any rule is an InvalidArgument Error naming the rule.
//
// SpiffeId is a plain value (copyable, immutable once made).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace remora::tls {

inline constexpr std::size_t kMaxSpiffeIdBytes = 2048;
inline constexpr std::size_t kMaxTrustDomainBytes = 255;
// Kubernetes' limits: a namespace is a DNS label, a service account a DNS
// subdomain (RFC 1123).
inline constexpr std::size_t kMaxNamespaceBytes = 63;
inline constexpr std::size_t kMaxServiceAccountBytes = 253;

// The Kubernetes half of a workload identity.
struct WorkloadIdentity {
  std::string ns;               // namespace
  std::string service_account;  // service account name
  bool operator==(const WorkloadIdentity&) const = default;
};

class SpiffeId {
 public:
  // Parses and validates a SPIFFE ID URI.
  static Result<SpiffeId> parse(std::string_view uri);
  // spiffe://<trust_domain>/ns/<ns>/sa/<sa>, validating the trust domain and
  // both names under Kubernetes' rules.
  static Result<SpiffeId> forWorkload(std::string_view trust_domain, std::string_view ns,
                                      std::string_view service_account);

  const std::string& trustDomain() const { return trust_domain_; }
  // "" or "/seg/seg...".
  const std::string& path() const { return path_; }
  // The full URI, "spiffe://td/path".
  std::string uri() const;
  // Istio's principal form used by AuthorizationPolicy: the URI without
  // "spiffe://", e.g. "cluster.local/ns/default/sa/sleep".
  std::string principal() const;
  // The namespace and service account when the path is exactly
  // /ns/<ns>/sa/<sa> with Kubernetes-valid names; nullopt otherwise.
  std::optional<WorkloadIdentity> workload() const;

  bool operator==(const SpiffeId&) const = default;

 private:
  SpiffeId(std::string trust_domain, std::string path)
      : trust_domain_(std::move(trust_domain)), path_(std::move(path)) {}

  std::string trust_domain_;
  std::string path_;
};

// The trust-domain rules on their own (for configuration: --trust-domain).
Status validateTrustDomain(std::string_view trust_domain);
// Kubernetes' name rules: DNS label for namespaces, DNS subdomain for
// service accounts.
Status validateNamespaceName(std::string_view ns);
Status validateServiceAccountName(std::string_view sa);

}  // namespace remora::tls

// WorkloadPolicy: what the security policies mean for ONE workload (this
// proxy's pod), precomputed once per config snapshot and then only read.
//
// Selection (build()), as Istio does it:
//   PeerAuthentication, narrowest wins: a policy in the workload's namespace
//   whose selector matches its labels, else the namespace-wide one (no
//   selector), else the mesh-wide one (root namespace, no selector), else
//   PERMISSIVE. A level whose mode is UNSET inherits the next wider level's.
//   The workload policy's portLevelMtls overrides per port (UNSET inherits
//   the workload's mode). Of two candidates at one level the first listed
//   wins. A selector policy in the root namespace applies only to workloads
//   of the root namespace.
//   AuthorizationPolicy: every policy in the root namespace, and every one in
//   the workload's namespace, whose selector (if any) matches the labels.
//   AUDIT policies are dropped (they never change a decision).
//
// Evaluation (authorize()), as Envoy's RBAC filters that Istio configures:
//   1. any DENY policy with a matching rule denies;
//   2. else, with no ALLOW policy, the request is allowed;
//   3. else it is allowed only when some ALLOW policy has a matching rule.
//   For a TCP connection (attributes.http == false) HTTP-only fields (hosts,
//   methods, paths, request.headers, requestPrincipals) follow Istio: an
//   ALLOW rule holding any of them never matches; in a DENY rule they are
//   dropped, which makes the rule broader (Istio's "more restrictive" DENY).
//   Principal and namespace matches need a peer identity: with plaintext
//   (principal "") `principals: ["*"]` does not match, `notPrincipals` does.
//   The path is normalised (path.h) and stripped of its query before
//   matching; an invalid path is denied (policy "(invalid path)").
//
// Cost: authorize() walks the precomputed rules and does not allocate,
// except to normalise a path that is not already normal when the caller did
// not say it was (RequestAttributes::path_normalized).
//
// Threading: immutable after build(); any thread may call the const methods.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <asio/ip/address.hpp>

#include "security/policy.h"

namespace remora::http {
class HeaderMap;
}

namespace remora::security {

// The mTLS mode a port of this workload enforces on inbound connections.
enum class MtlsMode : std::uint8_t { Permissive, Strict, Disable };
std::string_view mtlsModeName(MtlsMode mode) noexcept;

// Who this proxy's workload is, for selectors.
struct WorkloadSelectorInfo {
  std::string namespace_;
  Labels labels;
};

inline constexpr std::string_view kDefaultRootNamespace = "istio-system";

// What one connection or request looks like to authorisation. The views are
// only read during the authorize() call.
struct RequestAttributes {
  bool http = false;                   // false: a TCP connection (no HTTP fields)
  std::string_view principal;          // peer's, Istio form "td/ns/x/sa/y"; "" when plaintext
  std::string_view source_namespace;   // peer's namespace from its identity; "" when plaintext
  asio::ip::address source_ip;         // the peer's address (ipBlocks, source.ip)
  asio::ip::address remote_ip;         // the original client (remoteIpBlocks, remote.ip);
                                       // the unspecified address means "same as source_ip"
  std::uint16_t destination_port = 0;  // the workload port the connection is for
  std::string_view host;               // :authority / Host
  std::string_view method;
  std::string_view path;                     // request-target, may carry ?query
  bool path_normalized = false;              // true: path already went through normalizePath()
  const http::HeaderMap* headers = nullptr;  // null: no headers (TCP)
};

struct Decision {
  bool allowed = true;
  // "namespace.name" of the DENY policy that matched, "" when denied because
  // no ALLOW policy matched (or allowed). Valid while the WorkloadPolicy lives.
  std::string_view policy;
};

class WorkloadPolicy {
 public:
  // PERMISSIVE everywhere, no authorisation: a proxy without policies.
  WorkloadPolicy() = default;

  static WorkloadPolicy build(const Policies& policies, const WorkloadSelectorInfo& workload,
                              std::string_view root_namespace = kDefaultRootNamespace);

  MtlsMode mtlsMode(std::uint16_t port) const noexcept;
  // The workload-wide mode (ports without an override).
  MtlsMode defaultMtlsMode() const noexcept { return mode_; }
  // True when at least one ALLOW or DENY policy applies to this workload:
  // without any, authorize() always allows and the proxy may skip it.
  bool hasAuthorization() const noexcept { return !allow_.empty() || !deny_.empty(); }
  Decision authorize(const RequestAttributes& attributes) const;

  // For logs and `remora check`: "ns.name" of the policies that apply.
  std::vector<std::string> appliedPolicyNames() const;
  // "ns.name" of the PeerAuthentication that decided the mode, "" for the default.
  const std::string& peerAuthenticationName() const noexcept { return peer_name_; }

 private:
  struct Applied {
    std::string id;  // "namespace.name"
    std::vector<Rule> rules;
  };
  static bool anyRuleMatches(const Applied& policy, const RequestAttributes& a,
                             std::string_view path, bool deny);

  MtlsMode mode_ = MtlsMode::Permissive;
  std::vector<std::pair<std::uint16_t, MtlsMode>> port_modes_;  // sorted by port
  std::string peer_name_;
  std::vector<Applied> deny_;
  std::vector<Applied> allow_;
};

}  // namespace remora::security

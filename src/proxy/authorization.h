// The glue between a session's facts and security::WorkloadPolicy: what an
// inbound request or TCP connection looks like to AuthorizationPolicy, and
// how a denial reads in logs (Envoy's response code details).
//
// The hot path pays nothing when no policy applies (the session checks
// WorkloadPolicy::hasAuthorization() first); with policies, building the
// attributes is string_view slicing, no allocation.
//
// Threading: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "proxy/stream.h"
#include "security/workload_policy.h"

namespace remora::proxy {

// Istio's principal form ("cluster.local/ns/default/sa/sleep") and the
// namespace inside it, from a peer's verified SPIFFE URI; both "" for a
// plaintext peer. Views into `peer.principal`.
struct PeerPrincipal {
  std::string_view principal;
  std::string_view namespace_;
};
PeerPrincipal peerPrincipal(const PeerIdentity& peer) noexcept;

// The attributes of an inbound TCP connection (no HTTP fields).
security::RequestAttributes connectionAttributes(const PeerIdentity& peer,
                                                 const asio::ip::address& source_ip,
                                                 std::uint16_t destination_port) noexcept;

// "rbac_access_denied_matched_policy[<namespace.name>]" for a DENY policy
// that matched, "...[none]" when no ALLOW policy did: Envoy's words, so the
// access log reads as it does with Istio.
std::string deniedDetails(const security::Decision& decision);

}  // namespace remora::proxy

#include "proxy/authorization.h"

#include <fmt/format.h>

namespace remora::proxy {

PeerPrincipal peerPrincipal(const PeerIdentity& peer) noexcept {
  constexpr std::string_view kScheme = "spiffe://";
  std::string_view uri = peer.principal;
  if (!peer.mutual_tls || !uri.starts_with(kScheme)) return {};
  PeerPrincipal out;
  out.principal = uri.substr(kScheme.size());
  // <trust domain>/ns/<namespace>/sa/<service account>
  constexpr std::string_view kNs = "/ns/";
  if (auto at = out.principal.find(kNs); at != std::string_view::npos) {
    std::string_view rest = out.principal.substr(at + kNs.size());
    out.namespace_ = rest.substr(0, rest.find('/'));
  }
  return out;
}

security::RequestAttributes connectionAttributes(const PeerIdentity& peer,
                                                 const asio::ip::address& source_ip,
                                                 std::uint16_t destination_port) noexcept {
  PeerPrincipal p = peerPrincipal(peer);
  security::RequestAttributes a;
  a.principal = p.principal;
  a.source_namespace = p.namespace_;
  a.source_ip = source_ip;
  a.destination_port = destination_port;
  return a;
}

std::string deniedDetails(const security::Decision& decision) {
  return fmt::format("rbac_access_denied_matched_policy[{}]",
                     decision.policy.empty() ? std::string_view("none") : decision.policy);
}

}  // namespace remora::proxy

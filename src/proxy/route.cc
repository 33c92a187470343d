#include "proxy/route.h"

#include <fmt/format.h>

namespace remora::proxy {

std::string outboundClusterName(std::uint16_t port, std::string_view hostname) {
  return fmt::format("outbound|{}||{}", port, hostname);
}

std::string inboundClusterName(std::uint16_t port) { return fmt::format("inbound|{}||", port); }

Route resolveRoute(const mesh::Snapshot& snapshot, Direction direction,
                   const asio::ip::tcp::endpoint& original_dst) {
  Route r;
  r.direction = direction;
  r.original_dst = original_dst;
  asio::ip::address addr = original_dst.address();
  if (addr.is_v6() && addr.to_v6().is_v4_mapped()) {
    addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
    r.original_dst = asio::ip::tcp::endpoint(addr, original_dst.port());
  }
  if (direction == Direction::Inbound) {
    r.kind = Route::Kind::Inbound;
    r.cluster = inboundClusterName(original_dst.port());
    mesh::ServiceRoute sr = snapshot.inbound(original_dst.port());
    if (sr.service != nullptr) {
      r.service = sr.service;
      r.port = sr.port;
      r.protocol = sr.port->protocol;
      r.destination_service = sr.service->hostname;
    } else {
      r.destination_service = fmt::format("{}:{}", addr.to_string(), original_dst.port());
    }
    return r;
  }
  mesh::ServiceRoute sr = snapshot.outbound(addr, original_dst.port());
  if (sr.service != nullptr) {
    r.kind = Route::Kind::Service;
    r.service = sr.service;
    r.port = sr.port;
    r.protocol = sr.port->protocol;
    r.cluster = outboundClusterName(sr.port->port, sr.service->hostname);
    r.destination_service = sr.service->hostname;
    return r;
  }
  r.destination_service = fmt::format("{}:{}", addr.to_string(), original_dst.port());
  if (snapshot.mesh().outbound_policy == mesh::OutboundPolicy::RegistryOnly) {
    r.kind = Route::Kind::BlackHole;
    r.cluster = "BlackHoleCluster";
  } else {
    r.kind = Route::Kind::Passthrough;
    r.cluster = "PassthroughCluster";
  }
  return r;
}

}  // namespace remora::proxy

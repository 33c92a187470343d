// Where a captured connection goes: the decision the proxy takes once per
// connection (TCP) or per request (HTTP), from the snapshot and the
// original destination.
//
//   outbound, VIP or endpoint of a service   -> Service: the load balancer
//                                               picks an endpoint
//   outbound, unknown, ALLOW_ANY             -> Passthrough to the original
//                                               destination
//   outbound, unknown, REGISTRY_ONLY         -> BlackHole (502 NR / close)
//   inbound                                  -> Inbound: the app at the
//                                               original destination
//
// Cluster names are Envoy's as Istio names them ("outbound|9080||reviews.
// default.svc.cluster.local", "inbound|9080||", "PassthroughCluster",
// "BlackHoleCluster"), so access logs read the same.
//
// Threading: none; a Route points into the snapshot it was made from and is
// valid while the caller holds that snapshot.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <asio/ip/tcp.hpp>

#include "mesh/config.h"

namespace remora::proxy {

enum class Direction : std::uint8_t { Outbound, Inbound };

struct Route {
  enum class Kind : std::uint8_t { Service, Passthrough, BlackHole, Inbound };
  Kind kind = Kind::Passthrough;
  Direction direction = Direction::Outbound;
  asio::ip::tcp::endpoint original_dst;
  const mesh::Service* service = nullptr;  // Service, and Inbound when known
  const mesh::ServicePort* port = nullptr;
  // The protocol the registry declares (Auto when unknown: sniff).
  mesh::Protocol protocol = mesh::Protocol::Auto;
  std::string cluster;              // Envoy's cluster name
  std::string destination_service;  // hostname, or "<ip>:<port>" when unknown
};

Route resolveRoute(const mesh::Snapshot& snapshot, Direction direction,
                   const asio::ip::tcp::endpoint& original_dst);

// "outbound|9080||reviews.default.svc.cluster.local", "inbound|9080||".
std::string outboundClusterName(std::uint16_t port, std::string_view hostname);
std::string inboundClusterName(std::uint16_t port);

}  // namespace remora::proxy

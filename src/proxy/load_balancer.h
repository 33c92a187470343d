// Endpoint selection for one service port, per worker (no locks): round
// robin, or least-request as Envoy does it (power of two choices: pick two
// endpoints at random, take the one with fewer active requests).
//
// LbState lives in one worker and outlives snapshots: active-request counts
// are keyed by endpoint address and port, so a config reload does not reset
// them; round-robin cursors are keyed by the snapshot's Service and port
// and start over with each snapshot (forgetSnapshot()). An endpoint's count
// stays in the map at zero, so that its next request allocates no node;
// forgetSnapshot() prunes the zeros, which bounds the map by the endpoints
// one snapshot can route to plus those with requests still in flight.
//
// Threading: one worker's thread.
#pragma once

#include <cstdint>
#include <unordered_map>

#include <asio/ip/tcp.hpp>

#include "mesh/config.h"

namespace remora::proxy {

struct EndpointHash {
  std::size_t operator()(const asio::ip::tcp::endpoint& ep) const noexcept;
};

class LbState {
 public:
  explicit LbState(std::uint64_t seed = 0x9E3779B97F4A7C15ULL) : rng_(seed | 1) {}

  // The endpoint to use for `port` of `service`, skipping index `avoid`
  // (a retry after a failed connect) when there is another. Null when the
  // service has no endpoints.
  const mesh::Endpoint* pick(const mesh::Service& service, const mesh::ServicePort& port,
                             const mesh::Endpoint* avoid = nullptr);

  // A new snapshot replaced the old one: its Service pointers are stale.
  void forgetSnapshot();

  // Active requests on an endpoint (least-request's input).
  void requestStarted(const asio::ip::tcp::endpoint& ep) { ++active_[ep]; }
  void requestEnded(const asio::ip::tcp::endpoint& ep);
  std::uint32_t active(const asio::ip::tcp::endpoint& ep) const;
  // Endpoints with a count held (zeros included until the next snapshot).
  std::size_t trackedEndpoints() const { return active_.size(); }

 private:
  std::uint64_t next();  // xorshift64*

  std::uint64_t rng_;
  struct CursorKey {
    const mesh::Service* service;
    std::uint16_t port;
    bool operator==(const CursorKey&) const = default;
  };
  struct CursorHash {
    std::size_t operator()(const CursorKey& k) const noexcept {
      return std::hash<const void*>()(k.service) ^ k.port;
    }
  };
  std::unordered_map<CursorKey, std::size_t, CursorHash> cursor_;
  std::unordered_map<asio::ip::tcp::endpoint, std::uint32_t, EndpointHash> active_;
};

}  // namespace remora::proxy

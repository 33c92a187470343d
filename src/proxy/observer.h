// What the data plane reports, once per HTTP request (at its end) and per
// opaque TCP connection (at open and close): the seam between src/proxy and
// telemetry. The proxy's Observer turns these into telemetry's records
// (metrics, access log); component tests record them.
//
// Views and pointers are valid only during the call.
//
// Threading: every call comes from the worker thread that owns the
// connection, `worker` says which; an Observer keeps per-worker state
// without locks.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <asio/ip/tcp.hpp>

#include "core/time.h"
#include "mesh/config.h"
#include "proxy/route.h"
#include "proxy/stream.h"

namespace remora::proxy {

// Envoy's response flags that the proxy sets; the bit values are
// telemetry's (src/telemetry/records.h), which prints them.
namespace flags {
inline constexpr std::uint32_t kNoHealthyUpstream = 1u << 1;                 // UH
inline constexpr std::uint32_t kUpstreamRequestTimeout = 1u << 2;            // UT
inline constexpr std::uint32_t kUpstreamRemoteReset = 1u << 4;               // UR
inline constexpr std::uint32_t kUpstreamConnectionFailure = 1u << 5;         // UF
inline constexpr std::uint32_t kUpstreamConnectionTermination = 1u << 6;     // UC
inline constexpr std::uint32_t kNoRouteFound = 1u << 8;                      // NR
inline constexpr std::uint32_t kDownstreamConnectionTermination = 1u << 14;  // DC
inline constexpr std::uint32_t kUpstreamRetryLimitExceeded = 1u << 15;       // URX
inline constexpr std::uint32_t kStreamIdleTimeout = 1u << 16;                // SI
inline constexpr std::uint32_t kDownstreamProtocolError = 1u << 18;          // DPE
inline constexpr std::uint32_t kUpstreamProtocolError = 1u << 23;            // UPE
}  // namespace flags

struct RequestReport {
  std::size_t worker = 0;
  const mesh::SnapshotPtr* snapshot = nullptr;  // the request's snapshot, never null
  const Route* route = nullptr;                 // never null
  const mesh::Endpoint* endpoint = nullptr;     // the chosen endpoint, if a service's
  const mesh::WorkloadInfo* self = nullptr;     // this proxy's workload, never null
  std::string_view method;
  std::string_view path;
  std::string_view authority;
  std::string_view request_id;
  std::string_view user_agent;
  std::string_view x_forwarded_for;
  std::string_view protocol;  // "HTTP/1.1" / "HTTP/1.0"
  // Inbound: the caller's x-envoy-peer-metadata as received (undecoded,
  // telemetry/peer_metadata.h); empty when it sent none.
  std::string_view peer_metadata;
  std::string_view response_code_details;
  asio::ip::tcp::endpoint upstream_host;  // port 0: none
  asio::ip::tcp::endpoint upstream_local;
  asio::ip::tcp::endpoint downstream_remote;
  asio::ip::tcp::endpoint downstream_local;
  int response_code = 0;  // 0: none sent
  std::uint32_t response_flags = 0;
  std::uint64_t request_body_bytes = 0;
  std::uint64_t response_body_bytes = 0;
  // What mTLS proved on each side (never null; mutual_tls false when plain).
  const PeerIdentity* downstream_peer = nullptr;
  const PeerIdentity* upstream_peer = nullptr;
  SystemTime start_time{};
  std::chrono::nanoseconds duration{};
};

struct ConnectionReport {
  std::size_t worker = 0;
  const mesh::SnapshotPtr* snapshot = nullptr;  // never null
  const Route* route = nullptr;
  const mesh::Endpoint* endpoint = nullptr;
  const mesh::WorkloadInfo* self = nullptr;
  asio::ip::tcp::endpoint upstream_host;
  asio::ip::tcp::endpoint upstream_local;
  asio::ip::tcp::endpoint downstream_remote;
  asio::ip::tcp::endpoint downstream_local;
  std::uint32_t response_flags = 0;
  std::uint64_t bytes_sent = 0;                   // to the downstream
  std::uint64_t bytes_received = 0;               // from the downstream
  const PeerIdentity* downstream_peer = nullptr;  // never null
  const PeerIdentity* upstream_peer = nullptr;    // never null
  SystemTime start_time{};
  std::chrono::nanoseconds duration{};
};

class Observer {
 public:
  virtual ~Observer() = default;
  virtual void onRequest(const RequestReport& report) = 0;
  virtual void onTcpOpen(const ConnectionReport& report) = 0;
  virtual void onTcpClose(const ConnectionReport& report) = 0;
  // An mTLS handshake failed; `reason` is tls::peerFailureName() of why the
  // peer's certificate was refused, or "handshake" for anything else.
  virtual void onTlsFailure(std::size_t /*worker*/, Direction /*direction*/,
                            std::string_view /*reason*/) {}
  // An mTLS handshake completed; `resumed` when it resumed a session.
  virtual void onTlsHandshake(std::size_t /*worker*/, Direction /*direction*/, bool /*resumed*/) {}
  // An inbound connection was closed without an answer: "strict_mtls"
  // (PeerAuthentication STRICT refused it) or "rbac_denied" (an
  // AuthorizationPolicy denied a TCP connection).
  virtual void onInboundRefused(std::size_t /*worker*/, std::string_view /*reason*/) {}
  // Called every second on each worker (flush buffered log lines).
  virtual void onTick(std::size_t /*worker*/) {}
};

}  // namespace remora::proxy

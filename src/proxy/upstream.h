// Upstream HTTP/1.1 connections and the per-worker pool of idle ones.
//
// An UpstreamConn is a connected socket to one endpoint with its response
// parser and read buffer. While a request uses it, the HttpSession owns it
// and receives the parser's events (setSink()). When the exchange ended
// cleanly with keep-alive on both sides, the session gives it back to the
// pool, which keeps at most `max_idle` per endpoint.
//
// Idle connections carry no pending read; take() checks each one with a
// non-blocking MSG_PEEK first, so a connection the server closed (EOF) or
// that holds unsolicited bytes is discarded instead of used. sweep() drops
// the dead and the long idle.
//
// Threading: one worker's thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <unordered_map>
#include <vector>

#include <asio/ip/tcp.hpp>

#include "http/http1_parser.h"
#include "proxy/load_balancer.h"
#include "proxy/read_buffer.h"
#include "proxy/stream.h"

namespace remora::proxy {

// Opens `socket` for `target` and, for inbound traffic, binds it to
// 127.0.0.6 (IPv4) or ::6 (IPv6), Istio's inbound passthrough source: the
// rules of `remora init` send UID 1337's connections to the pod's own IP
// back to 15006 (that is how an app calling itself through a service is
// captured), except those from 127.0.0.6. Without it an inbound connection
// to the app would loop into the proxy. A failed bind (::6 absent) leaves
// the socket unbound.
void prepareUpstreamSocket(asio::ip::tcp::socket& socket, const asio::ip::tcp::endpoint& target,
                           bool inbound);

class UpstreamConn : private http::Http1ParserCallbacks {
 public:
  // `stream` is connected (and, for an mTLS endpoint, past its handshake,
  // `peer` being the server's verified identity).
  UpstreamConn(Stream stream, asio::ip::tcp::endpoint endpoint, PeerIdentity peer = {});
  ~UpstreamConn() override;
  UpstreamConn(const UpstreamConn&) = delete;
  UpstreamConn& operator=(const UpstreamConn&) = delete;

  Stream& stream() { return stream_; }
  asio::ip::tcp::socket& socket() { return stream_.socket(); }
  const asio::ip::tcp::endpoint& endpoint() const { return endpoint_; }
  // The connection's own address, read once when it was made.
  const asio::ip::tcp::endpoint& localEndpoint() const { return local_; }
  // Who answered the handshake: every request on this connection, also
  // after it came back from the pool, reports it.
  const PeerIdentity& peer() const { return peer_; }
  http::Http1Parser& parser() { return parser_; }
  // Where the parser's events go; null while idle in the pool.
  void setSink(http::Http1ParserCallbacks* sink) { sink_ = sink; }
  // The read buffer and the unparsed bytes in it.
  ReadBuffer& buffer() { return buffer_; }
  std::string_view& pending() { return pending_; }
  // Exchanges completed on this connection (for tests: reuse is visible).
  std::uint64_t& uses() { return uses_; }

  // True when the connection is between exchanges and, with `ask_socket`,
  // its peer has not closed and sent nothing unsolicited (a peek).
  bool usable(bool ask_socket = true);
  std::chrono::steady_clock::time_point idle_since{};

 private:
  http::CallbackResult onMessageBegin() override;
  http::CallbackResult onResponseHead(http::ResponseHead& head) override;
  http::CallbackResult onBody(std::string_view data) override;
  http::CallbackResult onTrailers(http::HeaderMap& trailers) override;
  http::CallbackResult onMessageComplete() override;

  Stream stream_;
  PeerIdentity peer_;
  asio::ip::tcp::endpoint endpoint_;
  asio::ip::tcp::endpoint local_;
  http::Http1Parser parser_;
  http::Http1ParserCallbacks* sink_ = nullptr;  // the session using it; null when idle
  ReadBuffer buffer_;
  std::string_view pending_;
  std::uint64_t uses_ = 0;
};

class UpstreamPool {
 public:
  // Idle for less than this, a pooled connection is reused without a peek
  // at its socket (see take()).
  static constexpr std::chrono::milliseconds kTrustedIdle{100};

  explicit UpstreamPool(std::size_t max_idle) : max_idle_(max_idle) {}

  // An idle, usable connection to `endpoint`, TLS or plain as `tls` says
  // (an endpoint that turned mTLS never gets an old plaintext one), or null.
  // With `tls`, only a connection whose server proved `principal` (when not
  // empty) is taken: secure naming holds for pooled connections too, also
  // after the registry changed whom the endpoint must be.
  std::unique_ptr<UpstreamConn> take(const asio::ip::tcp::endpoint& endpoint, bool tls,
                                     std::string_view principal = {});
  // Keeps `conn` for reuse (or closes it when the endpoint has enough).
  void give(std::unique_ptr<UpstreamConn> conn);
  // Drops dead connections and those idle longer than `max_idle_time`.
  void sweep(std::chrono::steady_clock::duration max_idle_time);
  void clear() { idle_.clear(); }
  // The worker's idle-memory check: pooled connections' read buffers (empty
  // while pooled) that stayed idle since the previous check let go of their
  // pages. Returns how many did now.
  std::size_t releaseIdleMemory();
  std::size_t idleCount() const;

 private:
  std::size_t max_idle_;
  std::unordered_map<asio::ip::tcp::endpoint, std::vector<std::unique_ptr<UpstreamConn>>,
                     EndpointHash>
      idle_;
};

}  // namespace remora::proxy

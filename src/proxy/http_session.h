// HttpSession: one downstream HTTP/1.1 connection and the requests on it,
// forwarded one at a time to upstream connections from the worker's pool.
//
// One request (a "stream") goes through these states; pipelined requests
// wait, unparsed, in the read buffer until the previous response is done:
//
//   head read ──route──> upstream (pool or connect, retries) ──> head written
//        │                      │ no endpoint / no route / connect failed
//        │                      └──> local reply (503 UH/UF, 502 NR)
//        v
//   body pieces: read one ──> write it upstream ──> read the next  (backpressure:
//   the parser is paused while a piece is in flight, so memory stays bounded)
//        │
//   response head ──> written downstream (1xx interim forwarded, 101 tunnels)
//   response body pieces: read one upstream ──> write it downstream ──> ...
//        v
//   stream end: report; upstream back to the pool if both sides allow;
//   next request, or close (Connection: close, drain, an error)
//
// Framing is re-done on each hop (hop-by-hop fields stripped as Envoy does,
// Content-Length kept, chunked bodies re-chunked, close-delimited responses
// chunked for HTTP/1.1 clients; for HTTP/1.0 clients, which know no chunked,
// such bodies go de-chunked and the close ends them), never forwarded
// blindly (R14). Bytes after
// an upgrade request are HTTP until the upstream answers 101 (R16).
//
// Deadlines (one timer per connection, see setDeadline()): the request head
// within mesh.requestHeadersTimeout (408 and close), the upstream connect
// within mesh.connectTimeout, the response within mesh.routeTimeout of the
// request's end (504 UT), the next request within mesh.idleTimeout. Beside
// them, while a stream is active (its first byte until it ends), no more
// than mesh.streamIdleTimeout without a byte moving on either connection
// (Envoy's stream_idle_timeout): 408 SI and close before the response
// began, a cut after; never between requests, nor once upgraded (101).
//
// Threading: its worker's thread.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <asio/buffer.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "http/http1_parser.h"
#include "proxy/observer.h"
#include "proxy/read_buffer.h"
#include "proxy/route.h"
#include "proxy/stream.h"
#include "proxy/upstream.h"
#include "proxy/worker.h"

namespace remora::proxy {

class HttpSession : public Session, private http::Http1ParserCallbacks {
 public:
  // `peer`: what the downstream's mTLS proved, if it was mTLS.
  HttpSession(Worker& worker, Stream downstream, std::string initial, Direction direction,
              asio::ip::tcp::endpoint original_dst, PeerIdentity peer = {});
  ~HttpSession() override;

  void start();
  void onDrain() override;
  void forceClose() override { abort(0); }
  std::size_t releaseIdleMemory() override;

 private:
  // The upstream parser's events, forwarded to the session.
  struct UpCallbacks : http::Http1ParserCallbacks {
    explicit UpCallbacks(HttpSession& s) : session(s) {}
    http::CallbackResult onResponseHead(http::ResponseHead& head) override {
      return session.upHead(head);
    }
    http::CallbackResult onBody(std::string_view data) override { return session.upBody(data); }
    http::CallbackResult onTrailers(http::HeaderMap& t) override { return session.upTrailers(t); }
    http::CallbackResult onMessageComplete() override { return session.upComplete(); }
    HttpSession& session;
  };

  // Downstream parser callbacks.
  http::CallbackResult onMessageBegin() override;
  http::CallbackResult onRequestHead(http::RequestHead& head) override;
  http::CallbackResult onBody(std::string_view data) override;
  http::CallbackResult onTrailers(http::HeaderMap& trailers) override;
  http::CallbackResult onMessageComplete() override;

  http::CallbackResult upHead(http::ResponseHead& head);
  http::CallbackResult upBody(std::string_view data);
  http::CallbackResult upTrailers(http::HeaderMap& trailers);
  http::CallbackResult upComplete();

  // Both reads complete through one handler type, so that asio's read
  // operation (and, for TLS, Stream's read steps) is one instantiation for
  // the session rather than one per lambda: a request runs both reads, and
  // each instantiation is code it would otherwise find cold.
  struct ReadDone {
    HttpSession* session;
    std::shared_ptr<bool> alive;
    UpstreamConn* up;  // null: the downstream read
    void operator()(const std::error_code& ec, std::size_t n) const;
  };
  void readDown();
  void downRead(const std::error_code& ec, std::size_t n);
  void pumpDown();
  void readUp();
  void upRead(UpstreamConn* up, const std::error_code& ec, std::size_t n);
  void pumpUp();
  // The connection's one timer serves every deadline in turn (idle between
  // requests, request head, upstream connect, route timeout): setDeadline()
  // only moves it earlier; a timer that fires before the current deadline
  // waits again, so most requests never touch it after the head.
  enum class Deadline : std::uint8_t { None, Idle, RequestHeaders, Connect, Route };
  void setDeadline(Deadline kind, std::chrono::milliseconds after);
  void clearDeadline() { deadline_kind_ = Deadline::None; }
  void waitUntil(std::chrono::steady_clock::time_point when);
  void waitTimer();
  void onDeadline();
  // The stream idle deadline runs beside the one above (a connect or route
  // deadline is set while a stream is active): its own time point, which
  // every I/O completion of the stream pushes back without touching the
  // timer; the timer waits for the earlier of the two, and a wake-up that
  // finds the stream busy since just waits again.
  void armStreamIdle(std::chrono::steady_clock::time_point now);
  void streamActivity() {
    if (stream_idle_armed_) {
      stream_idle_deadline_ = std::chrono::steady_clock::now() + stream_idle_timeout_;
    }
  }
  void onStreamIdle();
  void cancelConnect();
  void armRouteTimeout();
  void beginLocalStream();

  // Normalises the path (Istio's BASE, docs/security.md) and, inbound,
  // applies AuthorizationPolicy; false when it answered the request itself
  // (400 for a path that does not normalise, 403 for a denial).
  bool admitRequest();
  // Istio's metadata exchange (telemetry/peer_metadata.h): inbound, takes
  // the caller's headers out of the request (the app never sees them).
  void takePeerMetadata();
  // Outbound, removes the server's metadata headers from a response head;
  // inbound, adds ours (see takePeerMetadata()).
  void responsePeerMetadata(http::HeaderMap& headers, bool interim);
  void startUpstream();
  void connectUpstream();
  void upstreamConnected(std::shared_ptr<asio::ip::tcp::socket> socket);
  void upstreamConnectFailed(std::string_view why);
  void attachUpstream(std::unique_ptr<UpstreamConn> conn);
  void sendRequestHead();
  // The head is out (written at once, or its asynchronous write completed):
  // read the response, and go on with the request's body or end.
  void requestHeadWritten(bool inline_write);
  // writeDown: down_out_ (if any), then `body` (chunk-framed when asked),
  // then `then` once written. writeDownNow: the same, written at once when
  // the socket takes it all (true: `then` is not called, the caller goes
  // on); false when the rest was queued (`then` follows) or the write failed
  // (the session is aborted).
  void writeDown(std::size_t body_bytes, std::string_view body, bool chunk,
                 void (HttpSession::*then)());
  bool writeDownNow(std::size_t body_bytes, std::string_view body, bool chunk,
                    void (HttpSession::*then)());
  std::size_t fillDownBuffers(std::size_t body_bytes, std::string_view body, bool chunk);
  void startDownWrite(std::size_t first, std::size_t count, void (HttpSession::*then)());
  void afterDownWrite();
  void afterUpBodyWrite();
  void afterResponseEnd();
  // The failure paths are cold: the compiler lays the code that leads to
  // them away from the request's path, which then touches fewer lines.
  [[gnu::cold]] void upstreamFailed(std::uint32_t flags, std::string_view details,
                                    int status = 503);
  [[gnu::cold]] void onUpstreamEnd(const std::error_code& ec);
  void finishResponse();
  [[gnu::cold]] void localReply(int status, std::uint32_t flags, std::string_view details,
                                std::string_view body);
  void maybeFinishStream();
  void report();
  void upgrade();
  // Idle: FIN and close now. After a response that ends the connection:
  // FIN, then read and drop what the client still sends until it closes or
  // kDelayedClose passes (Envoy's delayed close), then close.
  void closeGracefully();
  void closeAfterResponse();
  void drainDown();
  void finishClose();
  [[gnu::cold]] void abort(std::uint32_t flags);
  void dropUpstream();

  // --- connection ---
  Stream down_;
  PeerIdentity downstream_peer_;
  Direction direction_;
  asio::ip::tcp::endpoint original_dst_;
  asio::ip::tcp::endpoint downstream_remote_;
  asio::ip::tcp::endpoint downstream_local_;
  http::Http1Parser parser_;
  UpCallbacks up_callbacks_{*this};
  ReadBuffer down_buf_;
  std::string_view din_;  // unparsed bytes in down_buf_ (or initial_)
  std::string initial_;   // bytes read while sniffing
  std::string down_out_;  // response heads, chunk framing, local replies
  std::string up_out_;    // request heads, chunk framing
  std::string chunk_tail_;
  std::array<asio::const_buffer, 3> up_bufs_;    // the body write in flight upstream
  std::array<asio::const_buffer, 4> down_bufs_;  // the write in flight downstream
  std::unique_ptr<UpstreamConn> up_;
  asio::steady_timer timer_;         // see setDeadline()
  asio::steady_timer linger_timer_;  // the delayed close
  Deadline deadline_kind_ = Deadline::None;
  std::chrono::steady_clock::time_point deadline_{};
  bool timer_waiting_ = false;
  std::chrono::milliseconds stream_idle_timeout_{0};  // the stream's mesh.streamIdleTimeout
  std::chrono::steady_clock::time_point stream_idle_deadline_{};
  bool stream_idle_armed_ = false;                     // a stream is active and the timeout is on
  std::shared_ptr<asio::ip::tcp::socket> connecting_;  // closed by the connect deadline
  bool reading_down_ = false;
  bool down_done_ = false;  // nothing more is read from the downstream
  bool closing_ = false;
  bool lingering_ = false;    // closing_, FIN sent, draining the client's bytes
  bool close_after_ = false;  // this connection closes after the current response

  // --- the current stream ---
  bool active_ = false;
  http::RequestHead req_;
  http::HeaderMap req_trailers_;
  http::HeaderMap resp_trailers_;
  bool req_has_trailers_ = false;
  bool resp_has_trailers_ = false;
  mesh::SnapshotPtr snapshot_;  // the stream finishes on the snapshot it started with
  Route route_;
  std::uint64_t route_generation_ = ~0ULL;
  const mesh::Endpoint* endpoint_ = nullptr;
  PeerIdentity upstream_peer_;           // of the upstream connection in use
  std::shared_ptr<Stream> handshaking_;  // an mTLS upstream mid-handshake
  asio::ip::tcp::endpoint upstream_host_;
  asio::ip::tcp::endpoint upstream_local_;
  std::string request_id_;
  std::string response_details_;
  std::string path_scratch_;  // normalizePath()'s output, reused across requests
  // Inbound: the caller's x-envoy-peer-metadata (capacity reused across
  // requests), reported to telemetry; peer_exchange_ when the caller sent
  // either metadata header, so that the response carries ours.
  std::string peer_metadata_;
  bool peer_exchange_ = false;
  int attempts_ = 0;
  bool lb_counted_ = false;
  bool head_sent_ = false;         // request head written upstream
  bool in_request_head_ = false;   // inside onRequestHead(): the parser is ours
  bool head_written_now_ = false;  // ... and the head went upstream at once
  bool request_done_ = false;      // request fully read from downstream
  bool request_sent_ = false;      // request fully written upstream
  bool discard_body_ = false;      // request body read and dropped (local reply)
  bool response_started_ = false;
  bool response_written_ = false;
  bool rechunk_ = false;
  bool head_buffered_ = false;  // the response head waits in down_out_ for its body
  bool up_keep_alive_ = false;
  bool upgraded_ = false;
  bool interim_ = false;
  bool reused_ = false;             // the upstream connection came from the pool
  bool request_complete_ = false;   // set in a downstream callback, acted on after it
  bool response_complete_ = false;  // set in an upstream callback, acted on after it
  http::Version client_version_ = http::Version::Http11;
  int status_ = 0;
  std::uint32_t flags_ = 0;
  std::uint64_t req_bytes_ = 0;
  std::uint64_t resp_bytes_ = 0;
  SystemTime start_time_{};
  std::chrono::steady_clock::time_point start_mono_{};
};

}  // namespace remora::proxy

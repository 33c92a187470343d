#include "proxy/http_session.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <random>
#include <span>

#include <asio/write.hpp>

#include "core/hex.h"
#include "core/log.h"
#include "http/http1_serializer.h"
#include "proxy/authorization.h"
#include "proxy/tcp_session.h"
#include "security/path.h"
#include "telemetry/peer_metadata.h"
#include "tls/context.h"

namespace remora::proxy {
namespace {

// How long a closing connection waits for the client's FIN (Envoy's
// delayed_close_timeout default).
constexpr auto kDelayedClose = std::chrono::seconds(1);

constexpr std::size_t kReadBuffer = 16 * 1024;
constexpr int kMaxConnectAttempts = 3;  // Istio's default: 2 retries on connect-failure

// xoshiro256** (Blackman and Vigna): 32 bytes of state, where
// std::mt19937_64 keeps 2.5 KiB and rewrites all of it every 312 draws.
class RequestIdRandom {
 public:
  RequestIdRandom() {
    std::random_device device;
    for (auto& word : state_) {
      word = (std::uint64_t{device()} << 32) | device();
    }
    if ((state_[0] | state_[1] | state_[2] | state_[3]) == 0) state_[0] = 1;  // never all zero
  }

  std::uint64_t next() {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::array<std::uint64_t, 4> state_{};
};

// A UUID v4 for x-request-id, from a per-thread generator (no lock).
void appendRequestId(std::string& out) {
  thread_local RequestIdRandom random;
  std::uint64_t hi = random.next();
  std::uint64_t lo = random.next();
  hi = (hi & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;  // variant 10
  char hex[32];
  writeHex32(hi >> 32, hex);
  writeHex32(hi, hex + 8);
  writeHex32(lo >> 32, hex + 16);
  writeHex32(lo, hex + 24);
  // 8-4-4-4-12
  char buf[36];
  std::memcpy(buf, hex, 8);
  buf[8] = '-';
  std::memcpy(buf + 9, hex + 8, 4);
  buf[13] = '-';
  std::memcpy(buf + 14, hex + 12, 4);
  buf[18] = '-';
  std::memcpy(buf + 19, hex + 16, 4);
  buf[23] = '-';
  std::memcpy(buf + 24, hex + 20, 12);
  out.append(buf, sizeof buf);
}
}  // namespace

HttpSession::HttpSession(Worker& worker, Stream downstream, std::string initial,
                         Direction direction, asio::ip::tcp::endpoint original_dst,
                         PeerIdentity peer)
    : Session(worker),
      down_(std::move(downstream)),
      downstream_peer_(std::move(peer)),
      direction_(direction),
      original_dst_(std::move(original_dst)),
      parser_(http::Http1Parser::Mode::Request, *this),
      down_buf_(kReadBuffer),
      initial_(std::move(initial)),
      timer_(worker.loop().context()),
      linger_timer_(worker.loop().context()) {
  std::error_code ec;
  downstream_remote_ = down_.socket().remote_endpoint(ec);
  // The address the client dialled, not the capture port it was redirected
  // to: what Envoy's original-destination listeners report.
  downstream_local_ = original_dst_;
  din_ = initial_;
}

HttpSession::~HttpSession() {
  if (lb_counted_) worker_.lb().requestEnded(upstream_host_);
  down_.close();
}

void HttpSession::start() {
  if (worker_.draining()) close_after_ = true;
  // A new connection owes us a request head within the header timeout
  // (nothing at all is slowloris too).
  setDeadline(Deadline::RequestHeaders, worker_.snapshot()->mesh().request_headers_timeout);
  pumpDown();
}

// ---------------------------------------------------------------- reading

std::size_t HttpSession::releaseIdleMemory() {
  // A pending read is into the whole buffer: din_ was consumed before it.
  if (!reading_down_ || !down_buf_.releaseIfIdle()) return 0;
  return 1 + (down_.releaseIdleTlsBuffers() ? 1 : 0);
}

void HttpSession::ReadDone::operator()(const std::error_code& ec, std::size_t n) const {
  if (!*alive) return;
  if (up == nullptr) {
    session->downRead(ec, n);
  } else {
    session->upRead(up, ec, n);
  }
}

void HttpSession::readDown() {
  if (reading_down_ || closing_ || down_done_) return;
  reading_down_ = true;
  down_.asyncReadSome(down_buf_.asBuffer(), ReadDone{this, alive_, nullptr});
}

void HttpSession::downRead(const std::error_code& ec, std::size_t n) {
  if (lingering_) {
    // The read was pending when we closed: it is the drain's now.
    reading_down_ = false;
    if (ec) {
      finishClose();
    } else {
      drainDown();
    }
    return;
  }
  if (closing_) return;
  reading_down_ = false;
  if (down_done_) return;  // a local reply ends this connection
  if (ec) {
    if (!active_ && parser_.isIdle()) {
      // The client closed between requests: the normal end of keep-alive.
      closeGracefully();
      return;
    }
    abort(flags::kDownstreamConnectionTermination);
    return;
  }
  streamActivity();
  din_ = std::string_view(down_buf_.data(), n);
  pumpDown();
}

void HttpSession::pumpDown() {
  while (!closing_ && !down_done_ && !parser_.isPaused()) {
    auto consumed = parser_.feed(din_);
    if (!consumed) {
      const Error& err = consumed.error();
      REMORA_CONN_LOG(proxy, debug, id_, "bad request: {}", err.message);
      if (closing_) return;
      if (response_started_ || up_ != nullptr) {
        abort(flags::kDownstreamProtocolError);
        return;
      }
      beginLocalStream();
      close_after_ = true;
      localReply(httpStatus(err.code), flags::kDownstreamProtocolError, "http1.codec_error",
                 http::reasonPhrase(httpStatus(err.code)));
      return;
    }
    din_.remove_prefix(*consumed);
    if (request_complete_) {
      // Work that may feed a parser again runs here, outside its callbacks.
      request_complete_ = false;
      maybeFinishStream();
      return;
    }
    if (closing_ || parser_.isPaused()) return;
    if (din_.empty()) {
      readDown();
      return;
    }
    if (*consumed == 0) return;  // cannot happen: feed() progresses or pauses
  }
}

void HttpSession::readUp() {
  UpstreamConn* up = up_.get();
  up->stream().asyncReadSome(up->buffer().asBuffer(), ReadDone{this, alive_, up});
}

void HttpSession::upRead(UpstreamConn* up, const std::error_code& ec, std::size_t n) {
  // operation_aborted: we closed it on purpose (and may have a new one).
  if (closing_ || ec == asio::error::operation_aborted || up_.get() != up) return;
  if (ec) {
    onUpstreamEnd(ec);
    return;
  }
  streamActivity();
  up->pending() = std::string_view(up->buffer().data(), n);
  pumpUp();
}

void HttpSession::onUpstreamEnd(const std::error_code& ec) {
  UpstreamConn* up = up_.get();
  if (!response_started_ && reused_ && req_.framing == http::BodyFraming::None &&
      up->parser().isIdle()) {
    // A pooled connection the server closed as we sent: nothing of the
    // request can have been processed twice (no response byte came back),
    // so it is sent again on a fresh connection.
    REMORA_CONN_LOG(proxy, debug, id_, "pooled connection closed under us: reconnecting");
    dropUpstream();
    reused_ = false;
    connectUpstream();
    return;
  }
  if (ec == asio::error::eof) {
    // The end of a close-delimited body completes the response.
    Status done = up->parser().finish();
    if (done && response_started_) {
      if (response_complete_) {
        response_complete_ = false;
        finishResponse();
      }
      return;
    }
  }
  upstreamFailed(flags::kUpstreamConnectionTermination,
                 response_started_
                     ? "upstream_reset_after_response_started{connection_termination}"
                     : "upstream_reset_before_response_started{connection_termination}");
}

void HttpSession::pumpUp() {
  UpstreamConn* up = up_.get();
  while (up != nullptr && !closing_ && !up->parser().isPaused()) {
    auto consumed = up->parser().feed(up->pending());
    if (!consumed) {
      REMORA_CONN_LOG(proxy, debug, id_, "bad response from {}:{}: {}",
                      upstream_host_.address().to_string(), upstream_host_.port(),
                      consumed.error().message);
      upstreamFailed(flags::kUpstreamProtocolError, "upstream_protocol_error", 502);
      return;
    }
    up->pending().remove_prefix(*consumed);
    if (upgraded_) {
      upgrade();
      return;
    }
    if (response_complete_) {
      response_complete_ = false;
      finishResponse();
      return;
    }
    if (closing_ || up_.get() != up || up->parser().isPaused()) return;
    if (up->pending().empty()) {
      if (head_buffered_) {
        // The read ended with the head: it goes now (a slow or streamed
        // body must not hold it), and reading resumes once it is out.
        head_buffered_ = false;
        if (!writeDownNow(0, {}, false, &HttpSession::afterDownWrite)) return;
      }
      readUp();
      return;
    }
  }
}

// ------------------------------------------------------------- deadlines

void HttpSession::setDeadline(Deadline kind, std::chrono::milliseconds after) {
  deadline_kind_ = kind;
  deadline_ = std::chrono::steady_clock::now() + after;
  waitUntil(deadline_);
}

// The timer only moves earlier: a wait that ends before the deadlines
// re-arms itself at the earliest of them (onDeadline).
void HttpSession::waitUntil(std::chrono::steady_clock::time_point when) {
  if (timer_waiting_ && timer_.expiry() <= when) return;
  timer_.expires_at(when);  // a pending wait ends with operation_aborted
  waitTimer();
}

void HttpSession::waitTimer() {
  timer_waiting_ = true;
  timer_.async_wait([this, alive = alive_](const std::error_code& ec) {
    // Aborted: re-armed (another wait is pending) or closing.
    if (!*alive || ec == asio::error::operation_aborted) return;
    timer_waiting_ = false;
    if (closing_) return;
    onDeadline();
  });
}

void HttpSession::onDeadline() {
  const auto now = std::chrono::steady_clock::now();
  const bool deadline_set = deadline_kind_ != Deadline::None;
  if (stream_idle_armed_ && now >= stream_idle_deadline_ &&
      (!deadline_set || stream_idle_deadline_ <= deadline_)) {
    onStreamIdle();
    return;
  }
  if (!deadline_set || now < deadline_) {
    // Early: the deadline moved or went, or the stream was busy meanwhile.
    if (deadline_set && stream_idle_armed_) {
      waitUntil(std::min(deadline_, stream_idle_deadline_));
    } else if (deadline_set) {
      waitUntil(deadline_);
    } else if (stream_idle_armed_) {
      waitUntil(stream_idle_deadline_);
    }
    return;
  }
  Deadline kind = deadline_kind_;
  deadline_kind_ = Deadline::None;
  switch (kind) {
    case Deadline::None: return;
    case Deadline::Idle:
      REMORA_CONN_LOG(proxy, debug, id_, "idle timeout");
      closeGracefully();
      return;
    case Deadline::RequestHeaders:
      REMORA_CONN_LOG(proxy, debug, id_, "request header timeout");
      if (!active_ && parser_.isIdle()) {
        // Not a byte of a request: nothing to answer.
        closeGracefully();
        return;
      }
      // Part of a head came: 408, then close; whatever else the client
      // sends is no longer read (it could complete the head meanwhile).
      down_done_ = true;
      beginLocalStream();
      close_after_ = true;
      localReply(408, 0, "request_header_timeout", "request timeout");
      return;
    case Deadline::Connect:
      // The connect handler sees operation_aborted: retry or 503 UF.
      if (handshaking_ != nullptr) {
        handshaking_->close();  // the TLS handshake's turn: same outcome
      } else if (connecting_ != nullptr) {
        std::error_code ignored;
        connecting_->close(ignored);
      }
      return;
    case Deadline::Route:
      REMORA_CONN_LOG(proxy, debug, id_, "upstream response timeout");
      if (!response_started_) {
        localReply(504, flags::kUpstreamRequestTimeout, "upstream_response_timeout",
                   "upstream request timeout");
        return;
      }
      // Part of the response is out: all the client can learn is a cut.
      flags_ |= flags::kUpstreamRequestTimeout;
      response_details_ = "upstream_response_timeout";
      abort(0);
      return;
  }
}

void HttpSession::armStreamIdle(std::chrono::steady_clock::time_point now) {
  stream_idle_timeout_ = worker_.snapshot()->mesh().stream_idle_timeout;
  stream_idle_armed_ = stream_idle_timeout_ != std::chrono::milliseconds::zero();
  if (!stream_idle_armed_) return;  // streamIdleTimeout: 0s
  stream_idle_deadline_ = now + stream_idle_timeout_;
  waitUntil(stream_idle_deadline_);
}

// Envoy's stream idle timeout: nothing moved either way for
// mesh.streamIdleTimeout (a body that stopped coming, an upstream gone
// silent, a client that stopped reading).
void HttpSession::onStreamIdle() {
  stream_idle_armed_ = false;
  REMORA_CONN_LOG(proxy, debug, id_, "stream idle timeout");
  if (response_started_ || interim_) {
    // Part of the response is out (or a 1xx on its way, and a reply cannot
    // queue behind it): all the client can learn is a cut.
    flags_ |= flags::kStreamIdleTimeout;
    response_details_ = "stream_idle_timeout";
    abort(0);
    return;
  }
  // A head not even complete is a request of its own (as for the header
  // timeout): the report names no previous request.
  if (deadline_kind_ == Deadline::RequestHeaders) beginLocalStream();
  // The request's end is unknown, or the upstream never answered: 408,
  // then close. Nothing more is read from the client, and the upstream
  // connection (or a connect in progress) is dropped, not pooled: a
  // response may still be coming on it.
  down_done_ = true;
  close_after_ = true;
  cancelConnect();
  localReply(408, flags::kStreamIdleTimeout, "stream_idle_timeout", "stream timeout");
}

// Abandons a connect (or mTLS handshake) in progress: its handler, no
// longer the current one, does nothing (no retry, no 503 after our reply).
void HttpSession::cancelConnect() {
  if (auto handshake = std::move(handshaking_)) handshake->close();
  if (auto socket = std::move(connecting_)) {
    std::error_code ignored;
    socket->close(ignored);
  }
}

void HttpSession::armRouteTimeout() {
  const auto timeout = snapshot_->mesh().route_timeout;
  if (timeout == std::chrono::milliseconds::zero()) {
    clearDeadline();  // no route timeout (the default, as in Istio)
    return;
  }
  setDeadline(Deadline::Route, timeout);
}

// A local reply for bytes that never became a proxied request (a codec
// error, a header timeout): the stream's bookkeeping starts here, and its
// report names no method or path (not those of the previous request).
void HttpSession::beginLocalStream() {
  req_.clear();
  request_id_.clear();
  peer_metadata_.clear();
  peer_exchange_ = false;
  if (!active_) {
    active_ = true;
    start_time_ = systemClock().now();
    start_mono_ = std::chrono::steady_clock::now();
  }
  if (snapshot_ == nullptr) snapshot_ = worker_.snapshot();
  if (route_generation_ != snapshot_->generation()) {
    route_ = resolveRoute(*snapshot_, direction_, original_dst_);
    route_generation_ = snapshot_->generation();
  }
}

// ------------------------------------------------------- downstream events

http::CallbackResult HttpSession::onMessageBegin() {
  // A connection's first head is timed from its open, later ones from
  // their first byte.
  if (deadline_kind_ != Deadline::RequestHeaders) {
    setDeadline(Deadline::RequestHeaders, worker_.snapshot()->mesh().request_headers_timeout);
  }
  active_ = true;
  start_time_ = systemClock().now();
  start_mono_ = std::chrono::steady_clock::now();
  armStreamIdle(start_mono_);
  return http::CallbackResult::Continue;
}

http::CallbackResult HttpSession::onRequestHead(http::RequestHead& head) {
  req_.swap(head);
  clearDeadline();
  client_version_ = req_.version;
  // The snapshot is taken once per request: a reload between two requests
  // of one connection applies to the second.
  snapshot_ = worker_.snapshot();
  if (route_generation_ != snapshot_->generation()) {
    route_ = resolveRoute(*snapshot_, direction_, original_dst_);
    route_generation_ = snapshot_->generation();
  }
  if (!req_.keep_alive || worker_.draining()) close_after_ = true;
  takePeerMetadata();
  in_request_head_ = true;
  if (admitRequest()) startUpstream();
  in_request_head_ = false;
  if (head_written_now_) {
    // A pooled upstream took the head at once: the body (or the request's
    // end) follows in this same feed.
    head_written_now_ = false;
    return http::CallbackResult::Continue;
  }
  return http::CallbackResult::Pause;
}

http::CallbackResult HttpSession::onBody(std::string_view data) {
  if (discard_body_ || up_ == nullptr || !head_sent_) return http::CallbackResult::Continue;
  req_bytes_ += data.size();
  // The buffer sequence lives in the session: asio reads it again after a
  // partial write, long after this function returned.
  auto& bufs = up_bufs_;
  std::size_t count = 0;
  if (req_.framing == http::BodyFraming::Chunked) {
    up_out_.clear();
    http::appendChunkHeader(data.size(), up_out_);
    bufs[count++] = asio::buffer(up_out_);
    bufs[count++] = asio::buffer(data);
    bufs[count++] = asio::buffer("\r\n", 2);
  } else {
    bufs[count++] = asio::buffer(data);
  }
  up_->stream().asyncWrite(std::span<const asio::const_buffer>(bufs.data(), count),
                           [this, alive = alive_](const std::error_code& ec, std::size_t) {
                             if (!*alive || closing_ || ec == asio::error::operation_aborted)
                               return;
                             if (ec) {
                               // The upstream went away; its read side reports it.
                               discard_body_ = true;
                             } else {
                               streamActivity();
                             }
                             afterUpBodyWrite();
                           });
  return http::CallbackResult::Pause;
}

void HttpSession::afterUpBodyWrite() {
  parser_.resume();
  pumpDown();
}

http::CallbackResult HttpSession::onTrailers(http::HeaderMap& trailers) {
  req_trailers_.swap(trailers);
  req_has_trailers_ = true;
  return http::CallbackResult::Continue;
}

http::CallbackResult HttpSession::onMessageComplete() {
  request_done_ = true;
  // Envoy's route timeout runs from the end of the request.
  if (up_ != nullptr && !discard_body_ && !response_written_) armRouteTimeout();
  if (discard_body_ || up_ == nullptr) {
    // A local reply answered, or the upstream failed while the body came.
    request_complete_ = true;
    return http::CallbackResult::Pause;
  }
  if (req_.framing != http::BodyFraming::Chunked) {
    request_sent_ = true;
    request_complete_ = true;
    return http::CallbackResult::Pause;
  }
  up_out_.clear();
  http::appendLastChunk(up_out_, req_has_trailers_ ? &req_trailers_ : nullptr);
  up_->stream().asyncWrite(asio::buffer(up_out_),
                           [this, alive = alive_](const std::error_code& ec, std::size_t) {
                             if (!*alive || closing_ || ec == asio::error::operation_aborted)
                               return;
                             if (!ec) {
                               request_sent_ = true;
                               streamActivity();
                             }
                             maybeFinishStream();
                           });
  return http::CallbackResult::Pause;
}

namespace {
// Both metadata exchange fields, in one pass over the fields.
std::size_t removePeerMetadata(http::HeaderMap& h) {
  using http::KnownField;
  if (!h.contains(KnownField::XEnvoyPeerMetadata) &&
      !h.contains(KnownField::XEnvoyPeerMetadataId)) {
    return 0;
  }
  return h.removeIf([](KnownField known, std::string_view) {
    return known == KnownField::XEnvoyPeerMetadata || known == KnownField::XEnvoyPeerMetadataId;
  });
}
}  // namespace

// Inbound, the caller's metadata headers go to telemetry and never to the
// app, nor to authorization: they are claims, used for labels only
// (docs/telemetry.md). Taken before admitRequest(), so that a denied
// request is still reported with its caller's workload. A value over the
// size limit is not copied (telemetry would refuse it), only removed.
void HttpSession::takePeerMetadata() {
  peer_metadata_.clear();
  peer_exchange_ = false;
  if (direction_ != Direction::Inbound) return;
  http::HeaderMap& h = req_.headers;
  if (auto value = h.get(http::KnownField::XEnvoyPeerMetadata)) {
    if (value->size() <= telemetry::kMaxPeerMetadataBase64) peer_metadata_.assign(*value);
  }
  peer_exchange_ = removePeerMetadata(h) > 0;
}

void HttpSession::responsePeerMetadata(http::HeaderMap& h, bool interim) {
  if (direction_ == Direction::Outbound) {
    // The server's sidecar's answer to ours: never for the app.
    removePeerMetadata(h);
    return;
  }
  // Inbound: ours, to a caller that takes part in the exchange (it sent
  // its own), on the final response only.
  const PeerMetadataHeaders& self = worker_.peerMetadata();
  if (interim || !peer_exchange_ || self.empty()) return;
  h.set(http::KnownField::XEnvoyPeerMetadataId, self.id);
  h.set(http::KnownField::XEnvoyPeerMetadata, self.value);
}

bool HttpSession::admitRequest() {
  // The path the policies match is the path the app receives: a request
  // for /%61dmin is forwarded as /admin, so no policy on /admin is bypassed.
  if (std::string_view path = req_.path(); !path.empty()) {
    auto normal = security::normalizePath(path, path_scratch_);
    if (!normal) {
      localReply(400, 0, "path_normalization_failed", "");
      return false;
    }
    if (normal->data() != path.data()) {
      req_.target.replace(req_.target.size() - path.size(), path.size(), *normal);
    }
  }
  if (direction_ != Direction::Inbound) return true;
  const security::WorkloadPolicy& policy = snapshot_->security();
  if (!policy.hasAuthorization()) return true;
  security::RequestAttributes a =
      connectionAttributes(downstream_peer_, downstream_remote_.address(), original_dst_.port());
  a.http = true;
  a.host = req_.host();
  a.method = req_.method_name;
  a.path = req_.path();
  a.path_normalized = true;
  a.headers = &req_.headers;
  security::Decision decision = policy.authorize(a);
  if (decision.allowed) return true;
  localReply(403, 0, deniedDetails(decision), "RBAC: access denied");
  return false;
}

// ------------------------------------------------------------- upstream

void HttpSession::startUpstream() {
  switch (route_.kind) {
    case Route::Kind::BlackHole:
      localReply(502, flags::kNoRouteFound, "route_not_found", "");
      return;
    case Route::Kind::Service:
      if (route_.service->endpoints.empty()) {
        localReply(503, flags::kNoHealthyUpstream, "no_healthy_upstream", "no healthy upstream");
        return;
      }
      endpoint_ = worker_.lb().pick(*route_.service, *route_.port, endpoint_);
      upstream_host_ =
          asio::ip::tcp::endpoint(endpoint_->address, endpoint_->portFor(*route_.port));
      break;
    case Route::Kind::Passthrough:
    case Route::Kind::Inbound: upstream_host_ = route_.original_dst; break;
  }
  ++attempts_;
  if (!lb_counted_) {
    worker_.lb().requestStarted(upstream_host_);
    lb_counted_ = true;
  }
  bool tls =
      endpoint_ != nullptr && endpoint_->mtlsOn(upstream_host_.port()) && worker_.mtlsEnabled();
  if (auto conn = worker_.pool().take(
          upstream_host_, tls,
          tls ? std::string_view(endpoint_->workload().principal) : std::string_view())) {
    attachUpstream(std::move(conn));
    return;
  }
  connectUpstream();
}

void HttpSession::connectUpstream() {
  auto socket = std::make_shared<asio::ip::tcp::socket>(worker_.loop().context());
  prepareUpstreamSocket(*socket, upstream_host_, route_.kind == Route::Kind::Inbound);
  connecting_ = socket;
  setDeadline(Deadline::Connect, snapshot_->mesh().connect_timeout);
  socket->async_connect(upstream_host_, [this, alive = alive_, socket](const std::error_code& ec) {
    // Not connecting_ any more: abandoned (cancelConnect()).
    if (!*alive || closing_ || connecting_ != socket) return;
    if (ec) {
      connecting_.reset();
      upstreamConnectFailed(ec.message());
      return;
    }
    std::error_code ignored;
    socket->set_option(asio::ip::tcp::no_delay(true), ignored);
    upstreamConnected(socket);
  });
}

// Auto mTLS: an endpoint whose pod runs a sidecar gets TLS with our
// workload certificate and must prove its own identity (secure naming);
// the connect deadline covers the handshake too.
void HttpSession::upstreamConnected(std::shared_ptr<asio::ip::tcp::socket> socket) {
  auto connected = [this] {
    connecting_.reset();
    // A reconnect after the request ended (a pooled connection closed under
    // us) keeps the route timeout running.
    if (request_done_) {
      armRouteTimeout();
    } else {
      clearDeadline();
    }
  };
  if (endpoint_ == nullptr || !endpoint_->mtlsOn(upstream_host_.port()) || !worker_.mtlsEnabled()) {
    connected();
    attachUpstream(std::make_unique<UpstreamConn>(Stream(std::move(*socket)), upstream_host_));
    return;
  }
  auto ssl = worker_.newMtlsClient(*endpoint_, upstream_host_, /*http=*/true);
  if (!ssl) {
    connecting_.reset();
    upstreamConnectFailed(ssl.error().message);
    return;
  }
  auto stream = std::make_shared<Stream>(std::move(*socket));
  stream->startTls(std::move(*ssl));
  handshaking_ = stream;
  stream->asyncHandshake([this, alive = alive_, stream, connected](const std::error_code& ec) {
    if (!*alive || closing_ || handshaking_ != stream) return;
    handshaking_.reset();
    if (ec) {
      connecting_.reset();
      std::string_view reason = worker_.tlsFailed(Direction::Outbound, stream->ssl());
      upstreamConnectFailed(fmt::format("TLS_error:{}:{}", ec.message(), reason));
      return;
    }
    connected();
    worker_.tlsHandshook(Direction::Outbound, stream->ssl());
    PeerIdentity peer;
    if (auto id = tls::peerIdentity(stream->ssl())) peer = {true, id->uri()};
    attachUpstream(
        std::make_unique<UpstreamConn>(std::move(*stream), upstream_host_, std::move(peer)));
  });
}

void HttpSession::upstreamConnectFailed(std::string_view why) {
  if (request_done_) {
    armRouteTimeout();
  } else {
    clearDeadline();
  }
  REMORA_CONN_LOG(proxy, debug, id_, "connect to {}:{} failed: {}",
                  upstream_host_.address().to_string(), upstream_host_.port(), why);
  if (lb_counted_) {
    worker_.lb().requestEnded(upstream_host_);
    lb_counted_ = false;
  }
  bool retryable = route_.kind == Route::Kind::Service && route_.service->endpoints.size() > 1;
  if (retryable && attempts_ < kMaxConnectAttempts) {
    startUpstream();
    return;
  }
  std::uint32_t f = flags::kUpstreamConnectionFailure;
  if (attempts_ > 1) f |= flags::kUpstreamRetryLimitExceeded;
  localReply(503, f, "upstream_reset_before_response_started{connection_failure}",
             "upstream connect error or disconnect/reset before headers. reset reason: "
             "connection failure");
}

void HttpSession::attachUpstream(std::unique_ptr<UpstreamConn> conn) {
  up_ = std::move(conn);
  reused_ = up_->uses() > 0;
  upstream_peer_ = up_->peer();  // assigned into the same capacity: no allocation per request
  up_->setSink(&up_callbacks_);
  // Paused at the end of its previous response, if it had one.
  up_->parser().resume();
  up_->parser().setRequestMethod(req_.method);
  // A 101 is accepted only when this request asked to upgrade (R16).
  up_->parser().setUpgradeRequested(req_.upgrade);
  upstream_local_ = up_->localEndpoint();  // no getsockname per request
  sendRequestHead();
}

void HttpSession::sendRequestHead() {
  http::HeaderMap& h = req_.headers;
  http::stripHopByHop(h, req_.upgrade);
  if (req_.framing == http::BodyFraming::Chunked)
    h.add(http::KnownField::TransferEncoding, "chunked");
  if (!h.contains(http::KnownField::Host)) {
    up_out_.clear();
    if (route_.service != nullptr && route_.port != nullptr) {
      up_out_ = route_.service->hostname;
      up_out_ += ':';
      http::appendDecimal(route_.port->port, up_out_);
    } else {
      up_out_ = route_.destination_service;
    }
    h.add(http::KnownField::Host, up_out_);
  }
  request_id_.clear();
  if (auto id = h.get(http::KnownField::XRequestId); id && !id->empty()) {
    request_id_.assign(*id);
  } else {
    appendRequestId(request_id_);
    h.set(http::KnownField::XRequestId, request_id_);  // replaces an empty one
  }
  if (!h.contains(http::KnownField::XForwardedProto))
    h.add(http::KnownField::XForwardedProto, "http");
  // Istio's metadata exchange, to the services of the registry only: a
  // passthrough destination is outside the mesh and learns nothing of us.
  if (direction_ == Direction::Outbound && route_.kind == Route::Kind::Service) {
    if (const PeerMetadataHeaders& self = worker_.peerMetadata(); !self.empty()) {
      h.set(http::KnownField::XEnvoyPeerMetadataId, self.id);
      h.set(http::KnownField::XEnvoyPeerMetadata, self.value);
    }
  }
  req_.version = http::Version::Http11;
  up_out_.clear();
  http::serializeRequestHead(req_, up_out_);
  // Most heads fit the socket's buffer: written at once, the request goes on
  // without a turn through the event loop. A partial write or an error goes
  // the asynchronous way, which finishes it or reports the error.
  std::error_code write_error;
  const asio::const_buffer head = asio::buffer(up_out_);
  std::size_t written = up_->stream().writeNow(std::span(&head, 1), write_error);
  if (!write_error && written == head.size()) {
    requestHeadWritten(/*inline_write=*/true);
    return;
  }
  if (write_error) written = 0;
  up_->stream().asyncWrite(asio::buffer(up_out_) + written,
                           [this, alive = alive_](const std::error_code& ec, std::size_t) {
                             if (!*alive || closing_ || ec == asio::error::operation_aborted)
                               return;
                             if (ec) {
                               onUpstreamEnd(ec);
                               return;
                             }
                             requestHeadWritten(/*inline_write=*/false);
                           });
}

void HttpSession::requestHeadWritten(bool inline_write) {
  streamActivity();
  bool resend = head_sent_;
  head_sent_ = true;
  readUp();
  // The body, or the end of a body-less request (unless this was a resend:
  // the request was read already).
  if (resend) return;
  if (inline_write && in_request_head_) {
    head_written_now_ = true;  // onRequestHead() lets its parser go on
    return;
  }
  parser_.resume();
  pumpDown();
}

// ------------------------------------------------------- upstream events

http::CallbackResult HttpSession::upHead(http::ResponseHead& head) {
  bool client11 = client_version_ == http::Version::Http11;
  down_out_.clear();
  if (head.isInterim()) {
    interim_ = true;
    if (!client11) return http::CallbackResult::Continue;  // HTTP/1.0 knows no 1xx
    http::stripHopByHop(head.headers);
    responsePeerMetadata(head.headers, /*interim=*/true);
    head.version = http::Version::Http11;
    http::serializeResponseHead(head, down_out_);
    writeDown(0, {}, false, &HttpSession::afterDownWrite);
    return http::CallbackResult::Pause;
  }
  interim_ = false;
  response_started_ = true;
  status_ = head.status;
  up_keep_alive_ = head.keep_alive;
  bool switching = head.status == 101 || (req_.method == http::Method::Connect &&
                                          head.status >= 200 && head.status < 300);
  http::stripHopByHop(head.headers, head.status == 101);
  responsePeerMetadata(head.headers, /*interim=*/false);
  rechunk_ = false;
  if (head.framing == http::BodyFraming::Chunked || head.framing == http::BodyFraming::UntilClose) {
    if (client11) {
      rechunk_ = true;
      head.headers.add(http::KnownField::TransferEncoding, "chunked");
    } else {
      close_after_ = true;  // an HTTP/1.0 client reads to the close
    }
  }
  if (worker_.draining()) close_after_ = true;
  if (!switching) {
    if (close_after_) {
      head.headers.add(http::KnownField::Connection, "close");
    } else if (!client11) {
      head.headers.add(http::KnownField::Connection, "keep-alive");
    }
  }
  head.version = http::Version::Http11;
  http::serializeResponseHead(head, down_out_);
  if (switching) {
    // Out on its own: the tunnel starts once it is written.
    writeDown(0, {}, false, &HttpSession::afterDownWrite);
    return http::CallbackResult::Pause;
  }
  // The head waits in down_out_ for the body's first piece, usually in the
  // same read, so a response leaves in one write; pumpUp() flushes it alone
  // when the read ends before the body starts.
  head_buffered_ = true;
  return http::CallbackResult::Continue;
}

http::CallbackResult HttpSession::upBody(std::string_view data) {
  resp_bytes_ += data.size();
  if (!head_buffered_) down_out_.clear();
  head_buffered_ = false;
  // Written at once, the parser goes on with the next piece; otherwise it
  // waits for the write (backpressure).
  return writeDownNow(data.size(), data, rechunk_, &HttpSession::afterDownWrite)
             ? http::CallbackResult::Continue
             : http::CallbackResult::Pause;
}

http::CallbackResult HttpSession::upTrailers(http::HeaderMap& trailers) {
  resp_trailers_.swap(trailers);
  resp_has_trailers_ = true;
  return http::CallbackResult::Continue;
}

http::CallbackResult HttpSession::upComplete() {
  if (interim_) {
    interim_ = false;
    return http::CallbackResult::Continue;  // the final response follows
  }
  if (up_->parser().isUpgraded()) {
    upgraded_ = true;
  } else {
    response_complete_ = true;
  }
  return http::CallbackResult::Pause;
}

void HttpSession::finishResponse() {
  clearDeadline();
  response_details_ = "via_upstream";
  ++up_->uses();
  if (!head_buffered_) down_out_.clear();  // else: a body-less response's head
  head_buffered_ = false;
  if (rechunk_) http::appendLastChunk(down_out_, resp_has_trailers_ ? &resp_trailers_ : nullptr);
  if (down_out_.empty() || writeDownNow(0, {}, false, &HttpSession::afterResponseEnd)) {
    afterResponseEnd();
  }
}

void HttpSession::afterResponseEnd() {
  response_written_ = true;
  maybeFinishStream();
}

// writeDown: down_out_ (if any), then `body` (chunk-framed when asked), then
// `then`. One downstream write at a time: the upstream parser stays paused
// until it completes.
void HttpSession::writeDown(std::size_t body_bytes, std::string_view body, bool chunk,
                            void (HttpSession::*then)()) {
  startDownWrite(0, fillDownBuffers(body_bytes, body, chunk), then);
}

bool HttpSession::writeDownNow(std::size_t body_bytes, std::string_view body, bool chunk,
                               void (HttpSession::*then)()) {
  std::size_t count = fillDownBuffers(body_bytes, body, chunk);
  std::error_code ec;
  std::size_t written =
      down_.writeNow(std::span<const asio::const_buffer>(down_bufs_.data(), count), ec);
  if (ec) {
    abort(flags::kDownstreamConnectionTermination);
    return false;
  }
  std::size_t first = 0;
  while (first < count && written >= down_bufs_[first].size()) {
    written -= down_bufs_[first].size();
    ++first;
  }
  if (first == count) return true;
  down_bufs_[first] += written;  // the socket's buffer is full: the rest waits
  startDownWrite(first, count, then);
  return false;
}

std::size_t HttpSession::fillDownBuffers(std::size_t body_bytes, std::string_view body,
                                         bool chunk) {
  auto& bufs = down_bufs_;  // kept alive across partial writes, see onBody()
  std::size_t count = 0;
  if (!down_out_.empty()) bufs[count++] = asio::buffer(down_out_);
  if (body_bytes > 0) {
    if (chunk) {
      chunk_tail_.clear();
      http::appendChunkHeader(body_bytes, chunk_tail_);
      bufs[count++] = asio::buffer(chunk_tail_);
    }
    bufs[count++] = asio::buffer(body);
    if (chunk) bufs[count++] = asio::buffer("\r\n", 2);
  }
  return count;
}

void HttpSession::startDownWrite(std::size_t first, std::size_t count,
                                 void (HttpSession::*then)()) {
  down_.asyncWrite(std::span<const asio::const_buffer>(down_bufs_.data() + first, count - first),
                   [this, alive = alive_, then](const std::error_code& ec, std::size_t) {
                     if (!*alive || closing_) return;
                     if (ec) {
                       abort(flags::kDownstreamConnectionTermination);
                       return;
                     }
                     streamActivity();
                     (this->*then)();
                   });
}

void HttpSession::afterDownWrite() {
  if (up_ == nullptr) return;
  up_->parser().resume();
  pumpUp();
}

void HttpSession::upstreamFailed(std::uint32_t f, std::string_view details, int status) {
  dropUpstream();
  if (response_started_) {
    // Part of the response is out: all the client can learn is a cut.
    flags_ |= f;
    abort(0);
    return;
  }
  localReply(status, f, details,
             status == 502 ? "upstream sent an invalid response"
                           : "upstream connect error or disconnect/reset before headers. reset "
                             "reason: connection termination");
}

void HttpSession::dropUpstream() {
  if (up_ == nullptr) return;
  up_->stream().close();
  up_.reset();
}

void HttpSession::localReply(int status, std::uint32_t f, std::string_view details,
                             std::string_view body) {
  clearDeadline();
  dropUpstream();
  flags_ |= f;
  status_ = status;
  response_details_.assign(details);
  response_started_ = true;
  // The connection can carry on only when the request's end is known to us:
  // a body-less request (or one fully read); otherwise it is closed.
  bool body_pending = !request_done_ && req_.framing != http::BodyFraming::None;
  if (body_pending || !req_.keep_alive || worker_.draining()) close_after_ = true;
  down_out_.clear();
  down_out_ += "HTTP/1.1 ";
  http::appendDecimal(static_cast<std::uint64_t>(status), down_out_);
  down_out_ += ' ';
  down_out_ += http::reasonPhrase(status);
  down_out_ += "\r\ncontent-length: ";
  http::appendDecimal(body.size(), down_out_);
  if (!body.empty()) down_out_ += "\r\ncontent-type: text/plain";
  if (close_after_) {
    down_out_ += "\r\nconnection: close";
  } else if (client_version_ == http::Version::Http10) {
    down_out_ += "\r\nconnection: keep-alive";  // HTTP/1.0 persists only when told (RFC 9112 §9.3)
  }
  down_out_ += "\r\n\r\n";
  down_out_ += body;
  resp_bytes_ += body.size();
  writeDown(0, {}, false, &HttpSession::afterResponseEnd);
  if (!close_after_ && !request_done_) {
    // A body-less request: let the parser reach its end (no bytes dropped),
    // after the callback we may be in has returned (no reentrancy).
    discard_body_ = true;
    worker_.loop().post([this, alive = alive_] {
      if (!*alive || closing_) return;
      parser_.resume();
      pumpDown();
    });
  }
}

// The stream is over when its response is written and its request is read
// (or the connection closes anyway).
void HttpSession::maybeFinishStream() {
  if (!response_written_ || closing_) return;
  if (!request_done_ && discard_body_ && !close_after_) return;  // its end is being read
  if (!request_done_) close_after_ = true;
  if (!close_after_ && up_ != nullptr && !request_sent_) return;  // last chunk in flight
  report();
  if (up_ != nullptr) {
    bool reusable = up_keep_alive_ && request_sent_ && up_->parser().isIdle() &&
                    up_->pending().empty() && !upgraded_;
    if (reusable) {
      worker_.pool().give(std::move(up_));
    } else {
      dropUpstream();
    }
  }
  if (close_after_) {
    closeAfterResponse();
    return;
  }
  // Ready for the next request on this connection; between requests only
  // the keep-alive idle timeout runs, not the stream's.
  active_ = false;
  stream_idle_armed_ = false;
  snapshot_.reset();
  endpoint_ = nullptr;
  attempts_ = 0;
  head_sent_ = request_done_ = request_sent_ = discard_body_ = reused_ = false;
  response_started_ = response_written_ = rechunk_ = up_keep_alive_ = head_buffered_ = false;
  req_has_trailers_ = resp_has_trailers_ = false;
  status_ = 0;
  flags_ = 0;
  req_bytes_ = resp_bytes_ = 0;
  setDeadline(Deadline::Idle, worker_.snapshot()->mesh().idle_timeout);
  parser_.resume();
  pumpDown();
}

void HttpSession::report() {
  if (lb_counted_) {
    worker_.lb().requestEnded(upstream_host_);
    lb_counted_ = false;
  }
  Observer* obs = worker_.observer();
  if (obs == nullptr || snapshot_ == nullptr) return;
  RequestReport r;
  r.worker = worker_.index();
  r.snapshot = &snapshot_;
  r.route = &route_;
  r.endpoint = endpoint_;
  r.self = &snapshot_->proxy().workload;
  r.method = req_.method_name;
  r.path = req_.path();
  r.authority = req_.host();
  r.request_id = request_id_;
  r.peer_metadata = peer_metadata_;
  if (auto ua = req_.headers.get(http::KnownField::UserAgent)) r.user_agent = *ua;
  if (auto xff = req_.headers.get(http::KnownField::XForwardedFor)) r.x_forwarded_for = *xff;
  r.protocol = client_version_ == http::Version::Http10 ? "HTTP/1.0" : "HTTP/1.1";
  r.response_code_details = response_details_;
  if (up_ != nullptr || head_sent_) {
    r.upstream_host = upstream_host_;
    r.upstream_local = upstream_local_;
  }
  r.downstream_remote = downstream_remote_;
  r.downstream_local = downstream_local_;
  r.response_code = status_;
  r.response_flags = flags_;
  r.request_body_bytes = req_bytes_;
  r.response_body_bytes = resp_bytes_;
  r.downstream_peer = &downstream_peer_;
  r.upstream_peer = &upstream_peer_;
  r.start_time = start_time_;
  r.duration = std::chrono::steady_clock::now() - start_mono_;
  obs->onRequest(r);
}

void HttpSession::upgrade() {
  // The 101 (or CONNECT's 2xx) is out; from here both sides are a tunnel.
  // Envoy keeps applying stream_idle_timeout to an upgraded stream; we do
  // not: the tunnel is a TcpSession, with no stream idle deadline (a quiet
  // WebSocket stays open, ended by either side).
  response_details_ = "via_upstream";
  report();
  std::string to_upstream(din_);
  std::string to_downstream(up_->pending());
  auto tunnel = std::make_unique<TcpSession>(worker_, std::move(down_), std::string(), snapshot_,
                                             route_, downstream_peer_);
  TcpSession& t = static_cast<TcpSession&>(worker_.adopt(std::move(tunnel)));
  t.startTunnel(std::move(up_->stream()), std::move(to_upstream), std::move(to_downstream),
                /*report=*/false);
  up_.reset();
  closing_ = true;
  timer_.cancel();
  worker_.closeSession(*this);
}

void HttpSession::onDrain() {
  close_after_ = true;
  // Idle between requests: close now. A session with bytes not yet parsed
  // (adopted from sniffing as the drain began) answers them first.
  if (!active_ && din_.empty()) closeGracefully();
}

// An idle connection (between requests, or before its first byte): FIN and
// close at once; nothing of ours is in flight.
void HttpSession::closeGracefully() {
  if (closing_) return;
  closing_ = true;
  timer_.cancel();
  dropUpstream();
  down_.shutdownSend();
  down_.close();
  worker_.closeSession(*this);
}

// Envoy's delayed close (delayed_close_timeout, 1 s), after a response that
// ends the connection. Closing a socket whose receive queue holds unread
// bytes sends a RST, and a RST can destroy the response still on its way to
// the client: the 400 for a bad request whose body follows, a 408, the
// Connection: close answer to a client that pipelined more. So we send our
// FIN and keep reading, dropping what comes, until the client closes too or
// the delay passes; then close.
void HttpSession::closeAfterResponse() {
  if (closing_) return;
  closing_ = true;
  lingering_ = true;
  timer_.cancel();
  dropUpstream();
  down_.shutdownSend();
  linger_timer_.expires_after(kDelayedClose);
  linger_timer_.async_wait([this, alive = alive_](const std::error_code& ec) {
    if (!*alive || ec) return;
    finishClose();
  });
  if (!reading_down_) drainDown();  // else the pending read's handler drains
}

void HttpSession::drainDown() {
  reading_down_ = true;
  down_.asyncReadSome(down_buf_.asBuffer(),
                      [this, alive = alive_](const std::error_code& ec, std::size_t) {
                        if (!*alive || !lingering_) return;
                        reading_down_ = false;
                        if (ec) {
                          finishClose();  // the client's FIN (or its reset): done
                          return;
                        }
                        drainDown();
                      });
}

void HttpSession::finishClose() {
  if (!lingering_) return;
  lingering_ = false;
  linger_timer_.cancel();
  down_.close();
  worker_.closeSession(*this);
}

void HttpSession::abort(std::uint32_t f) {
  if (lingering_) {
    finishClose();  // a worker stopping, or the drain deadline: no more waiting
    return;
  }
  if (closing_) return;
  flags_ |= f;
  if (active_ && !response_written_) report();
  closing_ = true;
  timer_.cancel();
  dropUpstream();
  down_.close();
  worker_.closeSession(*this);
}

}  // namespace remora::proxy

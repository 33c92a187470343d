#include "proxy/tcp_session.h"

#include <asio/connect.hpp>
#include <asio/write.hpp>

#include "core/log.h"
#include "proxy/authorization.h"
#include "proxy/upstream.h"
#include "tls/context.h"

namespace remora::proxy {
namespace {
constexpr std::size_t kPipeBuffer = 16 * 1024;
constexpr int kMaxConnectAttempts = 3;  // Istio's default: 2 retries on connect-failure
}  // namespace

TcpSession::TcpSession(Worker& worker, Stream downstream, std::string initial,
                       mesh::SnapshotPtr snapshot, Route route, PeerIdentity peer)
    : Session(worker),
      down_(std::move(downstream)),
      up_(asio::ip::tcp::socket(worker.loop().context())),
      downstream_peer_(std::move(peer)),
      snapshot_(std::move(snapshot)),
      route_(std::move(route)),
      connect_timer_(worker.loop().context()),
      down_to_up_{&down_, &up_, {}, std::move(initial)},
      up_to_down_{&up_, &down_, {}, {}},
      start_time_(systemClock().now()),
      start_mono_(std::chrono::steady_clock::now()) {
  std::error_code ec;
  downstream_remote_ = down_.socket().remote_endpoint(ec);
  // The address the client dialled, not the capture port (as Envoy reports it).
  downstream_local_ = route_.original_dst;
}

TcpSession::~TcpSession() {
  down_.close();
  up_.close();
}

void TcpSession::start() {
  if (route_.direction == Direction::Inbound && snapshot_->security().hasAuthorization()) {
    // AuthorizationPolicy on a TCP connection: decided once, at its start,
    // on the peer's identity, address and port (HTTP-only rules as Istio
    // reads them for TCP). A denial closes it, as Envoy's RBAC network
    // filter does.
    security::Decision decision = snapshot_->security().authorize(connectionAttributes(
        downstream_peer_, downstream_remote_.address(), route_.original_dst.port()));
    if (!decision.allowed) {
      REMORA_CONN_LOG(proxy, debug, id_, "{}: closing", deniedDetails(decision));
      worker_.inboundRefused("rbac_denied");
      finish(flags_);
      return;
    }
  }
  if (route_.kind == Route::Kind::BlackHole) {
    REMORA_CONN_LOG(proxy, debug, id_, "no route to {} (REGISTRY_ONLY): closing",
                    route_.destination_service);
    flags_ |= flags::kNoRouteFound;
    finish(flags_);
    return;
  }
  if (route_.kind == Route::Kind::Service && route_.service->endpoints.empty()) {
    finish(flags::kNoHealthyUpstream);
    return;
  }
  connectNext();
}

void TcpSession::connectNext() {
  ++attempts_;
  if (route_.kind == Route::Kind::Service) {
    endpoint_ = worker_.lb().pick(*route_.service, *route_.port, endpoint_);
    upstream_host_ = asio::ip::tcp::endpoint(endpoint_->address, endpoint_->portFor(*route_.port));
  } else {
    upstream_host_ = route_.original_dst;
  }
  up_.close();
  up_ = Stream(asio::ip::tcp::socket(worker_.loop().context()));
  upstream_peer_ = {};
  prepareUpstreamSocket(up_.socket(), upstream_host_, route_.kind == Route::Kind::Inbound);
  connect_timer_.expires_after(snapshot_->mesh().connect_timeout);
  connect_timer_.async_wait([this, alive = alive_, attempt = attempts_](const std::error_code& ec) {
    // A timer that expired as the connect succeeded must not cut it.
    if (!*alive || ec || connected_ || attempt != attempts_) return;
    up_.close();  // the connect (or handshake) handler sees operation_aborted
  });
  up_.socket().async_connect(upstream_host_, [this, alive = alive_](const std::error_code& ec) {
    if (!*alive || finished_) return;
    if (!ec) {
      onTcpConnected();
      return;
    }
    connect_timer_.cancel();
    connectFailed(ec.message());
  });
}

// Auto mTLS: an endpoint whose pod runs a sidecar gets TLS with our
// workload certificate and must prove its own identity (secure naming).
void TcpSession::onTcpConnected() {
  if (endpoint_ == nullptr || !endpoint_->mtlsOn(upstream_host_.port()) || !worker_.mtlsEnabled()) {
    connect_timer_.cancel();
    onConnected();
    return;
  }
  auto ssl = worker_.newMtlsClient(*endpoint_, upstream_host_, /*http=*/false);
  if (!ssl) {
    connect_timer_.cancel();
    connectFailed(ssl.error().message);
    return;
  }
  up_.startTls(std::move(*ssl));
  up_.asyncHandshake([this, alive = alive_](const std::error_code& ec) {
    if (!*alive || finished_) return;
    connect_timer_.cancel();
    if (ec) {
      std::string_view reason = worker_.tlsFailed(Direction::Outbound, up_.ssl());
      connectFailed(fmt::format("TLS_error:{}:{}", ec.message(), reason));
      return;
    }
    worker_.tlsHandshook(Direction::Outbound, up_.ssl());
    if (auto id = tls::peerIdentity(up_.ssl())) upstream_peer_ = {true, id->uri()};
    onConnected();
  });
}

void TcpSession::connectFailed(std::string_view why) {
  REMORA_CONN_LOG(proxy, debug, id_, "connect to {}:{} failed: {}",
                  upstream_host_.address().to_string(), upstream_host_.port(), why);
  bool retryable = route_.kind == Route::Kind::Service && route_.service->endpoints.size() > 1;
  if (retryable && attempts_ < kMaxConnectAttempts) {
    connectNext();
    return;
  }
  std::uint32_t f = flags::kUpstreamConnectionFailure;
  if (attempts_ > 1) f |= flags::kUpstreamRetryLimitExceeded;
  finish(f);
}

void TcpSession::onConnected() {
  connected_ = true;
  std::error_code ec;
  up_.socket().set_option(asio::ip::tcp::no_delay(true), ec);
  upstream_local_ = up_.socket().local_endpoint(ec);
  if (report_ && worker_.observer() != nullptr) {
    worker_.observer()->onTcpOpen(report());
    reported_open_ = true;
  }
  down_to_up_.buffer = ReadBuffer(kPipeBuffer);
  up_to_down_.buffer = ReadBuffer(kPipeBuffer);
  pump(down_to_up_);
  pump(up_to_down_);
}

void TcpSession::startTunnel(Stream upstream, std::string to_upstream, std::string to_downstream,
                             bool report) {
  up_ = std::move(upstream);
  down_to_up_.pending = std::move(to_upstream);
  up_to_down_.pending = std::move(to_downstream);
  report_ = report;
  onConnected();
}

void TcpSession::pump(Pipe& pipe) {
  if (finished_) return;
  if (!pipe.pending.empty()) {
    pipe.to->asyncWrite(asio::buffer(pipe.pending),
                        [this, &pipe, alive = alive_](const std::error_code& ec, std::size_t n) {
                          if (!*alive || finished_) return;
                          if (ec) {
                            finish(flags_);
                            return;
                          }
                          pipe.bytes += n;
                          pipe.pending.clear();
                          pump(pipe);
                        });
    return;
  }
  pipe.reading = true;
  pipe.from->asyncReadSome(pipe.buffer.asBuffer(),
                           [this, &pipe, alive = alive_](const std::error_code& ec, std::size_t n) {
                             if (!*alive || finished_) return;
                             pipe.reading = false;
                             if (ec == asio::error::eof) {
                               // Half-close: the other side may still talk.
                               pipe.to->shutdownSend();
                               pipe.done = true;
                               if (down_to_up_.done && up_to_down_.done) finish(flags_);
                               return;
                             }
                             if (ec) {
                               if (&pipe == &up_to_down_)
                                 flags_ |= flags::kUpstreamConnectionTermination;
                               finish(flags_);
                               return;
                             }
                             writeThenPump(pipe, n);
                           });
}

void TcpSession::writeThenPump(Pipe& pipe, std::size_t n) {
  pipe.to->asyncWrite(
      asio::buffer(pipe.buffer.data(), n),
      [this, &pipe, alive = alive_](const std::error_code& ec, std::size_t written) {
        if (!*alive || finished_) return;
        if (ec) {
          finish(flags_);
          return;
        }
        pipe.bytes += written;
        pump(pipe);
      });
}

std::size_t TcpSession::releaseIdleMemory() {
  std::size_t released = 0;
  for (auto [pipe, from] : {std::pair{&down_to_up_, &down_}, std::pair{&up_to_down_, &up_}}) {
    if ((pipe->reading || pipe->done) && pipe->buffer.releaseIfIdle()) {
      released += 1 + (from->releaseIdleTlsBuffers() ? 1 : 0);
    }
  }
  return released;
}

ConnectionReport TcpSession::report() const {
  ConnectionReport r;
  r.worker = worker_.index();
  r.snapshot = &snapshot_;
  r.route = &route_;
  r.endpoint = endpoint_;
  r.self = &snapshot_->proxy().workload;
  r.upstream_host = upstream_host_;
  r.upstream_local = upstream_local_;
  r.downstream_remote = downstream_remote_;
  r.downstream_local = downstream_local_;
  r.response_flags = flags_;
  r.bytes_sent = up_to_down_.bytes;
  r.bytes_received = down_to_up_.bytes;
  r.downstream_peer = &downstream_peer_;
  r.upstream_peer = &upstream_peer_;
  r.start_time = start_time_;
  r.duration = std::chrono::steady_clock::now() - start_mono_;
  return r;
}

void TcpSession::finish(std::uint32_t flags) {
  if (finished_) return;
  finished_ = true;
  flags_ |= flags;
  connect_timer_.cancel();
  down_.close();
  up_.close();
  if (report_ && worker_.observer() != nullptr) {
    // A connection that never reached its upstream still counts as opened
    // and closed, with its flags (Envoy's tcp_proxy does the same).
    if (!reported_open_) worker_.observer()->onTcpOpen(report());
    worker_.observer()->onTcpClose(report());
  }
  worker_.closeSession(*this);
}

}  // namespace remora::proxy

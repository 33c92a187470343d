#include "proxy/worker.h"

#include <asio/ip/v6_only.hpp>
#include <asio/socket_base.hpp>

#include "core/log.h"
#include "core/thread.h"
#include "http/header_map.h"
#include "proxy/http_session.h"
#include "proxy/original_dst.h"
#include "proxy/sniffer.h"
#include "proxy/tcp_session.h"
#include "proxy/upstream.h"
#include "security/workload_policy.h"
#include "telemetry/peer_metadata.h"
#include "tls/context.h"

namespace remora::proxy {
namespace {

constexpr std::size_t kSniffBuffer = 4096;
constexpr auto kTick = std::chrono::seconds(1);

using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

// Hands a connection to the session its protocol needs.
void handOff(Worker& worker, Stream stream, std::string initial, Route route, bool http,
             PeerIdentity peer) {
  if (http) {
    auto s = std::make_unique<HttpSession>(worker, std::move(stream), std::move(initial),
                                           route.direction, route.original_dst, std::move(peer));
    static_cast<HttpSession&>(worker.adopt(std::move(s))).start();
  } else {
    mesh::SnapshotPtr snap = worker.snapshot();
    auto s = std::make_unique<TcpSession>(worker, std::move(stream), std::move(initial),
                                          std::move(snap), std::move(route), std::move(peer));
    static_cast<TcpSession&>(worker.adopt(std::move(s))).start();
  }
}

// An inbound mTLS connection from a peer sidecar: the handshake (our
// workload certificate, the peer's verified), then the decrypted stream goes
// to HTTP when the peer said so in ALPN (istio-http/1.x), else to TCP.
class TlsAcceptSession : public Session {
 public:
  TlsAcceptSession(Worker& worker, Stream stream, Route route)
      : Session(worker),
        stream_(std::move(stream)),
        route_(std::move(route)),
        timer_(worker.loop().context()) {}

  void start() {
    timer_.expires_after(worker_.snapshot()->mesh().connect_timeout);
    timer_.async_wait([this, alive = alive_](const std::error_code& ec) {
      if (!*alive || ec || done_) return;
      REMORA_CONN_LOG(proxy, debug, id_, "mTLS handshake timed out");
      forceClose();
    });
    stream_.asyncHandshake([this, alive = alive_](const std::error_code& ec) {
      if (!*alive || done_) return;
      if (ec) {
        std::string_view reason = worker_.tlsFailed(Direction::Inbound, stream_.ssl());
        REMORA_CONN_LOG(proxy, debug, id_, "inbound mTLS handshake failed: {} ({})", ec.message(),
                        reason);
        forceClose();
        return;
      }
      auto identity = tls::peerIdentity(stream_.ssl());
      if (!identity) {
        REMORA_CONN_LOG(proxy, debug, id_, "inbound mTLS peer refused: {}",
                        identity.error().message);
        forceClose();
        return;
      }
      worker_.tlsHandshook(Direction::Inbound, stream_.ssl());
      std::string_view alpn = tls::negotiatedAlpn(stream_.ssl());
      bool http = alpn.starts_with("istio-http/1.") ||
                  (alpn.empty() && route_.protocol == mesh::Protocol::Http);
      done_ = true;
      timer_.cancel();
      handOff(worker_, std::move(stream_), std::string(), std::move(route_), http,
              PeerIdentity{true, identity->uri()});
      worker_.closeSession(*this);
    });
  }

  void forceClose() override {
    done_ = true;
    timer_.cancel();
    stream_.close();
    worker_.closeSession(*this);
  }

 private:
  Stream stream_;
  Route route_;
  asio::steady_timer timer_;
  bool done_ = false;
};

// The first bytes of a connection, read until the protocol is known or the
// detection timeout passes (server-first protocols send nothing). On the
// inbound side this is also where PeerAuthentication acts: a TLS ClientHello
// offering Istio's ALPN is terminated as mTLS (unless DISABLE), anything
// else passes in plaintext (PERMISSIVE) or is refused (STRICT).
class SniffSession : public Session {
 public:
  SniffSession(Worker& worker, asio::ip::tcp::socket socket, Route route)
      : Session(worker),
        stream_(std::move(socket)),
        route_(std::move(route)),
        timer_(worker.loop().context()) {
    buffer_.reserve(kSniffBuffer);
    if (route_.direction == Direction::Inbound) {
      // The mode when the connection arrives holds for its whole life: a
      // PERMISSIVE -> STRICT switch refuses new plaintext connections and
      // cuts none that are open (as Envoy's listener drain does not either).
      mode_ = worker.snapshot()->security().mtlsMode(route_.original_dst.port());
    }
  }

  void start() {
    timer_.expires_after(worker_.snapshot()->mesh().protocol_detection_timeout);
    timer_.async_wait([this, alive = alive_](const std::error_code& ec) {
      if (!*alive || ec || done_) return;
      dispatch(Detected::Opaque);
    });
    read();
  }

  void forceClose() override {
    done_ = true;
    timer_.cancel();
    worker_.closeSession(*this);
  }

  // A drain finds the connection before its first byte: it is as idle as a
  // keep-alive between requests and closes now (FIN), rather than turning
  // into an opaque tunnel when detection times out and holding the drain
  // until its deadline. With bytes already here, detection carries on and
  // the session they go to answers them (HTTP: with Connection: close).
  void onDrain() override {
    if (!buffer_.empty() || done_) return;
    stream_.shutdownSend();
    stream_.close();
    forceClose();
  }

 private:
  // Whether a TLS ClientHello here may be an mTLS connection to terminate.
  bool terminatesMtls() const {
    return route_.direction == Direction::Inbound && worker_.mtlsEnabled() &&
           mode_ != security::MtlsMode::Disable;
  }

  void read() {
    std::size_t have = buffer_.size();
    chunk_.resize(kSniffBuffer - have);
    stream_.asyncReadSome(asio::buffer(chunk_),
                          [this, alive = alive_, have](const std::error_code& ec, std::size_t n) {
                            if (!*alive || done_) return;
                            if (ec) {
                              // Closed before saying anything we could read: nothing to proxy
                              // for HTTP; for TCP, the upstream still learns of the connection.
                              if (have == 0) {
                                forceClose();
                                return;
                              }
                              dispatch(Detected::Opaque);
                              return;
                            }
                            buffer_.append(chunk_.data(), n);
                            Detected d = detect(buffer_);
                            if (d == Detected::Tls && terminatesMtls()) {
                              ClientHello hello;
                              HelloParse p = parseClientHello(buffer_, hello);
                              if (p == HelloParse::NeedMore && buffer_.size() < kSniffBuffer) {
                                read();
                                return;
                              }
                              istio_hello_ = p == HelloParse::Ok && hello.offersIstio();
                            }
                            if (d == Detected::NeedMore && buffer_.size() < kSniffBuffer) {
                              read();
                              return;
                            }
                            dispatch(d == Detected::NeedMore ? Detected::Opaque : d);
                          });
  }

  void dispatch(Detected d) {
    done_ = true;
    timer_.cancel();
    std::error_code ec;
    stream_.socket().cancel(ec);
    if (istio_hello_ && d == Detected::Tls) {
      terminate();
    } else if (route_.direction == Direction::Inbound && mode_ == security::MtlsMode::Strict) {
      // STRICT: no plaintext, and no TLS that is not a sidecar's. Envoy
      // finds no filter chain and closes; so do we. Without a CA (no
      // certificate store) nothing can be mTLS, and STRICT still refuses:
      // a policy never means less than it says.
      REMORA_CONN_LOG(proxy, debug, id_, "port {}: STRICT mTLS refuses a {} connection",
                      route_.original_dst.port(),
                      d == Detected::Tls ? "non-mesh TLS" : "plaintext");
      worker_.inboundRefused("strict_mtls");
      stream_.close();
    } else {
      // A declared protocol wins over what the bytes look like (Istio's
      // inbound filter chains match the port's protocol): detection only
      // decides for ports declared as nothing in particular.
      bool http = route_.protocol == mesh::Protocol::Http ||
                  (route_.protocol == mesh::Protocol::Auto && d == Detected::Http1);
      handOff(worker_, std::move(stream_), std::move(buffer_), std::move(route_), http,
              PeerIdentity{});
    }
    worker_.closeSession(*this);
  }

  void terminate() {
    const tls::CertificateStore::Snapshot* certs = worker_.certificates();
    if (certs == nullptr) {
      REMORA_CONN_LOG(proxy, debug, id_, "mTLS from a peer before our certificate: closing");
      stream_.close();
      return;
    }
    auto ssl = certs->server->newSsl();
    if (!ssl) {
      REMORA_CONN_LOG(proxy, warn, id_, "{}", ssl.error().message);
      stream_.close();
      return;
    }
    stream_.startTls(std::move(*ssl), std::move(buffer_));
    auto s = std::make_unique<TlsAcceptSession>(worker_, std::move(stream_), std::move(route_));
    static_cast<TlsAcceptSession&>(worker_.adopt(std::move(s))).start();
  }

  Stream stream_;
  Route route_;
  asio::steady_timer timer_;
  std::string buffer_;
  std::string chunk_;
  security::MtlsMode mode_ = security::MtlsMode::Permissive;
  bool istio_hello_ = false;
  bool done_ = false;
};

}  // namespace

struct Worker::Listener {
  Listener(asio::io_context& ctx, Direction d) : acceptor(ctx), direction(d) {}
  asio::ip::tcp::acceptor acceptor;
  Direction direction;
  asio::ip::tcp::endpoint local;
};

PeerMetadataHeaders peerMetadataHeaders(const mesh::ProxyIdentity& self) {
  const mesh::WorkloadInfo& w = self.workload;
  if (w.workload.empty() || w.namespace_.empty()) return {};
  auto label = [&](std::string_view key) -> std::string {
    auto it = self.labels.find(std::string(key));
    return it != self.labels.end() ? it->second : std::string();
  };
  telemetry::PeerMetadata meta;
  meta.workload_name = w.workload;  // no pod name in the config: NAME falls back to it
  meta.namespace_ = w.namespace_;
  meta.cluster_id = "Kubernetes";
  meta.service_account = w.service_account;
  meta.instance_ip = self.ip;
  meta.app = w.app;
  meta.version = w.version;
  // Istio's canonical service and revision: the labels when set, else the
  // app (or workload) and version, else "latest" (as istiod defaults them).
  meta.canonical_name = label("service.istio.io/canonical-name");
  if (meta.canonical_name.empty()) meta.canonical_name = w.app.empty() ? w.workload : w.app;
  meta.canonical_revision = label("service.istio.io/canonical-revision");
  if (meta.canonical_revision.empty()) {
    meta.canonical_revision = w.version.empty() ? "latest" : w.version;
  }
  PeerMetadataHeaders out{telemetry::peerMetadataId(meta), telemetry::encodePeerMetadata(meta)};
  // A name the config let through but a header cannot carry: send nothing.
  if (!http::isValidFieldValue(out.id)) return {};
  return out;
}

Worker::Worker(std::size_t index, const ProxyOptions& options, mesh::SnapshotPtr snapshot,
               Observer* observer)
    : index_(index),
      options_(options),
      snapshot_(std::move(snapshot)),
      observer_(observer),
      lb_(0x9E3779B97F4A7C15ULL * (index + 1)),
      pool_(std::make_unique<UpstreamPool>(options.max_idle_per_endpoint)),
      tick_timer_(loop_.context()),
      idle_memory_timer_(loop_.context()) {
  peer_metadata_ = peerMetadataHeaders(snapshot_->proxy());
}

Worker::~Worker() {
  // Sessions hold references into the pool and the loop; they go first.
  sessions_.clear();
  pool_->clear();
}

Status Worker::listen(std::uint16_t outbound_port, std::uint16_t inbound_port) {
  auto bind = [&](const std::string& address, std::uint16_t port, Direction d,
                  bool optional) -> Result<std::uint16_t> {
    std::error_code ec;
    auto addr = asio::ip::make_address(address, ec);
    if (ec) return Error{Errc::InvalidArgument, "bad listen address " + address};
    auto l = std::make_unique<Listener>(loop_.context(), d);
    asio::ip::tcp::endpoint ep(addr, port);
    l->acceptor.open(ep.protocol(), ec);
    if (!ec && addr.is_v6()) l->acceptor.set_option(asio::ip::v6_only(true), ec);
    if (!ec) l->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) l->acceptor.set_option(ReusePort(true), ec);
    if (!ec) l->acceptor.bind(ep, ec);
    if (!ec) l->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      if (optional) {
        REMORA_LOG(proxy, info, "not listening on [{}]:{}: {}", address, port, ec.message());
        return port;
      }
      return Error{Errc::Io, fmt::format("listen on {}:{}: {}", address, port, ec.message())};
    }
    l->local = l->acceptor.local_endpoint(ec);
    std::uint16_t bound = l->local.port();
    listeners_.push_back(std::move(l));
    return bound;
  };
  REMORA_ASSIGN_OR_RETURN(outbound_port_,
                          bind(options_.bind_v4, outbound_port, Direction::Outbound, false));
  REMORA_ASSIGN_OR_RETURN(inbound_port_,
                          bind(options_.bind_v4, inbound_port, Direction::Inbound, false));
  if (!options_.bind_v6.empty()) {
    (void)bind(options_.bind_v6, outbound_port_, Direction::Outbound, true);
    (void)bind(options_.bind_v6, inbound_port_, Direction::Inbound, true);
  }
  return ok();
}

void Worker::run() {
  for (auto& l : listeners_) accept(*l);
  tick();
  checkIdleMemory();
  loop_.run();
}

void Worker::checkIdleMemory() {
  if (options_.idle_memory_check.count() <= 0) return;
  idle_memory_timer_.expires_after(options_.idle_memory_check);
  idle_memory_timer_.async_wait([this](const std::error_code& ec) {
    if (ec) return;
    std::size_t released = 0;
    for (auto& [id, session] : sessions_) released += session->releaseIdleMemory();
    released += pool_->releaseIdleMemory();
    ReadBuffer::releaseIdleCache();
    if (released != 0) idle_buffers_released_.fetch_add(released, std::memory_order_relaxed);
    // glibc returns free pages between live allocations only on request.
    // There are some when connections went quiet (the heap memory their
    // set-up freed: TLS handshake temporaries, about 20 KiB per mTLS
    // connection) or a new snapshot came (the old snapshot, freed by
    // whichever worker dropped it last; the trim covers every arena, so one
    // worker's is enough). Checks with neither cost nothing.
    bool snapshot_changed = trimmed_for_ != snapshot_.get();
    trimmed_for_ = snapshot_.get();
    if (released != 0 || (snapshot_changed && index_ == 0)) {
      auto start = std::chrono::steady_clock::now();
      releaseFreeHeapPages();
      REMORA_LOG(proxy, debug, "idle memory: {} buffers released, heap trimmed in {} us", released,
                 std::chrono::duration_cast<std::chrono::microseconds>(
                     std::chrono::steady_clock::now() - start)
                     .count());
    }
    checkIdleMemory();
  });
}

void Worker::tick() {
  tick_timer_.expires_after(kTick);
  tick_timer_.async_wait([this](const std::error_code& ec) {
    if (ec) return;
    pool_->sweep(std::chrono::seconds(60));
    if (observer_ != nullptr) observer_->onTick(index_);
    if (draining_) checkDrained();
    tick();
  });
}

void Worker::accept(Listener& listener) {
  listener.acceptor.async_accept(
      [this, &listener](const std::error_code& ec, asio::ip::tcp::socket socket) {
        if (ec == asio::error::operation_aborted || draining_) return;
        if (!ec) {
          onAccepted(listener, std::move(socket));
        } else {
          REMORA_LOG(proxy, warn, "accept: {}", ec.message());
        }
        accept(listener);
      });
}

void Worker::onAccepted(Listener& listener, asio::ip::tcp::socket socket) {
  std::error_code ec;
  socket.set_option(asio::ip::tcp::no_delay(true), ec);
  Result<asio::ip::tcp::endpoint> dst = options_.original_dst
                                            ? options_.original_dst(socket, listener.direction)
                                            : originalDestination(socket);
  if (!dst) {
    // Not redirected (someone dialled the capture port itself): refusing is
    // the only answer that cannot loop.
    REMORA_LOG(proxy, debug, "no original destination: {}", dst.error().message);
    return;
  }
  if (dst->port() == outbound_port_ || dst->port() == inbound_port_) {
    auto local = socket.local_endpoint(ec);
    if (!ec && local.address() == dst->address()) return;  // a loop
  }
  Route route = resolveRoute(*snapshot_, listener.direction, *dst);
  // A declared protocol skips detection, except inbound with mTLS (a peer
  // sidecar's TLS may come to any port) or under STRICT (which must see
  // what arrives to refuse it).
  bool sniff_tls =
      listener.direction == Direction::Inbound &&
      (mtlsEnabled() || snapshot_->security().mtlsMode(dst->port()) == security::MtlsMode::Strict);
  if (route.protocol != mesh::Protocol::Auto && !sniff_tls) {
    bool http = route.protocol == mesh::Protocol::Http;
    handOff(*this, Stream(std::move(socket)), std::string(), std::move(route), http,
            PeerIdentity{});
    return;
  }
  auto s = std::make_unique<SniffSession>(*this, std::move(socket), std::move(route));
  static_cast<SniffSession&>(adopt(std::move(s))).start();
}

Session& Worker::adopt(std::unique_ptr<Session> session) {
  Session& ref = *session;
  sessions_.emplace(ref.id(), std::move(session));
  open_.store(sessions_.size(), std::memory_order_relaxed);
  if (draining_) ref.onDrain();
  return ref;
}

void Worker::closeSession(Session& session) {
  auto it = sessions_.find(session.id());
  if (it == sessions_.end()) return;
  loop_.deferDelete(std::move(it->second));
  sessions_.erase(it);
  open_.store(sessions_.size(), std::memory_order_relaxed);
  if (draining_ && sessions_.empty()) checkDrained();
}

const tls::CertificateStore::Snapshot* Worker::certificates() {
  if (options_.certificates == nullptr) return nullptr;
  std::uint64_t generation = options_.certificates->generation();
  if (generation != certs_generation_) {
    certs_ = options_.certificates->current();
    certs_generation_ = generation;
  }
  return certs_.get();
}

Result<tls::SslPtr> Worker::newMtlsClient(const mesh::Endpoint& endpoint,
                                          const asio::ip::tcp::endpoint& upstream, bool http) {
  const tls::CertificateStore::Snapshot* certs = certificates();
  if (certs == nullptr) {
    return Error{Errc::Unavailable, "no workload certificate yet for mTLS"};
  }
  REMORA_ASSIGN_OR_RETURN(tls::SslPtr ssl, certs->client->newSsl());
  // Istio's outbound ALPN: istio-http/1.1 tells the peer's inbound to speak
  // HTTP; TCP offers istio-peer-exchange first (metadata exchange), then istio.
  static constexpr unsigned char kHttpAlpn[] = "\x0eistio-http/1.1\x05istio";
  static constexpr unsigned char kTcpAlpn[] = "\x13istio-peer-exchange\x05istio";
  int rc = http ? SSL_set_alpn_protos(ssl.get(), kHttpAlpn, sizeof kHttpAlpn - 1)
                : SSL_set_alpn_protos(ssl.get(), kTcpAlpn, sizeof kTcpAlpn - 1);
  if (rc != 0) return tls::openSslError(Errc::Internal, "setting ALPN");
  if (!endpoint.workload().principal.empty()) {
    REMORA_TRY(tls::setAllowedPeerIdentities(ssl.get(), {endpoint.workload().principal}));
  }
  // Resumption saves most of a handshake's CPU on every new connection to
  // an upstream this worker has met. The slot is per expected identity too,
  // so a session is only offered to the server it was verified for; a new
  // workload certificate starts the slot afresh.
  session_key_.clear();
  const asio::ip::address& address = upstream.address();
  if (address.is_v4()) {
    auto bytes = address.to_v4().to_bytes();
    session_key_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  } else {
    auto bytes = address.to_v6().to_bytes();
    session_key_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  session_key_ += static_cast<char>(upstream.port() >> 8);
  session_key_ += static_cast<char>(upstream.port() & 0xff);
  session_key_ += endpoint.workload().principal;
  auto found = tls_sessions_.find(session_key_);
  if (found == tls_sessions_.end()) found = tls_sessions_.try_emplace(session_key_).first;
  tls::SessionSlot& slot = found->second;
  if (slot.generation != certs_generation_) {
    slot.session.reset();
    slot.generation = certs_generation_;
  }
  REMORA_TRY(tls::useSessionSlot(ssl.get(), &slot));
  return ssl;
}

std::string_view Worker::tlsFailed(Direction direction, const SSL* ssl) {
  auto reason = ssl != nullptr ? tls::peerFailure(ssl) : std::nullopt;
  std::string_view name = reason ? tls::peerFailureName(*reason) : "handshake";
  if (observer_ != nullptr) observer_->onTlsFailure(index_, direction, name);
  return name;
}

void Worker::postSnapshot(mesh::SnapshotPtr snapshot) {
  loop_.post([this, snapshot = std::move(snapshot)]() mutable {
    snapshot_ = std::move(snapshot);
    peer_metadata_ = peerMetadataHeaders(snapshot_->proxy());
    lb_.forgetSnapshot();
  });
}

void Worker::postDrain(std::chrono::steady_clock::time_point deadline) {
  loop_.post([this, deadline] {
    if (draining_) return;
    draining_ = true;
    drain_deadline_ = deadline;
    for (auto& l : listeners_) {
      std::error_code ignored;
      l->acceptor.close(ignored);
    }
    // onDrain may close sessions (erasing from the table): iterate a copy.
    std::vector<Session*> open;
    open.reserve(sessions_.size());
    for (auto& [id, s] : sessions_) open.push_back(s.get());
    for (Session* s : open) {
      if (sessions_.count(s->id()) != 0) s->onDrain();
    }
    checkDrained();
  });
}

void Worker::checkDrained() {
  if (!sessions_.empty() && std::chrono::steady_clock::now() < drain_deadline_) return;
  std::vector<Session*> open;
  for (auto& [id, s] : sessions_) open.push_back(s.get());
  for (Session* s : open) {
    if (sessions_.count(s->id()) != 0) s->forceClose();
  }
  pool_->clear();
  tick_timer_.cancel();
  idle_memory_timer_.cancel();
  loop_.stop();
}

}  // namespace remora::proxy

#include "proxy/upstream.h"

#include <cerrno>

#include <netinet/in.h>
#include <sys/socket.h>

namespace remora::proxy {
namespace {
constexpr std::size_t kReadBuffer = 16 * 1024;
#ifndef IPV6_FREEBIND
constexpr int IPV6_FREEBIND = 78;  // linux/in6.h; glibc's netinet/in.h lacks it
#endif
}  // namespace

void prepareUpstreamSocket(asio::ip::tcp::socket& socket, const asio::ip::tcp::endpoint& target,
                           bool inbound) {
  std::error_code ec;
  socket.open(target.protocol(), ec);
  if (ec || !inbound) return;
  bool v4 = target.address().is_v4();
  auto source = v4 ? asio::ip::make_address("127.0.0.6") : asio::ip::make_address("::6");
  if (!v4) {
    // ::6 is no address of the pod: bind it anyway, as Envoy's
    // upstream_bind_config does (the kernel routes the reply over lo).
    int one = 1;
    ::setsockopt(socket.native_handle(), SOL_IPV6, IPV6_FREEBIND, &one, sizeof(one));
  }
  socket.bind(asio::ip::tcp::endpoint(source, 0), ec);
  (void)ec;  // unbound is the fallback
}

UpstreamConn::UpstreamConn(Stream stream, asio::ip::tcp::endpoint endpoint, PeerIdentity peer)
    : stream_(std::move(stream)),
      peer_(std::move(peer)),
      endpoint_(std::move(endpoint)),
      parser_(http::Http1Parser::Mode::Response, *this),
      buffer_(kReadBuffer) {
  std::error_code ec;
  local_ = stream_.socket().local_endpoint(ec);  // unset if it failed: logged as unknown
}

UpstreamConn::~UpstreamConn() { stream_.close(); }

bool UpstreamConn::usable(bool ask_socket) {
  if (!socket().is_open() || !parser_.isIdle() || !pending_.empty()) return false;
  // Bytes OpenSSL read ahead of the last response (a late ticket, a
  // close_notify) are as good as bytes on the socket: retire it.
  if (stream_.isTls() && SSL_has_pending(stream_.ssl()) == 1) return false;
  if (!ask_socket) return true;
  // For TLS too: an idle TLS connection has nothing to say either (a late
  // ticket or a close_notify retires it, which is the safe side).
  char byte = 0;
  ssize_t n = ::recv(socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

http::CallbackResult UpstreamConn::onMessageBegin() {
  return sink_ ? sink_->onMessageBegin() : http::CallbackResult::Pause;
}
http::CallbackResult UpstreamConn::onResponseHead(http::ResponseHead& head) {
  return sink_ ? sink_->onResponseHead(head) : http::CallbackResult::Pause;
}
http::CallbackResult UpstreamConn::onBody(std::string_view data) {
  return sink_ ? sink_->onBody(data) : http::CallbackResult::Pause;
}
http::CallbackResult UpstreamConn::onTrailers(http::HeaderMap& trailers) {
  return sink_ ? sink_->onTrailers(trailers) : http::CallbackResult::Continue;
}
http::CallbackResult UpstreamConn::onMessageComplete() {
  return sink_ ? sink_->onMessageComplete() : http::CallbackResult::Pause;
}

std::unique_ptr<UpstreamConn> UpstreamPool::take(const asio::ip::tcp::endpoint& endpoint, bool tls,
                                                 std::string_view principal) {
  auto it = idle_.find(endpoint);
  if (it == idle_.end()) return nullptr;
  auto& list = it->second;
  const auto now = std::chrono::steady_clock::now();
  while (!list.empty()) {
    std::unique_ptr<UpstreamConn> conn = std::move(list.back());
    list.pop_back();
    // A connection idle only briefly is taken without asking its socket (a
    // syscall per request at any real rate): servers close idle keep-alives
    // after seconds (nginx 75 s, Node 5 s), not within a fraction of one of
    // answering, and a close we race with anyway is retried for body-less
    // requests (HttpSession::onUpstreamEnd). Older ones are peeked at.
    bool ask_socket = now - conn->idle_since >= kTrustedIdle;
    if (!conn->usable(ask_socket) || conn->stream().isTls() != tls)
      continue;  // closed when dropped
    if (tls && !principal.empty() && conn->peer().principal != principal) continue;
    return conn;
  }
  return nullptr;
}

void UpstreamPool::give(std::unique_ptr<UpstreamConn> conn) {
  auto& list = idle_[conn->endpoint()];
  if (list.size() >= max_idle_) return;  // closed by its destructor
  conn->setSink(nullptr);
  conn->idle_since = std::chrono::steady_clock::now();
  list.push_back(std::move(conn));
}

void UpstreamPool::sweep(std::chrono::steady_clock::duration max_idle_time) {
  auto now = std::chrono::steady_clock::now();
  for (auto it = idle_.begin(); it != idle_.end();) {
    auto& list = it->second;
    std::erase_if(list, [&](const std::unique_ptr<UpstreamConn>& c) {
      return now - c->idle_since > max_idle_time || !c->usable();
    });
    it = list.empty() ? idle_.erase(it) : std::next(it);
  }
}

std::size_t UpstreamPool::releaseIdleMemory() {
  std::size_t released = 0;
  for (auto& [endpoint, list] : idle_) {
    for (auto& conn : list) {
      if (conn->buffer().releaseIfIdle())
        released += 1 + (conn->stream().releaseIdleTlsBuffers() ? 1 : 0);
    }
  }
  return released;
}

std::size_t UpstreamPool::idleCount() const {
  std::size_t n = 0;
  for (const auto& [ep, list] : idle_) n += list.size();
  return n;
}

}  // namespace remora::proxy

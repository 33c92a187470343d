#include "proxy/stream.h"

#include <array>
#include <cerrno>
#include <cstring>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "core/log.h"

namespace remora::proxy {
namespace detail {
namespace {

// A BIO on the socket's descriptor that serves TlsIo::prefix first: the
// bytes the sniffer consumed belong to the handshake. Non-blocking: EAGAIN
// becomes a retry, which SSL_get_error() reports as WANT_READ/WANT_WRITE.
int bioRead(BIO* bio, char* out, std::size_t size, std::size_t* read) {
  auto* io = static_cast<TlsIo*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (io->prefix_at < io->prefix.size()) {
    std::size_t n = std::min(size, io->prefix.size() - io->prefix_at);
    std::memcpy(out, io->prefix.data() + io->prefix_at, n);
    io->prefix_at += n;
    if (io->prefix_at == io->prefix.size()) {
      std::string().swap(io->prefix);
      io->prefix_at = 0;
    }
    *read = n;
    return 1;
  }
  if (io->staged_size > 0) {
    std::size_t n = std::min(size, io->staged_size);
    std::memcpy(out, io->staged, n);
    io->staged += n;
    io->staged_size -= n;
    // The rest must leave the caller's buffer before OpenSSL writes
    // plaintext into it. Never expected: see kMaxStagedRead.
    io->spillStaged();
    *read = n;
    return 1;
  }
  *read = 0;
  if (io->peer_closed) return 0;  // EOF: asio's read saw it
  if (!io->bio_reads_socket) {
    BIO_set_retry_read(bio);  // readStep reads the socket through asio
    return 0;
  }
  ssize_t n = ::recv(io->socket.native_handle(), out, size, 0);
  if (n > 0) {
    *read = static_cast<std::size_t>(n);
    return 1;
  }
  *read = 0;
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    BIO_set_retry_read(bio);
  }
  return 0;  // n == 0: EOF
}

int bioWrite(BIO* bio, const char* data, std::size_t size, std::size_t* written) {
  auto* io = static_cast<TlsIo*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  ssize_t n = ::send(io->socket.native_handle(), data, size, MSG_NOSIGNAL);
  if (n >= 0) {
    *written = static_cast<std::size_t>(n);
    return 1;
  }
  *written = 0;
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) BIO_set_retry_write(bio);
  return 0;
}

long bioCtrl(BIO* /*bio*/, int cmd, long /*num*/, void* /*ptr*/) {
  switch (cmd) {
    case BIO_CTRL_FLUSH: return 1;  // writes go straight to the socket
    default: return 0;
  }
}

int bioCreate(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

const BIO_METHOD* socketWithPrefixMethod() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "remora-socket");
    BIO_meth_set_read_ex(m, bioRead);
    BIO_meth_set_write_ex(m, bioWrite);
    BIO_meth_set_ctrl(m, bioCtrl);
    BIO_meth_set_create(m, bioCreate);
    return m;
  }();
  return method;
}

}  // namespace

TlsIo::TlsIo(asio::ip::tcp::socket s, tls::SslPtr ssl_in, std::string prefix_in)
    : socket(std::move(s)), ssl(std::move(ssl_in)), prefix(std::move(prefix_in)) {
  std::error_code ignored;
  socket.non_blocking(true, ignored);
  BIO* bio = BIO_new(socketWithPrefixMethod());
  if (bio != nullptr) {
    BIO_set_data(bio, this);
    SSL_set_bio(ssl.get(), bio, bio);  // one BIO for both directions; the SSL owns it
  }
  // A peer that closes without close_notify ends the stream like a FIN does
  // (Envoy treats it the same); a truncation attack cannot hide in HTTP/1.1
  // framing, which the codec checks.
  SSL_set_options(ssl.get(), SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_set_mode(ssl.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  read_ahead = SSL_get_read_ahead(ssl.get()) == 1;
}

void TlsIo::spillStaged() {
  if (staged_size == 0) return;
  prefix.erase(0, prefix_at);
  prefix_at = 0;
  prefix.append(reinterpret_cast<const char*>(staged), staged_size);
  staged = nullptr;
  staged_size = 0;
}

TlsIo::~TlsIo() {
  // The BIO points at this object: the SSL goes first.
  ssl.reset();
}

TlsStep classify(SSL* ssl, int result) {
  if (result == 1) return TlsStep::Done;
  switch (SSL_get_error(ssl, result)) {
    case SSL_ERROR_WANT_READ: return TlsStep::WantRead;
    case SSL_ERROR_WANT_WRITE: return TlsStep::WantWrite;
    case SSL_ERROR_ZERO_RETURN: return TlsStep::Eof;
    case SSL_ERROR_SYSCALL:
      // No error queued and errno quiet: the socket reached EOF.
      if (ERR_peek_error() == 0) return TlsStep::Eof;
      return TlsStep::Failed;
    default: return TlsStep::Failed;
  }
}

std::error_code tlsError() {
  char text[256];
  unsigned long e = ERR_get_error();
  if (e != 0) {
    ERR_error_string_n(e, text, sizeof text);
    REMORA_LOG(proxy, debug, "tls: {}", text);
  }
  ERR_clear_error();
  return std::make_error_code(std::errc::protocol_error);
}

}  // namespace detail

void Stream::startTls(tls::SslPtr ssl, std::string prefix) {
  tls_ = std::make_shared<detail::TlsIo>(std::move(socket_), std::move(ssl), std::move(prefix));
}

std::size_t Stream::writeNow(std::span<const asio::const_buffer> buffers, std::error_code& ec) {
  ec.clear();
  constexpr std::size_t kMaxPieces = 8;  // the sessions write at most four
  if (buffers.empty() || buffers.size() > kMaxPieces) return 0;
  if (tls_) return writeTlsNow(buffers, ec);
  if (!socket_.is_open()) return 0;
  std::array<iovec, kMaxPieces> iov{};
  for (std::size_t i = 0; i < buffers.size(); ++i) {
    iov[i].iov_base = const_cast<void*>(buffers[i].data());
    iov[i].iov_len = buffers[i].size();
  }
  msghdr msg{};
  msg.msg_iov = iov.data();
  msg.msg_iovlen = buffers.size();
  ssize_t n = 0;
  do {
    n = ::sendmsg(socket_.native_handle(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n >= 0) return static_cast<std::size_t>(n);
  if (errno != EAGAIN && errno != EWOULDBLOCK) {
    ec = std::error_code(errno, asio::error::get_system_category());
  }
  return 0;
}

std::size_t Stream::writeTlsNow(std::span<const asio::const_buffer> buffers, std::error_code& ec) {
  if (!tls_->socket.is_open()) return 0;
  const auto* data = static_cast<const unsigned char*>(buffers[0].data());
  std::size_t size = buffers[0].size();
  if (buffers.size() > 1) {
    // One record rather than one per piece, as asyncWrite does.
    size = asio::buffer_size(buffers);
    tls_->gather.resize(size);
    asio::buffer_copy(asio::buffer(tls_->gather), buffers);
    data = tls_->gather.data();
  }
  std::size_t done = 0;
  while (done < size) {
    std::size_t n = 0;
    int r = SSL_write_ex(tls_->ssl.get(), data + done, size - done, &n);
    switch (detail::classify(tls_->ssl.get(), r)) {
      case detail::TlsStep::Done: done += n; continue;
      case detail::TlsStep::WantRead:
      case detail::TlsStep::WantWrite: return done;  // asyncWrite retries the rest
      case detail::TlsStep::Eof: ec = asio::error::broken_pipe; return done;
      case detail::TlsStep::Failed: ec = detail::tlsError(); return done;
    }
  }
  return done;
}

void Stream::shutdownSend() {
  std::error_code ignored;
  if (tls_) {
    // close_notify now if the socket takes it; a full socket loses it, and
    // the FIN alone still ends the stream (unexpected EOF is tolerated).
    if (SSL_is_init_finished(tls_->ssl.get()) == 1) (void)SSL_shutdown(tls_->ssl.get());
    ERR_clear_error();
  }
  socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
}

bool Stream::releaseIdleTlsBuffers() {
  // SSL_free_buffers refuses (0) while a partial record or unsent bytes
  // sit in them.
  return tls_ != nullptr && SSL_free_buffers(tls_->ssl.get()) == 1;
}

void Stream::close() {
  std::error_code ignored;
  socket().close(ignored);
}

}  // namespace remora::proxy

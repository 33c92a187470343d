// Stream: one side of a proxied connection, plain TCP or TLS over it.
//
// The sessions read and write through a Stream so that the same code serves
// a plaintext app connection, an mTLS connection terminated on 15006 and an
// mTLS connection the proxy opens to a peer sidecar (issue 8). Plain
// streams go straight to Asio; TLS streams drive an OpenSSL connection in
// non-blocking mode on the socket's own descriptor and wait for
// readiness with socket.async_wait() when OpenSSL says WANT_READ or
// WANT_WRITE (Envoy's SslSocket does the same on its event loop), except
// for the common read, which asio does for OpenSSL (see readStep). That
// keeps every decision ours: half-close is a close_notify followed by a FIN
// and the read side stays open, which asio::ssl::stream's shutdown cannot do.
//
// Bytes read before TLS started (the ClientHello the sniffer looked at) are
// handed to startTls() and fed to OpenSSL ahead of the socket through a BIO
// of ours, so nothing is read twice and nothing is lost.
//
// Completion handlers are never called from the call that starts the
// operation: like Asio's, they run later from the event loop, once, with
// operation_aborted after close().
//
// Ownership: a TLS stream's socket and SSL live in a shared TlsIo that every
// pending operation holds, so a session destroyed with operations pending
// (closed sockets complete their waits later) leaves nothing dangling.
//
// Threading: the owning worker's thread only.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <asio/buffer.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/write.hpp>

#include "tls/openssl.h"

namespace remora::proxy {

namespace detail {

// What a TLS stream's pending operations share.
struct TlsIo {
  TlsIo(asio::ip::tcp::socket s, tls::SslPtr ssl, std::string prefix);
  ~TlsIo();
  asio::ip::tcp::socket socket;
  tls::SslPtr ssl;
  std::string prefix;  // bytes read before TLS, served to OpenSSL first
  std::size_t prefix_at = 0;
  std::vector<unsigned char> gather;  // several buffers become one TLS record

  // Ciphertext that asio read into the caller's buffer (see readStep), for
  // the next SSL_read. OpenSSL copies it into its own record buffer; what it
  // does not take moves to `prefix` before the caller's buffer is written.
  const unsigned char* staged = nullptr;
  std::size_t staged_size = 0;
  // Whether the BIO may read the socket itself. Off while readStep feeds
  // OpenSSL what asio read; on for the handshake and writes.
  bool bio_reads_socket = true;
  bool peer_closed = false;  // asio saw EOF or an error: the BIO says EOF
  bool read_ahead = false;   // the context reads ahead (the sidecars' mTLS)
  // Moves what OpenSSL did not take of `staged` into `prefix`.
  void spillStaged();
};

// At most this much ciphertext is read for OpenSSL at a time: its record
// buffer, empty when we read (SSL_has_pending() == 0), holds a whole record
// and its overhead, so it always takes all of it.
inline constexpr std::size_t kMaxStagedRead = 16 * 1024;

// The outcome of one OpenSSL call: done, wait for the socket, or fail.
enum class TlsStep : std::uint8_t { Done, WantRead, WantWrite, Eof, Failed };
TlsStep classify(SSL* ssl, int result);
// Failures as error codes: a TLS alert or a verification failure is
// connection_reset for the sessions, with the reason in the log.
std::error_code tlsError();

}  // namespace detail

// What a connection's TLS established about its peer: the client sidecar
// on an inbound connection, the server sidecar on an outbound one.
struct PeerIdentity {
  bool mutual_tls = false;
  std::string principal;  // the peer's verified SPIFFE URI, "" when none
};

class Stream {
 public:
  explicit Stream(asio::ip::tcp::socket socket) : socket_(std::move(socket)) {}
  Stream(Stream&&) noexcept = default;
  Stream& operator=(Stream&&) noexcept = default;
  ~Stream() { close(); }

  // Switches to TLS with `ssl` (in accept or connect state). `prefix` holds
  // bytes already read from the socket that belong to the TLS stream.
  void startTls(tls::SslPtr ssl, std::string prefix = {});

  bool isTls() const { return tls_ != nullptr; }
  // TLS only: frees OpenSSL's record buffers (about 34 KiB) when they hold
  // nothing; OpenSSL allocates them again on the next read or write. For
  // the worker's idle-memory check, on a connection with nothing in
  // flight. True when something was freed.
  bool releaseIdleTlsBuffers();
  // The OpenSSL connection (TLS only; null otherwise).
  SSL* ssl() const { return tls_ ? tls_->ssl.get() : nullptr; }
  asio::ip::tcp::socket& socket() { return tls_ ? tls_->socket : socket_; }
  const asio::ip::tcp::socket& socket() const { return tls_ ? tls_->socket : socket_; }

  // TLS only: the handshake. handler(std::error_code).
  template <typename Handler>
  void asyncHandshake(Handler&& handler) {
    handshakeStep(tls_, std::forward<Handler>(handler));
  }

  // handler(std::error_code, std::size_t); EOF (FIN, or close_notify) is
  // asio::error::eof.
  template <typename Handler>
  void asyncReadSome(asio::mutable_buffer buffer, Handler&& handler) {
    if (!tls_) {
      socket_.async_read_some(buffer, std::forward<Handler>(handler));
      return;
    }
    readStep(tls_, buffer, std::forward<Handler>(handler));
  }

  // Writes all of `buffers`; handler(std::error_code, std::size_t). The
  // buffer array the span views must live until the handler runs.
  template <typename Handler>
  void asyncWrite(std::span<const asio::const_buffer> buffers, Handler&& handler) {
    if (!tls_) {
      asio::async_write(socket_, buffers, std::forward<Handler>(handler));
      return;
    }
    std::size_t total = asio::buffer_size(buffers);
    if (buffers.size() == 1) {
      writeStep(tls_, static_cast<const unsigned char*>(buffers[0].data()), total, 0,
                std::forward<Handler>(handler));
      return;
    }
    // One record rather than one per piece; the vector keeps its capacity.
    auto& g = tls_->gather;
    g.resize(total);
    asio::buffer_copy(asio::buffer(g), buffers);
    writeStep(tls_, g.data(), total, 0, std::forward<Handler>(handler));
  }
  // One buffer. Not through the span overload for plaintext: asio keeps the
  // buffer sequence it is given for the whole write, and a span over this
  // parameter would dangle once we return (ASan: stack-use-after-return).
  template <typename Handler>
  void asyncWrite(asio::const_buffer buffer, Handler&& handler) {
    if (!tls_) {
      asio::async_write(socket_, buffer, std::forward<Handler>(handler));
      return;
    }
    writeStep(tls_, static_cast<const unsigned char*>(buffer.data()), buffer.size(), 0,
              std::forward<Handler>(handler));
  }

  // Writes what the socket takes at once (never waiting, never queued) and
  // returns how many bytes that was. On a keep-alive connection a response
  // piece almost always fits the socket's buffer, so the session goes on at
  // once instead of taking a turn through the event loop (asio completes
  // even an immediate write from the loop). The caller writes the rest, if
  // any, with asyncWrite. Plaintext: one sendmsg. TLS: the pieces as one
  // record (SSL_write_ex); when the socket is full, OpenSSL keeps what it
  // sealed and the caller's asyncWrite of the rest, the same bytes, finishes
  // it (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER). Errors (a reset peer, a TLS
  // failure) come back in `ec`; a full buffer is 0 bytes, no error.
  std::size_t writeNow(std::span<const asio::const_buffer> buffers, std::error_code& ec);
  // Half-close: nothing more is written (TLS: close_notify, then FIN); the
  // peer may go on sending.
  void shutdownSend();
  // Closes the socket; pending operations complete with operation_aborted.
  void close();

 private:
  using IoPtr = std::shared_ptr<detail::TlsIo>;
  std::size_t writeTlsNow(std::span<const asio::const_buffer> buffers, std::error_code& ec);

  template <typename Handler>
  static void complete(const IoPtr& io, Handler&& handler, std::error_code ec, std::size_t n) {
    asio::post(io->socket.get_executor(),
               [h = std::forward<Handler>(handler), ec, n]() mutable { h(ec, n); });
  }

  // Waits for the socket, then runs `retry` (or fails the handler).
  template <typename Handler, typename Retry>
  static void waitThen(const IoPtr& io, detail::TlsStep step, Handler&& handler, Retry&& retry) {
    auto kind = step == detail::TlsStep::WantRead ? asio::ip::tcp::socket::wait_read
                                                  : asio::ip::tcp::socket::wait_write;
    io->socket.async_wait(kind, [io, h = std::forward<Handler>(handler),
                                 r = std::forward<Retry>(retry)](std::error_code ec) mutable {
      if (ec) {
        h(ec, 0);
        return;
      }
      r(io, std::move(h));
    });
  }

  template <typename Handler>
  static void handshakeStep(const IoPtr& io, Handler&& handler) {
    auto adapt = [h = std::forward<Handler>(handler)](std::error_code ec, std::size_t) mutable {
      h(ec);
    };
    handshakeLoop(io, std::move(adapt));
  }
  template <typename Handler>
  static void handshakeLoop(const IoPtr& io, Handler&& handler) {
    if (!io->socket.is_open())
      return complete(io, std::move(handler), asio::error::operation_aborted, 0);
    int r = SSL_do_handshake(io->ssl.get());
    detail::TlsStep step = detail::classify(io->ssl.get(), r);
    switch (step) {
      case detail::TlsStep::Done: return complete(io, std::move(handler), {}, 0);
      case detail::TlsStep::WantRead:
      case detail::TlsStep::WantWrite:
        return waitThen(io, step, std::forward<Handler>(handler),
                        [](const IoPtr& again, auto&& h) { handshakeLoop(again, std::move(h)); });
      case detail::TlsStep::Eof: return complete(io, std::move(handler), asio::error::eof, 0);
      case detail::TlsStep::Failed: return complete(io, std::move(handler), detail::tlsError(), 0);
    }
  }

  // Reads plaintext. When OpenSSL holds no bytes and wants more, the
  // ciphertext is read by asio into the caller's buffer (async_read_some:
  // one speculative recv, and if the socket is empty the wait costs nothing
  // more) and handed to OpenSSL from there, which decrypts into the same
  // buffer. Waiting with async_wait instead costs an epoll_ctl per wait in
  // asio's reactor, and, on a descriptor that once waited to write, a
  // spurious EPOLLOUT wake-up after it. With a partial record in OpenSSL's
  // buffer, or a context without read-ahead, OpenSSL reads the socket
  // itself, as during the handshake. `in_completion`: called from one of
  // our own completions, so the handler may run at once.
  template <typename Handler>
  static void readStep(const IoPtr& io, asio::mutable_buffer buffer, Handler&& handler,
                       bool in_completion = false) {
    if (!io->socket.is_open())
      return complete(io, std::move(handler), asio::error::operation_aborted, 0);
    SSL* ssl = io->ssl.get();
    const bool through_asio = io->read_ahead && SSL_has_pending(ssl) == 0;
    std::size_t n = 0;
    io->bio_reads_socket = !through_asio;
    int r = SSL_read_ex(ssl, buffer.data(), buffer.size(), &n);
    io->bio_reads_socket = true;
    io->spillStaged();
    detail::TlsStep step = detail::classify(ssl, r);
    switch (step) {
      case detail::TlsStep::Done:
        if (in_completion) {
          handler(std::error_code(), n);
          return;
        }
        return complete(io, std::move(handler), {}, n);
      case detail::TlsStep::WantRead:
        if (io->read_ahead && !io->peer_closed && SSL_has_pending(ssl) == 0) {
          return receiveThenRead(io, buffer, std::forward<Handler>(handler));
        }
        [[fallthrough]];
      case detail::TlsStep::WantWrite:
        return waitThen(io, step, std::forward<Handler>(handler),
                        [buffer](const IoPtr& again, auto&& h) {
                          readStep(again, buffer, std::move(h), true);
                        });
      case detail::TlsStep::Eof: return complete(io, std::move(handler), asio::error::eof, 0);
      case detail::TlsStep::Failed: return complete(io, std::move(handler), detail::tlsError(), 0);
    }
  }

  template <typename Handler>
  static void receiveThenRead(const IoPtr& io, asio::mutable_buffer buffer, Handler&& handler) {
    auto room = asio::buffer(buffer, detail::kMaxStagedRead);
    io->socket.async_read_some(room, [io, buffer, h = std::forward<Handler>(handler)](
                                         std::error_code ec, std::size_t n) mutable {
      if (ec == asio::error::operation_aborted || !io->socket.is_open()) {
        h(asio::error::operation_aborted, 0);
        return;
      }
      if (ec) {
        // EOF, or a reset: OpenSSL tells a close_notify from a truncated
        // record, as when it reads the socket itself.
        io->peer_closed = true;
      } else {
        io->staged = static_cast<const unsigned char*>(buffer.data());
        io->staged_size = n;
      }
      readStep(io, buffer, std::move(h), true);
    });
  }

  template <typename Handler>
  static void writeStep(const IoPtr& io, const unsigned char* data, std::size_t size,
                        std::size_t done, Handler&& handler) {
    while (done < size) {
      if (!io->socket.is_open()) {
        return complete(io, std::move(handler), asio::error::operation_aborted, done);
      }
      std::size_t n = 0;
      int r = SSL_write_ex(io->ssl.get(), data + done, size - done, &n);
      detail::TlsStep step = detail::classify(io->ssl.get(), r);
      if (step == detail::TlsStep::Done) {
        done += n;
        continue;
      }
      if (step == detail::TlsStep::WantRead || step == detail::TlsStep::WantWrite) {
        return waitThen(io, step, std::forward<Handler>(handler),
                        [data, size, done](const IoPtr& again, auto&& h) {
                          writeStep(again, data, size, done, std::move(h));
                        });
      }
      return complete(io, std::move(handler),
                      step == detail::TlsStep::Eof ? asio::error::broken_pipe : detail::tlsError(),
                      done);
    }
    complete(io, std::move(handler), {}, done);
  }

  asio::ip::tcp::socket socket_;  // the socket while plain; moved into tls_ by startTls()
  IoPtr tls_;
};

}  // namespace remora::proxy

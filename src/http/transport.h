// Transport: a TCP socket, or a TLS stream over one, behind one interface
// (internal to src/http: the server's connections and the client use it).
//
// Ownership: a TLS transport holds a reference to the asio::ssl::context it
// was made from, so replacing a server's context never pulls it from under an
// open connection. Threading: the io_context's thread only.
#pragma once

#include <memory>
#include <utility>

#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/write.hpp>

namespace remora::http::detail {

class Transport {
 public:
  // Plain TCP.
  explicit Transport(asio::ip::tcp::socket socket) : plain_(std::move(socket)) {}
  // TLS over `socket`; the handshake is still to be done.
  Transport(asio::ip::tcp::socket socket, std::shared_ptr<asio::ssl::context> context)
      : plain_(socket.get_executor()),
        context_(std::move(context)),
        tls_(std::make_shared<asio::ssl::stream<asio::ip::tcp::socket>>(std::move(socket),
                                                                        *context_)) {}

  bool isTls() const { return tls_ != nullptr; }
  asio::ip::tcp::socket& socket() { return tls_ ? tls_->next_layer() : plain_; }
  // The OpenSSL connection (TLS only; null otherwise).
  SSL* ssl() { return tls_ ? tls_->native_handle() : nullptr; }

  // TLS operations keep the stream alive until their handler runs (see tls_).
  template <typename Handler>
  void asyncHandshake(asio::ssl::stream_base::handshake_type type, Handler&& handler) {
    tls_->async_handshake(type, [keep = tls_, h = std::forward<Handler>(handler)](
                                    std::error_code ec) mutable { h(ec); });
  }

  template <typename Buffers, typename Handler>
  void asyncReadSome(const Buffers& buffers, Handler&& handler) {
    if (tls_) {
      tls_->async_read_some(buffers, [keep = tls_, h = std::forward<Handler>(handler)](
                                         std::error_code ec, std::size_t n) mutable { h(ec, n); });
    } else {
      plain_.async_read_some(buffers, std::forward<Handler>(handler));
    }
  }

  template <typename Buffers, typename Handler>
  void asyncWrite(const Buffers& buffers, Handler&& handler) {
    if (tls_) {
      asio::async_write(*tls_, buffers,
                        [keep = tls_, h = std::forward<Handler>(handler)](
                            std::error_code ec, std::size_t n) mutable { h(ec, n); });
    } else {
      asio::async_write(plain_, buffers, std::forward<Handler>(handler));
    }
  }

  // Closes the socket; pending operations complete with operation_aborted.
  void close() {
    std::error_code ignored;
    socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket().close(ignored);
  }

 private:
  asio::ip::tcp::socket plain_;  // the socket when plain; unused (never opened) with TLS
  std::shared_ptr<asio::ssl::context> context_;
  // Shared with the pending operations: a closed connection is destroyed by
  // deferDelete(), possibly before its aborted read completes, and asio's
  // SSL operation touches the stream's state when it does. Each TLS
  // operation's handler holds a reference, so the stream outlives it.
  std::shared_ptr<asio::ssl::stream<asio::ip::tcp::socket>> tls_;
};

}  // namespace remora::http::detail

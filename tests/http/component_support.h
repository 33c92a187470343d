// Helpers for the http component tests: a Server running on its own
// EventLoop thread, and blocking raw sockets on 127.0.0.1 with receive
// timeouts (so a misbehaving server fails a test instead of hanging it).
#pragma once

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <sys/socket.h>
#include <sys/time.h>

#include "core/event_loop.h"
#include "http/server.h"
#include "tests/http/http1_recorder.h"

namespace remora::http::testing {

// A Server on a loop thread. Routes are added through `setup`, before the
// loop runs; everything after start() happens on the loop.
class RunningServer {
 public:
  RunningServer(ServerOptions options, const std::function<void(Server&)>& setup) {
    server_ = std::make_unique<Server>(loop_, std::move(options));
    setup(*server_);
    auto started = server_->start();
    REMORA_CHECK(started.has_value(), "server start: {}", started.error().message);
    thread_ = std::thread([this] { loop_.run(); });
  }
  ~RunningServer() {
    loop_.post([this] {
      server_.reset();
      loop_.stop();
    });
    thread_.join();
  }
  Server& server() { return *server_; }
  std::uint16_t port() const { return server_->port(); }
  std::string url(std::string_view path, bool tls = false) const {
    return std::string(tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port()) +
           std::string(path);
  }
  // Runs `fn` on the loop thread and waits for it.
  void onLoop(std::function<void()> fn) {
    std::promise<void> done;
    loop_.post([&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }

 private:
  EventLoop loop_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
};

// A blocking TCP connection with a receive timeout.
class RawConnection {
 public:
  explicit RawConnection(std::uint16_t port,
                         std::chrono::milliseconds recv_timeout = std::chrono::seconds(10))
      : socket_(io_) {
    std::error_code ec;
    socket_.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
    REMORA_CHECK(!ec, "connect: {}", ec.message());
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(recv_timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((recv_timeout.count() % 1000) * 1000);
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }

  // False when the peer is gone.
  bool send(std::string_view bytes) {
    std::error_code ec;
    asio::write(socket_, asio::buffer(bytes.data(), bytes.size()), ec);
    return !ec;
  }

  // Everything until the peer closes (or the receive timeout; `closed` tells).
  std::string readAll(bool* closed = nullptr) {
    std::string out;
    char buf[4096];
    while (true) {
      std::error_code ec;
      std::size_t n = socket_.read_some(asio::buffer(buf), ec);
      out.append(buf, n);
      if (ec) {
        if (closed != nullptr)
          *closed = ec == asio::error::eof || ec == asio::error::connection_reset;
        return out;
      }
    }
  }

  // Reads until `count` complete responses have been parsed (or the peer
  // closes or times out) and returns their log (http1_recorder.h format).
  std::string readResponses(int count, Method method = Method::Get) {
    Recorder rec;
    Http1Parser parser(Http1Parser::Mode::Response, rec);
    parser.setRequestMethod(method);
    char buf[4096];
    std::string_view pending;
    while (rec.messages() < count) {
      if (pending.empty()) {
        std::error_code ec;
        std::size_t n = socket_.read_some(asio::buffer(buf), ec);
        if (ec) break;
        pending = std::string_view(buf, n);
      }
      auto r = parser.feed(pending);
      if (!r) return rec.takeLog() + "PARSE ERROR " + r.error().message + "\n";
      pending.remove_prefix(*r);
    }
    leftover_ = std::string(pending);
    return rec.takeLog();
  }

  // True when the peer has closed (EOF or reset) before sending anything more.
  bool closedByPeer() {
    if (!leftover_.empty()) return false;
    bool closed = false;
    std::string rest = readAll(&closed);
    return closed && rest.empty();
  }

  void close() {
    std::error_code ignored;
    socket_.close(ignored);
  }

 private:
  asio::io_context io_;
  asio::ip::tcp::socket socket_;
  std::string leftover_;
};

// Waits (bounded) for `cond`; for states another thread reaches, never for timing.
inline bool eventually(const std::function<bool()>& cond,
                       std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return cond();
}

}  // namespace remora::http::testing

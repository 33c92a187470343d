// Server: a small HTTP/1.1 server for Remora's control-plane and admin
// endpoints (proxy admin 127.0.0.1:15000, stats 15090, health 15021,
// app-probe 15020, webhook 15017, CA 15012). Not the data plane: the proxy
// drives Http1Parser itself.
//
//   Server server(loop, {.address = "127.0.0.1", .port = 15021});
//   server.route("GET", "/healthz/ready", [](const Request&) { return Response::text(200, "ok");
//   }); REMORA_TRY(server.start());          // binds; server.port() is the bound port loop.run();
//
// Requests are parsed with Http1Parser (strict, RELIABILITY.md §1.5) and read
// whole, body included, up to ServerOptions::max_body_bytes (413 over it);
// the handler gets the complete Request and returns a complete Response. A
// connection serves its requests one at a time, in order (pipelined requests
// wait in the buffer), with keep-alive per RFC 9112 §9.3.
//
// Routing: exact paths first, then the longest matching prefix. The method
// must match ("" matches any); a path that matches with another method gets
// 405 with Allow; no match gets 404. Paths are matched on the request
// target's path without the query ("/stats?format=json" matches "/stats").
//
// Limits and timeouts (all per connection):
//   header_timeout  from the first byte of a request (or the TLS handshake's
//                   start) to the end of its head: 408 and close. This is
//                   the slow-drip (slowloris) defence Envoy leaves off.
//   body_timeout    from the end of the head to the end of the body: 408.
//   idle_timeout    between requests on a keep-alive connection: close.
//   write_timeout   to write a response: close.
//   max_connections open connections at once; one more is accepted and
//                   closed at once (the client sees EOF, not a hang).
// Parse errors answer with the status the parser names (400, 413, 414, 431,
// 501) and `Connection: close`, then close.
//
// TLS: with a context, every connection must start with a TLS handshake.
// The context can be replaced at runtime (setTlsContext, certificate
// rotation): new connections use the new one; open connections keep the one
// they started with (each holds a reference) and are never cut. A client
// that speaks plain HTTP to a TLS port gets a plain-text 400 and a close,
// not a TLS alert or a hang.
//
// Ownership and threads: the Server lives on one EventLoop. route(), start(),
// stop() and the destructor run on the loop's thread (or before it runs);
// handlers run on it too, so a handler must not block for long (and, to stop
// the server, posts stop() rather than calling it, so that its own response
// still goes out). setTlsContext()
// and the counters may be called from any thread. The server owns its
// connections; stop() or the destructor closes them all.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>

#include "core/event_loop.h"
#include "core/result.h"
#include "http/header_map.h"
#include "http/http1_parser.h"
#include "http/message.h"

namespace remora::http {

// A complete request, as a handler sees it. Valid for the handler call.
struct Request {
  RequestHead head;
  std::string body;
  std::string peer;  // "address:port" of the client
  bool tls = false;

  std::string_view method() const { return head.method_name; }
  // The target's path without the query.
  std::string_view path() const;
  // The query without '?', or "".
  std::string_view query() const;
};

// A complete response. The server adds Content-Length (except on 1xx, 204
// and 304) and Connection: close when it closes; handlers set the rest. A
// field that is not valid (CR, LF, controls) is dropped, never written.
struct Response {
  int status = 200;
  HeaderMap headers;
  std::string body;

  static Response text(int status, std::string body);
  static Response json(int status, std::string body);
};

using Handler = std::function<Response(const Request&)>;

struct ServerOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;  // 0: any free port (tests), see Server::port()
  // Parser limits; max_body_bytes is overridden by the field below.
  Http1Limits limits{};
  std::uint64_t max_body_bytes = 1024 * 1024;
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{30'000};
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds write_timeout{30'000};
  std::size_t max_connections = 1024;
  // SO_REUSEPORT: several Servers, each on its own loop thread, listen on
  // one port and the kernel spreads connections between them (the webhook's
  // workers). All of them must set it.
  bool reuse_port = false;
  // Optional TLS; see setTlsContext().
  std::shared_ptr<asio::ssl::context> tls;
  // For logs: "admin", "webhook", ...
  std::string name = "http";
};

class Server {
 public:
  Server(EventLoop& loop, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Routes `method` ("" for any) and an exact path / a path prefix.
  void route(std::string_view method, std::string path, Handler handler);
  void routePrefix(std::string_view method, std::string prefix, Handler handler);

  // Binds and listens (SO_REUSEADDR), then accepts on the loop. Errors:
  // Errc::Io with the system's reason (address in use, permission).
  [[nodiscard]] Status start();
  // The bound port (after start()).
  std::uint16_t port() const { return port_; }
  // Stops accepting and closes every connection. Idempotent.
  void stop();

  // Replaces the TLS context for connections accepted from now on.
  // Thread-safe. A null context is refused (a TLS port stays TLS).
  void setTlsContext(std::shared_ptr<asio::ssl::context> context);

  // Counters, readable from any thread.
  std::size_t connectionCount() const { return open_.load(std::memory_order_relaxed); }
  std::size_t peakConnections() const { return peak_.load(std::memory_order_relaxed); }
  std::uint64_t requestsServed() const { return served_.load(std::memory_order_relaxed); }
  std::uint64_t connectionsRefused() const { return refused_.load(std::memory_order_relaxed); }

 private:
  class Connection;
  friend class Connection;
  struct Route {
    std::string method;
    std::string path;
    bool prefix;
    Handler handler;
  };

  void accept();
  void onAccepted(asio::ip::tcp::socket socket);
  void release(std::uint64_t id);
  std::shared_ptr<asio::ssl::context> currentTls() const;
  Response dispatch(const Request& request) const;

  EventLoop& loop_;
  ServerOptions options_;
  asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  bool stopped_ = false;
  std::vector<Route> routes_;
  std::uint64_t next_id_ = 1;
  std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> connections_;

  mutable std::mutex tls_mutex_;  // guards tls_ (swapped from any thread)
  std::shared_ptr<asio::ssl::context> tls_;

  std::atomic<std::size_t> open_{0};
  std::atomic<std::size_t> peak_{0};
  std::atomic<std::uint64_t> served_{0};
  std::atomic<std::uint64_t> refused_{0};
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for handlers outliving us
};

}  // namespace remora::http

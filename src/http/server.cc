#include "http/server.h"

#include <algorithm>
#include <array>

#include <asio/detail/socket_option.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <sys/socket.h>

#include "core/assert.h"
#include "core/log.h"
#include "http/http1_serializer.h"
#include "http/transport.h"

namespace remora::http {

std::string_view Request::path() const {
  std::string_view p = head.path();
  return p.substr(0, p.find('?'));
}

std::string_view Request::query() const {
  std::string_view p = head.path();
  std::size_t q = p.find('?');
  return q == std::string_view::npos ? std::string_view{} : p.substr(q + 1);
}

Response Response::text(int status, std::string body) {
  Response r;
  r.status = status;
  r.headers.add("Content-Type", "text/plain; charset=utf-8");
  r.body = std::move(body);
  return r;
}

Response Response::json(int status, std::string body) {
  Response r;
  r.status = status;
  r.headers.add("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

namespace {

constexpr std::size_t kReadBufferSize = 16 * 1024;
// How long a closing connection keeps reading (and discarding) after its last
// response, so that unread request bytes do not turn the close into a reset
// that destroys the response before the client reads it.
constexpr std::chrono::milliseconds kLingerTime{1000};
// A write buffer larger than this is freed once written, not kept for reuse.
constexpr std::size_t kKeptBufferBytes = 64 * 1024;

constexpr std::string_view kPlainHttpOnTlsPortBody = "This port speaks TLS: use https://.\n";
const std::string& plainHttpOnTlsPortResponse() {
  static const std::string response = [] {
    std::string r =
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Connection: close\r\nContent-Length: ";
    appendDecimal(kPlainHttpOnTlsPortBody.size(), r);
    r += "\r\n\r\n";
    r += kPlainHttpOnTlsPortBody;
    return r;
  }();
  return response;
}

bool hasNoBody(int status) { return status < 200 || status == 204 || status == 304; }

}  // namespace

//  Handshake (TLS only: peek one byte; 0x16 -> TLS handshake, else plain 400)
//      |
//      v       first byte            head complete          body complete
//    Idle ------------------> Head -----------------> Body -----------------> Writing
//      ^   idle_timeout: close   header_timeout: 408     body_timeout: 408         |
//      |                                                                           |
//      +--------------- keep-alive: parse the next buffered request ---------------+
//                       close: Lingering (read and discard, then close) -> Closed
class Server::Connection : public DeferredDeletable, private Http1ParserCallbacks {
 public:
  Connection(Server& server, std::uint64_t id, asio::ip::tcp::socket socket,
             std::shared_ptr<asio::ssl::context> tls)
      : server_(server),
        id_(id),
        transport_(tls ? detail::Transport(std::move(socket), std::move(tls))
                       : detail::Transport(std::move(socket))),
        parser_(Http1Parser::Mode::Request, *this, server.options_.limits),
        timer_(server.loop_.context()) {
    std::error_code ec;
    auto ep = transport_.socket().remote_endpoint(ec);
    if (!ec) peer_ = ep.address().to_string() + ":" + std::to_string(ep.port());
  }

  ~Connection() override = default;

  void start() {
    if (transport_.isTls()) {
      phase_ = Phase::Handshake;
      arm(server_.options_.header_timeout);
      peekForTls();
    } else {
      enterIdle();
      read();
    }
  }

  // Closes now. Idempotent; the server destroys the object after the current
  // callback.
  void close() {
    if (phase_ == Phase::Closed) return;
    phase_ = Phase::Closed;
    timer_.cancel();
    transport_.close();
    server_.release(id_);
  }

 private:
  enum class Phase { Handshake, Idle, Head, Body, Writing, Lingering, Closed };

  // --- TLS ---
  void peekForTls() {
    transport_.socket().async_receive(
        asio::buffer(first_byte_), asio::socket_base::message_peek,
        [this, alive = std::weak_ptr<bool>(alive_)](std::error_code ec, std::size_t n) {
          if (alive.expired() || phase_ == Phase::Closed) return;
          if (ec || n == 0) return close();
          if (static_cast<unsigned char>(first_byte_[0]) != 0x16) {
            // Not a TLS record: most likely plain HTTP. Say so in plain text.
            REMORA_CONN_LOG(http, debug, id_, "{}: plain text on a TLS port",
                            server_.options_.name);
            respondPlainAndClose();
            return;
          }
          transport_.asyncHandshake(
              asio::ssl::stream_base::server,
              [this, alive = std::weak_ptr<bool>(alive_)](std::error_code hec) {
                if (alive.expired() || phase_ == Phase::Closed) return;
                if (hec) {
                  REMORA_CONN_LOG(http, debug, id_, "{}: TLS handshake failed: {}",
                                  server_.options_.name, hec.message());
                  return close();
                }
                enterIdle();
                read();
              });
        });
  }

  void respondPlainAndClose() {
    phase_ = Phase::Writing;
    arm(server_.options_.write_timeout);
    asio::async_write(transport_.socket(), asio::buffer(plainHttpOnTlsPortResponse()),
                      [this, alive = std::weak_ptr<bool>(alive_)](std::error_code ec, std::size_t) {
                        if (alive.expired() || phase_ == Phase::Closed) return;
                        if (ec) return close();
                        lingerPlain();
                      });
  }

  // Lingering on the raw socket (the bytes are not TLS).
  void lingerPlain() {
    phase_ = Phase::Lingering;
    std::error_code ignored;
    transport_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    arm(kLingerTime);
    transport_.socket().async_read_some(
        asio::buffer(buffer_),
        [this, alive = std::weak_ptr<bool>(alive_)](std::error_code ec, std::size_t) {
          if (alive.expired() || phase_ == Phase::Closed) return;
          if (ec) return close();
          lingerPlain();
        });
  }

  // --- reading and parsing ---
  void read() {
    reading_ = true;
    transport_.asyncReadSome(asio::buffer(buffer_), [this, alive = std::weak_ptr<bool>(alive_)](
                                                        std::error_code ec, std::size_t n) {
      if (alive.expired()) return;
      reading_ = false;
      if (phase_ == Phase::Closed) return;
      if (phase_ == Phase::Lingering) {
        if (ec) return close();
        return read();  // discard
      }
      if (phase_ == Phase::Writing && close_after_) return;  // closing: linger() reads on
      if (ec) {
        // The client closed or reset: nothing to answer.
        (void)parser_.finish();
        return close();
      }
      pending_ = std::string_view(buffer_.data(), n);
      parse();
    });
  }

  // Feeds buffered bytes until a request completes (then handles it), the
  // buffer is empty (then reads more), or an error.
  void parse() {
    while (true) {
      auto consumed = parser_.feed(pending_);
      if (!consumed) return failRequest(consumed.error());
      pending_.remove_prefix(*consumed);
      if (request_ready_) {
        request_ready_ = false;
        return handle();
      }
      if (pending_.empty()) {
        if (!reading_) read();  // also while a 100 Continue is being written
        return;
      }
    }
  }

  CallbackResult onMessageBegin() override {
    phase_ = Phase::Head;
    request_.body.clear();
    arm(server_.options_.header_timeout);
    return CallbackResult::Continue;
  }

  CallbackResult onRequestHead(RequestHead& head) override {
    request_.head.swap(head);
    phase_ = Phase::Body;
    if (request_.head.framing != BodyFraming::None) {
      arm(server_.options_.body_timeout);
      if (request_.head.expect_continue) queueWrite("HTTP/1.1 100 Continue\r\n\r\n");
    }
    return CallbackResult::Continue;
  }

  CallbackResult onBody(std::string_view data) override {
    request_.body.append(data);
    return CallbackResult::Continue;
  }

  CallbackResult onMessageComplete() override {
    request_ready_ = true;
    // Stop here: the next pipelined request waits until this one is answered.
    return CallbackResult::Pause;
  }

  // --- answering ---
  void handle() {
    request_.peer = peer_;
    request_.tls = transport_.isTls();
    Response response = server_.dispatch(request_);
    server_.served_.fetch_add(1, std::memory_order_relaxed);
    if (phase_ == Phase::Closed) return;  // the handler stopped the server
    bool keep = request_.head.keep_alive && !server_.stopped_ &&
                !listContains(response.headers, "connection", "close");
    writeResponse(std::move(response), request_.head.method == Method::Head, !keep);
  }

  void failRequest(const Error& error) {
    int status = httpStatus(error.code);
    REMORA_CONN_LOG(http, debug, id_, "{}: rejecting request: {} ({})", server_.options_.name,
                    error.message, status);
    Response r =
        Response::text(status, std::string(reasonPhrase(status)) + ": " + error.message + "\n");
    writeResponse(std::move(r), false, true);
  }

  void writeResponse(Response response, bool head_only, bool close_after) {
    ResponseHead head;
    head.status = response.status;
    // Handlers are ours, but a field with CR or LF would split the response:
    // drop it rather than write it.
    for (auto field : response.headers) {
      if (isValidFieldName(field.name) && isValidFieldValue(field.value)) {
        head.headers.add(field.name, field.value);
      } else {
        REMORA_CONN_LOG(http, warn, id_, "{}: handler set an invalid field '{}', dropped",
                        server_.options_.name, field.name);
      }
    }
    head.headers.remove("content-length");
    head.headers.remove("transfer-encoding");
    head.headers.remove("connection");
    if (!hasNoBody(response.status)) {
      std::string length;
      appendDecimal(response.body.size(), length);
      head.headers.add("Content-Length", length);
    }
    if (close_after) head.headers.add("Connection", "close");
    // Straight into the write buffer: a body of megabytes (the admin's
    // config dump of a large mesh) is copied once, not twice.
    serializeResponseHead(head, out_);
    if (!head_only && !hasNoBody(response.status)) out_ += response.body;
    close_after_ = close_after;
    response_pending_ = true;
    phase_ = Phase::Writing;
    arm(server_.options_.write_timeout);
    if (!writing_) flush();
  }

  void queueWrite(std::string_view bytes) {
    out_.append(bytes);
    if (!writing_) flush();
  }

  void flush() {
    writing_ = true;
    in_flight_.swap(out_);
    out_.clear();
    transport_.asyncWrite(asio::buffer(in_flight_), [this, alive = std::weak_ptr<bool>(alive_)](
                                                        std::error_code ec, std::size_t) {
      if (alive.expired()) return;
      writing_ = false;
      // A large response's buffer goes back now, not when the connection
      // closes (a keep-alive connection may live for hours).
      if (in_flight_.capacity() > kKeptBufferBytes) std::string().swap(in_flight_);
      if (phase_ == Phase::Closed) return;
      if (ec) return close();
      if (!out_.empty()) return flush();
      if (!response_pending_) return;  // a 100 Continue went out; the request goes on
      response_pending_ = false;
      if (close_after_) return linger();
      enterIdle();
      parser_.resume();
      parse();
    });
  }

  // After the last response: stop sending, read and discard what the client
  // still sends for a moment, then close.
  void linger() {
    if (transport_.isTls()) return close();  // a TLS peer reads close_notify-less EOF fine
    phase_ = Phase::Lingering;
    std::error_code ignored;
    transport_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    arm(kLingerTime);
    if (!reading_) read();
  }

  void enterIdle() {
    phase_ = Phase::Idle;
    arm(server_.options_.idle_timeout);
  }

  // --- timers ---
  void arm(std::chrono::milliseconds timeout) {
    ++timer_generation_;
    timer_.expires_after(timeout);
    timer_.async_wait([this, alive = std::weak_ptr<bool>(alive_),
                       generation = timer_generation_](std::error_code ec) {
      if (alive.expired() || ec || generation != timer_generation_) return;
      onTimeout();
    });
  }

  void onTimeout() {
    switch (phase_) {
      case Phase::Head:
      case Phase::Body: {
        REMORA_CONN_LOG(http, debug, id_, "{}: request timeout", server_.options_.name);
        Response r = Response::text(408, "Request Timeout\n");
        writeResponse(std::move(r), false, true);
        return;
      }
      case Phase::Handshake:
      case Phase::Idle:
      case Phase::Writing:
      case Phase::Lingering: close(); return;
      case Phase::Closed: return;
    }
  }

  Server& server_;
  std::uint64_t id_;
  std::string peer_;
  detail::Transport transport_;
  Http1Parser parser_;
  asio::steady_timer timer_;
  std::uint64_t timer_generation_ = 0;
  Phase phase_ = Phase::Idle;
  std::array<char, kReadBufferSize> buffer_{};
  std::array<char, 1> first_byte_{};
  std::string_view pending_;  // unparsed bytes in buffer_
  Request request_;
  bool request_ready_ = false;
  bool reading_ = false;
  bool writing_ = false;
  bool response_pending_ = false;
  bool close_after_ = false;
  std::string out_;
  std::string in_flight_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

Server::Server(EventLoop& loop, ServerOptions options)
    : loop_(loop), options_(std::move(options)), acceptor_(loop.context()), tls_(options_.tls) {
  options_.limits.max_body_bytes = options_.max_body_bytes;
}

Server::~Server() {
  stop();
  alive_.reset();
}

void Server::route(std::string_view method, std::string path, Handler handler) {
  REMORA_ASSERT(loop_.isThreadSafe());
  routes_.push_back(Route{std::string(method), std::move(path), false, std::move(handler)});
}

void Server::routePrefix(std::string_view method, std::string prefix, Handler handler) {
  REMORA_ASSERT(loop_.isThreadSafe());
  routes_.push_back(Route{std::string(method), std::move(prefix), true, std::move(handler)});
}

Status Server::start() {
  REMORA_ASSERT(loop_.isThreadSafe());
  std::error_code ec;
  auto address = asio::ip::make_address(options_.address, ec);
  if (ec) return Error{Errc::InvalidArgument, "invalid listen address " + options_.address};
  asio::ip::tcp::endpoint endpoint(address, options_.port);
  std::string where =
      options_.name + " on " + options_.address + ":" + std::to_string(options_.port);
  auto failed = [&]() -> Status {
    std::error_code ignored;
    acceptor_.close(ignored);
    return Error{Errc::Io, where + ": " + ec.message()};
  };
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) return failed();
  acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return failed();
  if (options_.reuse_port) {
    acceptor_.set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true), ec);
    if (ec) return failed();
  }
  acceptor_.bind(endpoint, ec);
  if (ec) return failed();
  acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return failed();
  port_ = acceptor_.local_endpoint(ec).port();
  stopped_ = false;
  REMORA_LOG(http, info, "{} listening on {}:{}{}", options_.name, options_.address, port_,
             tls_ ? " (TLS)" : "");
  accept();
  return ok();
}

void Server::accept() {
  acceptor_.async_accept([this, alive = std::weak_ptr<bool>(alive_)](std::error_code ec,
                                                                     asio::ip::tcp::socket socket) {
    if (alive.expired() || stopped_) return;
    if (ec) {
      if (ec == asio::error::operation_aborted) return;
      // EMFILE and friends: wait a little rather than spin on the error.
      REMORA_LOG(http, warn, "{}: accept failed: {}", options_.name, ec.message());
      auto timer =
          std::make_shared<asio::steady_timer>(loop_.context(), std::chrono::milliseconds(100));
      timer->async_wait([this, timer, alive](std::error_code) {
        if (!alive.expired() && !stopped_) accept();
      });
      return;
    }
    onAccepted(std::move(socket));
    accept();
  });
}

void Server::onAccepted(asio::ip::tcp::socket socket) {
  if (connections_.size() >= options_.max_connections) {
    refused_.fetch_add(1, std::memory_order_relaxed);
    std::error_code ignored;
    socket.close(ignored);
    return;
  }
  std::error_code ignored;
  socket.set_option(asio::ip::tcp::no_delay(true), ignored);
  std::uint64_t id = next_id_++;
  auto conn = std::make_unique<Connection>(*this, id, std::move(socket), currentTls());
  Connection& ref = *conn;
  connections_.emplace(id, std::move(conn));
  std::size_t open = open_.fetch_add(1, std::memory_order_relaxed) + 1;
  std::size_t peak = peak_.load(std::memory_order_relaxed);
  if (open > peak) peak_.store(open, std::memory_order_relaxed);
  ref.start();
}

void Server::release(std::uint64_t id) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  std::unique_ptr<Connection> conn = std::move(it->second);
  connections_.erase(it);
  open_.fetch_sub(1, std::memory_order_relaxed);
  loop_.deferDelete(std::move(conn));
}

void Server::stop() {
  stopped_ = true;
  std::error_code ignored;
  acceptor_.close(ignored);
  std::vector<std::uint64_t> ids;
  ids.reserve(connections_.size());
  for (auto& [id, conn] : connections_) ids.push_back(id);
  for (std::uint64_t id : ids) {
    auto it = connections_.find(id);
    if (it != connections_.end()) it->second->close();
  }
}

void Server::setTlsContext(std::shared_ptr<asio::ssl::context> context) {
  if (!context) return;
  std::lock_guard lock(tls_mutex_);
  tls_ = std::move(context);
}

std::shared_ptr<asio::ssl::context> Server::currentTls() const {
  std::lock_guard lock(tls_mutex_);
  return tls_;
}

Response Server::dispatch(const Request& request) const {
  std::string_view path = request.path();
  std::string_view method = request.method();
  auto methodMatches = [&](const Route& r, std::string_view m) {
    return r.method.empty() || r.method == m;
  };
  auto find = [&](std::string_view m) -> const Route* {
    const Route* best = nullptr;
    for (const Route& r : routes_) {
      if (!methodMatches(r, m)) continue;
      if (!r.prefix && r.path == path) return &r;
      if (r.prefix && path.starts_with(r.path) && (!best || r.path.size() > best->path.size())) {
        best = &r;
      }
    }
    return best;
  };
  const Route* route = find(method);
  if (!route && request.head.method == Method::Head) route = find("GET");
  if (route) return route->handler(request);

  std::string allow;
  for (const Route& r : routes_) {
    bool path_matches = r.prefix ? path.starts_with(r.path) : r.path == path;
    if (!path_matches || r.method.empty()) continue;
    if (allow.find(r.method) != std::string::npos) continue;
    if (!allow.empty()) allow += ", ";
    allow += r.method;
  }
  if (allow.empty()) return Response::text(404, "Not Found\n");
  Response r = Response::text(405, "Method Not Allowed\n");
  r.headers.add("Allow", allow);
  return r;
}

}  // namespace remora::http

#include "http/client.h"

#include <array>

#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/error.hpp>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "core/log.h"
#include "http/chars.h"
#include "http/http1_serializer.h"
#include "http/transport.h"

namespace remora::http {

using SteadyClock = std::chrono::steady_clock;

namespace {

bool isDefaultPort(const Url& url) { return url.port == (url.tls ? 443 : 80); }

bool isIpAddress(const std::string& host) {
  std::error_code ec;
  (void)asio::ip::make_address(host, ec);
  return !ec;
}

// Runs the io_context until `done` is set or `deadline` passes. On timeout it
// calls cancel() (which closes whatever the operation waits on) and drains
// the cancelled handler, so nothing is left pending. Returns false on timeout.
template <typename Cancel>
bool runUntil(asio::io_context& io, const bool& done, SteadyClock::time_point deadline,
              Cancel&& cancel) {
  io.restart();
  while (!done) {
    if (io.run_one_until(deadline) == 0 && !done) {
      cancel();
      io.restart();
      io.run();
      return false;
    }
  }
  return true;
}

Error timeoutError(std::string_view what, std::chrono::milliseconds timeout) {
  return Error{Errc::Timeout,
               std::string(what) + ": no answer within " + std::to_string(timeout.count()) + " ms"};
}

}  // namespace

std::string Url::authority() const {
  std::string a = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (!isDefaultPort(*this)) a += ":" + std::to_string(port);
  return a;
}

Result<Url> Url::parse(std::string_view text) {
  Url url;
  for (char c : text) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return Error{Errc::InvalidArgument, "URL contains whitespace or control characters"};
    }
  }
  std::string_view rest;
  if (text.substr(0, 7) == "http://") {
    rest = text.substr(7);
  } else if (text.substr(0, 8) == "https://") {
    url.tls = true;
    rest = text.substr(8);
  } else {
    return Error{Errc::InvalidArgument, "URL must start with http:// or https://"};
  }
  std::size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  std::string_view target = end == std::string_view::npos ? "" : rest.substr(end);
  target = target.substr(0, target.find('#'));
  if (authority.find('@') != std::string_view::npos) {
    return Error{Errc::InvalidArgument, "URL with userinfo is not supported"};
  }
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return Error{Errc::InvalidArgument, "unclosed '[' in URL"};
    url.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return Error{Errc::InvalidArgument, "junk after ']' in URL"};
      port = after.substr(1);
    }
  } else {
    std::size_t colon = authority.find(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (url.host.empty()) return Error{Errc::InvalidArgument, "URL without a host"};
  url.port = url.tls ? 443 : 80;
  if (!port.empty()) {
    std::uint32_t value = 0;
    if (port.size() > 5) return Error{Errc::InvalidArgument, "invalid port in URL"};
    for (char c : port) {
      if (!isDigit(c)) return Error{Errc::InvalidArgument, "invalid port in URL"};
      value = value * 10 + static_cast<std::uint32_t>(c - '0');
    }
    if (value == 0 || value > 65535) return Error{Errc::InvalidArgument, "invalid port in URL"};
    url.port = static_cast<std::uint16_t>(value);
  }
  if (target.empty()) {
    url.target = "/";
  } else if (target.front() == '?') {
    url.target = "/" + std::string(target);
  } else {
    url.target = std::string(target);
  }
  return url;
}

struct Client::Connection {
  std::string origin;  // "https://host:port"
  std::unique_ptr<detail::Transport> transport;
  std::array<char, 16 * 1024> buffer{};
};

// Receives one exchange's parser events: collects the response (send()) or
// hands it on as it arrives (stream()). Interim 1xx responses are skipped.
class Client::Exchange : public Http1ParserCallbacks {
 public:
  // Collecting.
  explicit Exchange(ClientResponse& out) : out_(&out) {}
  // Streaming.
  Exchange(const std::function<bool(const ResponseHead&)>& on_head,
           const std::function<bool(std::string_view)>& on_data)
      : on_head_(&on_head), on_data_(&on_data) {}

  CallbackResult onResponseHead(ResponseHead& head) override {
    interim_ = head.isInterim();
    if (interim_) return CallbackResult::Continue;
    keep_alive_ = head.keep_alive;
    if (out_ != nullptr) {
      out_->status = head.status;
      out_->reason = head.reason;
      out_->headers.swap(head.headers);
      return CallbackResult::Continue;
    }
    if (!(*on_head_)(head)) return stop();
    return CallbackResult::Continue;
  }
  CallbackResult onBody(std::string_view data) override {
    if (out_ != nullptr) {
      out_->body.append(data);
      return CallbackResult::Continue;
    }
    if (!(*on_data_)(data)) return stop();
    return CallbackResult::Continue;
  }
  CallbackResult onMessageComplete() override {
    if (interim_) {
      interim_ = false;
      return CallbackResult::Continue;
    }
    complete_ = true;
    return CallbackResult::Continue;
  }

  bool complete() const { return complete_; }
  bool stopped() const { return stopped_; }
  bool keepAlive() const { return keep_alive_; }
  bool streaming() const { return out_ == nullptr; }

 private:
  CallbackResult stop() {
    stopped_ = true;
    return CallbackResult::Pause;
  }

  ClientResponse* out_ = nullptr;
  const std::function<bool(const ResponseHead&)>* on_head_ = nullptr;
  const std::function<bool(std::string_view)>* on_data_ = nullptr;
  bool interim_ = false;
  bool complete_ = false;
  bool stopped_ = false;
  bool keep_alive_ = false;
};

Client::Client(ClientOptions options) : options_(std::move(options)) {}

Client::~Client() { closeIdle(); }

void Client::closeIdle() {
  if (idle_) {
    idle_->transport->close();
    idle_.reset();
  }
}

Result<ClientResponse> Client::send(const ClientRequest& request) {
  ClientResponse response;
  Exchange sink(response);
  REMORA_TRY(exchange(request, sink));
  return response;
}

Status Client::stream(const ClientRequest& request,
                      const std::function<bool(const ResponseHead&)>& on_head,
                      const std::function<bool(std::string_view)>& on_data) {
  Exchange sink(on_head, on_data);
  return exchange(request, sink);
}

Result<std::shared_ptr<asio::ssl::context>> Client::tlsContext() {
  if (options_.tls.context) return options_.tls.context;
  if (tls_context_) return tls_context_;
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  std::error_code ec;
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_compression,
                   ec);
  if (ec) return Error{Errc::Internal, "TLS options: " + ec.message()};
  if (options_.tls.ca_pem.empty()) {
    ctx->set_default_verify_paths(ec);
    if (ec) return Error{Errc::InvalidArgument, "default trust store: " + ec.message()};
  } else {
    ctx->add_certificate_authority(asio::buffer(options_.tls.ca_pem), ec);
    if (ec) return Error{Errc::InvalidArgument, "CA bundle: " + ec.message()};
  }
  if (!options_.tls.cert_pem.empty() || !options_.tls.key_pem.empty()) {
    ctx->use_certificate_chain(asio::buffer(options_.tls.cert_pem), ec);
    if (ec) return Error{Errc::InvalidArgument, "client certificate: " + ec.message()};
    ctx->use_private_key(asio::buffer(options_.tls.key_pem), asio::ssl::context::pem, ec);
    if (ec) return Error{Errc::InvalidArgument, "client key: " + ec.message()};
  }
  ctx->set_verify_mode(asio::ssl::verify_peer, ec);
  tls_context_ = ctx;
  return ctx;
}

Result<std::unique_ptr<Client::Connection>> Client::connect(const Url& url) {
  const auto deadline = SteadyClock::now() + options_.connect_timeout;
  const std::string where = url.host + ":" + std::to_string(url.port);

  asio::ip::tcp::resolver resolver(io_);
  asio::ip::tcp::resolver::results_type endpoints;
  std::error_code ec;
  bool done = false;
  resolver.async_resolve(url.host, std::to_string(url.port),
                         [&](std::error_code e, asio::ip::tcp::resolver::results_type r) {
                           ec = e;
                           endpoints = std::move(r);
                           done = true;
                         });
  if (!runUntil(io_, done, deadline, [&] { resolver.cancel(); })) {
    return timeoutError("resolving " + url.host, options_.connect_timeout);
  }
  if (ec) return Error{Errc::Unavailable, "resolving " + url.host + ": " + ec.message()};

  asio::ip::tcp::socket socket(io_);
  done = false;
  asio::async_connect(socket, endpoints, [&](std::error_code e, const asio::ip::tcp::endpoint&) {
    ec = e;
    done = true;
  });
  if (!runUntil(io_, done, deadline, [&] {
        std::error_code ignored;
        socket.close(ignored);
      })) {
    return timeoutError("connecting to " + where, options_.connect_timeout);
  }
  if (ec) return Error{Errc::Unavailable, "connecting to " + where + ": " + ec.message()};
  std::error_code ignored;
  socket.set_option(asio::ip::tcp::no_delay(true), ignored);

  auto conn = std::make_unique<Connection>();
  conn->origin = std::string(url.tls ? "https://" : "http://") + where;
  if (!url.tls) {
    conn->transport = std::make_unique<detail::Transport>(std::move(socket));
    return conn;
  }

  REMORA_ASSIGN_OR_RETURN(auto ctx, tlsContext());
  conn->transport = std::make_unique<detail::Transport>(std::move(socket), std::move(ctx));
  SSL* ssl = conn->transport->ssl();
  const std::string& name = options_.tls.server_name.empty() ? url.host : options_.tls.server_name;
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (isIpAddress(name)) {
    if (X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) != 1) {
      return Error{Errc::InvalidArgument, "invalid server IP " + name};
    }
  } else {
    if (X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size()) != 1 ||
        SSL_set_tlsext_host_name(ssl, name.c_str()) != 1) {
      return Error{Errc::InvalidArgument, "invalid server name " + name};
    }
  }
  done = false;
  conn->transport->asyncHandshake(asio::ssl::stream_base::client, [&](std::error_code e) {
    ec = e;
    done = true;
  });
  if (!runUntil(io_, done, deadline, [&] { conn->transport->close(); })) {
    return timeoutError("TLS handshake with " + where, options_.connect_timeout);
  }
  if (ec) {
    long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
      return Error{Errc::Unauthenticated, "TLS with " + where + ": server certificate rejected: " +
                                              X509_verify_cert_error_string(verify)};
    }
    return Error{Errc::Unavailable, "TLS handshake with " + where + ": " + ec.message()};
  }
  return conn;
}

Status Client::exchange(const ClientRequest& request, Exchange& sink) {
  REMORA_ASSIGN_OR_RETURN(Url url, Url::parse(request.url));

  // The request bytes, checked: nothing the caller passes can split them.
  if (request.method.empty() || !isValidFieldName(request.method)) {
    return Error{Errc::InvalidArgument, "invalid method '" + request.method + "'"};
  }
  RequestHead head;
  head.method = parseMethod(request.method);
  head.method_name = request.method;
  head.target = url.target;
  if (!request.headers.contains("host")) head.headers.add("Host", url.authority());
  if (!request.headers.contains("user-agent")) head.headers.add("User-Agent", options_.user_agent);
  for (auto field : request.headers) {
    if (!isValidFieldName(field.name) || !isValidFieldValue(field.value)) {
      return Error{Errc::InvalidArgument, "invalid header field '" + std::string(field.name) + "'"};
    }
    if (equalsIgnoreCase(field.name, "content-length") ||
        equalsIgnoreCase(field.name, "transfer-encoding") ||
        equalsIgnoreCase(field.name, "connection")) {
      continue;
    }
    head.headers.add(field.name, field.value);
  }
  if (!request.bearer_token.empty()) {
    std::string auth = "Bearer " + request.bearer_token;
    if (!isValidFieldValue(auth)) return Error{Errc::InvalidArgument, "invalid bearer token"};
    head.headers.add("Authorization", auth);
  }
  if (!request.body.empty() || head.method == Method::Post || head.method == Method::Put ||
      head.method == Method::Patch) {
    std::string length;
    appendDecimal(request.body.size(), length);
    head.headers.add("Content-Length", length);
  }
  std::string bytes;
  serializeRequestHead(head, bytes);
  bytes += request.body;

  const std::string origin =
      std::string(url.tls ? "https://" : "http://") + url.host + ":" + std::to_string(url.port);
  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<Connection> conn;
    bool reused = false;
    if (idle_ && idle_->origin == origin && attempt == 0) {
      conn = std::move(idle_);
      reused = true;
    } else {
      closeIdle();
      REMORA_ASSIGN_OR_RETURN(conn, connect(url));
    }
    // A reused connection that fails before the first response byte was
    // closed by the server while idle: retry once on a fresh one.
    auto stale = [&] { return reused && attempt == 0; };

    std::error_code ec;
    bool done = false;
    conn->transport->asyncWrite(asio::buffer(bytes), [&](std::error_code e, std::size_t) {
      ec = e;
      done = true;
    });
    if (!runUntil(io_, done, SteadyClock::now() + options_.read_timeout,
                  [&] { conn->transport->close(); })) {
      return timeoutError("sending to " + origin, options_.read_timeout);
    }
    if (ec) {
      if (stale()) continue;
      return Error{Errc::Unavailable, "sending to " + origin + ": " + ec.message()};
    }

    Http1Limits limits = options_.limits;
    limits.max_body_bytes = sink.streaming() ? UINT64_MAX : options_.max_response_bytes;
    Http1Parser parser(Http1Parser::Mode::Response, sink, limits);
    parser.setRequestMethod(head.method);
    bool got_bytes = false;
    bool retry = false;
    std::string_view leftover;
    while (!sink.complete() && !sink.stopped()) {
      std::size_t n = 0;
      done = false;
      conn->transport->asyncReadSome(asio::buffer(conn->buffer),
                                     [&](std::error_code e, std::size_t r) {
                                       ec = e;
                                       n = r;
                                       done = true;
                                     });
      if (!runUntil(io_, done, SteadyClock::now() + options_.read_timeout,
                    [&] { conn->transport->close(); })) {
        return timeoutError("waiting for " + origin, options_.read_timeout);
      }
      if (ec) {
        if (!got_bytes && stale()) {
          retry = true;
          break;
        }
        bool eof = ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
        if (!eof) return Error{Errc::Unavailable, "reading from " + origin + ": " + ec.message()};
        // The server closed: that ends a read-until-close body, or cuts a message.
        if (auto s = parser.finish(); !s) return s.error().context("response from " + origin);
        if (!sink.complete()) {
          return Error{Errc::Unavailable, "connection to " + origin + " closed before a response"};
        }
        conn.reset();
        break;
      }
      got_bytes = true;
      std::string_view data(conn->buffer.data(), n);
      while (!data.empty() && !sink.complete() && !sink.stopped()) {
        auto consumed = parser.feed(data);
        if (!consumed) return consumed.error().context("response from " + origin);
        data.remove_prefix(*consumed);
      }
      leftover = data;
    }
    if (retry) continue;
    // Keep the connection for the next request only when it is clean: the
    // response said keep-alive, ended, and nothing followed it.
    if (conn && sink.complete() && sink.keepAlive() && leftover.empty() && !parser.isUpgraded()) {
      idle_ = std::move(conn);
    } else if (conn) {
      conn->transport->close();
    }
    return ok();
  }
}

}  // namespace remora::http

// Client: a blocking HTTP/1.1 client for the CLI tools and the control plane
// (the Kubernetes API, the CA). Not the data plane.
//
//   Client client({.tls = {.ca_pem = bundle}});
//   ClientRequest req{.method = "GET", .url = "https://10.96.0.1/api/v1/pods",
//                     .bearer_token = token};
//   REMORA_ASSIGN_OR_RETURN(ClientResponse resp, client.send(req));
//
// Each call blocks until the response is complete, the deadline passes or
// the connection fails, and returns a Result; nothing throws. Responses are
// parsed with Http1Parser (strict; Content-Length, chunked and
// read-until-close bodies). stream() delivers body bytes as they arrive, for
// Kubernetes WATCH.
//
// Connections: the client keeps the last connection open when the response
// allows keep-alive and reuses it for the next request to the same origin.
// If a reused connection turns out to be closed before any byte of the
// response arrived (the server's idle timeout raced the request), the
// request is sent once more on a new connection, whatever its method: the
// server never saw it complete. Otherwise there is no retry.
//
// Errors (Error::code): InvalidArgument (bad URL, header or option),
// Unavailable (resolution, connection refused or reset, TLS failure other
// than verification), Unauthenticated (the server's certificate did not
// verify: chain or name), Timeout (connect_timeout or read_timeout passed),
// BadGateway (the response broke HTTP/1.1 or exceeded max_response_bytes).
//
// TLS: with an https:// URL the server's chain is verified against
// `tls.ca_pem` (or OpenSSL's default paths when empty) and its name against
// `tls.server_name` (default: the URL's host; a DNS name or an IP address),
// which is also sent as SNI for DNS names. A client certificate is presented
// when `tls.cert_pem` and `tls.key_pem` are set. `tls.context` replaces all
// of that with a context the caller built (e.g. tls::TlsContext's
// asioContext()); the name check still applies.
//
// Threading: a Client runs its own io_context on the calling thread; use one
// Client per thread (it is cheap), or serialize calls.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <asio/io_context.hpp>
#include <asio/ssl/context.hpp>

#include "core/result.h"
#include "http/header_map.h"
#include "http/http1_parser.h"
#include "http/message.h"

namespace remora::http {

// An http:// or https:// URL, split for a request.
struct Url {
  bool tls = false;
  std::string host;  // without brackets for IPv6
  std::uint16_t port = 0;
  std::string target;  // path and query, at least "/"; the fragment is dropped

  // "host[:port]" as the Host field wants it (port omitted when default).
  std::string authority() const;
  // Accepts http and https only; no userinfo, no whitespace or controls.
  static Result<Url> parse(std::string_view url);
};

struct ClientTlsOptions {
  std::string ca_pem;       // trust bundle (PEM); empty: OpenSSL's default paths
  std::string cert_pem;     // client certificate chain (PEM), optional
  std::string key_pem;      // its private key (PEM)
  std::string server_name;  // name to verify; default: the URL's host
  // A ready context (overrides ca_pem/cert_pem/key_pem). Shared, never modified.
  std::shared_ptr<asio::ssl::context> context;
};

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{5'000};  // resolve + TCP connect + TLS handshake
  std::chrono::milliseconds read_timeout{30'000};  // longest wait for the server, per read or write
  std::uint64_t max_response_bytes = 64ull * 1024 * 1024;  // send() only; stream() is unbounded
  Http1Limits limits{};
  ClientTlsOptions tls;
  std::string user_agent = "remora";
};

struct ClientRequest {
  std::string method = "GET";
  std::string url;
  // Extra fields. Host defaults to the URL's authority; Content-Length,
  // Transfer-Encoding and Connection are the client's and are replaced.
  HeaderMap headers;
  std::string body;
  // When set, adds `Authorization: Bearer <token>`.
  std::string bearer_token;
};

struct ClientResponse {
  int status = 0;
  std::string reason;
  HeaderMap headers;
  std::string body;
};

class Client {
 public:
  explicit Client(ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends the request and reads the whole response (1xx interim responses
  // are skipped).
  [[nodiscard]] Result<ClientResponse> send(const ClientRequest& request);

  // Sends the request, calls on_head once with the final response head, then
  // on_data with each piece of decoded body as it arrives. Returning false
  // from either stops reading (the connection is closed) and stream()
  // returns ok. Returns ok when the body ended, an Error otherwise.
  [[nodiscard]] Status stream(const ClientRequest& request,
                              const std::function<bool(const ResponseHead&)>& on_head,
                              const std::function<bool(std::string_view)>& on_data);

  // Closes the kept-alive connection, if any.
  void closeIdle();

 private:
  struct Connection;
  class Exchange;

  Status exchange(const ClientRequest& request, Exchange& sink);
  Result<std::unique_ptr<Connection>> connect(const Url& url);
  Result<std::shared_ptr<asio::ssl::context>> tlsContext();

  ClientOptions options_;
  asio::io_context io_{1};
  std::shared_ptr<asio::ssl::context> tls_context_;
  std::unique_ptr<Connection> idle_;  // the kept-alive connection
};

}  // namespace remora::http

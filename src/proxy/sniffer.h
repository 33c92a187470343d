// Protocol detection on a connection's first bytes (Envoy's http_inspector
// and tls_inspector in one function): HTTP/1.x, a TLS ClientHello, or
// anything else, which the proxy forwards as opaque TCP.
//
// The proxy reads what the client sends first and calls detect() on all of
// it so far. NeedMore means the bytes are a prefix of a protocol we
// recognise; the proxy reads again, and after the detection timeout
// (mesh.protocolDetectionTimeout) or a full buffer it treats the connection
// as opaque TCP. A server-first protocol (MySQL, SMTP) sends nothing at all;
// the same timeout turns it into TCP.
//
// Threading: none; a pure function.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace remora::proxy {

enum class Detected : std::uint8_t { NeedMore, Http1, Tls, Opaque };

// HTTP/1.x: a method token from RFC 9110 §9 (or PATCH) followed by a space.
// HTTP/2's prior-knowledge preface ("PRI * HTTP/2.0") is Opaque until the
// proxy speaks HTTP/2. TLS: a handshake record (0x16 0x03 0x0X).
Detected detect(std::string_view first_bytes) noexcept;

// What the inbound listener needs from a TLS ClientHello (Envoy's
// tls_inspector): the ALPN protocols offered, to tell a peer sidecar's mTLS
// (Istio's "istio-*" values) from the app's own TLS, which passes through.
struct ClientHello {
  static constexpr std::size_t kMaxAlpn = 8;  // more are ignored
  std::array<std::string_view, kMaxAlpn> alpn{};
  std::size_t alpn_count = 0;
  std::string_view server_name;  // SNI host name, "" when absent

  // Offers one of Istio's sidecar ALPN values (istio-peer-exchange,
  // istio-http/1.0, istio-http/1.1, istio-h2, istio).
  bool offersIstio() const noexcept;
};

enum class HelloParse : std::uint8_t { NeedMore, Ok, Invalid };

// Parses the ClientHello at the start of `bytes` (the first TLS record must
// hold all of it, as every client we know sends it). Views point into
// `bytes`. NeedMore: a valid prefix; Invalid: not a ClientHello we can read
// (the connection is then treated as opaque TLS). Never reads past `bytes`.
HelloParse parseClientHello(std::string_view bytes, ClientHello& out) noexcept;

}  // namespace remora::proxy

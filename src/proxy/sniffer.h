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

#include <cstdint>
#include <string_view>

namespace remora::proxy {

enum class Detected : std::uint8_t { NeedMore, Http1, Tls, Opaque };

// HTTP/1.x: a method token from RFC 9110 §9 (or PATCH) followed by a space.
// HTTP/2's prior-knowledge preface ("PRI * HTTP/2.0") is Opaque until the
// proxy speaks HTTP/2. TLS: a handshake record (0x16 0x03 0x0X).
Detected detect(std::string_view first_bytes) noexcept;

}  // namespace remora::proxy

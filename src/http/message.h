// HTTP/1.x message heads: the request line or status line, the header
// fields, and what the parser derived from them (framing, keep-alive,
// upgrade).
//
// A head is a value that owns its bytes. The parser owns one head per
// direction and reuses it for every message (clear() keeps capacity), so a
// warmed-up connection parses without allocating. It lends the head to the
// callbacks by non-const reference: a caller that needs it after the
// callback returns either copies what it needs or swap()s the whole head with
// a spare one it owns (no allocation, and the parser keeps reusing the
// spare's storage).
//
// The derived fields are filled by the parser and read by the proxy; the
// serializer ignores them and writes only the start line and the fields in
// `headers`. Code building a head to send sets the framing fields itself
// (Content-Length or Transfer-Encoding in `headers`).
//
// Threading: none; heads are values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "http/header_map.h"

namespace remora::http {

enum class Version : std::uint8_t { Http10, Http11 };

// "HTTP/1.0" or "HTTP/1.1".
std::string_view versionName(Version version) noexcept;

// The methods the codec treats specially, plus Other for any other token
// (extension methods are valid and forwarded as they are).
enum class Method : std::uint8_t {
  Other,
  Get,
  Head,
  Post,
  Put,
  Delete,
  Connect,
  Options,
  Trace,
  Patch,
};

// Case-sensitive, as RFC 9110 §9.1 says: "get" is an extension method.
Method parseMethod(std::string_view name) noexcept;
// The canonical name, or "" for Method::Other.
std::string_view methodName(Method method) noexcept;

// How the body of a message is delimited (RFC 9112 §6.3).
enum class BodyFraming : std::uint8_t {
  None,           // no body: Content-Length 0 or absent on a request, HEAD/1xx/204/304 responses,
                  // a 2xx answer to CONNECT, a 101
  ContentLength,  // exactly content_length bytes follow
  Chunked,        // Transfer-Encoding: chunked; the parser delivers the decoded data
  UntilClose,     // a response without Content-Length or Transfer-Encoding: the body ends when
                  // the connection does (Http1Parser::finish())
};

struct RequestHead {
  Method method = Method::Get;
  // The method as received (always set, also for the well-known ones).
  std::string method_name;
  // The request-target as received: origin-form (/path?q), absolute-form
  // (http://host/path), authority-form (host:port, CONNECT only) or "*"
  // (OPTIONS only).
  std::string target;
  Version version = Version::Http11;
  HeaderMap headers;

  // --- derived by the parser ---
  BodyFraming framing = BodyFraming::None;
  std::uint64_t content_length = 0;  // meaningful when framing == ContentLength
  // Whether the connection may carry another request after this one: HTTP/1.1
  // unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
  bool keep_alive = true;
  // An HTTP/1.1 request with an Upgrade field listed in Connection. The
  // caller may tunnel only once the upstream answers 101 (R16); until then
  // the bytes after this request are parsed as HTTP.
  bool upgrade = false;
  // `Expect: 100-continue` on an HTTP/1.1 request (RFC 9110 §10.1.1).
  bool expect_continue = false;

  // The Host field's value, or "" if absent (HTTP/1.0). For absolute-form
  // targets the parser has checked that the two agree (or rejected them).
  std::string_view host() const;
  // The path and query of the target: the target itself in origin-form, the
  // part from the first '/' after the authority in absolute-form ("/" if
  // none), "" for authority-form and "*".
  std::string_view path() const;

  // Resets to a default-constructed state, keeping allocated capacity.
  void clear() noexcept;
  void swap(RequestHead& other) noexcept;
};

struct ResponseHead {
  int status = 200;
  // The reason phrase as received (may be empty); serializers write the
  // standard phrase for `status` when this is empty.
  std::string reason;
  Version version = Version::Http11;
  HeaderMap headers;

  // --- derived by the parser ---
  BodyFraming framing = BodyFraming::None;
  std::uint64_t content_length = 0;  // meaningful when framing == ContentLength
  // Whether the connection may carry another exchange after this response.
  bool keep_alive = true;

  // 1xx other than 101: an interim response; the final one follows on the
  // same connection for the same request.
  bool isInterim() const { return status >= 100 && status < 200 && status != 101; }

  void clear() noexcept;
  void swap(ResponseHead& other) noexcept;
};

// The standard reason phrase for `status` ("OK", "Not Found", ...), or "" for
// an unknown code.
std::string_view reasonPhrase(int status) noexcept;

}  // namespace remora::http

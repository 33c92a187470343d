// Http1Parser: the strict, incremental HTTP/1.1 message parser (RFC 9112),
// bytes in, events out. No sockets, no timers, no allocation per message once
// warmed up, no exceptions.
//
// One parser reads one direction of one connection: Mode::Request for what a
// client sends (a server or the proxy's downstream side), Mode::Response for
// what a server sends (a client or the proxy's upstream side).
//
// Feeding. feed(bytes) consumes as much as it can and returns how many bytes
// it consumed. Bytes may arrive split at any boundary; the events, the body
// bytes and the verdict are the same for every split (the unit tests check
// every split point of every case). The parser stops:
//   - after onMessageComplete(): one message per call, so the caller sees
//     where a message ended (pipelining, upgrades) and calls feed() again with
//     the rest, typically `bytes.substr(consumed)`;
//   - after a callback returns CallbackResult::Pause, until resume();
//   - at the end of the input. Bytes of a partial line are copied into the
//     parser and count as consumed; never feed them again.
// Body data is never buffered: onBody() receives views into the bytes passed
// to feed(). Head lines that arrive split are copied into one reusable line
// buffer, bounded by the limits below.
//
// Errors. A byte stream that breaks a rule of RFC 9110/9112 or a limit makes
// feed() return an Error whose code says which status to send (see
// core/result.h httpStatus()):
//   Mode::Request   400 BadRequest, 413 PayloadTooLarge, 414 UriTooLong,
//                   431 HeaderFieldsTooLarge, 501 NotImplemented (unknown
//                   transfer coding, over-long method)
//   Mode::Response  502 BadGateway for every rule broken by the upstream
// After an error the parser is dead: every later feed() or finish() returns
// the same error. The connection must be closed after the error response is
// written (R1: framing is no longer trustworthy). Nothing that followed the
// offending byte was delivered to the callbacks; body bytes delivered before
// it were validly framed.
//
// The rules enforced (RELIABILITY.md §1.5): CL+TE rejected (R1); TE other than
// exactly `chunked` rejected, 400 when chunked is not last, 501 for unknown
// or unsupported codings (R2); TE in HTTP/1.0 rejected (R3); Content-Length
// must be one plain overflow-checked decimal (R4, R5); no whitespace before
// ':' (R6), no obs-fold (R7), no bare CR or bare LF (R8), no whitespace
// before the first field (R9), no controls in values (R10), token names;
// HTTP/1.1 requests carry exactly one valid Host, which agrees with an
// absolute-form target (R11); header bytes and count limits (R12); target
// length limit (R13); chunk sizes overflow-checked, chunk extensions capped
// (R15); trailers never change framing (Content-Length, Transfer-Encoding,
// Host and connection fields are rejected in trailers).
//
// Upgrade and CONNECT (R16). The request parser reports `upgrade` and
// Method::Connect in the head and keeps parsing HTTP after the request: the
// caller decides, from the upstream's answer, whether the following bytes are
// a tunnel (stop feeding this parser) or the next request (keep feeding).
// The response parser knows: after a 101, or a 2xx answer to CONNECT, it
// reports the message complete and isUpgraded() turns true; feed() then
// returns an Internal error, because the bytes that follow are not HTTP.
//
// Responses and the request they answer. A response's framing depends on the
// request's method (HEAD and CONNECT). Before each response, the caller tells
// the parser which method it answers with setRequestMethod() (default GET).
// Interim 1xx responses complete as messages of their own; the final response
// to the same request follows.
//
// Pausing. A callback that returns CallbackResult::Pause stops feed() right
// after that event. After resume(), call feed() again, with no new bytes if
// there are none: an event that was due without input (onMessageComplete of a
// body-less message whose head callback paused) is delivered then.
//
// Lifecycle of the callbacks, for each message:
//   onMessageBegin                      once, at the first byte of the message
//   onRequestHead | onResponseHead      once, when the head is complete and valid
//   onBody*                             zero or more times, decoded body bytes
//   onTrailers                          at most once, chunked messages only
//   onMessageComplete                   once; feed() returns right after it
// After an error no further callback is made for the message. The callbacks
// must not call feed() or finish() on the same parser (no reentrancy); they
// stop it only by returning CallbackResult::Pause. Empty lines (CRLF) between
// messages are skipped (RFC 9112 §2.2), at most 8 in a row.
//
// Threading: a parser and its callbacks belong to one thread (one connection).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "core/result.h"
#include "http/header_map.h"
#include "http/message.h"

namespace remora::http {

// Envoy's defaults (RELIABILITY.md §1.3), overridable per listener.
struct Http1Limits {
  // Decoded header bytes: name + value of every field, counted over all of
  // them, duplicates, cookies and dropped fields included. Over it: 431.
  // The raw bytes of the header section (with whitespace and line ends) are
  // capped at twice this value, also 431, so OWS padding cannot grow the
  // buffer without bound.
  std::size_t max_header_bytes = 60 * 1024;
  // Number of fields in the header section. Over it: 431.
  std::size_t max_headers = 100;
  // Request-target octets. Over it: 414. RFC 9112 §3 asks for at least 8000.
  std::size_t max_target_bytes = 16 * 1024;
  // Method octets. Over it: 501 (RFC 9112 §3: "longer than any it implements").
  std::size_t max_method_bytes = 32;
  // Response reason-phrase octets. Over it: 502.
  std::size_t max_reason_bytes = 1024;
  // Chunk-extension octets on one chunk-size line. Over it: 400 (R15).
  // Per line, not per message: aws-chunked uploads carry ~80 bytes of
  // signature on every chunk of a multi-gigabyte body.
  std::size_t max_chunk_extension_bytes = 4096;
  // Body bytes. Over it: 413 (requests; a Content-Length over it is refused
  // as soon as the head is read). Unlimited by default: the proxy streams.
  std::uint64_t max_body_bytes = std::numeric_limits<std::uint64_t>::max();

  // Field names with '_' (Envoy's headers_with_underscores_action). Allow is
  // Istio's default; Reject answers 400; Drop removes the field (it still
  // counts against the limits).
  enum class Underscores : std::uint8_t { Allow, Reject, Drop };
  Underscores underscores = Underscores::Allow;

  // A request body on GET, HEAD, OPTIONS or TRACE (Content-Length > 0 or
  // Transfer-Encoding) is rejected with 400 unless this is set: such bodies
  // have no defined semantics and some servers ignore them, which is how
  // requests get smuggled inside them (RELIABILITY.md §6.A test 2). Turn on
  // for APIs that use GET with a body (Elasticsearch). CONNECT never has one.
  bool allow_body_without_semantics = false;
};

enum class CallbackResult : std::uint8_t {
  Continue,
  // Stop after this event: feed() returns at once (counting the bytes of the
  // event as consumed) and consumes nothing until resume(). The proxy uses
  // it for backpressure when the peer's write buffer is full.
  Pause,
};

// What a parser reports. Default implementations accept and ignore, except
// that the pure virtual ones must be written. All views are valid only until
// the callback returns; heads and trailers may be swapped out (see message.h).
class Http1ParserCallbacks {
 public:
  virtual ~Http1ParserCallbacks() = default;

  virtual CallbackResult onMessageBegin() { return CallbackResult::Continue; }
  // Mode::Request: the head is complete and valid.
  virtual CallbackResult onRequestHead(RequestHead& /*head*/) { return CallbackResult::Continue; }
  // Mode::Response: the head is complete and valid.
  virtual CallbackResult onResponseHead(ResponseHead& /*head*/) { return CallbackResult::Continue; }
  // Decoded body bytes (chunk framing removed), never empty.
  virtual CallbackResult onBody(std::string_view data) = 0;
  // The trailer section of a chunked message, if it had one.
  virtual CallbackResult onTrailers(HeaderMap& /*trailers*/) { return CallbackResult::Continue; }
  // The message ended. feed() returns after this callback.
  virtual CallbackResult onMessageComplete() = 0;
};

class Http1Parser {
 public:
  enum class Mode : std::uint8_t { Request, Response };

  // `callbacks` must outlive the parser.
  Http1Parser(Mode mode, Http1ParserCallbacks& callbacks, const Http1Limits& limits = {});
  Http1Parser(const Http1Parser&) = delete;
  Http1Parser& operator=(const Http1Parser&) = delete;
  ~Http1Parser();

  // Consumes bytes; see the header comment. Returns the number of bytes
  // consumed (less than bytes.size() after a message completed, a pause, or
  // an upgrade), or the Error that ends the connection.
  [[nodiscard]] Result<std::size_t> feed(std::string_view bytes);

  // The peer closed its side (EOF). Completes a message delimited by the
  // close (BodyFraming::UntilClose, calling onMessageComplete). Returns an
  // error (400 / 502) if a message was cut short: inside a head, a
  // Content-Length body or a chunked body. Between messages it is a normal
  // end and returns ok.
  [[nodiscard]] Status finish();

  // Lifts a pause. The next feed() continues where the paused one stopped.
  void resume() noexcept { paused_ = false; }
  bool isPaused() const noexcept { return paused_; }

  // Mode::Response: the method of the request the next response answers
  // (HEAD and CONNECT change a response's framing). Default GET.
  void setRequestMethod(Method method) noexcept { request_method_ = method; }
  // Mode::Response: whether the request the next response answers asked to
  // upgrade (RequestHead::upgrade). A 101 to a request that did not ask is
  // rejected with 502, never tunnelled (R16). Default false.
  void setUpgradeRequested(bool requested) noexcept { upgrade_requested_ = requested; }

  // Between two messages (no byte of the next one seen yet).
  bool isIdle() const noexcept;
  // Mode::Response: a 101 or a 2xx to CONNECT completed; the connection is a
  // tunnel now.
  bool isUpgraded() const noexcept { return upgraded_; }
  // The error that killed the parser, if any.
  bool hasError() const noexcept { return failed_; }

  Mode mode() const noexcept { return mode_; }
  const Http1Limits& limits() const noexcept { return limits_; }

 private:
  enum class State : std::uint8_t;
  enum class LineStatus : std::uint8_t { Line, NeedMore, Overflow, Error };

  LineStatus takeLine(std::string_view in, std::size_t& pos, std::size_t cap,
                      std::string_view& line, std::string& overflow_prefix);
  // Cold: laid out away from the paths a valid message takes.
  [[gnu::cold]] Status failWith(Errc code, std::string_view message);
  Status earlyStartLineCheck(std::string_view seen) const;
  Status onStartLine(std::string_view line);
  Status parseRequestLine(std::string_view line);
  Status parseStatusLine(std::string_view line);
  Status classifyLongRequestLine(std::string_view prefix) const;
  Status onFieldLine(std::string_view line, bool trailer);
  Status noteSpecialField(KnownField field, std::string_view value);
  Status finishRequestHead();
  Status finishResponseHead();
  Status onChunkSizeLine(std::string_view line);
  void beginMessage();
  std::size_t headerLineCap() const;

  Mode mode_;
  Http1ParserCallbacks& callbacks_;
  Http1Limits limits_;
  State state_;
  bool paused_ = false;
  bool upgraded_ = false;
  bool failed_ = false;
  bool pending_cr_ = false;       // a CR between messages, waiting for its LF
  bool line_done_ = false;        // line_ holds a line already processed
  std::uint8_t crlf_seen_ = 0;    // bytes of the CRLF after chunk data seen so far
  std::uint8_t empty_lines_ = 0;  // empty lines skipped before this message
  std::uint8_t host_count_ = 0;
  Method request_method_ = Method::Get;
  bool upgrade_requested_ = false;
  Error error_;

  // Reused across messages (the "no allocation once warmed up" contract).
  RequestHead request_;
  ResponseHead response_;
  HeaderMap trailers_;
  std::string line_;  // a head or chunk line that arrived split

  // Per-message counters.
  std::size_t header_bytes_ = 0;      // decoded name + value bytes
  std::size_t header_raw_bytes_ = 0;  // raw bytes of the section
  std::size_t header_count_ = 0;
  std::uint64_t content_length_ = 0;  // the Content-Length value, once seen
  std::uint64_t remaining_ = 0;       // body bytes left in the CL body or current chunk
  std::uint64_t body_received_ = 0;   // for max_body_bytes
  std::uint32_t flags_ = 0;           // facts gathered while reading fields
};

}  // namespace remora::http

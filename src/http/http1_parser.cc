#include "http/http1_parser.h"

#include <algorithm>
#include <cstring>

#include "core/assert.h"
#include "http/chars.h"

namespace remora::http {

//        feed()
//          |
//          v            first byte                 CRLF                     empty line
//   +--> Idle ----------------------> StartLine ----------> Fields --------------------+
//   |     (skips up to 8 CRLF)                                                         |
//   |                                                         head checked, callback   |
//   |    +--------------+----------------+------------------+--------------------------+
//   |    | None         | ContentLength  | Chunked          | UntilClose (responses)
//   |    v              v                v                  v
//   |  Complete <--- BodyLength       ChunkSize <-----+   BodyUntilClose --finish()--> Complete
//   |    ^                             | n>0   | n=0  |
//   |    |                             v       |      |
//   |    |                          ChunkData -+-> ChunkDataEnd (CRLF)
//   |    |                                     v
//   |    +-------------------------------- Trailers (fields until empty line)
//   |    |
//   +----+ onMessageComplete; feed() returns      Complete --101 / CONNECT 2xx--> Upgraded
//
//   any state --rule broken--> Failed (sticky: every later call returns the error)
enum class Http1Parser::State : std::uint8_t {
  Idle,
  StartLine,
  Fields,
  BodyLength,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  BodyUntilClose,
  Complete,
  Upgraded,
  Failed,
};

namespace {

constexpr std::uint8_t kMaxEmptyLines = 8;
constexpr std::size_t kMaxChunkSizeDigits = 16;  // 64 bits of hex

enum Flag : std::uint32_t {
  kSeenContentLength = 1u << 0,
  kSeenTransferEncoding = 1u << 1,
  kTeChunkedLast = 1u << 2,     // the last coding listed so far is chunked
  kTeChunkedNotLast = 1u << 3,  // a coding followed chunked (or chunked came twice)
  kTeUnknown = 1u << 4,
  kTeOtherKnown = 1u << 5,  // gzip, deflate, compress: valid, not implemented
  kTeEmpty = 1u << 6,       // a Transfer-Encoding field with no coding
  kConnClose = 1u << 7,
  kConnKeepAlive = 1u << 8,
  kConnUpgrade = 1u << 9,
  kSeenUpgrade = 1u << 10,
  kExpectContinue = 1u << 11,
};

// Overflow-checked decimal (RFC 9110 §8.6: 1*DIGIT). No sign, no spaces, no
// base prefix, no list: anything else is invalid.
bool parseDecimal(std::string_view s, std::uint64_t& out) {
  if (s.empty()) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (!isDigit(c)) return false;
    auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

bool isKnownNonChunkedCoding(std::string_view coding) {
  return equalsIgnoreCase(coding, "gzip") || equalsIgnoreCase(coding, "deflate") ||
         equalsIgnoreCase(coding, "compress") || equalsIgnoreCase(coding, "x-gzip") ||
         equalsIgnoreCase(coding, "x-compress");
}

// RFC 3986 host [":" port] as allowed in a Host field or an authority:
// IP-literal, IPv4address or reg-name (unreserved, pct-encoded, sub-delims).
// No userinfo, no whitespace, no path characters.
bool isValidAuthority(std::string_view a) {
  if (a.empty()) return false;
  std::size_t i = 0;
  if (a[0] == '[') {
    std::size_t close = a.find(']');
    if (close == std::string_view::npos || close < 2) return false;
    for (std::size_t k = 1; k < close; ++k) {
      char c = a[k];
      if (!(isHexDigit(c) || c == ':' || c == '.' || c == 'v' || c == 'V')) return false;
    }
    i = close + 1;
  } else {
    // reg-name (IPv4address is one): stops at the port's ':' or at a byte
    // that has no place here, which the ':' test below then refuses.
    while (i < a.size()) {
      if (isRegNameChar(a[i])) {
        ++i;
      } else if (a[i] == '%') {
        if (i + 2 >= a.size() || !isHexDigit(a[i + 1]) || !isHexDigit(a[i + 2])) return false;
        i += 3;
      } else {
        break;
      }
    }
    if (i == 0) return false;  // empty host
  }
  if (i == a.size()) return true;
  if (a[i] != ':') return false;
  std::string_view port = a.substr(i + 1);
  if (port.size() > 5) return false;
  std::uint64_t value = 0;
  if (port.empty()) return true;  // "host:" is allowed by RFC 3986 (port = *DIGIT)
  return parseDecimal(port, value) && value <= 65535;
}

bool isForbiddenTrailer(std::string_view name) {
  switch (name.size()) {
    case 2: return equalsIgnoreCase(name, "te");
    case 4: return equalsIgnoreCase(name, "host");
    case 7: return equalsIgnoreCase(name, "upgrade") || equalsIgnoreCase(name, "trailer");
    case 10: return equalsIgnoreCase(name, "connection") || equalsIgnoreCase(name, "keep-alive");
    case 14: return equalsIgnoreCase(name, "content-length");
    case 16: return equalsIgnoreCase(name, "proxy-connection");
    case 17: return equalsIgnoreCase(name, "transfer-encoding");
    default: return false;
  }
}

// Scans a quoted-string starting at s[i] == '"'; returns the index after the
// closing quote, or npos.
std::size_t skipQuotedString(std::string_view s, std::size_t i) {
  ++i;
  while (i < s.size()) {
    char c = s[i];
    if (c == '"') return i + 1;
    if (c == '\\') {
      if (i + 1 >= s.size() || !isFieldValueChar(s[i + 1])) return std::string_view::npos;
      i += 2;
      continue;
    }
    if (!isFieldValueChar(c)) return std::string_view::npos;
    ++i;
  }
  return std::string_view::npos;
}

}  // namespace

Http1Parser::Http1Parser(Mode mode, Http1ParserCallbacks& callbacks, const Http1Limits& limits)
    : mode_(mode), callbacks_(callbacks), limits_(limits), state_(State::Idle) {}

Http1Parser::~Http1Parser() = default;

bool Http1Parser::isIdle() const noexcept { return state_ == State::Idle; }

Status Http1Parser::failWith(Errc code, std::string_view message) {
  // Every rule an upstream breaks is the same thing to the client: a bad
  // gateway. The message keeps the detail for logs.
  if (mode_ == Mode::Response) code = Errc::BadGateway;
  error_ = Error{code, std::string(message)};
  failed_ = true;
  state_ = State::Failed;
  return error_;
}

std::size_t Http1Parser::headerLineCap() const {
  std::size_t raw_limit = 2 * limits_.max_header_bytes;
  return header_raw_bytes_ >= raw_limit ? 0 : raw_limit - header_raw_bytes_;
}

void Http1Parser::beginMessage() {
  if (mode_ == Mode::Request) {
    request_.clear();
  } else {
    response_.clear();
  }
  trailers_.clear();
  header_bytes_ = 0;
  header_raw_bytes_ = 0;
  header_count_ = 0;
  content_length_ = 0;
  remaining_ = 0;
  body_received_ = 0;
  flags_ = 0;
  host_count_ = 0;
  crlf_seen_ = 0;
}

// Takes one CRLF-terminated line starting at in[pos]. The line's bytes before
// the LF may not exceed `cap`. A line split across feeds is gathered in line_.
// On Overflow, `overflow_prefix` receives the first cap+1 bytes of the line,
// whatever the split, so the verdict on an over-long line never depends on
// where the input was cut.
Http1Parser::LineStatus Http1Parser::takeLine(std::string_view in, std::size_t& pos,
                                              std::size_t cap, std::string_view& line,
                                              std::string& overflow_prefix) {
  if (line_done_) {
    line_.clear();
    line_done_ = false;
  }
  const char* start = in.data() + pos;
  std::size_t avail = in.size() - pos;
  const void* lf = std::memchr(start, '\n', avail);
  std::size_t before_lf =
      lf ? static_cast<std::size_t>(static_cast<const char*>(lf) - start) : avail;
  if (line_.size() + before_lf > cap) {
    overflow_prefix = line_;
    overflow_prefix.append(start, std::min(before_lf, cap + 1 - line_.size()));
    return LineStatus::Overflow;
  }
  if (lf == nullptr) {
    line_.append(start, avail);
    pos = in.size();
    return LineStatus::NeedMore;
  }
  std::string_view raw;
  if (line_.empty()) {
    raw = std::string_view(start, before_lf);
  } else {
    line_.append(start, before_lf);
    raw = line_;
    line_done_ = true;
  }
  pos += before_lf + 1;
  if (raw.empty() || raw.back() != '\r') {
    line = raw;                // for checks that must come first, as they would on a partial line
    return LineStatus::Error;  // bare LF
  }
  line = raw.substr(0, raw.size() - 1);
  return LineStatus::Line;
}

Result<std::size_t> Http1Parser::feed(std::string_view in) {
  if (failed_) return error_;
  if (upgraded_) return Error{Errc::Internal, "HTTP/1 parser fed after the connection upgraded"};
  if (paused_) return std::size_t{0};

  std::size_t pos = 0;
  std::string overflow;  // only written on the error path
  std::string_view line;
  const bool request = mode_ == Mode::Request;

  auto paused = [&](CallbackResult r) {
    if (r == CallbackResult::Pause) paused_ = true;
    return paused_;
  };

  while (true) {
    switch (state_) {
      case State::Idle: {
        if (pos == in.size()) return pos;
        char c = in[pos];
        if (pending_cr_) {
          if (c != '\n') return failWith(Errc::BadRequest, "bare CR between messages").error();
          pending_cr_ = false;
          ++pos;
          if (++empty_lines_ > kMaxEmptyLines) {
            return failWith(Errc::BadRequest, "too many empty lines between messages").error();
          }
          continue;
        }
        if (c == '\r') {
          pending_cr_ = true;
          ++pos;
          continue;
        }
        if (c == '\n') return failWith(Errc::BadRequest, "bare LF between messages").error();
        beginMessage();
        state_ = State::StartLine;
        if (paused(callbacks_.onMessageBegin())) return pos;
        continue;
      }

      case State::StartLine: {
        if (pos == in.size()) return pos;
        std::size_t cap = request ? limits_.max_method_bytes + limits_.max_target_bytes + 12
                                  : limits_.max_reason_bytes + 14;
        switch (takeLine(in, pos, cap, line, overflow)) {
          case LineStatus::NeedMore:
            if (auto s = earlyStartLineCheck(line_); !s) {
              return failWith(s.error().code, s.error().message).error();
            }
            return pos;
          case LineStatus::Overflow: {
            if (!request) return failWith(Errc::BadGateway, "status line too long").error();
            auto s = classifyLongRequestLine(overflow);
            return failWith(s.error().code, s.error().message).error();
          }
          case LineStatus::Error:
            // Had the line arrived in pieces, the early checks would have
            // judged its beginning first; judge it the same way now.
            if (auto s = earlyStartLineCheck(line); !s) {
              return failWith(s.error().code, s.error().message).error();
            }
            return failWith(Errc::BadRequest, "bare LF in the start line").error();
          case LineStatus::Line: break;
        }
        if (auto s = onStartLine(line); !s) return std::move(s).error();
        state_ = State::Fields;
        continue;
      }

      case State::Fields:
      case State::Trailers: {
        if (pos == in.size()) return pos;
        bool trailer = state_ == State::Trailers;
        std::size_t cap = headerLineCap();
        switch (takeLine(in, pos, cap, line, overflow)) {
          case LineStatus::NeedMore: return pos;
          case LineStatus::Overflow:
            return failWith(Errc::HeaderFieldsTooLarge,
                            trailer ? "trailer section too large" : "header section too large")
                .error();
          case LineStatus::Error:
            return failWith(Errc::BadRequest, "bare LF in a field line").error();
          case LineStatus::Line: break;
        }
        header_raw_bytes_ += line.size() + 2;
        if (!line.empty()) {
          if (auto s = onFieldLine(line, trailer); !s) return std::move(s).error();
          continue;
        }
        if (trailer) {
          state_ = State::Complete;
          if (!trailers_.empty() && paused(callbacks_.onTrailers(trailers_))) return pos;
          continue;
        }
        // The head is complete.
        if (request) {
          if (auto s = finishRequestHead(); !s) return std::move(s).error();
        } else {
          if (auto s = finishResponseHead(); !s) return std::move(s).error();
        }
        BodyFraming framing = request ? request_.framing : response_.framing;
        switch (framing) {
          case BodyFraming::None: state_ = State::Complete; break;
          case BodyFraming::ContentLength:
            remaining_ = content_length_;
            state_ = State::BodyLength;
            break;
          case BodyFraming::Chunked:
            // The trailer section gets a fresh budget of its own.
            header_raw_bytes_ = 0;
            header_bytes_ = 0;
            header_count_ = 0;
            state_ = State::ChunkSize;
            break;
          case BodyFraming::UntilClose: state_ = State::BodyUntilClose; break;
        }
        CallbackResult r =
            request ? callbacks_.onRequestHead(request_) : callbacks_.onResponseHead(response_);
        if (paused(r)) return pos;
        continue;
      }

      case State::BodyLength: {
        if (pos == in.size()) return pos;
        std::size_t n = static_cast<std::size_t>(
            std::min<std::uint64_t>(remaining_, static_cast<std::uint64_t>(in.size() - pos)));
        std::string_view data = in.substr(pos, n);
        pos += n;
        remaining_ -= n;
        if (remaining_ == 0) state_ = State::Complete;
        if (paused(callbacks_.onBody(data))) return pos;
        continue;
      }

      case State::ChunkSize: {
        if (pos == in.size()) return pos;
        std::size_t cap = kMaxChunkSizeDigits + limits_.max_chunk_extension_bytes + 1;
        switch (takeLine(in, pos, cap, line, overflow)) {
          case LineStatus::NeedMore: return pos;
          case LineStatus::Overflow:
            return failWith(Errc::BadRequest, "chunk-size line too long").error();
          case LineStatus::Error:
            return failWith(Errc::BadRequest, "bare LF in a chunk-size line").error();
          case LineStatus::Line: break;
        }
        if (auto s = onChunkSizeLine(line); !s) return std::move(s).error();
        continue;
      }

      case State::ChunkData: {
        if (pos == in.size()) return pos;
        std::size_t n = static_cast<std::size_t>(
            std::min<std::uint64_t>(remaining_, static_cast<std::uint64_t>(in.size() - pos)));
        std::string_view data = in.substr(pos, n);
        pos += n;
        remaining_ -= n;
        if (remaining_ == 0) {
          state_ = State::ChunkDataEnd;
          crlf_seen_ = 0;
        }
        if (paused(callbacks_.onBody(data))) return pos;
        continue;
      }

      case State::ChunkDataEnd: {
        if (pos == in.size()) return pos;
        char expected = crlf_seen_ == 0 ? '\r' : '\n';
        if (in[pos] != expected) {
          return failWith(Errc::BadRequest, "chunk data not followed by CRLF").error();
        }
        ++pos;
        if (++crlf_seen_ == 2) state_ = State::ChunkSize;
        continue;
      }

      case State::BodyUntilClose: {
        if (pos == in.size()) return pos;
        std::string_view data = in.substr(pos);
        body_received_ += data.size();
        if (body_received_ > limits_.max_body_bytes) {
          return failWith(Errc::PayloadTooLarge, "body larger than the limit").error();
        }
        pos = in.size();
        if (paused(callbacks_.onBody(data))) return pos;
        continue;
      }

      case State::Complete: {
        empty_lines_ = 0;
        bool tunnel = false;
        if (!request) {
          tunnel = response_.status == 101 || (request_method_ == Method::Connect &&
                                               response_.status >= 200 && response_.status < 300);
        }
        state_ = tunnel ? State::Upgraded : State::Idle;
        if (tunnel) upgraded_ = true;
        paused(callbacks_.onMessageComplete());
        return pos;
      }

      case State::Upgraded:
        return Error{Errc::Internal, "HTTP/1 parser fed after the connection upgraded"};

      case State::Failed: return error_;
    }
  }
}

Status Http1Parser::finish() {
  if (failed_) return error_;
  switch (state_) {
    case State::Idle:
    case State::Upgraded: return ok();
    case State::BodyUntilClose:
    case State::Complete:
      state_ = State::Idle;
      empty_lines_ = 0;
      (void)callbacks_.onMessageComplete();
      return ok();
    default: return failWith(Errc::BadRequest, "connection closed in the middle of a message");
  }
}

// Cheap checks on a start line that has not ended yet, so that garbage (a TLS
// ClientHello on a plain port, a binary protocol) is refused at once instead
// of when a line end or the size limit finally arrives. Each check is one the
// full-line parser makes first, with the same verdict.
Status Http1Parser::earlyStartLineCheck(std::string_view seen) const {
  if (mode_ == Mode::Response) {
    constexpr std::string_view kPrefix = "HTTP/1.";
    std::size_t n = std::min(seen.size(), kPrefix.size());
    if (seen.substr(0, n) != kPrefix.substr(0, n)) {
      return Error{Errc::BadGateway, "invalid status line"};
    }
    return ok();
  }
  std::size_t i = 0;
  while (i < seen.size() && isTchar(seen[i])) ++i;
  if (i > limits_.max_method_bytes) return Error{Errc::NotImplemented, "method too long"};
  if (i < seen.size() && (seen[i] != ' ' || i == 0)) {
    return Error{Errc::BadRequest, "invalid method"};
  }
  return ok();
}

// The verdict on a request line longer than the start-line cap, from its
// first cap+1 bytes: the first thing wrong, in the order parseRequestLine()
// checks.
Status Http1Parser::classifyLongRequestLine(std::string_view prefix) const {
  std::size_t i = 0;
  while (i < prefix.size() && isTchar(prefix[i])) ++i;
  if (i > limits_.max_method_bytes) return Error{Errc::NotImplemented, "method too long"};
  if (i == prefix.size() || prefix[i] != ' ' || i == 0) {
    return Error{Errc::BadRequest, "invalid method"};
  }
  std::size_t t = i + 1;
  std::size_t j = t;
  while (j < prefix.size() && isTargetChar(prefix[j])) ++j;
  if (j - t > limits_.max_target_bytes) return Error{Errc::UriTooLong, "request-target too long"};
  return Error{Errc::BadRequest, "malformed request line"};
}

Status Http1Parser::onStartLine(std::string_view line) {
  if (mode_ == Mode::Request) return parseRequestLine(line);
  return parseStatusLine(line);
}

Status Http1Parser::parseRequestLine(std::string_view line) {
  // request-line = method SP request-target SP HTTP-version (RFC 9112 §3),
  // exactly one SP each: anything lenient here is a smuggling vector.
  std::size_t i = 0;
  while (i < line.size() && isTchar(line[i])) ++i;
  if (i > limits_.max_method_bytes) return failWith(Errc::NotImplemented, "method too long");
  if (i == 0 || i == line.size() || line[i] != ' ') {
    return failWith(Errc::BadRequest, "invalid method");
  }
  std::string_view method = line.substr(0, i);
  std::size_t t = i + 1;
  std::size_t j = t;
  while (j < line.size() && isTargetChar(line[j])) ++j;
  if (j - t > limits_.max_target_bytes)
    return failWith(Errc::UriTooLong, "request-target too long");
  if (j == t || j == line.size() || line[j] != ' ') {
    return failWith(Errc::BadRequest, "invalid request-target");
  }
  std::string_view target = line.substr(t, j - t);
  std::string_view version = line.substr(j + 1);
  if (version == "HTTP/1.1") {
    request_.version = Version::Http11;
  } else if (version == "HTTP/1.0") {
    request_.version = Version::Http10;
  } else {
    return failWith(Errc::BadRequest, "unsupported HTTP version");
  }
  request_.method = parseMethod(method);
  request_.method_name.assign(method);
  request_.target.assign(target);
  return ok();
}

Status Http1Parser::parseStatusLine(std::string_view line) {
  // status-line = HTTP-version SP status-code SP [ reason-phrase ]; a missing
  // SP before an empty reason is tolerated (common, and harmless).
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || (line[7] != '0' && line[7] != '1') ||
      line[8] != ' ' || !isDigit(line[9]) || !isDigit(line[10]) || !isDigit(line[11])) {
    return failWith(Errc::BadGateway, "invalid status line");
  }
  response_.version = line[7] == '1' ? Version::Http11 : Version::Http10;
  int status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  if (status < 100 || status > 599) return failWith(Errc::BadGateway, "invalid status code");
  response_.status = status;
  std::string_view reason;
  if (line.size() > 12) {
    if (line[12] != ' ') return failWith(Errc::BadGateway, "invalid status line");
    reason = line.substr(13);
    if (reason.size() > limits_.max_reason_bytes) {
      return failWith(Errc::BadGateway, "reason phrase too long");
    }
    for (char c : reason) {
      if (!isReasonChar(c)) return failWith(Errc::BadGateway, "invalid reason phrase");
    }
  }
  response_.reason.assign(reason);
  return ok();
}

Status Http1Parser::onFieldLine(std::string_view line, bool trailer) {
  // R9 and R7: a line that starts with whitespace is either whitespace before
  // the first field or an obs-fold continuation; both are rejected, never
  // unfolded.
  if (isOws(line.front())) {
    return failWith(Errc::BadRequest, header_count_ == 0 && !trailer
                                          ? "whitespace before the first header field"
                                          : "obsolete line folding");
  }
  std::size_t colon = 0;
  while (colon < line.size() && isTchar(line[colon])) ++colon;
  if (colon == line.size() || line[colon] != ':') {
    if (colon < line.size() && isOws(line[colon])) {
      return failWith(Errc::BadRequest, "whitespace between field name and colon");  // R6
    }
    return failWith(Errc::BadRequest, "invalid field name");
  }
  if (colon == 0) return failWith(Errc::BadRequest, "empty field name");
  std::string_view name = line.substr(0, colon);
  std::size_t b = colon + 1;
  std::size_t e = line.size();
  while (b < e && isOws(line[b])) ++b;
  while (e > b && isOws(line[e - 1])) --e;
  std::string_view value = line.substr(b, e - b);
  // R8, R10: CR, LF, NUL and every other control except HTAB.
  if (!isFieldValue(value)) return failWith(Errc::BadRequest, "invalid character in field value");

  // R12: every field counts, whatever happens to it afterwards.
  ++header_count_;
  header_bytes_ += name.size() + value.size();
  if (header_count_ > limits_.max_headers) {
    return failWith(Errc::HeaderFieldsTooLarge, "too many header fields");
  }
  if (header_bytes_ > limits_.max_header_bytes) {
    return failWith(Errc::HeaderFieldsTooLarge, "header fields too large");
  }

  if (trailer) {
    // Trailers never change framing, routing or the connection.
    if (isForbiddenTrailer(name)) return failWith(Errc::BadRequest, "forbidden trailer field");
    trailers_.add(name, value);
    return ok();
  }
  if (mode_ == Mode::Request && limits_.underscores != Http1Limits::Underscores::Allow &&
      name.find('_') != std::string_view::npos) {
    if (limits_.underscores == Http1Limits::Underscores::Reject) {
      return failWith(Errc::BadRequest, "underscore in field name");
    }
    return ok();  // Drop: counted above, not stored
  }
  // Classified once: the map keeps what the framing checks learn here.
  const KnownField known = classifyFieldName(name);
  if (known != KnownField::None) {
    if (auto s = noteSpecialField(known, value); !s) return s;
  }
  if (mode_ == Mode::Request) {
    request_.headers.add(name, value, known);
  } else {
    response_.headers.add(name, value, known);
  }
  return ok();
}

// Records what the framing and connection fields say.
Status Http1Parser::noteSpecialField(KnownField field, std::string_view value) {
  switch (field) {
    case KnownField::Host:
      if (host_count_ < 255) ++host_count_;
      return ok();
    case KnownField::Expect:
      if (equalsIgnoreCase(value, "100-continue")) flags_ |= kExpectContinue;
      return ok();
    case KnownField::Upgrade: flags_ |= kSeenUpgrade; return ok();
    case KnownField::Connection:
      forEachListElement(value, [&](std::string_view token) {
        if (equalsIgnoreCase(token, "close")) {
          flags_ |= kConnClose;
        } else if (equalsIgnoreCase(token, "keep-alive")) {
          flags_ |= kConnKeepAlive;
        } else if (equalsIgnoreCase(token, "upgrade")) {
          flags_ |= kConnUpgrade;
        }
      });
      return ok();
    case KnownField::ContentLength:
      // R4, R5: one plain decimal, overflow-checked; a second field, a list
      // ("5, 5") or anything else is invalid.
      if (flags_ & kSeenContentLength) {
        return failWith(Errc::BadRequest, "multiple Content-Length fields");
      }
      if (!parseDecimal(value, content_length_)) {
        return failWith(Errc::BadRequest, "invalid Content-Length");
      }
      flags_ |= kSeenContentLength;
      return ok();
    case KnownField::TransferEncoding: {
      flags_ |= kSeenTransferEncoding;
      bool any = false;
      forEachListElement(value, [&](std::string_view coding) {
        any = true;
        if (flags_ & kTeChunkedLast) flags_ |= kTeChunkedNotLast;
        if (equalsIgnoreCase(coding, "chunked")) {
          flags_ |= kTeChunkedLast;
        } else {
          flags_ &= ~kTeChunkedLast;
          flags_ |= isKnownNonChunkedCoding(coding) ? kTeOtherKnown : kTeUnknown;
        }
      });
      if (!any) flags_ |= kTeEmpty;
      return ok();
    }
    default: return ok();
  }
}

Status Http1Parser::finishRequestHead() {
  RequestHead& h = request_;
  const bool http11 = h.version == Version::Http11;

  // R11: HTTP/1.1 needs exactly one Host; two are never acceptable.
  if (host_count_ > 1) return failWith(Errc::BadRequest, "multiple Host fields");
  if (http11 && host_count_ == 0) return failWith(Errc::BadRequest, "missing Host field");
  std::string_view host = host_count_ == 1 ? h.host() : std::string_view{};
  if (host_count_ == 1 && !isValidAuthority(host)) {
    return failWith(Errc::BadRequest, "invalid Host field");
  }

  // The request-target's form must fit the method (RFC 9112 §3.2).
  std::string_view target = h.target;
  if (h.method == Method::Connect) {
    // authority-form: host:port, nothing else.
    if (target.front() == '/' || target.find("://") != std::string_view::npos ||
        !isValidAuthority(target) || target.find(':') == std::string_view::npos ||
        target.back() == ':') {
      return failWith(Errc::BadRequest, "CONNECT needs an authority-form target");
    }
  } else if (target == "*") {
    if (h.method != Method::Options)
      return failWith(Errc::BadRequest, "'*' target outside OPTIONS");
  } else if (target.front() != '/') {
    // absolute-form: http(s)://authority[path]; the authority must equal Host.
    std::size_t sep = target.find("://");
    if (sep == std::string_view::npos) return failWith(Errc::BadRequest, "invalid request-target");
    std::string_view scheme = target.substr(0, sep);
    if (!equalsIgnoreCase(scheme, "http") && !equalsIgnoreCase(scheme, "https")) {
      return failWith(Errc::BadRequest, "unsupported scheme in request-target");
    }
    std::string_view rest = target.substr(sep + 3);
    std::string_view authority = rest.substr(0, rest.find_first_of("/?"));
    if (!isValidAuthority(authority)) {
      return failWith(Errc::BadRequest, "invalid authority in request-target");
    }
    if (host_count_ == 1 && !equalsIgnoreCase(authority, host)) {
      return failWith(Errc::BadRequest, "Host differs from the request-target's authority");
    }
  }

  // Framing (RFC 9112 §6.1-6.3, R1-R3).
  if (flags_ & kSeenTransferEncoding) {
    if (!http11) return failWith(Errc::BadRequest, "Transfer-Encoding in an HTTP/1.0 request");
    if (flags_ & kSeenContentLength) {
      return failWith(Errc::BadRequest, "both Content-Length and Transfer-Encoding");
    }
    if (flags_ & kTeEmpty) return failWith(Errc::BadRequest, "empty Transfer-Encoding");
    if (flags_ & kTeUnknown) return failWith(Errc::NotImplemented, "unknown transfer coding");
    if (!(flags_ & kTeChunkedLast)) {
      return failWith(Errc::BadRequest, "final transfer coding is not chunked");
    }
    if (flags_ & kTeChunkedNotLast) return failWith(Errc::BadRequest, "chunked applied twice");
    if (flags_ & kTeOtherKnown) {
      return failWith(Errc::NotImplemented, "transfer codings other than chunked");
    }
    h.framing = BodyFraming::Chunked;
  } else if ((flags_ & kSeenContentLength) && content_length_ > 0) {
    h.framing = BodyFraming::ContentLength;
    h.content_length = content_length_;
    if (content_length_ > limits_.max_body_bytes) {
      return failWith(Errc::PayloadTooLarge, "Content-Length larger than the limit");
    }
  } else {
    h.framing = BodyFraming::None;
  }
  if (h.framing != BodyFraming::None) {
    if (h.method == Method::Connect) return failWith(Errc::BadRequest, "CONNECT with a body");
    bool no_semantics = h.method == Method::Get || h.method == Method::Head ||
                        h.method == Method::Options || h.method == Method::Trace;
    if (no_semantics && !limits_.allow_body_without_semantics) {
      return failWith(Errc::BadRequest, "body on a method that defines none");
    }
  }

  h.keep_alive =
      http11 ? !(flags_ & kConnClose) : (flags_ & kConnKeepAlive) && !(flags_ & kConnClose);
  h.upgrade = http11 && (flags_ & kSeenUpgrade) && (flags_ & kConnUpgrade);
  h.expect_continue = http11 && (flags_ & kExpectContinue);
  return ok();
}

Status Http1Parser::finishResponseHead() {
  ResponseHead& h = response_;
  const bool http11 = h.version == Version::Http11;
  const int status = h.status;

  if (status == 101 && !upgrade_requested_) {
    return failWith(Errc::BadGateway, "101 to a request that did not ask to upgrade");
  }
  if (flags_ & kSeenTransferEncoding) {
    if (!http11) return failWith(Errc::BadGateway, "Transfer-Encoding in an HTTP/1.0 response");
    if (flags_ & kSeenContentLength) {
      return failWith(Errc::BadGateway, "both Content-Length and Transfer-Encoding");
    }
    if ((flags_ & (kTeEmpty | kTeUnknown | kTeChunkedNotLast | kTeOtherKnown)) ||
        !(flags_ & kTeChunkedLast)) {
      return failWith(Errc::BadGateway, "Transfer-Encoding other than chunked");
    }
  }
  h.content_length = content_length_;

  bool no_body = (status >= 100 && status < 200) || status == 204 || status == 304 ||
                 request_method_ == Method::Head ||
                 (request_method_ == Method::Connect && status >= 200 && status < 300);
  if (no_body) {
    h.framing = BodyFraming::None;
  } else if (flags_ & kSeenTransferEncoding) {
    h.framing = BodyFraming::Chunked;
  } else if (flags_ & kSeenContentLength) {
    h.framing = content_length_ > 0 ? BodyFraming::ContentLength : BodyFraming::None;
    if (content_length_ > limits_.max_body_bytes) {
      return failWith(Errc::PayloadTooLarge, "Content-Length larger than the limit");
    }
  } else {
    h.framing = BodyFraming::UntilClose;
  }
  h.keep_alive =
      (http11 ? !(flags_ & kConnClose) : (flags_ & kConnKeepAlive) && !(flags_ & kConnClose)) &&
      h.framing != BodyFraming::UntilClose;
  return ok();
}

Status Http1Parser::onChunkSizeLine(std::string_view line) {
  // chunk = chunk-size [ chunk-ext ] CRLF (RFC 9112 §7.1); chunk-size is hex,
  // at most 16 digits (64 bits), so it cannot overflow (R5).
  std::size_t i = 0;
  std::uint64_t size = 0;
  while (i < line.size() && isHexDigit(line[i])) {
    if (i == kMaxChunkSizeDigits) return failWith(Errc::BadRequest, "chunk size too large");
    size = (size << 4) | static_cast<std::uint64_t>(hexValue(line[i]));
    ++i;
  }
  if (i == 0) return failWith(Errc::BadRequest, "invalid chunk size");
  // chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ), capped (R15).
  if (line.size() - i > limits_.max_chunk_extension_bytes) {
    return failWith(Errc::BadRequest, "chunk extensions too long");
  }
  while (i < line.size()) {
    while (i < line.size() && isOws(line[i])) ++i;
    if (i == line.size() || line[i] != ';')
      return failWith(Errc::BadRequest, "invalid chunk-size line");
    ++i;
    while (i < line.size() && isOws(line[i])) ++i;
    std::size_t name_start = i;
    while (i < line.size() && isTchar(line[i])) ++i;
    if (i == name_start) return failWith(Errc::BadRequest, "invalid chunk extension");
    std::size_t after_name = i;
    while (i < line.size() && isOws(line[i])) ++i;
    if (i < line.size() && line[i] == '=') {
      ++i;
      while (i < line.size() && isOws(line[i])) ++i;
      if (i < line.size() && line[i] == '"') {
        i = skipQuotedString(line, i);
        if (i == std::string_view::npos)
          return failWith(Errc::BadRequest, "invalid chunk extension");
      } else {
        std::size_t value_start = i;
        while (i < line.size() && isTchar(line[i])) ++i;
        if (i == value_start) return failWith(Errc::BadRequest, "invalid chunk extension");
      }
    } else {
      i = after_name;  // BWS belongs to the next ";"
    }
  }
  if (size == 0) {
    state_ = State::Trailers;
    return ok();
  }
  if (size > limits_.max_body_bytes - std::min(body_received_, limits_.max_body_bytes)) {
    return failWith(Errc::PayloadTooLarge, "body larger than the limit");
  }
  body_received_ += size;
  remaining_ = size;
  state_ = State::ChunkData;
  return ok();
}

}  // namespace remora::http

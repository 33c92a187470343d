// The access log: JSON formatting and the worker -> writer hand-off.
//
// Why a writer thread with per-worker single-producer rings (and not a
// write(2) per line on the worker, nor Envoy's shared buffer under a lock):
// stdout of a container is a pipe to the runtime's log collector, and a
// pipe blocks when the collector is slow. A write(2) on the worker would
// then stall every connection of that worker. Envoy makes workers append to
// one buffer under a mutex, flushed by a thread each second; here each
// worker copies its records into a buffer it owns (no lock, no allocation:
// the buffers are sized once, kBufferBytes) and passes full buffers through
// a ring of kRing slots with two atomic counters: the worker publishes
// (head), the writer releases (tail). The writer wakes on
// std::atomic::notify_one, which costs the worker a futex call only when
// the writer sleeps, and at most once per kMinPublishInterval under steady
// load (a quiet log publishes each record at once, a busy one in batches of
// up to kPublishBytes).
// Why the writer formats the lines, not the worker: at a moderate rate a
// request finds the worker's caches cold (docs/performance.md, "What a
// request finds cold"), and formatting a line there fetched some 80 lines
// of code and 40 of data the request paid for. Copying the record's fields
// as they are (an Entry) touches a handful; the writer formats a whole
// batch of them in a row, its code and tables warm after the first line.
// The writer runs under SCHED_BATCH (core/thread.h): woken, it must not
// preempt a worker, which would then wait for a time slice (that was the
// proxy's p99 at 10,000 requests/s, docs/performance.md).
// When the ring is full (the pipe is blocked) the worker keeps appending to
// its own buffer up to kMaxPendingBytes, then drops records and counts them:
// memory stays bounded and the data path never waits for the log.
#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>
#include <new>
#include <optional>
#include <thread>
#include <type_traits>

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/assert.h"
#include "core/thread.h"
#include "telemetry/records.h"

namespace remora::telemetry {

namespace {

constexpr std::size_t kRing = 8;
constexpr std::size_t kPublishBytes = std::size_t{64} * 1024;
constexpr std::size_t kMaxPendingBytes = std::size_t{256} * 1024;
constexpr auto kMinPublishInterval = std::chrono::milliseconds(100);
// Every buffer of a sink (its current one and the ring's) is sized once for
// a full batch and the record that crosses kPublishBytes, so that no request
// ever pays for a buffer growing; the writer's buffer of formatted lines
// likewise. Untouched pages cost address space only: an idle sidecar keeps
// a page or two of each resident.
constexpr std::size_t kBufferBytes = kPublishBytes + std::size_t{16} * 1024;

// --- JSON --------------------------------------------------------------
//
// A line is some thirty fields, formatted on the worker for every request.
// formatLine() lists them once, for two kinds of output: LineBound adds up
// the most bytes each field can take, and LineWriter, given that much room
// after what the buffer holds, writes every byte through a cursor, with no
// capacity check per piece. Each key with its separator and colon is a
// literal made at compile time (`"path"_key` is `,"path":`), copied in a
// few moves since its length is a constant where it is written. Appending
// piece by piece a character at a time cost 13,000 instructions a line;
// appending each key and value to the std::string, 6,200; through the
// cursor, about 2,500 (callgrind, docs/performance.md).

template <std::size_t N>
struct KeyText {
  std::array<char, N + 3> text{};             // ',' '"' name '"' ':' (N counts the NUL)
  consteval KeyText(const char (&name)[N]) {  // NOLINT: implicit, for the literal operator
    text[0] = ',';
    text[1] = '"';
    for (std::size_t i = 0; i + 1 < N; ++i) text[i + 2] = name[i];
    text[N + 1] = '"';
    text[N + 2] = ':';
  }
};

template <KeyText K>
constexpr std::string_view operator""_key() {
  return {K.text.data(), K.text.size()};
}

// The first key of a line follows the '{', not a comma.
constexpr std::string_view first(std::string_view key) { return key.substr(1); }

// The most bytes a value takes: a string byte escaped as \u00XX is six; an
// endpoint is '"' '[' an IPv6 address ']' ':' a port '"'; a number has at
// most 20 digits; a start time is "2025-01-01T00:00:00.000Z" quoted.
constexpr std::size_t kEscapedByteMost = 6;
constexpr std::size_t kEndpointMost = INET6_ADDRSTRLEN + 10;
constexpr std::size_t kNumberMost = 20;
constexpr std::size_t kQuotedNumberMost = kNumberMost + 2;
constexpr std::size_t kTimeMost = 26;
constexpr std::string_view kNull = "null";

// Bytes a JSON string holds as they are: printable ASCII but '"' and '\\'.
constexpr std::array<bool, 256> kVerbatim = [] {
  std::array<bool, 256> verbatim{};
  for (int c = 0x20; c < 0x80; ++c) verbatim[c] = c != '"' && c != '\\';
  return verbatim;
}();

// How many of the eight bytes in `w` (memory order) come before the first
// one that is not verbatim; 8 when all are. Hacker's Delight's "has a byte
// less than n" and "has a zero byte" tests may also flag a byte above a
// flagged one, never below it, so the lowest flag is exact.
static_assert(std::endian::native == std::endian::little, "a word's first byte is its lowest");
inline unsigned verbatimBytes(std::uint64_t w) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHighBits = 0x8080808080808080ULL;
  const std::uint64_t quote = w ^ (kOnes * '"');
  const std::uint64_t backslash = w ^ (kOnes * '\\');
  const std::uint64_t special = ((w - kOnes * 0x20) & ~w) | w | ((quote - kOnes) & ~quote) |
                                ((backslash - kOnes) & ~backslash);
  const std::uint64_t flags = special & kHighBits;
  return flags == 0 ? 8 : static_cast<unsigned>(std::countr_zero(flags)) / 8;
}

// "00" to "99": numbers are written two digits at a time, half the
// divisions of one at a time.
constexpr std::array<char, 200> kDigitPairs = [] {
  std::array<char, 200> pairs{};
  for (int v = 0; v < 100; ++v) {
    pairs[2 * static_cast<std::size_t>(v)] = static_cast<char>('0' + v / 10);
    pairs[2 * static_cast<std::size_t>(v) + 1] = static_cast<char>('0' + v % 10);
  }
  return pairs;
}();

constexpr std::array<std::uint64_t, 20> kPowersOf10 = [] {
  std::array<std::uint64_t, 20> powers{};
  std::uint64_t p = 1;
  for (auto& power : powers) {
    power = p;
    p *= 10;
  }
  return powers;
}();

// The number of decimal digits of v, without a division: log10 from the
// bit width (1233 / 4096 is just above log10(2)), then one comparison.
inline std::size_t decimalDigits(std::uint64_t v) {
  const auto guess = static_cast<std::size_t>((std::bit_width(v | 1) * 1233) >> 12);
  return guess + 1 - ((v | 1) < kPowersOf10[guess] ? 1 : 0);
}

// Writes v's decimal digits to end at `end`.
inline void decimalBefore(char* end, std::uint64_t v) {
  while (v >= 100) {
    const std::size_t pair = 2 * static_cast<std::size_t>(v % 100);
    v /= 100;
    *--end = kDigitPairs[pair + 1];
    *--end = kDigitPairs[pair];
  }
  if (v >= 10) {
    *--end = kDigitPairs[2 * v + 1];
    *--end = kDigitPairs[2 * v];
  } else {
    *--end = static_cast<char>('0' + v);
  }
}

char* twoDigitsAt(char* at, int v) {
  *at++ = static_cast<char>('0' + v / 10);
  *at++ = static_cast<char>('0' + v % 10);
  return at;
}

// Counts the most bytes formatLine() can write for a record.
class LineBound {
 public:
  void raw(std::string_view s) { bytes_ += s.size(); }
  void stringField(std::string_view key, std::string_view v) {
    bytes_ += key.size() + std::max(kNull.size(), 2 + kEscapedByteMost * v.size());
  }
  void numberField(std::string_view key, std::uint64_t) { bytes_ += key.size() + kNumberMost; }
  void quotedNumberField(std::string_view key, std::uint64_t) {
    bytes_ += key.size() + kQuotedNumberMost;
  }
  void endpointField(std::string_view key, const asio::ip::tcp::endpoint&) {
    bytes_ += key.size() + kEndpointMost;
  }
  void timeField(std::string_view key, SystemTime) { bytes_ += key.size() + kTimeMost; }
  void flagsField(std::string_view key, std::uint32_t) {
    bytes_ += key.size() + 2 + kResponseFlagsMost;
  }
  std::size_t bytes() const { return bytes_; }

 private:
  std::size_t bytes_ = 0;
};

// Writes a line through a cursor into room reserved up front for
// LineBound's count (`most` bytes from `at`), with no check per piece.
// finish() returns where the line ends.
class LineWriter {
 public:
  LineWriter(char* at, std::size_t most) : at_(at), end_(at + most) {}
  LineWriter(const LineWriter&) = delete;
  LineWriter& operator=(const LineWriter&) = delete;

  char* finish() const {
    REMORA_ASSERT(at_ <= end_);  // LineBound counted short (tests try the widest lines)
    return at_;
  }

  // Inlined where the key is a literal, so that the copy is of a constant
  // size: a few moves, not a call to memcpy.
  [[gnu::always_inline]] void raw(std::string_view s) {
    std::memcpy(at_, s.data(), s.size());
    at_ += s.size();
  }
  // A string field; empty is null, as Envoy prints an absent value.
  [[gnu::always_inline]] void stringField(std::string_view key, std::string_view v) {
    raw(key);
    if (v.empty()) {
      raw(kNull);
    } else {
      jsonString(v);
    }
  }
  [[gnu::always_inline]] void numberField(std::string_view key, std::uint64_t v) {
    raw(key);
    number(v);
  }
  // A number as a string: Istio's upstream_service_time comes from a
  // response header.
  void quotedNumberField(std::string_view key, std::uint64_t v) {
    raw(key);
    *at_++ = '"';
    number(v);
    *at_++ = '"';
  }
  [[gnu::always_inline]] void endpointField(std::string_view key,
                                            const asio::ip::tcp::endpoint& ep) {
    raw(key);
    endpoint(ep);
  }
  void timeField(std::string_view key, SystemTime t);
  void flagsField(std::string_view key, std::uint32_t response_flags) {
    raw(key);
    *at_++ = '"';
    at_ = writeResponseFlags(at_, response_flags);
    *at_++ = '"';
  }

 private:
  void jsonString(std::string_view v);
  // Counted first, then written from the last digit back in place: no
  // copy of a variable length (that is a call to memcpy).
  void number(std::uint64_t v) {
    at_ += decimalDigits(v);
    decimalBefore(at_, v);
  }
  void endpoint(const asio::ip::tcp::endpoint& ep);

  char* at_;
  char* const end_;
};

// Writes `v` as a JSON string. Control characters are escaped; bytes that
// are not valid UTF-8 (a header may carry obs-text) become U+FFFD, so every
// line parses. Printable ASCII, the common case, is checked and copied eight
// bytes at a time: the room reserved for six bytes per byte leaves space
// to store a whole word where only part of it counts.
void LineWriter::jsonString(std::string_view v) {
  static constexpr char kHex[] = "0123456789abcdef";
  *at_++ = '"';
  const auto* p = reinterpret_cast<const unsigned char*>(v.data());
  const auto* end = p + v.size();
  while (p < end) {
    while (end - p >= 8) {
      std::uint64_t w = 0;
      std::memcpy(&w, p, 8);
      std::memcpy(at_, &w, 8);
      const unsigned n = verbatimBytes(w);
      p += n;
      at_ += n;
      if (n != 8) break;
    }
    while (p < end && kVerbatim[*p]) *at_++ = static_cast<char>(*p++);
    if (p == end) break;
    const unsigned char c = *p;
    if (c < 0x80) {
      if (c == '"' || c == '\\') {
        *at_++ = '\\';
        *at_++ = static_cast<char>(c);
      } else {  // c < 0x20: the only other bytes below 0x80 not verbatim
        *at_++ = '\\';
        switch (c) {
          case '\n': *at_++ = 'n'; break;
          case '\r': *at_++ = 'r'; break;
          case '\t': *at_++ = 't'; break;
          default:
            raw("u00");
            *at_++ = kHex[c >> 4];
            *at_++ = kHex[c & 0xf];
        }
      }
      ++p;
      continue;
    }
    // A multi-byte sequence: copy it if well formed (RFC 3629: no
    // overlongs, no surrogates, at most U+10FFFF), else U+FFFD for one byte.
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
      n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 3;
      if (c == 0xe0) lo = 0xa0;
      if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 4;
      if (c == 0xf0) lo = 0x90;
      if (c == 0xf4) hi = 0x8f;
    }
    bool ok = n != 0 && static_cast<std::size_t>(end - p) >= n;
    for (std::size_t i = 1; ok && i < n; ++i) {
      const unsigned char b = p[i];
      ok = i == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xbf);
    }
    if (ok) {
      std::memcpy(at_, p, n);
      at_ += n;
      p += n;
    } else {
      raw("\xef\xbf\xbd");
      ++p;
    }
  }
  *at_++ = '"';
}

// "0." to "255.", each padded to four bytes and stored with its length, so
// that an IPv4 octet is one copy of a constant size.
struct OctetText {
  std::array<char, 4> text;
  std::uint8_t size;
};
constexpr std::array<OctetText, 256> kOctets = [] {
  std::array<OctetText, 256> octets{};
  for (int v = 0; v < 256; ++v) {
    auto& o = octets[static_cast<std::size_t>(v)];
    std::size_t n = 0;
    if (v >= 100) o.text[n++] = static_cast<char>('0' + v / 100);
    if (v >= 10) o.text[n++] = static_cast<char>('0' + v / 10 % 10);
    o.text[n++] = static_cast<char>('0' + v % 10);
    o.text[n++] = '.';
    o.size = static_cast<std::uint8_t>(n);
  }
  return octets;
}();

// "10.0.0.1:80", "[::1]:80"; null when the endpoint is unset (port 0).
// Read from the socket address itself: asio's address objects would be
// built and copied four times a line.
void LineWriter::endpoint(const asio::ip::tcp::endpoint& ep) {
  if (ep.port() == 0) {
    raw(kNull);
    return;
  }
  *at_++ = '"';
  const sockaddr* address = ep.data();
  if (address->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address);
    const auto* bytes = reinterpret_cast<const unsigned char*>(&in->sin_addr);
    for (std::size_t i = 0; i < 4; ++i) {
      const OctetText& octet = kOctets[bytes[i]];
      std::memcpy(at_, octet.text.data(), octet.text.size());
      at_ += octet.size;
    }
    at_[-1] = ':';  // the last octet's '.'
  } else {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
    *at_++ = '[';
    if (inet_ntop(AF_INET6, &in6->sin6_addr, at_, INET6_ADDRSTRLEN) != nullptr) {
      at_ += std::char_traits<char>::length(at_);
    }
    *at_++ = ']';
    *at_++ = ':';
  }
  number(ep.port());
  *at_++ = '"';
}

// Envoy's %START_TIME%: "2025-01-01T00:00:00.000Z".
void LineWriter::timeField(std::string_view key, SystemTime t) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  int frac = static_cast<int>(ms % 1000);
  if (frac < 0) {
    frac += 1000;
    --secs;
  }
  // A busy worker logs many lines within one second: the date and time up to
  // the second are formatted once per second and thread, not per line.
  constexpr std::size_t kUpToSeconds = 20;  // "\"2025-01-01T00:00:00"
  static_assert(kUpToSeconds + 6 == kTimeMost);
  thread_local std::time_t cached_secs = -1;
  thread_local std::array<char, kTimeMost> text;  // + ".000Z\""
  if (secs != cached_secs) {
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char* at = text.data();
    *at++ = '"';
    const int year = tm.tm_year + 1900;
    if (year < 0 || year > 9999) {
      for (int i = 0; i < 4; ++i)
        *at++ = '0';  // outside RFC 3339's four digits: never a real clock
    } else {
      at = twoDigitsAt(twoDigitsAt(at, year / 100), year % 100);
    }
    for (auto [sep, v] :
         {std::pair{'-', tm.tm_mon + 1}, std::pair{'-', tm.tm_mday}, std::pair{'T', tm.tm_hour},
          std::pair{':', tm.tm_min}, std::pair{':', tm.tm_sec}}) {
      *at++ = sep;
      at = twoDigitsAt(at, v);
    }
    cached_secs = secs;
  }
  char* at = text.data() + kUpToSeconds;
  *at++ = '.';
  *at++ = static_cast<char>('0' + frac / 100);
  at = twoDigitsAt(at, frac % 100);
  *at++ = 'Z';
  *at++ = '"';
  raw(key);
  raw({text.data(), kTimeMost});
}

// As the metric label says it (stats.cc): what the destination saw, or
// "unknown" from the source.
template <typename Record>
std::string_view securityPolicy(const Record& r) {
  if (r.reporter == Reporter::Source) return "unknown";
  return r.mutual_tls ? "mutual_tls" : "none";
}

std::uint64_t millis(std::chrono::nanoseconds d) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  return ms > 0 ? static_cast<std::uint64_t>(ms) : 0;
}

// One line, for a request or a TCP connection: a connection's line has the
// same keys, with null for what only a request has (its method, path...) and
// 0 for its response code. Keys in alphabetical order, as Envoy's JSON
// formatter writes them.
template <typename Out, typename Record>
void formatLine(Out& out, const Record& r) {
  constexpr bool kRequest = std::is_same_v<Record, RequestRecord>;
  auto request = [&](std::string_view RequestRecord::*field) -> std::string_view {
    if constexpr (kRequest) {
      return r.*field;
    } else {
      return {};
    }
  };
  std::uint64_t received = 0;
  std::uint64_t sent = 0;
  std::uint32_t response_code = 0;
  std::optional<std::chrono::nanoseconds> upstream_service_time;
  if constexpr (kRequest) {
    received = r.request_body_bytes;
    sent = r.response_body_bytes;
    response_code = r.response_code;
    upstream_service_time = r.upstream_service_time;
  } else {
    received = r.bytes_received;
    sent = r.bytes_sent;
  }
  out.raw("{");
  out.stringField(first("authority"_key), request(&RequestRecord::authority));
  out.numberField("bytes_received"_key, received);
  out.numberField("bytes_sent"_key, sent);
  out.stringField("connection_security_policy"_key, securityPolicy(r));
  out.stringField("connection_termination_details"_key, r.connection_termination_details);
  out.endpointField("downstream_local_address"_key, r.downstream_local_address);
  out.stringField("downstream_peer_uri_san"_key, r.downstream_peer_uri_san);
  out.endpointField("downstream_remote_address"_key, r.downstream_remote_address);
  out.numberField("duration"_key, millis(r.duration));
  out.stringField("method"_key, request(&RequestRecord::method));
  out.stringField("path"_key, request(&RequestRecord::path));
  out.stringField("protocol"_key, request(&RequestRecord::protocol));
  out.stringField("request_id"_key, request(&RequestRecord::request_id));
  out.stringField("requested_server_name"_key, r.requested_server_name);
  out.numberField("response_code"_key, response_code);
  out.stringField("response_code_details"_key, request(&RequestRecord::response_code_details));
  out.flagsField("response_flags"_key, r.response_flags);
  out.stringField("route_name"_key, request(&RequestRecord::route_name));
  out.timeField("start_time"_key, r.start_time);
  out.stringField("upstream_cluster"_key, r.upstream_cluster);
  out.endpointField("upstream_host"_key, r.upstream_host);
  out.endpointField("upstream_local_address"_key, r.upstream_local_address);
  out.stringField("upstream_peer_uri_san"_key, r.upstream_peer_uri_san);
  if (upstream_service_time) {
    out.quotedNumberField("upstream_service_time"_key, millis(*upstream_service_time));
  } else {
    out.stringField("upstream_service_time"_key, {});
  }
  out.stringField("upstream_transport_failure_reason"_key, r.upstream_transport_failure_reason);
  out.stringField("user_agent"_key, request(&RequestRecord::user_agent));
  out.stringField("x_forwarded_for"_key, request(&RequestRecord::x_forwarded_for));
  out.raw("}");
}

template <typename Record>
std::size_t lineBound(const Record& r) {
  LineBound bound;
  formatLine(bound, r);
  return bound.bytes();
}

// Into a std::string (the tests, the admin page): its room is zero-filled
// before it is written, which the sinks' LogBuffer avoids.
template <typename Record>
void appendLine(std::string& out, const Record& r) {
  const std::size_t most = lineBound(r);
  if (out.capacity() - out.size() < most) {
    // The longest form does not fit (fields of kilobytes, which may be six
    // times longer escaped): written aside, then appended, so that `out`
    // grows by what the line is, never by what it could have been.
    std::string line;
    line.reserve(most);
    appendLine(line, r);
    out.append(line);
    return;
  }
  const std::size_t begin = out.size();
  out.resize(begin + most);
  LineWriter writer(out.data() + begin, most);
  formatLine(writer, r);
  out.resize(static_cast<std::size_t>(writer.finish() - out.data()));
}

}  // namespace

void appendAccessLogJson(std::string& out, const RequestRecord& r) { appendLine(out, r); }
void appendAccessLogJson(std::string& out, const ConnectionRecord& r) { appendLine(out, r); }
std::size_t accessLogJsonBound(const RequestRecord& r) { return lineBound(r); }
std::size_t accessLogJsonBound(const ConnectionRecord& r) { return lineBound(r); }

// --- the hand-off ------------------------------------------------------

namespace {

// A sink's batch of lines. Unlike a std::string it gives a line its room
// without zero-filling it first (C++20's string has no
// resize_and_overwrite): of the room reserved for a line's longest form, a
// few KiB, only the bytes the line writes are touched.
class LogBuffer {
 public:
  void reserve(std::size_t capacity) {
    if (capacity > capacity_) reallocate(capacity);
  }
  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }
  std::size_t room() const noexcept { return capacity_ - size_; }
  // Where the next bytes go; commit() keeps what was written there, up to
  // `end` (at most room() bytes on).
  char* next() noexcept { return data_.get() + size_; }
  void commit(const char* end) noexcept {
    REMORA_ASSERT(end >= next() && end <= data_.get() + capacity_);
    size_ = static_cast<std::size_t>(end - data_.get());
  }
  // next(), with room for `bytes` at least: grows the allocation when they
  // do not fit (the writer is behind, or a record is tens of KiB).
  char* makeRoom(std::size_t bytes) {
    if (bytes > room()) reallocate(std::max(2 * capacity_, size_ + bytes));
    return next();
  }
  void append(std::string_view bytes) {
    if (bytes.empty()) return;  // memcpy's pointers must not be null, even for 0 bytes
    std::memcpy(makeRoom(bytes.size()), bytes.data(), bytes.size());
    size_ += bytes.size();
  }
  std::string_view view() const noexcept { return {data_.get(), size_}; }
  void clear() noexcept { size_ = 0; }  // keeps the allocation
  void swap(LogBuffer& other) noexcept {
    data_.swap(other.data_);
    std::swap(size_, other.size_);
    std::swap(capacity_, other.capacity_);
  }

 private:
  void reallocate(std::size_t capacity) {
    auto bigger = std::make_unique_for_overwrite<char[]>(capacity);
    if (size_ != 0) std::memcpy(bigger.get(), data_.get(), size_);
    data_ = std::move(bigger);
    capacity_ = capacity;
  }

  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

// Appends a record's line and its newline to the writer's output: in place
// when the room for its longest form is there (always, but for lines of
// tens of KiB), else formatted aside.
template <typename Record>
void appendLine(LogBuffer& out, const Record& r) {
  const std::size_t most = lineBound(r) + 1;  // and the newline
  if (out.room() < most) {
    std::string line;
    line.reserve(most);
    appendLine(line, r);
    line.push_back('\n');
    out.append(line);
    return;
  }
  LineWriter writer(out.next(), most - 1);
  formatLine(writer, r);
  char* end = writer.finish();
  *end++ = '\n';
  out.commit(end);
}

// --- what a worker hands the writer ------------------------------------
//
// An Entry is a record as its line needs it: the numbers and addresses in
// a head, then the bytes of the strings the line prints, one after the
// other, their lengths in the head. Entries follow each other in a sink's
// buffer, each at a multiple of alignof(Entry). The writer reads an entry
// back as a record whose strings point into the buffer, and formats it.

// The strings a line prints, in the order an Entry holds them.
constexpr std::array kRequestStrings = {
    &RequestRecord::authority,
    &RequestRecord::connection_termination_details,
    &RequestRecord::downstream_peer_uri_san,
    &RequestRecord::method,
    &RequestRecord::path,
    &RequestRecord::protocol,
    &RequestRecord::request_id,
    &RequestRecord::requested_server_name,
    &RequestRecord::response_code_details,
    &RequestRecord::route_name,
    &RequestRecord::upstream_cluster,
    &RequestRecord::upstream_peer_uri_san,
    &RequestRecord::upstream_transport_failure_reason,
    &RequestRecord::user_agent,
    &RequestRecord::x_forwarded_for,
};
constexpr std::array kConnectionStrings = {
    &ConnectionRecord::connection_termination_details,
    &ConnectionRecord::downstream_peer_uri_san,
    &ConnectionRecord::requested_server_name,
    &ConnectionRecord::upstream_cluster,
    &ConnectionRecord::upstream_peer_uri_san,
    &ConnectionRecord::upstream_transport_failure_reason,
};
template <typename Record>
constexpr const auto& loggedStrings() {
  if constexpr (std::is_same_v<Record, RequestRecord>) {
    return kRequestStrings;
  } else {
    return kConnectionStrings;
  }
}

// A record whose strings add up to more is dropped (and counted): none can
// be, the codec's limits are kilobytes, but an entry's sizes are 32 bits.
constexpr std::size_t kMostEntryBytes = std::size_t{64} << 20;

struct Entry {
  std::uint32_t size = 0;  // this head and its strings, padded to alignof(Entry)
  bool request = false;    // a RequestRecord's, else a ConnectionRecord's
  Reporter reporter = Reporter::Source;
  bool mutual_tls = false;
  bool has_upstream_service_time = false;
  std::uint32_t response_code = 0;
  std::uint32_t response_flags = 0;
  std::uint64_t received = 0;
  std::uint64_t sent = 0;
  SystemTime start_time{};
  std::chrono::nanoseconds duration{};
  std::chrono::nanoseconds upstream_service_time{};
  asio::ip::tcp::endpoint upstream_host;
  asio::ip::tcp::endpoint upstream_local_address;
  asio::ip::tcp::endpoint downstream_remote_address;
  asio::ip::tcp::endpoint downstream_local_address;
  std::array<std::uint32_t, kRequestStrings.size()> lengths;  // the first loggedStrings().size()
};
static_assert(std::is_trivially_destructible_v<Entry>, "entries are overwritten, never destroyed");
static_assert(kConnectionStrings.size() <= kRequestStrings.size());

constexpr std::size_t paddedToEntry(std::size_t bytes) {
  return (bytes + alignof(Entry) - 1) & ~(alignof(Entry) - 1);
}

// The bytes `r`'s entry takes.
template <typename Record>
std::size_t entryBytes(const Record& r) {
  std::size_t strings = 0;
  for (auto field : loggedStrings<Record>()) strings += (r.*field).size();
  return paddedToEntry(sizeof(Entry) + strings);
}

// Appends `r`'s entry, of entryBytes(r) bytes, to `out`.
template <typename Record>
void appendEntry(LogBuffer& out, const Record& r, std::size_t bytes) {
  constexpr bool kRequest = std::is_same_v<Record, RequestRecord>;
  char* at = out.makeRoom(bytes);
  auto* entry = new (at) Entry{
      .size = static_cast<std::uint32_t>(bytes),
      .request = kRequest,
      .reporter = r.reporter,
      .mutual_tls = r.mutual_tls,
      .response_flags = r.response_flags,
      .start_time = r.start_time,
      .duration = r.duration,
      .upstream_host = r.upstream_host,
      .upstream_local_address = r.upstream_local_address,
      .downstream_remote_address = r.downstream_remote_address,
      .downstream_local_address = r.downstream_local_address,
  };
  if constexpr (kRequest) {
    entry->has_upstream_service_time = r.upstream_service_time.has_value();
    entry->response_code = r.response_code;
    entry->received = r.request_body_bytes;
    entry->sent = r.response_body_bytes;
    entry->upstream_service_time = r.upstream_service_time.value_or(std::chrono::nanoseconds{});
  } else {
    entry->received = r.bytes_received;
    entry->sent = r.bytes_sent;
  }
  char* strings = at + sizeof(Entry);
  std::size_t i = 0;
  for (auto field : loggedStrings<Record>()) {
    const std::string_view v = r.*field;
    entry->lengths[i++] = static_cast<std::uint32_t>(v.size());
    if (!v.empty()) std::memcpy(strings, v.data(), v.size());
    strings += v.size();
  }
  out.commit(at + bytes);
}

// The record an entry holds; its strings point into the entry.
template <typename Record>
Record recordOf(const Entry& entry) {
  Record r;
  r.reporter = entry.reporter;
  r.mutual_tls = entry.mutual_tls;
  r.response_flags = entry.response_flags;
  r.start_time = entry.start_time;
  r.duration = entry.duration;
  r.upstream_host = entry.upstream_host;
  r.upstream_local_address = entry.upstream_local_address;
  r.downstream_remote_address = entry.downstream_remote_address;
  r.downstream_local_address = entry.downstream_local_address;
  if constexpr (std::is_same_v<Record, RequestRecord>) {
    r.response_code = entry.response_code;
    r.request_body_bytes = entry.received;
    r.response_body_bytes = entry.sent;
    if (entry.has_upstream_service_time) r.upstream_service_time = entry.upstream_service_time;
  } else {
    r.bytes_received = entry.received;
    r.bytes_sent = entry.sent;
  }
  const char* strings = reinterpret_cast<const char*>(&entry) + sizeof(Entry);
  std::size_t i = 0;
  for (auto field : loggedStrings<Record>()) {
    const std::size_t length = entry.lengths[i++];
    r.*field = {strings, length};
    strings += length;
  }
  return r;
}

}  // namespace

struct AccessLog::Sink::State {
  AccessLog::Shared* shared = nullptr;
  LogBuffer current;  // worker-owned
  std::chrono::steady_clock::time_point last_publish{};
  // Records handed on and dropped: written by the worker alone (a load and
  // a store, no read-modify-write on a line another worker writes), read by
  // any thread through AccessLog::written() and dropped().
  std::atomic<std::uint64_t> written{0};
  std::atomic<std::uint64_t> dropped{0};
  // The ring: slot i % kRing is the worker's between tail and head-exclusive
  // boundaries as described above; head written by the worker, tail by the
  // writer.
  std::array<LogBuffer, kRing> ring;
  std::atomic<std::uint64_t> head{0};
  std::atomic<std::uint64_t> tail{0};

  bool publish();
};

struct AccessLog::Shared {
  int fd = 1;
  std::vector<std::unique_ptr<Sink>> sinks;
  std::atomic<std::uint64_t> epoch{0};  // bumped on every publish; the writer waits on it
  std::atomic<bool> stopping{false};
  LogBuffer lines;  // the writer's: formatted, not yet written
  std::thread writer;

  void writeAll(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::write(fd, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return;  // a closed or broken log: nothing to do but drop it
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  // Formats and writes every published buffer of every sink. Writer thread
  // (or the destructor, once the writer has stopped).
  void drain() {
    for (auto& sink : sinks) {
      Sink::State& s = *sink->state_;
      std::uint64_t t = s.tail.load(std::memory_order_relaxed);
      const std::uint64_t h = s.head.load(std::memory_order_acquire);
      for (; t < h; ++t) {
        LogBuffer& buf = s.ring[t % kRing];
        format(buf.view());
        buf.clear();  // keeps the allocation for the worker to reuse
        s.tail.store(t + 1, std::memory_order_release);
      }
    }
    flushLines();
  }

  // Formats a batch of entries into `lines`, written out whenever they
  // reach kPublishBytes (and by flushLines()).
  void format(std::string_view entries) {
    while (!entries.empty()) {
      const auto& entry = *std::launder(reinterpret_cast<const Entry*>(entries.data()));
      REMORA_ASSERT(entry.size >= sizeof(Entry) && entry.size <= entries.size());
      if (lines.size() >= kPublishBytes) flushLines();
      if (entry.request) {
        appendLine(lines, recordOf<RequestRecord>(entry));
      } else {
        appendLine(lines, recordOf<ConnectionRecord>(entry));
      }
      entries.remove_prefix(entry.size);
    }
  }
  void flushLines() {
    if (lines.empty()) return;
    writeAll(lines.view());
    lines.clear();
  }

  void run() {
    for (;;) {
      const std::uint64_t seen = epoch.load(std::memory_order_acquire);
      drain();
      if (stopping.load(std::memory_order_acquire)) return;
      epoch.wait(seen, std::memory_order_acquire);
    }
  }
};

bool AccessLog::Sink::State::publish() {
  if (current.empty()) return true;
  const std::uint64_t h = head.load(std::memory_order_relaxed);
  if (h - tail.load(std::memory_order_acquire) >= kRing) return false;  // writer behind
  // The slot is free (the writer released it); swapping hands our buffer
  // over and takes back the slot's cleared one with its capacity.
  current.swap(ring[h % kRing]);
  head.store(h + 1, std::memory_order_release);
  last_publish = std::chrono::steady_clock::now();
  shared->epoch.fetch_add(1, std::memory_order_release);
  shared->epoch.notify_one();
  return true;
}

AccessLog::AccessLog(std::size_t workers, int fd) : shared_(std::make_unique<Shared>()) {
  REMORA_CHECK(workers > 0, "an AccessLog needs at least one worker");
  shared_->fd = fd;
  shared_->lines.reserve(kBufferBytes);
  for (std::size_t i = 0; i < workers; ++i) {
    auto sink = std::unique_ptr<Sink>(new Sink());
    sink->state_->shared = shared_.get();
    shared_->sinks.push_back(std::move(sink));
  }
  shared_->writer = std::thread([s = shared_.get()] {
    runAsBackgroundThread();  // its wake-ups must not preempt a worker
    s->run();
  });
}

AccessLog::~AccessLog() {
  shared_->stopping.store(true, std::memory_order_release);
  shared_->epoch.fetch_add(1, std::memory_order_release);
  shared_->epoch.notify_one();
  shared_->writer.join();
  // The workers have stopped (documented precondition): their buffers are
  // ours now.
  shared_->drain();
  for (auto& sink : shared_->sinks) shared_->format(sink->state_->current.view());
  shared_->flushLines();
}

AccessLog::Sink& AccessLog::worker(std::size_t i) {
  REMORA_CHECK(i < shared_->sinks.size(), "worker {} of {}", i, shared_->sinks.size());
  return *shared_->sinks[i];
}

std::uint64_t AccessLog::dropped() const {
  std::uint64_t sum = 0;
  for (const auto& sink : shared_->sinks)
    sum += sink->state_->dropped.load(std::memory_order_relaxed);
  return sum;
}
std::uint64_t AccessLog::written() const {
  std::uint64_t sum = 0;
  for (const auto& sink : shared_->sinks)
    sum += sink->state_->written.load(std::memory_order_relaxed);
  return sum;
}

std::string AccessLog::prometheus() const {
  return fmt::format(
      "# HELP remora_access_log_lines_total Access-log lines handed to the writer thread.\n"
      "# TYPE remora_access_log_lines_total counter\n"
      "remora_access_log_lines_total {}\n"
      "# HELP remora_access_log_dropped_total Access-log lines dropped because the writer "
      "could not keep up (stdout blocked).\n"
      "# TYPE remora_access_log_dropped_total counter\n"
      "remora_access_log_dropped_total {}\n",
      written(), dropped());
}

AccessLog::Sink::Sink() : state_(std::make_unique<State>()) {
  state_->current.reserve(kBufferBytes);
  for (auto& buffer : state_->ring) buffer.reserve(kBufferBytes);
}
AccessLog::Sink::~Sink() = default;

namespace {
// A count only its worker writes.
void bump(std::atomic<std::uint64_t>& count) {
  count.store(count.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

template <typename Record>
void logRecord(AccessLog::Sink::State& s, const Record& record) {
  const std::size_t bytes = entryBytes(record);
  if (s.current.size() >= kMaxPendingBytes || bytes > kMostEntryBytes) {
    // The writer is behind by the whole ring and our own buffer (or the
    // record is larger than an entry can say): drop.
    bump(s.dropped);
    return;
  }
  appendEntry(s.current, record, bytes);
  bump(s.written);
  if (s.current.size() >= kPublishBytes ||
      std::chrono::steady_clock::now() - s.last_publish >= kMinPublishInterval) {
    s.publish();
  }
}
}  // namespace

void AccessLog::Sink::log(const RequestRecord& record) { logRecord(*state_, record); }
void AccessLog::Sink::log(const ConnectionRecord& record) { logRecord(*state_, record); }
void AccessLog::Sink::flush() { state_->publish(); }

}  // namespace remora::telemetry

// The access log: JSON formatting and the worker -> writer hand-off.
//
// Why a writer thread with per-worker single-producer rings (and not a
// write(2) per line on the worker, nor Envoy's shared buffer under a lock):
// stdout of a container is a pipe to the runtime's log collector, and a
// pipe blocks when the collector is slow. A write(2) on the worker would
// then stall every connection of that worker. Envoy makes workers append to
// one buffer under a mutex, flushed by a thread each second; here each
// worker formats into a buffer it owns (no lock, no allocation: the
// buffers are sized once, kBufferBytes) and passes full buffers through a
// ring of kRing slots with two atomic counters: the worker publishes
// (head), the writer releases (tail). The writer wakes on
// std::atomic::notify_one, which costs the worker a futex call only when
// the writer sleeps, and at most once per kMinPublishInterval under steady
// load (a quiet log publishes each line at once, a busy one in batches of
// up to kPublishBytes).
// The writer runs under SCHED_BATCH (core/thread.h): woken, it must not
// preempt a worker, which would then wait for a time slice (that was the
// proxy's p99 at 10,000 requests/s, docs/performance.md).
// When the ring is full (the pipe is blocked) the worker keeps appending to
// its own buffer up to kMaxPendingBytes, then drops lines and counts them:
// memory stays bounded and the data path never waits for the log.
#include <array>
#include <atomic>
#include <cerrno>
#include <ctime>
#include <optional>
#include <thread>
#include <type_traits>

#include <arpa/inet.h>
#include <unistd.h>

#include "core/assert.h"
#include "core/thread.h"
#include "telemetry/records.h"

namespace remora::telemetry {

namespace {

constexpr std::size_t kRing = 8;
constexpr std::size_t kPublishBytes = 64 * 1024;
constexpr std::size_t kMaxPendingBytes = 256 * 1024;
constexpr auto kMinPublishInterval = std::chrono::milliseconds(100);
// Every buffer of a sink (its current one and the ring's) is sized once for
// a full batch and the line that crosses kPublishBytes, so that no request
// ever pays for a buffer growing. Untouched pages cost address space only:
// an idle sidecar keeps a page or two of each resident.
constexpr std::size_t kBufferBytes = kPublishBytes + 16 * 1024;

// --- JSON --------------------------------------------------------------

// Bytes a JSON string holds as they are: printable ASCII but '"' and '\\'.
constexpr std::array<bool, 256> kVerbatim = [] {
  std::array<bool, 256> verbatim{};
  for (int c = 0x20; c < 0x80; ++c) verbatim[c] = c != '"' && c != '\\';
  return verbatim;
}();

// Appends `v` as a JSON string. Control characters are escaped; bytes that
// are not valid UTF-8 (a header may carry obs-text) become U+FFFD, so every
// line parses.
void appendJsonString(std::string& out, std::string_view v) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  const auto* p = reinterpret_cast<const unsigned char*>(v.data());
  const auto* end = p + v.size();
  while (p < end) {
    // The common case, printable ASCII, goes in runs rather than byte by byte.
    const auto* run = p;
    while (p < end && kVerbatim[*p]) ++p;
    if (p != run) out.append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(p - run));
    if (p == end) break;
    const unsigned char c = *p;
    if (c < 0x80) {
      if (c == '"' || c == '\\') {
        out.push_back('\\');
        out.push_back(static_cast<char>(c));
      } else if (c < 0x20) {
        switch (c) {
          case '\n': out.append("\\n"); break;
          case '\r': out.append("\\r"); break;
          case '\t': out.append("\\t"); break;
          default:
            out.append("\\u00");
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0xf]);
        }
      } else {
        out.push_back(static_cast<char>(c));
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
      out.append(reinterpret_cast<const char*>(p), n);
      p += n;
    } else {
      out.append("\xef\xbf\xbd");
      ++p;
    }
  }
  out.push_back('"');
}

// A line is some thirty fields, formatted on the worker for every request:
// each key with its separator and colon is one append of a literal made at
// compile time (`"path"_key` is `,"path":`), and each value is formatted
// into a stack buffer and appended once. Appending piece by piece, a
// character at a time, cost 13,000 instructions a line, two fifths of a
// whole proxied request (callgrind, docs/performance.md).
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

// A string field; empty is null, as Envoy prints an absent value.
void appendStringField(std::string& out, std::string_view key, std::string_view v) {
  out.append(key);
  if (v.empty()) {
    out.append("null");
  } else {
    appendJsonString(out, v);
  }
}

// Writes v's decimal digits to end at `end`; returns where they begin.
char* decimalBefore(char* end, std::uint64_t v) {
  do {
    *--end = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  return end;
}

void appendNumberField(std::string& out, std::string_view key, std::uint64_t v) {
  char buf[24];
  char* const end = buf + sizeof(buf);
  out.append(key);
  out.append(decimalBefore(end, v), end);
}

// Writes v's decimal digits from `at`; returns the end.
char* decimalAt(char* at, std::uint64_t v) {
  char digits[24];
  char* const end = digits + sizeof(digits);
  const char* b = decimalBefore(end, v);
  while (b != end) *at++ = *b++;
  return at;
}

// "10.0.0.1:80", "[::1]:80"; null when the endpoint is unset (port 0).
void appendEndpointField(std::string& out, std::string_view key,
                         const asio::ip::tcp::endpoint& ep) {
  out.append(key);
  if (ep.port() == 0) {
    out.append("null");
    return;
  }
  // '"' '[' address ']' ':' port '"'
  char buf[INET6_ADDRSTRLEN + 16];
  char* at = buf;
  *at++ = '"';
  const auto addr = ep.address();
  if (addr.is_v4()) {
    // By hand: inet_ntop formats through sprintf, a tenth of a line's cost.
    const auto bytes = addr.to_v4().to_bytes();
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      if (i != 0) *at++ = '.';
      at = decimalAt(at, bytes[i]);
    }
  } else {
    const auto bytes = addr.to_v6().to_bytes();
    *at++ = '[';
    if (inet_ntop(AF_INET6, bytes.data(), at, INET6_ADDRSTRLEN) != nullptr) {
      at += std::char_traits<char>::length(at);
    }
    *at++ = ']';
  }
  *at++ = ':';
  at = decimalAt(at, ep.port());
  *at++ = '"';
  out.append(buf, at);
}

// Envoy's %START_TIME%: "2025-01-01T00:00:00.000Z".
char* twoDigitsAt(char* at, int v) {
  *at++ = static_cast<char>('0' + v / 10);
  *at++ = static_cast<char>('0' + v % 10);
  return at;
}

void appendTimeField(std::string& out, std::string_view key, SystemTime t) {
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
  thread_local std::time_t cached_secs = -1;
  thread_local std::array<char, kUpToSeconds + 6> text;  // + ".000Z\""
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
  out.append(key);
  out.append(text.data(), at);
}

void appendResponseFlagsField(std::string& out, std::uint32_t response_flags) {
  out.append("response_flags"_key);
  out.push_back('"');
  appendResponseFlags(out, response_flags);
  out.push_back('"');
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
template <typename Record>
void appendLine(std::string& out, const Record& r) {
  constexpr bool kRequest = std::is_same_v<Record, RequestRecord>;
  auto request = [&r](std::string_view RequestRecord::*field) -> std::string_view {
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
  out.push_back('{');
  appendStringField(out, first("authority"_key), request(&RequestRecord::authority));
  appendNumberField(out, "bytes_received"_key, received);
  appendNumberField(out, "bytes_sent"_key, sent);
  appendStringField(out, "connection_security_policy"_key, securityPolicy(r));
  appendStringField(out, "connection_termination_details"_key, r.connection_termination_details);
  appendEndpointField(out, "downstream_local_address"_key, r.downstream_local_address);
  appendStringField(out, "downstream_peer_uri_san"_key, r.downstream_peer_uri_san);
  appendEndpointField(out, "downstream_remote_address"_key, r.downstream_remote_address);
  appendNumberField(out, "duration"_key, millis(r.duration));
  appendStringField(out, "method"_key, request(&RequestRecord::method));
  appendStringField(out, "path"_key, request(&RequestRecord::path));
  appendStringField(out, "protocol"_key, request(&RequestRecord::protocol));
  appendStringField(out, "request_id"_key, request(&RequestRecord::request_id));
  appendStringField(out, "requested_server_name"_key, r.requested_server_name);
  appendNumberField(out, "response_code"_key, response_code);
  appendStringField(out, "response_code_details"_key,
                    request(&RequestRecord::response_code_details));
  appendResponseFlagsField(out, r.response_flags);
  appendStringField(out, "route_name"_key, request(&RequestRecord::route_name));
  appendTimeField(out, "start_time"_key, r.start_time);
  appendStringField(out, "upstream_cluster"_key, r.upstream_cluster);
  appendEndpointField(out, "upstream_host"_key, r.upstream_host);
  appendEndpointField(out, "upstream_local_address"_key, r.upstream_local_address);
  appendStringField(out, "upstream_peer_uri_san"_key, r.upstream_peer_uri_san);
  if (upstream_service_time) {
    // A string, as Istio's format takes it from a response header.
    char buf[26];
    char* const end = buf + sizeof(buf);
    char* b = decimalBefore(end - 1, millis(*upstream_service_time));
    *--b = '"';
    end[-1] = '"';
    out.append("upstream_service_time"_key);
    out.append(b, end);
  } else {
    appendStringField(out, "upstream_service_time"_key, {});
  }
  appendStringField(out, "upstream_transport_failure_reason"_key,
                    r.upstream_transport_failure_reason);
  appendStringField(out, "user_agent"_key, request(&RequestRecord::user_agent));
  appendStringField(out, "x_forwarded_for"_key, request(&RequestRecord::x_forwarded_for));
  out.push_back('}');
}

}  // namespace

void appendAccessLogJson(std::string& out, const RequestRecord& r) { appendLine(out, r); }
void appendAccessLogJson(std::string& out, const ConnectionRecord& r) { appendLine(out, r); }

// --- the hand-off ------------------------------------------------------

struct AccessLog::Sink::State {
  AccessLog::Shared* shared = nullptr;
  std::string current;  // worker-owned
  std::chrono::steady_clock::time_point last_publish{};
  // The ring: slot i % kRing is the worker's between tail and head-exclusive
  // boundaries as described above; head written by the worker, tail by the
  // writer.
  std::array<std::string, kRing> ring;
  std::atomic<std::uint64_t> head{0};
  std::atomic<std::uint64_t> tail{0};

  bool publish();
};

struct AccessLog::Shared {
  int fd = 1;
  std::vector<std::unique_ptr<Sink>> sinks;
  std::atomic<std::uint64_t> epoch{0};  // bumped on every publish; the writer waits on it
  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> dropped{0};
  std::atomic<std::uint64_t> written{0};
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

  // Writes every published buffer of every sink. Writer thread (or the
  // destructor, once the writer has stopped).
  void drain() {
    for (auto& sink : sinks) {
      Sink::State& s = *sink->state_;
      std::uint64_t t = s.tail.load(std::memory_order_relaxed);
      const std::uint64_t h = s.head.load(std::memory_order_acquire);
      for (; t < h; ++t) {
        std::string& buf = s.ring[t % kRing];
        writeAll(buf);
        buf.clear();  // keeps the capacity for the worker to reuse
        s.tail.store(t + 1, std::memory_order_release);
      }
    }
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
  for (auto& sink : shared_->sinks) shared_->writeAll(sink->state_->current);
}

AccessLog::Sink& AccessLog::worker(std::size_t i) {
  REMORA_CHECK(i < shared_->sinks.size(), "worker {} of {}", i, shared_->sinks.size());
  return *shared_->sinks[i];
}

std::uint64_t AccessLog::dropped() const {
  return shared_->dropped.load(std::memory_order_relaxed);
}
std::uint64_t AccessLog::written() const {
  return shared_->written.load(std::memory_order_relaxed);
}

AccessLog::Sink::Sink() : state_(std::make_unique<State>()) {
  state_->current.reserve(kBufferBytes);
  for (auto& buffer : state_->ring) buffer.reserve(kBufferBytes);
}
AccessLog::Sink::~Sink() = default;

namespace {
template <typename Record>
void logRecord(AccessLog::Sink::State& s, AccessLog::Shared& shared, const Record& record) {
  if (s.current.size() >= kMaxPendingBytes) {
    // The writer is behind by the whole ring and our own buffer: drop.
    shared.dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  appendAccessLogJson(s.current, record);
  s.current.push_back('\n');
  shared.written.fetch_add(1, std::memory_order_relaxed);
  if (s.current.size() >= kPublishBytes ||
      std::chrono::steady_clock::now() - s.last_publish >= kMinPublishInterval) {
    s.publish();
  }
}
}  // namespace

void AccessLog::Sink::log(const RequestRecord& record) {
  logRecord(*state_, *state_->shared, record);
}
void AccessLog::Sink::log(const ConnectionRecord& record) {
  logRecord(*state_, *state_->shared, record);
}
void AccessLog::Sink::flush() { state_->publish(); }

}  // namespace remora::telemetry

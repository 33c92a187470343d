#include <limits>
#include <random>
#include <thread>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "core/json.h"
#include "telemetry/records.h"

namespace remora::telemetry {
namespace {

RequestRecord sampleRequest() {
  RequestRecord r;
  r.method = "GET";
  r.path = "/productpage?x=\"1\"";
  r.authority = "productpage:9080";
  r.request_id = "8f2c2f4e-1111-2222-3333-444455556666";
  r.user_agent = "curl/7.88.1";
  r.upstream_cluster = "outbound|9080||productpage.default.svc.cluster.local";
  r.upstream_host = {asio::ip::make_address("10.244.0.7"), 9080};
  r.upstream_local_address = {asio::ip::make_address("10.244.0.5"), 36732};
  r.downstream_remote_address = {asio::ip::make_address("::1"), 49818};
  r.downstream_local_address = {asio::ip::make_address("10.96.1.1"), 9080};
  r.response_code = 200;
  r.response_flags = 0;
  r.response_code_details = "via_upstream";
  r.request_body_bytes = 12;
  r.response_body_bytes = 5293;
  r.start_time = SystemTime(std::chrono::milliseconds(1'735'689'600'123));  // 2025-01-01
  r.duration = std::chrono::microseconds(25'700);
  r.upstream_service_time = std::chrono::milliseconds(24);
  r.route_name = "default";
  return r;
}

Json parseLine(const std::string& line) {
  auto parsed = parseJson(line);
  EXPECT_TRUE(parsed.has_value()) << line;
  return parsed.has_value() ? *parsed : Json();
}

TEST(AccessLogJson, IstioDefaultFieldsParseBack) {
  std::string line;
  appendAccessLogJson(line, sampleRequest());
  const Json j = parseLine(line);
  const std::vector<std::string> want_keys = {"authority",
                                              "bytes_received",
                                              "bytes_sent",
                                              "connection_security_policy",
                                              "connection_termination_details",
                                              "downstream_local_address",
                                              "downstream_peer_uri_san",
                                              "downstream_remote_address",
                                              "duration",
                                              "method",
                                              "path",
                                              "protocol",
                                              "request_id",
                                              "requested_server_name",
                                              "response_code",
                                              "response_code_details",
                                              "response_flags",
                                              "route_name",
                                              "start_time",
                                              "upstream_cluster",
                                              "upstream_host",
                                              "upstream_local_address",
                                              "upstream_peer_uri_san",
                                              "upstream_service_time",
                                              "upstream_transport_failure_reason",
                                              "user_agent",
                                              "x_forwarded_for"};
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.push_back(k);
  EXPECT_EQ(keys, want_keys);  // Istio's set, alphabetical as Envoy writes it
  EXPECT_EQ(j["authority"], "productpage:9080");
  EXPECT_EQ(j["bytes_received"], 12);
  EXPECT_EQ(j["bytes_sent"], 5293);
  EXPECT_TRUE(j["connection_termination_details"].is_null());
  EXPECT_EQ(j["downstream_local_address"], "10.96.1.1:9080");
  EXPECT_EQ(j["downstream_remote_address"], "[::1]:49818");
  EXPECT_EQ(j["duration"], 25);
  EXPECT_EQ(j["method"], "GET");
  EXPECT_EQ(j["path"], "/productpage?x=\"1\"");
  EXPECT_EQ(j["protocol"], "HTTP/1.1");
  EXPECT_EQ(j["request_id"], "8f2c2f4e-1111-2222-3333-444455556666");
  EXPECT_TRUE(j["requested_server_name"].is_null());
  EXPECT_EQ(j["response_code"], 200);
  EXPECT_EQ(j["response_code_details"], "via_upstream");
  EXPECT_EQ(j["response_flags"], "-");
  EXPECT_EQ(j["route_name"], "default");
  EXPECT_EQ(j["start_time"], "2025-01-01T00:00:00.123Z");
  EXPECT_EQ(j["upstream_cluster"], "outbound|9080||productpage.default.svc.cluster.local");
  EXPECT_EQ(j["upstream_host"], "10.244.0.7:9080");
  EXPECT_EQ(j["upstream_local_address"], "10.244.0.5:36732");
  EXPECT_EQ(j["upstream_service_time"], "24");
  EXPECT_TRUE(j["upstream_transport_failure_reason"].is_null());
  EXPECT_EQ(j["user_agent"], "curl/7.88.1");
  EXPECT_TRUE(j["x_forwarded_for"].is_null());
}

// Byte for byte, so that a faster formatter cannot change a line: the keys
// in Envoy's order, no spaces, null for what is absent.
TEST(AccessLogJson, LinesAreByteForByteTheSame) {
  std::string line;
  appendAccessLogJson(line, sampleRequest());
  EXPECT_EQ(
      line,
      R"json({"authority":"productpage:9080","bytes_received":12,"bytes_sent":5293,"connection_security_policy":"unknown","connection_termination_details":null,"downstream_local_address":"10.96.1.1:9080","downstream_peer_uri_san":null,"downstream_remote_address":"[::1]:49818","duration":25,"method":"GET","path":"/productpage?x=\"1\"","protocol":"HTTP/1.1","request_id":"8f2c2f4e-1111-2222-3333-444455556666","requested_server_name":null,"response_code":200,"response_code_details":"via_upstream","response_flags":"-","route_name":"default","start_time":"2025-01-01T00:00:00.123Z","upstream_cluster":"outbound|9080||productpage.default.svc.cluster.local","upstream_host":"10.244.0.7:9080","upstream_local_address":"10.244.0.5:36732","upstream_peer_uri_san":null,"upstream_service_time":"24","upstream_transport_failure_reason":null,"user_agent":"curl/7.88.1","x_forwarded_for":null})json");
  ConnectionRecord c;
  c.bytes_received = 10;
  c.bytes_sent = 20;
  c.upstream_cluster = "PassthroughCluster";
  c.upstream_host = {asio::ip::make_address("fd00::6"), 3306};
  c.response_flags = flags::kUpstreamConnectionTermination;
  c.duration = std::chrono::seconds(3);
  line = "{}\n";  // appends after what is there, as a sink does
  appendAccessLogJson(line, c);
  EXPECT_EQ(
      line,
      "{}\n"
      R"json({"authority":null,"bytes_received":10,"bytes_sent":20,"connection_security_policy":"unknown","connection_termination_details":null,"downstream_local_address":null,"downstream_peer_uri_san":null,"downstream_remote_address":null,"duration":3000,"method":null,"path":null,"protocol":null,"request_id":null,"requested_server_name":null,"response_code":0,"response_code_details":null,"response_flags":"UC","route_name":null,"start_time":"1970-01-01T00:00:00.000Z","upstream_cluster":"PassthroughCluster","upstream_host":"[fd00::6]:3306","upstream_local_address":null,"upstream_peer_uri_san":null,"upstream_service_time":null,"upstream_transport_failure_reason":null,"user_agent":null,"x_forwarded_for":null})json");
}

TEST(AccessLogJson, LocalReplyWithFlagsAndNoUpstream) {
  RequestRecord r;
  r.method = "GET";
  r.path = "/";
  r.response_code = 503;
  r.response_flags = flags::kUpstreamConnectionFailure | flags::kUpstreamRetryLimitExceeded;
  r.response_code_details = "upstream_reset_before_response_started{connection_failure}";
  r.upstream_transport_failure_reason = "delayed_connect_error:_Connection_refused";
  const Json j = parseLine([&] {
    std::string s;
    appendAccessLogJson(s, r);
    return s;
  }());
  EXPECT_EQ(j["response_code"], 503);
  EXPECT_EQ(j["response_flags"], "UF,URX");
  EXPECT_TRUE(j["upstream_host"].is_null());
  EXPECT_TRUE(j["upstream_service_time"].is_null());
  EXPECT_EQ(j["start_time"], "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(j["upstream_transport_failure_reason"], "delayed_connect_error:_Connection_refused");
}

TEST(AccessLogJson, HostileHeaderBytesStillParse) {
  struct Case {
    std::string name;
    std::string user_agent;
    std::string want;  // after parsing back
  };
  const std::vector<Case> cases = {
      {"quotes and backslashes", R"(a"b\c)", R"(a"b\c)"},
      {"controls", std::string("a\x01\x1f\tb\r\n", 7), std::string("a\x01\x1f\tb\r\n", 7)},
      {"nul", std::string("a\0b", 3), std::string("a\0b", 3)},
      {"valid utf-8", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
       "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
      {"obs-text latin-1", "caf\xe9", "caf\xef\xbf\xbd"},
      {"truncated sequence", "\xe2\x82", "\xef\xbf\xbd\xef\xbf\xbd"},
      {"overlong slash", "\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},
      {"surrogate", "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
      {"beyond U+10FFFF", "\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
      {"json injection", R"(x","response_code":999,"y":")", R"(x","response_code":999,"y":")"},
  };
  for (const auto& c : cases) {
    RequestRecord r;
    r.user_agent = c.user_agent;
    std::string line;
    appendAccessLogJson(line, r);
    EXPECT_EQ(line.find('\n'), std::string::npos) << c.name;
    const Json j = parseLine(line);
    ASSERT_TRUE(j.is_object()) << c.name;
    EXPECT_EQ(j["user_agent"], c.want) << c.name;
    EXPECT_EQ(j["response_code"], 0) << c.name;
  }
}

TEST(AccessLogJson, EndpointsPrintEveryOctetAndPort) {
  struct Case {
    const char* address;
    std::uint16_t port;
    const char* want;
  };
  const Case cases[] = {
      {"0.0.0.0", 1, "0.0.0.0:1"},
      {"255.0.10.100", 65535, "255.0.10.100:65535"},
      {"127.0.0.6", 15001, "127.0.0.6:15001"},
      {"fd00::6", 80, "[fd00::6]:80"},
  };
  for (const auto& c : cases) {
    RequestRecord r;
    r.upstream_host = {asio::ip::make_address(c.address), c.port};
    std::string line;
    appendAccessLogJson(line, r);
    EXPECT_EQ(parseLine(line)["upstream_host"], c.want) << c.address;
  }
  // Every octet value in every position, against asio's own text.
  for (unsigned v = 0; v < 256; ++v) {
    const asio::ip::address_v4 address(asio::ip::address_v4::bytes_type{
        static_cast<unsigned char>(v), static_cast<unsigned char>(255 - v),
        static_cast<unsigned char>(v / 3), static_cast<unsigned char>((v * 7) % 256)});
    RequestRecord r;
    r.upstream_host = {address, static_cast<std::uint16_t>(v * 251 + 1)};  // port 0 is null
    std::string line;
    appendAccessLogJson(line, r);
    EXPECT_EQ(parseLine(line)["upstream_host"],
              address.to_string() + ":" + std::to_string(v * 251 + 1))
        << v;
  }
}

// Numbers are written from a digit count taken without division: every
// side of every power of ten must print exactly.
TEST(AccessLogJson, NumbersOnEitherSideOfEveryPowerOfTen) {
  std::vector<std::uint64_t> values = {0, std::numeric_limits<std::uint64_t>::max()};
  for (std::uint64_t p = 1, i = 0; i < 20; ++i, p *= 10) {
    values.push_back(p - 1);
    values.push_back(p);
    values.push_back(p + 1);
  }
  for (std::uint64_t v : values) {
    RequestRecord r;
    r.response_body_bytes = v;
    std::string line;
    appendAccessLogJson(line, r);
    EXPECT_NE(line.find(",\"bytes_sent\":" + std::to_string(v) + ","), std::string::npos) << v;
  }
}

TEST(AccessLogJson, StartTimesInOneSecondAndAcrossSecondsEachPrintTheirOwn) {
  // The date up to the second is cached per thread: consecutive lines in the
  // same second, the next second and a jump back must all print exactly.
  struct Case {
    std::int64_t ms;
    const char* want;
  };
  const Case cases[] = {
      {1'735'689'600'123, "2025-01-01T00:00:00.123Z"},
      {1'735'689'600'999, "2025-01-01T00:00:00.999Z"},
      {1'735'689'601'000, "2025-01-01T00:00:01.000Z"},
      {1'709'164'799'007, "2024-02-28T23:59:59.007Z"},
      {1'709'251'199'050, "2024-02-29T23:59:59.050Z"},
      {1'735'689'600'123, "2025-01-01T00:00:00.123Z"},
      {-1, "1969-12-31T23:59:59.999Z"},
      {7'289'654'399'000, "2200-12-31T23:59:59.000Z"},
  };
  for (const auto& c : cases) {
    RequestRecord r;
    r.start_time = SystemTime(std::chrono::milliseconds(c.ms));
    std::string line;
    appendAccessLogJson(line, r);
    EXPECT_EQ(parseLine(line)["start_time"], c.want) << c.ms;
  }
}

TEST(AccessLogJson, TcpConnectionLine) {
  ConnectionRecord c;
  c.bytes_received = 10;
  c.bytes_sent = 20;
  c.upstream_cluster = "PassthroughCluster";
  c.response_flags = flags::kUpstreamConnectionTermination;
  c.duration = std::chrono::seconds(3);
  std::string line;
  appendAccessLogJson(line, c);
  const Json j = parseLine(line);
  EXPECT_EQ(j.size(), 27u);  // the request line's keys, peers and security policy included
  EXPECT_TRUE(j["method"].is_null());
  EXPECT_TRUE(j["protocol"].is_null());
  EXPECT_EQ(j["response_code"], 0);
  EXPECT_EQ(j["bytes_received"], 10);
  EXPECT_EQ(j["bytes_sent"], 20);
  EXPECT_EQ(j["duration"], 3000);
  EXPECT_EQ(j["response_flags"], "UC");
}

// The byte definition of a JSON string as the log writes it, one byte at a
// time: what the eight-bytes-at-a-time writer must agree with.
std::string escapedByDefinition(std::string_view v) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (std::size_t i = 0; i < v.size();) {
    const auto c = static_cast<unsigned char>(v[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20) {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      // Well-formed UTF-8 (RFC 3629) is copied, anything else is U+FFFD.
      std::size_t n = c >= 0xc2 && c <= 0xdf   ? 2
                      : c >= 0xe0 && c <= 0xef ? 3
                      : c >= 0xf0 && c <= 0xf4 ? 4
                                               : 0;
      bool ok = n != 0 && i + n <= v.size();
      for (std::size_t k = 1; ok && k < n; ++k) {
        const auto b = static_cast<unsigned char>(v[i + k]);
        unsigned char lo = 0x80, hi = 0xbf;
        if (k == 1 && c == 0xe0) lo = 0xa0;
        if (k == 1 && c == 0xed) hi = 0x9f;
        if (k == 1 && c == 0xf0) lo = 0x90;
        if (k == 1 && c == 0xf4) hi = 0x8f;
        ok = b >= lo && b <= hi;
      }
      if (ok) {
        out.append(v.substr(i, n));
        i += n;
        continue;
      }
      out += "\xef\xbf\xbd";
    }
    ++i;
  }
  return out + "\"";
}

std::string userAgentText(std::string_view user_agent) {
  RequestRecord r;
  r.user_agent = user_agent;
  std::string line;
  appendAccessLogJson(line, r);
  const std::string_view key = R"("user_agent":)";
  const std::size_t begin = line.find(key) + key.size();
  return line.substr(begin, line.find(R"(,"x_forwarded_for":)") - begin);
}

// Strings are copied eight bytes at a time while they are printable ASCII:
// every kind of byte that stops a run, at every position of strings of
// every length across two words and a tail, beside a second one, must come
// out as the byte definition says.
TEST(AccessLogJson, StringsEscapeAsTheByteDefinitionSays) {
  const std::vector<std::string> specials = {"\"",
                                             "\\",
                                             std::string(1, '\0'),
                                             "\x01",
                                             "\x1f",
                                             "\t",
                                             "\n",
                                             "\r",
                                             "\x7f",
                                             "\x80",
                                             "\xff",
                                             "\xc3\xa9",
                                             "\xe2\x82\xac",
                                             "\xf0\x9f\x98\x80",
                                             "\xed\xa0\x80",
                                             "\xc0\xaf",
                                             " ",
                                             "~",
                                             "\x21",
                                             "\x23",
                                             "\x5b",
                                             "\x5d"};
  int checked = 0;
  for (std::size_t size = 1; size <= 26; ++size) {
    for (std::size_t at = 0; at < size; ++at) {
      for (const auto& special : specials) {
        std::string v(size, 'a');
        for (std::size_t i = 0; i < size; ++i) v[i] = static_cast<char>('a' + i % 26);
        v.replace(at, 1, special);
        EXPECT_EQ(userAgentText(v), escapedByDefinition(v)) << "size " << size << " at " << at;
        // and a second stop further on
        std::string two = v;
        two.insert(std::min(two.size(), at + 5), "\"");
        EXPECT_EQ(userAgentText(two), escapedByDefinition(two)) << "size " << size << " at " << at;
        checked += 2;
      }
    }
  }
  EXPECT_EQ(userAgentText(std::string(64, 'x')), escapedByDefinition(std::string(64, 'x')));
  EXPECT_GT(checked, 10000);
}

// The writer reserves room for the longest line a record can make and then
// writes without checking: a record at every limit at once must fit.
TEST(AccessLogJson, EveryLineFitsTheRoomReservedForIt) {
  const std::string controls(300, '\x01');  // six bytes each, escaped
  const std::string ffff = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
  const asio::ip::tcp::endpoint widest{asio::ip::make_address(ffff), 65535};
  const auto most = std::numeric_limits<std::uint64_t>::max();
  RequestRecord r = sampleRequest();
  for (std::string_view* field :
       {&r.method, &r.path, &r.authority, &r.request_id, &r.user_agent, &r.x_forwarded_for,
        &r.protocol, &r.requested_server_name, &r.route_name, &r.upstream_cluster,
        &r.downstream_peer_uri_san, &r.upstream_peer_uri_san, &r.response_code_details,
        &r.connection_termination_details, &r.upstream_transport_failure_reason}) {
    *field = controls;
  }
  r.upstream_host = r.upstream_local_address = r.downstream_remote_address =
      r.downstream_local_address = widest;
  r.request_body_bytes = r.response_body_bytes = most;
  r.response_code = std::numeric_limits<std::uint32_t>::max();
  r.response_flags = ~0u;
  r.duration = std::chrono::nanoseconds::max();
  r.upstream_service_time = std::chrono::nanoseconds::max();
  r.start_time = SystemTime(std::chrono::milliseconds(7'289'654'399'999));  // 2200-12-31
  std::string line = "previous lines\n";
  appendAccessLogJson(line, r);
  const std::size_t written = line.size() - std::string_view("previous lines\n").size();
  EXPECT_LE(written, accessLogJsonBound(r));
  EXPECT_GT(written, 15 * 6 * controls.size());  // every byte escaped
  EXPECT_TRUE(parseJson(line.substr(15)).has_value());
  // The same line written in place, into a buffer with the room (a sink's),
  // and aside then appended, into one without: the same bytes.
  std::string roomy = "previous lines\n";
  roomy.reserve(roomy.size() + accessLogJsonBound(r));
  const auto* roomy_data = roomy.data();
  appendAccessLogJson(roomy, r);
  EXPECT_EQ(roomy, line);
  EXPECT_EQ(roomy.data(), roomy_data);  // written where it was: no reallocation
  std::string tight = "previous lines\n";
  appendAccessLogJson(tight, r);
  EXPECT_EQ(tight, line);
  // Plain long fields: the longest form is six times the line, and a buffer
  // without room for it grows by the line alone.
  RequestRecord plain = sampleRequest();
  const std::string long_agent(3000, 'a');
  plain.user_agent = long_agent;
  std::string expected;
  appendAccessLogJson(expected, plain);
  ASSERT_GT(accessLogJsonBound(plain), 4 * expected.size());
  std::string buffer(1000, 'x');
  buffer.reserve(buffer.size() + expected.size());
  appendAccessLogJson(buffer, plain);
  EXPECT_EQ(buffer.substr(1000), expected);
  EXPECT_LT(buffer.capacity(), 2 * buffer.size());

  ConnectionRecord c;
  c.upstream_cluster = controls;
  c.upstream_host = widest;
  c.bytes_received = c.bytes_sent = most;
  c.response_flags = ~0u;
  std::string tcp;
  appendAccessLogJson(tcp, c);
  EXPECT_LE(tcp.size(), accessLogJsonBound(c));
  // Nothing is left reserved past the line.
  EXPECT_EQ(tcp.back(), '}');
}

// A pipe whose read end a thread drains until the write end closes: what
// an AccessLog writes, returned by take() once it has closed that end.
class PipeReader {
 public:
  PipeReader() {
    EXPECT_EQ(::pipe(fds_), 0);
    reader_ = std::thread([this] {
      char buf[65536];
      for (ssize_t n; (n = ::read(fds_[0], buf, sizeof(buf))) > 0;) {
        collected_.append(buf, static_cast<std::size_t>(n));
      }
    });
  }
  PipeReader(const PipeReader&) = delete;
  PipeReader& operator=(const PipeReader&) = delete;
  ~PipeReader() { take(); }
  int writeEnd() const { return fds_[1]; }
  // Closes the write end, waits for the reader, returns all it read.
  std::string take() {
    if (reader_.joinable()) {
      ::close(fds_[1]);
      reader_.join();
      ::close(fds_[0]);
    }
    return collected_;
  }

 private:
  int fds_[2] = {-1, -1};
  std::thread reader_;
  std::string collected_;
};

// Lines written through per-worker sinks arrive whole, one per line, none
// lost, and the destructor flushes what is left.
TEST(AccessLog, WorkersWriteWholeLinesThroughThePipe) {
  PipeReader pipe;
  constexpr int kWorkers = 2;
  // 400 lines of ~700 bytes fit in what a sink may hold while the writer
  // is slow (the ring plus the pending buffer), so none may be dropped
  // however the threads are scheduled.
  constexpr int kLines = 400;
  {
    AccessLog log(kWorkers, pipe.writeEnd());
    std::vector<std::thread> workers;
    for (int w = 0; w < kWorkers; ++w) {
      workers.emplace_back([&, w] {
        auto r = sampleRequest();
        auto& sink = log.worker(static_cast<std::size_t>(w));
        for (int i = 0; i < kLines; ++i) {
          r.response_code = static_cast<std::uint32_t>(200 + w);
          r.request_body_bytes = static_cast<std::uint64_t>(i);
          sink.log(r);
        }
        sink.flush();
      });
    }
    for (auto& t : workers) t.join();
    EXPECT_EQ(log.dropped(), 0u);
    EXPECT_EQ(log.written(), static_cast<std::uint64_t>(kWorkers * kLines));
  }
  const std::string collected = pipe.take();
  std::vector<std::vector<bool>> seen(kWorkers, std::vector<bool>(kLines, false));
  std::size_t pos = 0, lines = 0;
  while (pos < collected.size()) {
    const auto nl = collected.find('\n', pos);
    ASSERT_NE(nl, std::string::npos);
    const Json j = parseLine(collected.substr(pos, nl - pos));
    const int w = j["response_code"].get<int>() - 200;
    const auto i = j["bytes_received"].get<std::size_t>();
    ASSERT_TRUE(w >= 0 && w < kWorkers);
    ASSERT_LT(i, static_cast<std::size_t>(kLines));
    EXPECT_FALSE(seen[static_cast<std::size_t>(w)][i]);
    seen[static_cast<std::size_t>(w)][i] = true;
    pos = nl + 1;
    ++lines;
  }
  EXPECT_EQ(lines, static_cast<std::size_t>(kWorkers * kLines));
}

// A sink copies each record into its buffers and the writer formats it, in
// place or, when a line's longest form does not fit, aside: either way the
// bytes are the formatter's, one line each, in order, across batches.
TEST(AccessLog, SinkWritesTheFormattersBytes) {
  PipeReader pipe;
  RequestRecord plain = sampleRequest();
  RequestRecord huge = sampleRequest();
  const std::string agent(14000, 'a');  // six times that escaped: more than a batch's room
  huge.user_agent = agent;
  RequestRecord hostile = sampleRequest();
  const std::string controls(700, '\x01');
  hostile.path = controls;
  ConnectionRecord tcp;
  tcp.upstream_cluster = "PassthroughCluster";
  std::string want;
  {
    AccessLog log(1, pipe.writeEnd());
    auto& sink = log.worker(0);
    for (int i = 0; i < 300; ++i) {
      plain.request_body_bytes = static_cast<std::uint64_t>(i);
      sink.log(plain);
      appendAccessLogJson(want, plain);
      want += '\n';
      if (i % 50 == 0) {
        sink.log(huge);
        appendAccessLogJson(want, huge);
        want += '\n';
        sink.log(hostile);
        appendAccessLogJson(want, hostile);
        want += '\n';
        sink.log(tcp);
        appendAccessLogJson(want, tcp);
        want += '\n';
      }
    }
    sink.flush();
    EXPECT_EQ(log.dropped(), 0u);
  }
  const std::string collected = pipe.take();
  EXPECT_EQ(collected.size(), want.size());
  EXPECT_TRUE(collected == want);
}

// What a sink hands its writer carries every field a line prints: random
// records of both kinds (strings of any bytes and lengths, addresses of
// either family or none, every number from 0 to its widest) come out of the
// pipe as the formatter writes them straight from the record.
TEST(AccessLog, EveryFieldReachesTheWriterAsLogged) {
  std::mt19937_64 rng(20261207);
  auto pick = [&](std::uint64_t n) {
    return std::uniform_int_distribution<std::uint64_t>(0, n)(rng);
  };
  // Lengths 0 (null), short, and past a word and a line; any bytes.
  std::vector<std::string> texts;
  for (int i = 0; i < 64; ++i) {
    std::string t(pick(3) == 0 ? 0 : pick(3) == 0 ? 200 + pick(800) : pick(40), '\0');
    for (char& c : t) c = static_cast<char>(pick(3) == 0 ? pick(255) : 'a' + pick(25));
    texts.push_back(std::move(t));
  }
  auto text = [&]() -> std::string_view { return texts[pick(texts.size() - 1)]; };
  auto endpoint = [&]() -> asio::ip::tcp::endpoint {
    switch (pick(2)) {
      case 0: return {};
      case 1:
        return {asio::ip::address_v4(static_cast<std::uint32_t>(pick(~0u))),
                static_cast<std::uint16_t>(pick(65535))};
      default: {
        asio::ip::address_v6::bytes_type bytes;
        for (auto& b : bytes) b = static_cast<unsigned char>(pick(255));
        return {asio::ip::address_v6(bytes), static_cast<std::uint16_t>(pick(65535))};
      }
    }
  };
  auto number = [&] { return pick(1) == 0 ? pick(1000) : pick(~std::uint64_t{0}); };
  auto nanoseconds = [&] {
    return std::chrono::nanoseconds(static_cast<std::int64_t>(number() >> 1));
  };
  // Up to 2200-12-31 (a system clock's nanoseconds end in 2262).
  auto time = [&] { return SystemTime(std::chrono::milliseconds(pick(7'289'654'399'999))); };
  PipeReader pipe;
  std::string want;
  // In logs of 60 records, some 120 KiB, less than a sink holds however
  // slow its writer (copying a record is faster than formatting it, so a
  // sink written in a tight loop can get ahead of its writer by that much).
  for (int log_number = 0; log_number < 50; ++log_number) {
    AccessLog log(1, pipe.writeEnd());
    auto& sink = log.worker(0);
    for (int i = 0; i < 60; ++i) {
      if (pick(4) == 0) {
        ConnectionRecord c;
        c.reporter = pick(1) == 0 ? Reporter::Source : Reporter::Destination;
        for (std::string_view* field :
             {&c.upstream_cluster, &c.requested_server_name, &c.downstream_peer_uri_san,
              &c.upstream_peer_uri_san, &c.connection_termination_details,
              &c.upstream_transport_failure_reason}) {
          *field = text();
        }
        c.upstream_host = endpoint();
        c.upstream_local_address = endpoint();
        c.downstream_remote_address = endpoint();
        c.downstream_local_address = endpoint();
        c.mutual_tls = pick(1) == 0;
        c.response_flags = static_cast<std::uint32_t>(pick(~0u));
        c.bytes_sent = number();
        c.bytes_received = number();
        c.start_time = time();
        c.duration = nanoseconds();
        sink.log(c);
        appendAccessLogJson(want, c);
      } else {
        RequestRecord r;
        r.reporter = pick(1) == 0 ? Reporter::Source : Reporter::Destination;
        for (std::string_view* field :
             {&r.method, &r.path, &r.authority, &r.request_id, &r.user_agent, &r.x_forwarded_for,
              &r.protocol, &r.requested_server_name, &r.route_name, &r.upstream_cluster,
              &r.downstream_peer_uri_san, &r.upstream_peer_uri_san, &r.response_code_details,
              &r.connection_termination_details, &r.upstream_transport_failure_reason}) {
          *field = text();
        }
        r.upstream_host = endpoint();
        r.upstream_local_address = endpoint();
        r.downstream_remote_address = endpoint();
        r.downstream_local_address = endpoint();
        r.mutual_tls = pick(1) == 0;
        r.response_code = static_cast<std::uint32_t>(pick(1) == 0 ? pick(599) : pick(~0u));
        r.response_flags = static_cast<std::uint32_t>(pick(~0u));
        r.request_body_bytes = number();
        r.response_body_bytes = number();
        r.start_time = time();
        r.duration = nanoseconds();
        if (pick(1) == 0) r.upstream_service_time = nanoseconds();
        sink.log(r);
        appendAccessLogJson(want, r);
      }
      want += '\n';
      if (pick(20) == 0) sink.flush();  // batches of every size
    }
    if (pick(1) == 0) sink.flush();  // else the destructor writes the last batch
    ASSERT_EQ(log.dropped(), 0u);
    ASSERT_EQ(log.written(), 60u);
  }
  const std::string collected = pipe.take();
  ASSERT_EQ(collected.size(), want.size());
  // The first line that differs, rather than two megabytes.
  std::size_t line_start = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (collected[i] != want[i]) {
      const std::size_t end = want.find('\n', i);
      FAIL() << "wanted " << want.substr(line_start, end - line_start) << "\ngot    "
             << collected.substr(line_start, collected.find('\n', i) - line_start);
    }
    if (want[i] == '\n') line_start = i + 1;
  }
}

// A log nobody reads (a blocked pipe) must not block the worker: lines are
// dropped and counted instead.
TEST(AccessLog, BlockedPipeDropsInsteadOfBlocking) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::thread drain;
  {
    AccessLog log(1, fds[1]);
    auto r = sampleRequest();
    std::string big_agent(4000, 'a');
    r.user_agent = big_agent;
    // Far more than the pipe (64 KiB) + the ring + the pending buffer hold.
    for (int i = 0; i < 2000; ++i) log.worker(0).log(r);
    EXPECT_GT(log.dropped(), 0u);
    EXPECT_EQ(log.dropped() + log.written(), 2000u);
    // Both counts, as the proxy's metrics show them.
    const std::string metrics = log.prometheus();
    EXPECT_NE(
        metrics.find("\nremora_access_log_dropped_total " + std::to_string(log.dropped()) + "\n"),
        std::string::npos)
        << metrics;
    EXPECT_NE(
        metrics.find("\nremora_access_log_lines_total " + std::to_string(log.written()) + "\n"),
        std::string::npos)
        << metrics;
    // Unblock the writer so that the destructor can finish.
    drain = std::thread([&] {
      char buf[65536];
      while (::read(fds[0], buf, sizeof(buf)) > 0) {
      }
    });
  }
  ::close(fds[1]);
  drain.join();
  ::close(fds[0]);
}

}  // namespace
}  // namespace remora::telemetry

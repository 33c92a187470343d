// Parse throughput of Http1Parser against Debian's http-parser (the baseline,
// measured in the same run). Both parse the same bytes, reusing their parser
// state across messages. Ours does more per message: it validates every rule
// of RELIABILITY.md §1.5, copies the head into an owning HeaderMap and derives
// the framing; the baseline's callbacks only count. bench/run.sh prints the
// ratio (above 1.0: ours is faster).
#include <cstring>
#include <string>
#include <string_view>

#include <benchmark/benchmark.h>
#include <http_parser.h>

#include "core/assert.h"
#include "http/http1_parser.h"

namespace {

using remora::http::CallbackResult;
using remora::http::Http1Parser;

const std::string kCurlGet =
    "GET /productpage HTTP/1.1\r\nHost: productpage.default.svc.cluster.local:9080\r\n"
    "User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";

const std::string kBrowserGet =
    "GET /api/v1/namespaces/default/pods?labelSelector=app%3Dreviews&limit=500 HTTP/1.1\r\n"
    "Host: reviews.default.svc.cluster.local:9080\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Firefox/115.0\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Referer: http://productpage.default.svc.cluster.local:9080/productpage?u=normal\r\n"
    "Connection: keep-alive\r\n"
    "Cookie: session=0f3c9a1e7b2d4c6e8a0b1c2d3e4f5a6b; theme=dark; "
    "_ga=GA1.2.1234567890.1700000000\r\n"
    "Upgrade-Insecure-Requests: 1\r\n"
    "x-request-id: 6a1f0c9e-5b7d-4e0a-9c1e-2f4b8d7a6c3e\r\n"
    "x-b3-traceid: 80f198ee56343ba864fe8b2a57d3eff7\r\n"
    "x-b3-spanid: e457b5a2e4d86bd1\r\n"
    "x-b3-sampled: 1\r\n\r\n";

std::string post1KiB() {
  return "POST /reviews/0 HTTP/1.1\r\nHost: reviews:9080\r\nContent-Type: application/json\r\n"
         "Content-Length: 1024\r\n\r\n" +
         std::string(1024, 'x');
}

std::string pipelined16() {
  std::string s;
  for (int i = 0; i < 16; ++i) s += kCurlGet;
  return s;
}

const std::string kChunkedResponse = [] {
  std::string s =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
      "Server: istio-envoy\r\nx-envoy-upstream-service-time: 3\r\nTransfer-Encoding: "
      "chunked\r\n\r\n";
  for (int i = 0; i < 4; ++i) s += "100\r\n" + std::string(256, 'r') + "\r\n";
  return s + "0\r\n\r\n";
}();

class Counting : public remora::http::Http1ParserCallbacks {
 public:
  CallbackResult onBody(std::string_view data) override {
    body += data.size();
    return CallbackResult::Continue;
  }
  CallbackResult onMessageComplete() override {
    ++messages;
    return CallbackResult::Continue;
  }
  std::size_t body = 0;
  std::size_t messages = 0;
};

void runOurs(benchmark::State& state, const std::string& input, Http1Parser::Mode mode,
             std::size_t messages_per_input) {
  Counting cb;
  Http1Parser parser(mode, cb);
  for (auto _ : state) {
    std::string_view rest = input;
    while (!rest.empty()) {
      auto r = parser.feed(rest);
      REMORA_CHECK(r.has_value(), "benchmark input rejected: {}", r.error().message);
      rest.remove_prefix(*r);
    }
  }
  REMORA_CHECK(cb.messages == state.iterations() * messages_per_input, "lost messages");
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * input.size()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * messages_per_input));
  state.SetLabel("vs:HttpParser");
}

struct BaselineCounts {
  std::size_t fields = 0;
  std::size_t body = 0;
  std::size_t messages = 0;
};

int onField(http_parser* p, const char*, std::size_t) {
  static_cast<BaselineCounts*>(p->data)->fields++;
  return 0;
}
int onData(http_parser* p, const char*, std::size_t n) {
  static_cast<BaselineCounts*>(p->data)->body += n;
  return 0;
}
int onComplete(http_parser* p) {
  static_cast<BaselineCounts*>(p->data)->messages++;
  return 0;
}
int onNothing(http_parser*) { return 0; }
int onNothingData(http_parser*, const char*, std::size_t) { return 0; }

void runBaseline(benchmark::State& state, const std::string& input, http_parser_type type,
                 std::size_t messages_per_input) {
  http_parser_settings settings;
  std::memset(&settings, 0, sizeof settings);
  settings.on_message_begin = onNothing;
  settings.on_url = onNothingData;
  settings.on_status = onNothingData;
  settings.on_header_field = onField;
  settings.on_header_value = onNothingData;
  settings.on_headers_complete = onNothing;
  settings.on_body = onData;
  settings.on_message_complete = onComplete;
  BaselineCounts counts;
  http_parser parser;
  for (auto _ : state) {
    http_parser_init(&parser, type);
    parser.data = &counts;
    std::size_t n = http_parser_execute(&parser, &settings, input.data(), input.size());
    REMORA_CHECK(n == input.size() && parser.http_errno == HPE_OK, "baseline rejected input");
  }
  REMORA_CHECK(counts.messages == state.iterations() * messages_per_input, "lost messages");
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * input.size()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * messages_per_input));
}

void BM_Remora_CurlGet(benchmark::State& s) { runOurs(s, kCurlGet, Http1Parser::Mode::Request, 1); }
void BM_HttpParser_CurlGet(benchmark::State& s) { runBaseline(s, kCurlGet, HTTP_REQUEST, 1); }
void BM_Remora_BrowserGet(benchmark::State& s) {
  runOurs(s, kBrowserGet, Http1Parser::Mode::Request, 1);
}
void BM_HttpParser_BrowserGet(benchmark::State& s) { runBaseline(s, kBrowserGet, HTTP_REQUEST, 1); }
void BM_Remora_Post1KiB(benchmark::State& s) {
  static const std::string in = post1KiB();
  runOurs(s, in, Http1Parser::Mode::Request, 1);
}
void BM_HttpParser_Post1KiB(benchmark::State& s) {
  static const std::string in = post1KiB();
  runBaseline(s, in, HTTP_REQUEST, 1);
}
void BM_Remora_Pipelined16(benchmark::State& s) {
  static const std::string in = pipelined16();
  runOurs(s, in, Http1Parser::Mode::Request, 16);
}
void BM_HttpParser_Pipelined16(benchmark::State& s) {
  static const std::string in = pipelined16();
  runBaseline(s, in, HTTP_REQUEST, 16);
}
void BM_Remora_ChunkedResponse(benchmark::State& s) {
  runOurs(s, kChunkedResponse, Http1Parser::Mode::Response, 1);
}
void BM_HttpParser_ChunkedResponse(benchmark::State& s) {
  runBaseline(s, kChunkedResponse, HTTP_RESPONSE, 1);
}

BENCHMARK(BM_Remora_CurlGet);
BENCHMARK(BM_HttpParser_CurlGet);
BENCHMARK(BM_Remora_BrowserGet);
BENCHMARK(BM_HttpParser_BrowserGet);
BENCHMARK(BM_Remora_Post1KiB);
BENCHMARK(BM_HttpParser_Post1KiB);
BENCHMARK(BM_Remora_Pipelined16);
BENCHMARK(BM_HttpParser_Pipelined16);
BENCHMARK(BM_Remora_ChunkedResponse);
BENCHMARK(BM_HttpParser_ChunkedResponse);

}  // namespace

BENCHMARK_MAIN();

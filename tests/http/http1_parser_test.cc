// Http1Parser: the table of valid and hostile inputs (http1_cases.h), each
// checked whole, split at every byte boundary, fed byte by byte, and with a
// pause after every event; plus the contracts the table cannot express
// (pausing, reuse without allocation, errors are sticky, upgrades).
#include "http/http1_parser.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "http/http1_serializer.h"
#include "tests/http/http1_cases.h"
#include "tests/http/http1_recorder.h"

// Counts operator new calls (tests/http/alloc_counter.cc), to check the "no
// allocation once warmed up" contract.
long allocationCount();

namespace remora::http::testing {
namespace {

RunOptions optionsOf(const Case& c) {
  RunOptions opt;
  opt.mode = c.mode;
  opt.limits = c.limits;
  opt.request_method = c.request_method;
  opt.upgrade_requested = c.upgrade_requested;
  opt.eof = c.eof;
  return opt;
}

class Http1Table : public ::testing::TestWithParam<Case> {};

TEST_P(Http1Table, VerdictIsTheSameForEverySplit) {
  const Case& c = GetParam();
  RunOptions opt = optionsOf(c);
  Outcome whole = runWhole(opt, c.input);

  Outcome expected;
  expected.log = c.log;
  expected.error = c.error;
  expected.upgraded = c.upgraded;
  expected.unparsed = c.unparsed;
  ASSERT_EQ(describe(whole), describe(expected)) << c.name;

  // Every split point for inputs up to 4 KiB; an even sample of 512 above.
  std::size_t n = c.input.size();
  std::size_t step = n <= 4096 ? 1 : n / 512;
  for (std::size_t at = 1; at < n; at += step) {
    Outcome split = runSplit(opt, c.input, at);
    ASSERT_EQ(describe(split), describe(whole)) << c.name << " split at " << at;
  }
  EXPECT_EQ(describe(runBytewise(opt, c.input)), describe(whole)) << c.name << " byte by byte";
  opt.pause_always = true;
  EXPECT_EQ(describe(runWhole(opt, c.input)), describe(whole)) << c.name << " pausing";
  EXPECT_EQ(describe(runBytewise(opt, c.input)), describe(whole))
      << c.name << " pausing, byte by byte";
}

std::string caseName(const ::testing::TestParamInfo<Case>& info) {
  std::string name = info.param.name;
  std::replace_if(
      name.begin(), name.end(),
      [](char ch) { return !std::isalnum(static_cast<unsigned char>(ch)); }, '_');
  return name;
}

INSTANTIATE_TEST_SUITE_P(Requests, Http1Table, ::testing::ValuesIn(requestCases()), caseName);
INSTANTIATE_TEST_SUITE_P(Responses, Http1Table, ::testing::ValuesIn(responseCases()), caseName);

TEST(Http1Cases, NamesAreUnique) {
  std::set<std::string> names;
  for (const Case& c : allCases()) EXPECT_TRUE(names.insert(c.name).second) << c.name;
}

// Every case is a seed of the fuzz targets: fuzz/corpus/http1_{request,response}/<name>
// holds the option byte and the input. REMORA_UPDATE_CORPUS=1 rewrites them.
TEST(Http1Cases, FuzzCorpusHoldsEveryCase) {
  bool update = std::getenv("REMORA_UPDATE_CORPUS") != nullptr;
  for (const Case& c : allCases()) {
    std::string dir = c.mode == Http1Parser::Mode::Request ? "fuzz/corpus/http1_request"
                                                           : "fuzz/corpus/http1_response";
    std::string path = dir + "/" + c.name;
    std::string want(1, static_cast<char>(byteFromOptions(optionsOf(c))));
    want += c.input;
    if (update) {
      std::filesystem::create_directories(dir);
      std::ofstream(path, std::ios::binary) << want;
      continue;
    }
    std::ifstream in(path, std::ios::binary);
    std::string have((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(have, want) << path
                          << " is missing or stale: run the test with REMORA_UPDATE_CORPUS=1";
  }
}

// A callbacks object that records nothing, for tests of the parser alone.
class Quiet : public Http1ParserCallbacks {
 public:
  CallbackResult onRequestHead(RequestHead& h) override {
    ++heads;
    last_target_size = h.target.size();
    return pause_head ? CallbackResult::Pause : CallbackResult::Continue;
  }
  CallbackResult onBody(std::string_view data) override {
    body_bytes += data.size();
    return pause_body ? CallbackResult::Pause : CallbackResult::Continue;
  }
  CallbackResult onMessageComplete() override {
    ++completes;
    return CallbackResult::Continue;
  }
  int heads = 0;
  int completes = 0;
  std::size_t body_bytes = 0;
  std::size_t last_target_size = 0;
  bool pause_head = false;
  bool pause_body = false;
};

TEST(Http1Parser, NoAllocationOnceWarmedUp) {
  const std::string req =
      "POST /api/v1/items?page=2 HTTP/1.1\r\nHost: svc.ns.svc.cluster.local:8080\r\n"
      "User-Agent: curl/7.88.1\r\nAccept: */*\r\nCookie: session=abcdef0123456789\r\n"
      "X-Request-Id: 6a1f0c9e-5b7d-4e0a-9c1e-2f4b8d7a6c3e\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n";
  Quiet cb;
  Http1Parser parser(Http1Parser::Mode::Request, cb);
  auto feedAll = [&](std::string_view in) {
    while (!in.empty()) {
      auto r = parser.feed(in);
      ASSERT_TRUE(r.has_value()) << r.error().message;
      in.remove_prefix(*r);
    }
  };
  // Warm up: whole, then split at every byte (the line buffer grows).
  feedAll(req);
  for (std::size_t at = 1; at < req.size(); ++at) {
    feedAll(std::string_view(req).substr(0, at));
    feedAll(std::string_view(req).substr(at));
  }
  int completes_before = cb.completes;
  int messages = 0;
  long before = allocationCount();
  for (int i = 0; i < 50; ++i, ++messages) feedAll(req);
  for (std::size_t at = 1; at < req.size(); at += 7, ++messages) {
    feedAll(std::string_view(req).substr(0, at));
    feedAll(std::string_view(req).substr(at));
  }
  EXPECT_EQ(allocationCount() - before, 0);
  EXPECT_EQ(cb.completes - completes_before, messages);
}

TEST(Http1Parser, StopsAfterEachMessage) {
  Quiet cb;
  Http1Parser parser(Http1Parser::Mode::Request, cb);
  std::string one = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n";
  std::string two = "GET /22 HTTP/1.1\r\nHost: a\r\n\r\n";
  auto r = parser.feed(one + two);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, one.size());
  EXPECT_EQ(cb.completes, 1);
  EXPECT_TRUE(parser.isIdle());
  r = parser.feed(two);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, two.size());
  EXPECT_EQ(cb.completes, 2);
  EXPECT_EQ(cb.last_target_size, 3u);
}

TEST(Http1Parser, PauseOnBodyAppliesBackpressure) {
  Quiet cb;
  cb.pause_body = true;
  Http1Parser parser(Http1Parser::Mode::Request, cb);
  std::string head = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n";
  auto r = parser.feed(head + "01234");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, head.size() + 5);  // the chunk delivered counts as consumed
  EXPECT_TRUE(parser.isPaused());
  r = parser.feed("56789");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, 0u);  // nothing while paused
  EXPECT_EQ(cb.body_bytes, 5u);
  parser.resume();
  r = parser.feed("56789");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, 5u);
  EXPECT_EQ(cb.body_bytes, 10u);
  parser.resume();
  r = parser.feed("");  // completion was due without input
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(cb.completes, 1);
}

TEST(Http1Parser, PauseOnHeadOfBodylessMessageDeliversCompletionOnEmptyFeed) {
  Quiet cb;
  cb.pause_head = true;
  Http1Parser parser(Http1Parser::Mode::Request, cb);
  std::string req = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  auto r = parser.feed(req);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, req.size());
  EXPECT_EQ(cb.heads, 1);
  EXPECT_EQ(cb.completes, 0);
  parser.resume();
  r = parser.feed({});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, 0u);
  EXPECT_EQ(cb.completes, 1);
  EXPECT_TRUE(parser.isIdle());
}

TEST(Http1Parser, ErrorsAreStickyAndCarryTheStatus) {
  Quiet cb;
  Http1Parser parser(Http1Parser::Mode::Request, cb);
  auto r = parser.feed("GET / HTTP/1.1\r\nHost: a\r\nX : y\r\n\r\n");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(httpStatus(r.error().code), 400);
  EXPECT_TRUE(parser.hasError());
  auto again = parser.feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().message, r.error().message);
  EXPECT_FALSE(parser.finish().has_value());
  EXPECT_EQ(cb.heads, 0);
}

TEST(Http1Parser, UpgradedResponseParserRefusesMoreBytes) {
  Recorder rec;
  Http1Parser parser(Http1Parser::Mode::Response, rec);
  parser.setUpgradeRequested(true);
  std::string resp = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
  auto r = parser.feed(resp + "frame");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, resp.size());
  EXPECT_TRUE(parser.isUpgraded());
  auto more = parser.feed("frame");
  ASSERT_FALSE(more.has_value());
  EXPECT_EQ(more.error().code, Errc::Internal);
  EXPECT_TRUE(parser.finish().has_value());
}

TEST(Http1Parser, ResponseErrorsAreBadGatewayEvenForLimits) {
  Http1Limits limits;
  limits.max_headers = 1;
  class Resp : public Http1ParserCallbacks {
    CallbackResult onBody(std::string_view) override { return CallbackResult::Continue; }
    CallbackResult onMessageComplete() override { return CallbackResult::Continue; }
  } resp_cb;
  Http1Parser parser(Http1Parser::Mode::Response, resp_cb, limits);
  auto r = parser.feed("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::BadGateway);
}

TEST(Http1Parser, FinishBetweenMessagesIsClean) {
  Quiet cb;
  Http1Parser parser(Http1Parser::Mode::Request, cb);
  EXPECT_TRUE(parser.finish().has_value());
  ASSERT_TRUE(parser.feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n\r").has_value());
  ASSERT_TRUE(parser.feed("\r").has_value());  // the stray CR after the message
  EXPECT_TRUE(parser.finish().has_value());
}

// A head can be kept past its callback by swapping it with a spare; the
// parser then reuses the spare's storage.
TEST(Http1Parser, HeadCanBeSwappedOut) {
  class Keeper : public Http1ParserCallbacks {
   public:
    CallbackResult onRequestHead(RequestHead& h) override {
      kept.emplace_back();
      kept.back().swap(h);
      return CallbackResult::Continue;
    }
    CallbackResult onBody(std::string_view) override { return CallbackResult::Continue; }
    CallbackResult onMessageComplete() override { return CallbackResult::Continue; }
    std::vector<RequestHead> kept;
  } cb;
  Http1Parser parser(Http1Parser::Mode::Request, cb);
  std::string_view in = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.0\r\n\r\n";
  while (!in.empty()) {
    auto r = parser.feed(in);
    ASSERT_TRUE(r.has_value());
    in.remove_prefix(*r);
  }
  ASSERT_EQ(cb.kept.size(), 2u);
  EXPECT_EQ(cb.kept[0].target, "/a");
  EXPECT_EQ(cb.kept[0].host(), "x");
  EXPECT_EQ(cb.kept[1].method, Method::Post);
  EXPECT_EQ(cb.kept[1].version, Version::Http10);
  EXPECT_TRUE(cb.kept[1].headers.empty());
}

TEST(Http1Parser, RequestHeadPathForEachTargetForm) {
  RequestHead h;
  h.target = "/a/b?c";
  EXPECT_EQ(h.path(), "/a/b?c");
  h.target = "http://host:80/x?y";
  EXPECT_EQ(h.path(), "/x?y");
  h.target = "http://host";
  EXPECT_EQ(h.path(), "/");
  h.target = "http://host?q";
  EXPECT_EQ(h.path(), "?q");
  h.target = "host:443";
  EXPECT_EQ(h.path(), "");
  h.target = "*";
  EXPECT_EQ(h.path(), "");
}

// The serializer's output parses back to the same message (the oracle the
// fuzz targets use too).
TEST(Http1Parser, SerializedHeadsParseBack) {
  for (const Case& c : requestCases()) {
    if (c.error || c.limits.underscores != Http1Limits::Underscores::Allow) continue;
    class Capture : public Http1ParserCallbacks {
     public:
      CallbackResult onRequestHead(RequestHead& h) override {
        serializeRequestHead(h, out);
        chunked = h.framing == BodyFraming::Chunked;
        return CallbackResult::Continue;
      }
      CallbackResult onBody(std::string_view d) override {
        if (chunked) {
          appendChunk(d, out);
        } else {
          out.append(d);
        }
        return CallbackResult::Continue;
      }
      CallbackResult onTrailers(HeaderMap& t) override {
        trailers = t;
        return CallbackResult::Continue;
      }
      CallbackResult onMessageComplete() override {
        if (chunked) appendLastChunk(out, &trailers);
        trailers.clear();
        return CallbackResult::Continue;
      }
      std::string out;
      HeaderMap trailers;
      bool chunked = false;
    };
    Capture cap;
    Http1Parser parser(Http1Parser::Mode::Request, cap, c.limits);
    std::string_view in = c.input;
    while (!in.empty()) {
      auto r = parser.feed(in);
      ASSERT_TRUE(r.has_value()) << c.name;
      in.remove_prefix(*r);
    }
    RunOptions opt = optionsOf(c);
    EXPECT_EQ(describe(runWhole(opt, cap.out)), describe(runWhole(opt, c.input))) << c.name;
  }
}

}  // namespace
}  // namespace remora::http::testing

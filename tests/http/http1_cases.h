// The codec's test table: valid messages beside hostile ones
// (RELIABILITY.md §6.A tests 1-5 and 7, R1-R17). Shared by the unit tests
// (which check each verdict, split at every byte) and by the corpus test
// (every input here is a seed of the fuzz targets).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "http/http1_parser.h"

namespace remora::http::testing {

struct Case {
  std::string name;  // also the corpus file name
  std::string input;
  // The full log when valid (see http1_recorder.h); for an error case, the
  // log of the events before the error.
  std::string log;
  std::optional<Errc> error;
  Http1Parser::Mode mode = Http1Parser::Mode::Request;
  Http1Limits limits{};
  Method request_method = Method::Get;
  bool upgrade_requested = false;
  bool eof = false;
  bool upgraded = false;
  std::size_t unparsed = 0;
};

inline constexpr auto kBad = Errc::BadRequest;
inline constexpr auto kBadGw = Errc::BadGateway;

// RELIABILITY.md §6.A test 1: Transfer-Encoding obfuscated with each of these
// bytes, before or after the name or the value, next to a Content-Length,
// and followed by a second request that must never be parsed.
inline constexpr unsigned char kSmugglerBytes[] = {0x01, 0x04, 0x08, 0x09, 0x0a, 0x0b, 0x0c,
                                                   0x0d, 0x1f, 0x20, 0x7f, 0xa0, 0xff};

inline std::vector<Case> requestCases() {
  const std::string second = "GET /second HTTP/1.1\r\nHost: a\r\n\r\n";
  std::vector<Case> v;
  auto ok = [&](std::string name, std::string input, std::string log) {
    Case c;
    c.name = "req-ok-" + name;
    c.input = std::move(input);
    c.log = std::move(log);
    v.push_back(std::move(c));
    return &v.back();
  };
  auto bad = [&](std::string name, std::string input, Errc error, std::string log = "") {
    Case c;
    c.name = "req-bad-" + name;
    c.input = std::move(input);
    c.error = error;
    c.log = std::move(log);
    v.push_back(std::move(c));
    return &v.back();
  };

  // --- valid ---
  ok("get", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "REQ GET / 1.1 none ka {Host=a}\nDONE\n");
  ok("get-fields",
     "GET /p?q=1 HTTP/1.1\r\nHost: a.b:8080\r\nUser-Agent: curl/7.88\r\nAccept: */*\r\n\r\n",
     "REQ GET /p?q=1 1.1 none ka {Host=a.b:8080,User-Agent=curl/7.88,Accept=*/*}\nDONE\n");
  ok("ows-trimmed", "GET / HTTP/1.1\r\nHost:a\r\nX:  \t v 1 \t\r\nEmpty:\r\n\r\n",
     "REQ GET / 1.1 none ka {Host=a,X=v 1,Empty=}\nDONE\n");
  ok("obs-text-value", "GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n",
     "REQ GET / 1.1 none ka {Host=a,X=caf\\xc3\\xa9}\nDONE\n");
  ok("post-cl", "POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
     "REQ POST /u 1.1 cl:5 ka {Host=a,Content-Length=5}\nBODY hello\nDONE\n");
  ok("cl-zero-get", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
     "REQ GET / 1.1 none ka {Host=a,Content-Length=0}\nDONE\n");
  ok("cl-leading-zeros", "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 003\r\n\r\nabc",
     "REQ PUT / 1.1 cl:3 ka {Host=a,Content-Length=003}\nBODY abc\nDONE\n");
  ok("chunked",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n "
     "world\r\n0\r\n\r\n",
     "REQ POST / 1.1 chunked ka {Host=a,Transfer-Encoding=chunked}\nBODY hello world\nDONE\n");
  ok("chunked-case",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n",
     "REQ POST / 1.1 chunked ka {Host=a,Transfer-Encoding=Chunked}\nBODY 0123456789\nDONE\n");
  ok("chunked-ext-trailers",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     "3;name=value\r\nabc\r\n2 ; a ; b = \"q\\\"s\" ;c=d\r\nde\r\n0;last\r\nX-Sum: 9\r\nX-Other: "
     "y\r\n\r\n",
     "REQ POST / 1.1 chunked ka {Host=a,Transfer-Encoding=chunked}\nBODY abcde\n"
     "TRAILERS {X-Sum=9,X-Other=y}\nDONE\n");
  ok("pipelined-3",
     "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: "
     "a\r\n\r\n",
     "REQ GET /1 1.1 none ka {Host=a}\nDONE\nREQ GET /2 1.1 none ka {Host=a}\nDONE\n"
     "REQ GET /3 1.1 none ka {Host=a}\nDONE\n");
  ok("pipelined-bodies",
     "POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nxyPOST /2 HTTP/1.1\r\nHost: a\r\n"
     "Transfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n",
     "REQ POST /1 1.1 cl:2 ka {Host=a,Content-Length=2}\nBODY xy\nDONE\n"
     "REQ POST /2 1.1 chunked ka {Host=a,Transfer-Encoding=chunked}\nBODY z\nDONE\n");
  ok("leading-empty-lines", "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
     "REQ GET / 1.1 none ka {Host=a}\nDONE\n");
  ok("connection-close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n",
     "REQ GET / 1.1 none close {Host=a,Connection=Close}\nDONE\n");
  ok("http10-default-close", "GET / HTTP/1.0\r\n\r\n", "REQ GET / 1.0 none close {}\nDONE\n");
  ok("http10-keep-alive", "GET / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n",
     "REQ GET / 1.0 none ka {Host=a,Connection=keep-alive}\nDONE\n");
  ok("http10-cl", "POST / HTTP/1.0\r\nContent-Length: 1\r\n\r\nx",
     "REQ POST / 1.0 cl:1 close {Content-Length=1}\nBODY x\nDONE\n");
  ok("expect-continue",
     "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
     "REQ PUT / 1.1 cl:1 ka expect {Host=a,Expect=100-continue,Content-Length=1}\nBODY x\nDONE\n");
  ok("upgrade-websocket-then-http",
     "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
     "GET /next HTTP/1.1\r\nHost: a\r\n\r\n",
     "REQ GET /ws 1.1 none ka upgrade {Host=a,Connection=Upgrade,Upgrade=websocket}\nDONE\n"
     "REQ GET /next 1.1 none ka {Host=a}\nDONE\n");
  ok("upgrade-not-listed", "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n",
     "REQ GET / 1.1 none ka {Host=a,Upgrade=websocket}\nDONE\n");
  ok("upgrade-http10-ignored",
     "GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
     "REQ GET / 1.0 none close {Connection=upgrade,Upgrade=websocket}\nDONE\n");
  ok("connect", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
     "REQ CONNECT example.com:443 1.1 none ka {Host=example.com:443}\nDONE\n");
  ok("absolute-form", "GET http://a.b/x?y HTTP/1.1\r\nHost: a.b\r\n\r\n",
     "REQ GET http://a.b/x?y 1.1 none ka {Host=a.b}\nDONE\n");
  ok("options-star", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
     "REQ OPTIONS * 1.1 none ka {Host=a}\nDONE\n");
  ok("extension-method", "PURGE /x HTTP/1.1\r\nHost: a\r\n\r\n",
     "REQ PURGE /x 1.1 none ka {Host=a}\nDONE\n");
  ok("ipv6-host", "GET / HTTP/1.1\r\nHost: [::1]:15000\r\n\r\n",
     "REQ GET / 1.1 none ka {Host=[::1]:15000}\nDONE\n");
  ok("duplicates-kept", "GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1\r\ncookie: b=2\r\n\r\n",
     "REQ GET / 1.1 none ka {Host=a,Cookie=a=1,cookie=b=2}\nDONE\n");
  ok("underscore-allowed", "GET / HTTP/1.1\r\nHost: a\r\nX_Y: 1\r\n\r\n",
     "REQ GET / 1.1 none ka {Host=a,X_Y=1}\nDONE\n");
  {
    auto* c = ok("underscore-dropped", "GET / HTTP/1.1\r\nHost: a\r\nX_Y: 1\r\nZ: 2\r\n\r\n",
                 "REQ GET / 1.1 none ka {Host=a,Z=2}\nDONE\n");
    c->limits.underscores = Http1Limits::Underscores::Drop;
  }
  {
    auto* c = ok("get-body-allowed", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}",
                 "REQ GET / 1.1 cl:2 ka {Host=a,Content-Length=2}\nBODY {}\nDONE\n");
    c->limits.allow_body_without_semantics = true;
  }
  {
    // Limits at their edge are accepted: exactly 100 fields, exactly 60 KiB
    // of decoded bytes, a target of exactly the limit.
    std::string fields;
    std::string log_fields;
    for (int i = 0; i < 99; ++i) {
      fields += "X" + std::to_string(i) + ": v\r\n";
      log_fields += ",X" + std::to_string(i) + "=v";
    }
    ok("100-fields", "GET / HTTP/1.1\r\nHost: a\r\n" + fields + "\r\n",
       "REQ GET / 1.1 none ka {Host=a" + log_fields + "}\nDONE\n");
    std::string big(60 * 1024 - 4 - 1 - 1, 'b');  // Host+a, X+value
    ok("60k-header-bytes", "GET / HTTP/1.1\r\nHost: a\r\nX: " + big + "\r\n\r\n",
       "REQ GET / 1.1 none ka {Host=a,X=" + big + "}\nDONE\n");
    std::string target = "/" + std::string(16 * 1024 - 1, 't');
    ok("target-at-limit", "GET " + target + " HTTP/1.1\r\nHost: a\r\n\r\n",
       "REQ GET " + target + " 1.1 none ka {Host=a}\nDONE\n");
  }

  // --- test 1: CL + TE and Transfer-Encoding obfuscations (R1-R3, R7) ---
  bad("cl-te",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc" +
          second,
      kBad);
  bad("te-cl",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: "
      "3\r\n\r\n0\r\n\r\n" +
          second,
      kBad);
  bad("te-leading-space",
      "POST / HTTP/1.1\r\n Transfer-Encoding: chunked\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc" +
          second,
      kBad);
  bad("te-space-colon",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding : chunked\r\n\r\nabc" +
          second,
      kBad);
  bad("te-tab-colon",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding\t: chunked\r\n\r\nabc" +
          second,
      kBad);
  bad("te-tab-separator-cl",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding:\tchunked\r\n\r\nabc" +
          second,
      kBad);
  bad("te-Chunked-cl",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: Chunked\r\n\r\nabc" +
          second,
      kBad);
  bad("te-chunked-identity",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" +
          second,
      Errc::NotImplemented);
  bad("te-identity-chunked-cl",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: identity, "
      "chunked\r\n\r\nabc" +
          second,
      kBad);
  bad("te-two-lines",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
      "chunked\r\n\r\n0\r\n\r\n" +
          second,
      kBad);
  bad("te-two-lines-cl",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: "
      "chunked\r\nTransfer-Encoding: x\r\n\r\nabc" +
          second,
      kBad);
  bad("te-obs-fold",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding:\r\n "
      "chunked\r\n\r\nabc" +
          second,
      kBad);
  bad("te-obs-fold-tab",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip,\r\n\tchunked\r\n\r\n0\r\n\r\n" +
          second,
      kBad);
  bad("te-gzip-last",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n" + second,
      kBad);
  bad("te-gzip-chunked",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" + second,
      Errc::NotImplemented);
  bad("te-unknown", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: foo\r\n\r\n" + second,
      Errc::NotImplemented);
  bad("te-empty", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n" + second, kBad);
  bad("te-chunked-param",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n" + second,
      Errc::NotImplemented);
  bad("te-http10", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + second, kBad);
  for (unsigned char b : kSmugglerBytes) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "%02x", b);
    std::string x(1, static_cast<char>(b));
    const std::string head = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n";
    const std::string tail = "\r\n\r\nabc" + second;
    // Every variant is either invalid syntax (400), a valid TE next to CL
    // (400), or an unknown coding next to CL (400).
    bad(std::string("te-byte-") + hex + "-before-name",
        head + x + "Transfer-Encoding: chunked" + tail, kBad);
    bad(std::string("te-byte-") + hex + "-after-name",
        head + "Transfer-Encoding" + x + ": chunked" + tail, kBad);
    bad(std::string("te-byte-") + hex + "-before-value",
        head + "Transfer-Encoding:" + x + "chunked" + tail, kBad);
    bad(std::string("te-byte-") + hex + "-after-value",
        head + "Transfer-Encoding: chunked" + x + tail, kBad);
  }

  // --- test 2: Content-Length edge cases (R4, R5) ---
  bad("cl-plus", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello" + second, kBad);
  bad("cl-minus", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\nhello" + second, kBad);
  bad("cl-hex", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\nhello" + second, kBad);
  bad("cl-junk", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5x\r\n\r\nhello" + second, kBad);
  bad("cl-inner-space", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\nhello" + second,
      kBad);
  bad("cl-list-differing",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\nhello" + second, kBad);
  bad("cl-list-same", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello" + second,
      kBad);
  bad("cl-two-lines",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello" + second,
      kBad);
  bad("cl-two-lines-same",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello" + second,
      kBad);
  bad("cl-2pow64-plus-1",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551617\r\n\r\nhello" + second,
      kBad);
  bad("cl-2pow64",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\nhello" + second,
      kBad);
  bad("cl-huge",
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999999\r\n\r\n" + second,
      kBad);
  bad("cl-empty", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n" + second, kBad);
  bad("cl-obs-fold", "OPTIONS / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n 33\r\n\r\n" + second,
      kBad);
  bad("cl-on-get", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 33\r\n\r\n" + second, kBad);
  bad("cl-on-head", "HEAD / HTTP/1.1\r\nHost: a\r\nContent-Length: 33\r\n\r\n" + second, kBad);
  bad("cl-on-options", "OPTIONS / HTTP/1.1\r\nHost: a\r\nContent-Length: 33\r\n\r\n" + second,
      kBad);
  bad("te-on-get",
      "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + second, kBad);
  bad("cl-on-connect", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\nContent-Length: 3\r\n\r\nabc",
      kBad);
  {
    auto* c = bad("cl-over-body-limit", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n",
                  Errc::PayloadTooLarge);
    c->limits.max_body_bytes = 10;
  }

  // --- test 3: chunked framing (R5, R8, R15) ---
  const std::string chunked_head =
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string req_log = "REQ POST / 1.1 chunked ka {Host=a,Transfer-Encoding=chunked}\n";
  bad("chunk-bare-lf-size", chunked_head + "5\nhello\r\n0\r\n\r\n" + second, kBad, req_log);
  bad("chunk-bare-lf-data", chunked_head + "5\r\nhello\n0\r\n\r\n" + second, kBad,
      req_log + "BODY hello\n");
  bad("chunk-bare-lf-last", chunked_head + "0\n\r\n" + second, kBad, req_log);
  bad("chunk-cr-in-ext", chunked_head + "5\r;x\r\nhello\r\n0\r\n\r\n", kBad, req_log);
  bad("chunk-size-underscore",
      chunked_head + "0_2e\r\n" + std::string(46, 'x') + "\r\n0\r\n\r\n" + second, kBad, req_log);
  bad("chunk-size-Z", chunked_head + "Z\r\n\r\n" + second, kBad, req_log);
  bad("chunk-size-20-hex", chunked_head + "10000000000000000000\r\nx\r\n0\r\n\r\n", kBad, req_log);
  bad("chunk-size-17-hex", chunked_head + "10000000000000000\r\nx\r\n0\r\n\r\n", kBad, req_log);
  bad("chunk-size-empty", chunked_head + "\r\nx\r\n0\r\n\r\n", kBad, req_log);
  bad("chunk-size-space", chunked_head + "5 \r\nhello\r\n0\r\n\r\n", kBad, req_log);
  bad("chunk-size-leading-space", chunked_head + " 5\r\nhello\r\n0\r\n\r\n", kBad, req_log);
  bad("chunk-size-plus", chunked_head + "+5\r\nhello\r\n0\r\n\r\n", kBad, req_log);
  bad("chunk-size-0x", chunked_head + "0x5\r\nhello\r\n0\r\n\r\n", kBad, req_log);
  bad("chunk-data-too-long", chunked_head + "3\r\nhello\r\n0\r\n\r\n", kBad,
      req_log + "BODY hel\n");
  bad("chunk-ext-too-long",
      chunked_head + "5;a=" + std::string(5000, 'x') + "\r\nhello\r\n0\r\n\r\n", kBad, req_log);
  bad("chunk-ext-bad-quote", chunked_head + "5;a=\"x\r\nhello\r\n0\r\n\r\n", kBad, req_log);
  bad("chunk-ext-no-name", chunked_head + "5;=x\r\nhello\r\n0\r\n\r\n", kBad, req_log);
  bad("chunk-trailer-cl", chunked_head + "5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n" + second,
      kBad, req_log + "BODY hello\n");
  bad("chunk-trailer-te", chunked_head + "0\r\nTransfer-Encoding: chunked\r\n\r\n" + second, kBad,
      req_log);
  bad("chunk-trailer-host", chunked_head + "0\r\nHost: evil\r\n\r\n" + second, kBad, req_log);
  bad("chunk-trailer-obs-fold", chunked_head + "0\r\nX: a\r\n b\r\n\r\n", kBad, req_log);
  {
    auto* c = bad("chunk-unterminated-last", chunked_head + "5\r\nhello\r\n0\r\n", kBad,
                  req_log + "BODY hello\n");
    c->eof = true;
  }
  {
    auto* c = bad("chunk-truncated-data", chunked_head + "5\r\nhel", kBad, req_log + "BODY hel\n");
    c->eof = true;
  }
  {
    auto* c = bad("chunk-over-body-limit", chunked_head + "5\r\nhello\r\n6\r\n",
                  Errc::PayloadTooLarge, req_log + "BODY hello\n");
    c->limits.max_body_bytes = 10;
  }
  {
    auto* c = bad("cl-truncated", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhel",
                  kBad, "REQ POST / 1.1 cl:5 ka {Host=a,Content-Length=5}\nBODY hel\n");
    c->eof = true;
  }
  {
    auto* c = bad("head-truncated", "GET / HTTP/1.1\r\nHost: a\r\n", kBad);
    c->eof = true;
  }

  // --- test 4: header syntax (R6-R10) ---
  bad("space-before-colon", "GET / HTTP/1.1\r\nHost: a\r\nX : 1\r\n\r\n" + second, kBad);
  bad("tab-before-colon", "GET / HTTP/1.1\r\nHost: a\r\nX\t: 1\r\n\r\n" + second, kBad);
  bad("obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n" + second, kBad);
  bad("obs-fold-tab", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\t2\r\n\r\n" + second, kBad);
  bad("bare-cr-value", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r2\r\n\r\n" + second, kBad);
  bad("bare-cr-line-end", "GET / HTTP/1.1\r\nHost: a\rX: 1\r\n\r\n" + second, kBad);
  bad("bare-lf-field", "GET / HTTP/1.1\r\nHost: a\nX: 1\r\n\r\n" + second, kBad);
  bad("bare-lf-end", "GET / HTTP/1.1\r\nHost: a\r\n\n" + second, kBad);
  bad("bare-lf-request-line", "GET / HTTP/1.1\nHost: a\r\n\r\n" + second, kBad);
  bad("nul-in-value",
      "GET / HTTP/1.1\r\nHost: a\r\nX: 1" + std::string(1, '\0') + " 2\r\n\r\n" + second, kBad);
  bad("ctl-in-value", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\x0b 2\r\n\r\n" + second, kBad);
  bad("del-in-value", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\x7f\r\n\r\n" + second, kBad);
  bad("high-byte-in-name", "GET / HTTP/1.1\r\nHost: a\r\nX\x80Y: 1\r\n\r\n" + second, kBad);
  bad("high-byte-ff-name", "GET / HTTP/1.1\r\nHost: a\r\n\xffX: 1\r\n\r\n" + second, kBad);
  bad("paren-in-name", "GET / HTTP/1.1\r\nHost: a\r\nX(Y): 1\r\n\r\n" + second, kBad);
  bad("comma-in-name", "GET / HTTP/1.1\r\nHost: a\r\nX,Y: 1\r\n\r\n" + second, kBad);
  bad("slash-in-name", "GET / HTTP/1.1\r\nHost: a\r\nX/Y: 1\r\n\r\n" + second, kBad);
  bad("empty-name", "GET / HTTP/1.1\r\nHost: a\r\n: 1\r\n\r\n" + second, kBad);
  bad("no-colon", "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n" + second, kBad);
  bad("space-before-first-field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n" + second, kBad);
  bad("tab-before-first-field", "GET / HTTP/1.1\r\n\tHost: a\r\n\r\n" + second, kBad);
  {
    auto* c =
        bad("underscore-rejected", "GET / HTTP/1.1\r\nHost: a\r\nX_Y: 1\r\n\r\n" + second, kBad);
    c->limits.underscores = Http1Limits::Underscores::Reject;
  }

  // --- test 5: Host and request-target (R3, R11, R13) ---
  bad("no-host", "GET / HTTP/1.1\r\nX: 1\r\n\r\n" + second, kBad);
  bad("two-hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" + second, kBad);
  bad("two-hosts-same", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n" + second, kBad);
  bad("two-hosts-http10", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n" + second, kBad);
  bad("host-userinfo", "GET / HTTP/1.1\r\nHost: a@b\r\n\r\n" + second, kBad);
  bad("host-space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n" + second, kBad);
  bad("host-slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n" + second, kBad);
  bad("host-empty", "GET / HTTP/1.1\r\nHost: \r\n\r\n" + second, kBad);
  bad("host-bad-port", "GET / HTTP/1.1\r\nHost: a:99999\r\n\r\n" + second, kBad);
  bad("host-bad-pct", "GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n" + second, kBad);
  bad("host-pct-cut", "GET / HTTP/1.1\r\nHost: a%4\r\n\r\n" + second, kBad);
  bad("host-bracket-in-reg-name", "GET / HTTP/1.1\r\nHost: a]b\r\n\r\n" + second, kBad);
  bad("host-open-bracket-in-reg-name", "GET / HTTP/1.1\r\nHost: a[b\r\n\r\n" + second, kBad);
  bad("host-port-only", "GET / HTTP/1.1\r\nHost: :80\r\n\r\n" + second, kBad);
  bad("host-two-ports", "GET / HTTP/1.1\r\nHost: a:80:81\r\n\r\n" + second, kBad);
  bad("host-hash", "GET / HTTP/1.1\r\nHost: a#b\r\n\r\n" + second, kBad);
  ok("host-reg-name-sub-delims-and-pct",
     "GET / HTTP/1.1\r\nHost: a-._~!$&'()*+,;=%41b:8080\r\n\r\n",
     "REQ GET / 1.1 none ka {Host=a-._~!$&'()*+,;=%41b:8080}\nDONE\n");
  ok("host-empty-port", "GET / HTTP/1.1\r\nHost: a:\r\n\r\n",
     "REQ GET / 1.1 none ka {Host=a:}\nDONE\n");
  bad("absolute-form-host-differs", "GET http://a/x HTTP/1.1\r\nHost: b\r\n\r\n" + second, kBad);
  bad("absolute-form-userinfo", "GET http://u@a/x HTTP/1.1\r\nHost: a\r\n\r\n" + second, kBad);
  bad("absolute-form-scheme", "GET ftp://a/x HTTP/1.1\r\nHost: a\r\n\r\n" + second, kBad);
  bad("target-fragment", "GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n" + second, kBad);
  bad("target-relative", "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n" + second, kBad);
  bad("target-high-byte", "GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n" + second, kBad);
  bad("target-one-over-limit",
      "GET /" + std::string(16 * 1024, 't') + " HTTP/1.1\r\nHost: a\r\n\r\n" + second,
      Errc::UriTooLong);
  bad("target-far-over-limit",
      "GET /" + std::string(40 * 1024, 't') + " HTTP/1.1\r\nHost: a\r\n\r\n", Errc::UriTooLong);
  bad("star-not-options", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", kBad);
  bad("connect-origin-form", "CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", kBad);
  bad("connect-no-port", "CONNECT a HTTP/1.1\r\nHost: a\r\n\r\n", kBad);

  // --- request line ---
  bad("double-space", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", kBad);
  bad("trailing-space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", kBad);
  bad("tab-separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", kBad);
  bad("lowercase-version", "GET / http/1.1\r\nHost: a\r\n\r\n", kBad);
  bad("http2-version", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", kBad);
  bad("http12-version", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", kBad);
  bad("http09", "GET /\r\n\r\n", kBad);
  bad("method-ctl", "G\x01T / HTTP/1.1\r\nHost: a\r\n\r\n", kBad);
  bad("method-too-long", std::string(40, 'M') + " / HTTP/1.1\r\nHost: a\r\n\r\n",
      Errc::NotImplemented);
  bad("method-too-long-bare-lf", std::string(40, 'M') + "\n\r\n", Errc::NotImplemented);
  bad("tls-client-hello", std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11), kBad);
  bad("leading-bare-lf", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", kBad);
  bad("too-many-empty-lines",
      "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", kBad);

  // --- limits (R12) ---
  {
    std::string fields;
    for (int i = 0; i < 100; ++i) fields += "X" + std::to_string(i) + ": v\r\n";
    bad("101-fields", "GET / HTTP/1.1\r\nHost: a\r\n" + fields + "\r\n" + second,
        Errc::HeaderFieldsTooLarge);
    std::string big(60 * 1024 - 4 - 1 - 1 + 1, 'b');
    bad("60k-plus-1-header-bytes", "GET / HTTP/1.1\r\nHost: a\r\nX: " + big + "\r\n\r\n" + second,
        Errc::HeaderFieldsTooLarge);
    std::string cookies;
    for (int i = 0; i < 16; ++i)
      cookies += "Cookie: c" + std::to_string(i) + "=" + std::string(4000, 'c') + "\r\n";
    bad("cookies-count", "GET / HTTP/1.1\r\nHost: a\r\n" + cookies + "\r\n",
        Errc::HeaderFieldsTooLarge);
    std::string padded = "X:" + std::string(130 * 1024, ' ') + "v\r\n";
    bad("whitespace-padding", "GET / HTTP/1.1\r\nHost: a\r\n" + padded + "\r\n",
        Errc::HeaderFieldsTooLarge);
  }

  // --- test 7: upgrade followed by bytes shaped like a request ---
  ok("upgrade-then-garbage-is-http",
     "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"
     "GET /smuggled HTTP/1.1\r\nHost: internal\r\n\r\n",
     "REQ GET /ws 1.1 none ka upgrade {Host=a,Connection=upgrade,Upgrade=websocket}\nDONE\n"
     "REQ GET /smuggled 1.1 none ka {Host=internal}\nDONE\n");
  bad("upgrade-then-websocket-frame",
      "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: "
      "websocket\r\n\r\n\x81\x85\x37\xfa",
      kBad,
      "REQ GET /ws 1.1 none ka upgrade {Host=a,Connection=upgrade,Upgrade=websocket}\nDONE\n");
  return v;
}

inline std::vector<Case> responseCases() {
  std::vector<Case> v;
  auto ok = [&](std::string name, std::string input, std::string log) {
    Case c;
    c.name = "resp-ok-" + name;
    c.mode = Http1Parser::Mode::Response;
    c.input = std::move(input);
    c.log = std::move(log);
    v.push_back(std::move(c));
    return &v.back();
  };
  auto bad = [&](std::string name, std::string input, std::string log = "") {
    Case c;
    c.name = "resp-bad-" + name;
    c.mode = Http1Parser::Mode::Response;
    c.input = std::move(input);
    c.error = kBadGw;
    c.log = std::move(log);
    v.push_back(std::move(c));
    return &v.back();
  };

  ok("cl", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
     "RESP 200 OK 1.1 cl:2 ka {Content-Length=2}\nBODY hi\nDONE\n");
  ok("chunked",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x=y\r\nhi\r\n0\r\nX-T: 1\r\n\r\n",
     "RESP 200 OK 1.1 chunked ka {Transfer-Encoding=chunked}\nBODY hi\nTRAILERS {X-T=1}\nDONE\n");
  {
    auto* c = ok("until-close", "HTTP/1.1 200 OK\r\n\r\nall of it",
                 "RESP 200 OK 1.1 until-close close {}\nBODY all of it\nDONE\n");
    c->eof = true;
  }
  ok("until-close-no-eof", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\npartial",
     "RESP 200 OK 1.0 until-close close {Connection=keep-alive}\nBODY partial\n");
  ok("no-reason", "HTTP/1.1 204 \r\n\r\n", "RESP 204  1.1 none ka {}\nDONE\n");
  ok("no-reason-no-space", "HTTP/1.1 204\r\n\r\n", "RESP 204  1.1 none ka {}\nDONE\n");
  ok("204-ignores-cl", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
     "RESP 204 No Content 1.1 none ka {Content-Length=5}\nDONE\n");
  ok("304-ignores-cl",
     "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: "
     "0\r\n\r\n",
     "RESP 304 Not Modified 1.1 none ka {Content-Length=5}\nDONE\nRESP 200 OK 1.1 none ka "
     "{Content-Length=0}\nDONE\n");
  {
    auto* c = ok("head-response",
                 "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: "
                 "0\r\n\r\n",
                 "RESP 200 OK 1.1 none ka {Content-Length=100}\nDONE\nRESP 200 OK 1.1 none ka "
                 "{Content-Length=0}\nDONE\n");
    c->request_method = Method::Head;
  }
  ok("100-continue", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
     "RESP 100 Continue 1.1 none ka {}\nDONE\nRESP 200 OK 1.1 cl:1 ka {Content-Length=1}\nBODY "
     "x\nDONE\n");
  ok("http10-keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx",
     "RESP 200 OK 1.0 cl:1 ka {Connection=keep-alive,Content-Length=1}\nBODY x\nDONE\n");
  ok("connection-close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx",
     "RESP 200 OK 1.1 cl:1 close {Connection=close,Content-Length=1}\nBODY x\nDONE\n");
  {
    auto* c = ok(
        "101-upgrade",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
        "Upgrade\r\n\r\n\x81\x05hello",
        "RESP 101 Switching Protocols 1.1 none ka {Upgrade=websocket,Connection=Upgrade}\nDONE\n");
    c->upgrade_requested = true;
    c->upgraded = true;
    c->unparsed = 7;
  }
  {
    auto* c = ok("connect-200", "HTTP/1.1 200 Connection established\r\n\r\ntunnel bytes",
                 "RESP 200 Connection established 1.1 none ka {}\nDONE\n");
    c->request_method = Method::Connect;
    c->upgraded = true;
    c->unparsed = 12;
  }
  {
    auto* c =
        ok("connect-407", "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n",
           "RESP 407 Proxy Authentication Required 1.1 none ka {Content-Length=0}\nDONE\n");
    c->request_method = Method::Connect;
  }
  ok("websocket-refused-200",  // R16: a 200 to an upgrade request does not switch
     "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
     "RESP 200 OK 1.1 none ka {Content-Length=0}\nDONE\nRESP 200 OK 1.1 none ka "
     "{Content-Length=0}\nDONE\n");
  v.back().upgrade_requested = true;

  bad("101-not-requested", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n");
  bad("cl-te",
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  bad("te-http10", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  bad("te-gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx");
  bad("cl-plus", "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nhi");
  bad("cl-list", "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nhi");
  bad("cl-two", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi");
  bad("cl-overflow", "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551617\r\n\r\nhi");
  bad("space-before-colon", "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nhi");
  bad("obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n");
  bad("bare-cr", "HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n");
  bad("bare-lf", "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n");
  bad("nul-in-value", "HTTP/1.1 200 OK\r\nX: a" + std::string(1, '\0') + "b\r\n\r\n");
  bad("status-2-digits", "HTTP/1.1 20 OK\r\n\r\n");
  bad("status-600", "HTTP/1.1 600 OK\r\n\r\n");
  bad("status-099", "HTTP/1.1 099 OK\r\n\r\n");
  bad("version-2", "HTTP/2.0 200 OK\r\n\r\n");
  bad("not-http", "SSH-2.0-OpenSSH_9.2\r\n");
  bad("reason-ctl", "HTTP/1.1 200 O\x01K\r\n\r\n");
  {
    std::string fields;
    for (int i = 0; i < 101; ++i) fields += "X" + std::to_string(i) + ": v\r\n";
    bad("101-fields", "HTTP/1.1 200 OK\r\n" + fields + "\r\n");
  }
  bad("chunk-bad-size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZ\r\n",
      "RESP 200 OK 1.1 chunked ka {Transfer-Encoding=chunked}\n");
  bad("trailer-cl",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 1\r\n\r\n",
      "RESP 200 OK 1.1 chunked ka {Transfer-Encoding=chunked}\n");
  {
    auto* c = bad("cl-truncated", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhi",
                  "RESP 200 OK 1.1 cl:5 ka {Content-Length=5}\nBODY hi\n");
    c->eof = true;
  }
  return v;
}

inline std::vector<Case> allCases() {
  std::vector<Case> all = requestCases();
  for (auto& c : responseCases()) all.push_back(std::move(c));
  return all;
}

}  // namespace remora::http::testing

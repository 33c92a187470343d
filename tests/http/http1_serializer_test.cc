#include "http/http1_serializer.h"

#include <string>

#include <gtest/gtest.h>

#include "http/header_map.h"

namespace remora::http {
namespace {

TEST(Http1Serializer, RequestHead) {
  RequestHead head;
  head.method = Method::Post;
  head.method_name = "POST";
  head.target = "/a?b=c";
  head.headers.add("Host", "svc");
  head.headers.add("Content-Length", "3");
  std::string out = "prefix|";
  serializeRequestHead(head, out);
  EXPECT_EQ(out, "prefix|POST /a?b=c HTTP/1.1\r\nHost: svc\r\nContent-Length: 3\r\n\r\n");
}

// The fields are written into room sized from the map's byte count: after
// sets, removals and stripping (which keep the removed bytes in the arena),
// the count must still be that of the fields left, or the head would be cut
// or padded.
TEST(Http1Serializer, FieldsAfterEditsAreExactlyTheFieldsLeft) {
  RequestHead head;
  head.method = Method::Get;
  head.target = "/";
  HeaderMap& h = head.headers;
  h.add("Host", "svc");
  h.add("Connection", "x-gone, keep-alive");
  h.add("X-Gone", "a long value that is stripped");
  h.add("X-Request-Id", "");
  h.set("x-request-id", "8f2c2f4e");
  h.add("Keep-Alive", "timeout=5");
  h.set("Host", "other:80");
  h.remove("nothing-of-this-name");
  stripHopByHop(h);
  h.add("x-forwarded-proto", "http");
  std::string out = "prefix|";
  serializeRequestHead(head, out);
  EXPECT_EQ(out,
            "prefix|GET / HTTP/1.1\r\nx-request-id: 8f2c2f4e\r\nHost: other:80\r\n"
            "x-forwarded-proto: http\r\n\r\n");
}

TEST(Http1Serializer, RequestHeadFromMethodEnum) {
  RequestHead head;
  head.method = Method::Delete;
  head.target = "/x";
  head.version = Version::Http10;
  std::string out;
  serializeRequestHead(head, out);
  EXPECT_EQ(out, "DELETE /x HTTP/1.0\r\n\r\n");
}

TEST(Http1Serializer, ResponseHeadDefaultReason) {
  ResponseHead head;
  head.status = 404;
  head.headers.add("Content-Length", "0");
  std::string out;
  serializeResponseHead(head, out);
  EXPECT_EQ(out, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  head.status = 299;
  head.reason = "Custom";
  out.clear();
  serializeResponseHead(head, out);
  EXPECT_EQ(out, "HTTP/1.1 299 Custom\r\nContent-Length: 0\r\n\r\n");
}

TEST(Http1Serializer, Chunks) {
  std::string out;
  appendChunk("hello", out);
  appendChunk("", out);
  appendChunk(std::string(255, 'x'), out);
  HeaderMap trailers;
  trailers.add("X-Checksum", "abc");
  appendLastChunk(out, &trailers);
  EXPECT_EQ(out,
            "5\r\nhello\r\nff\r\n" + std::string(255, 'x') + "\r\n0\r\nX-Checksum: abc\r\n\r\n");
  out.clear();
  appendChunkHeader(0x1234abcdULL, out);
  appendLastChunk(out);
  EXPECT_EQ(out, "1234abcd\r\n0\r\n\r\n");
}

TEST(Http1Serializer, Decimal) {
  std::string out;
  appendDecimal(0, out);
  out.push_back(' ');
  appendDecimal(18446744073709551615ULL, out);
  EXPECT_EQ(out, "0 18446744073709551615");
}

}  // namespace
}  // namespace remora::http

#include "http/http1_serializer.h"

#include <string>

#include <gtest/gtest.h>

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

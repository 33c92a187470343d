#include "http/header_map.h"

#include <string>

#include <gtest/gtest.h>

namespace remora::http {
namespace {

TEST(HeaderMap, AddGetCaseInsensitiveKeepsOrderAndDuplicates) {
  HeaderMap h;
  h.add("Host", "a");
  h.add("Set-Cookie", "x=1");
  h.add("set-cookie", "y=2");
  EXPECT_EQ(h.size(), 3u);
  EXPECT_EQ(h.get("HOST").value(), "a");
  EXPECT_EQ(h.count("SET-COOKIE"), 2u);
  EXPECT_FALSE(h.get("missing").has_value());
  std::string seen;
  for (auto e : h) seen += std::string(e.name) + "=" + std::string(e.value) + ";";
  EXPECT_EQ(seen, "Host=a;Set-Cookie=x=1;set-cookie=y=2;");
  EXPECT_EQ(h.byteSize(), 4u + 1 + 10 + 3 + 10 + 3);
}

TEST(HeaderMap, RemoveAndSet) {
  HeaderMap h;
  h.add("a", "1");
  h.add("b", "2");
  h.add("A", "3");
  EXPECT_EQ(h.remove("a"), 2u);
  EXPECT_EQ(h.size(), 1u);
  EXPECT_EQ(h.byteSize(), 2u);
  h.set("b", "9");
  EXPECT_EQ(h.count("b"), 1u);
  EXPECT_EQ(h.get("b").value(), "9");
}

TEST(HeaderMap, SetFromOwnValueSurvivesArenaGrowth) {
  HeaderMap h;
  h.add("source", std::string(100, 'v'));
  // The view points into the arena, which must grow to hold the copy.
  for (int i = 0; i < 20; ++i) h.set("copy", *h.get("source"));
  EXPECT_EQ(h.get("copy").value(), std::string(100, 'v'));
  h.add("again", *h.get("source"));
  EXPECT_EQ(h.get("again").value(), std::string(100, 'v'));
}

TEST(HeaderMap, ClearKeepsWorkingAndSwapExchanges) {
  HeaderMap a;
  HeaderMap b;
  a.add("x", "1");
  b.add("y", "2");
  a.swap(b);
  EXPECT_EQ(a.get("y").value(), "2");
  EXPECT_EQ(b.get("x").value(), "1");
  a.clear();
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(a.byteSize(), 0u);
  a.add("z", "3");
  EXPECT_EQ(a.get("z").value(), "3");
}

TEST(HeaderMap, FieldValidation) {
  EXPECT_TRUE(isValidFieldName("X-Request-Id"));
  EXPECT_TRUE(isValidFieldName("a_b"));
  EXPECT_FALSE(isValidFieldName(""));
  EXPECT_FALSE(isValidFieldName("a b"));
  EXPECT_FALSE(isValidFieldName("a:b"));
  EXPECT_FALSE(isValidFieldName("a/b"));
  EXPECT_FALSE(isValidFieldName("\xc3\xa9"));
  EXPECT_TRUE(isValidFieldValue(""));
  EXPECT_TRUE(isValidFieldValue("a b\tc \xff"));
  EXPECT_FALSE(isValidFieldValue(" a"));
  EXPECT_FALSE(isValidFieldValue("a\t"));
  EXPECT_FALSE(isValidFieldValue("a\r\nb"));
  EXPECT_FALSE(isValidFieldValue(std::string("a\0b", 3)));
  EXPECT_FALSE(isValidFieldValue("a\x7f"));
}

TEST(HeaderMap, ListElements) {
  HeaderMap h;
  h.add("Connection", " keep-alive ,, Upgrade");
  h.add("connection", "X-Foo");
  EXPECT_TRUE(listContains(h, "connection", "upgrade"));
  EXPECT_TRUE(listContains(h, "connection", "x-foo"));
  EXPECT_FALSE(listContains(h, "connection", "close"));
}

TEST(HeaderMap, StripHopByHop) {
  HeaderMap h;
  h.add("Host", "a");
  h.add("Connection", "close, X-Secret, content-length, host");
  h.add("X-Secret", "1");
  h.add("Keep-Alive", "timeout=5");
  h.add("Transfer-Encoding", "chunked");
  h.add("Upgrade", "websocket");
  h.add("TE", "trailers");
  h.add("Content-Length", "3");
  h.add("X-Keep", "1");
  stripHopByHop(h);
  std::string left;
  for (auto e : h) left += std::string(e.name) + ";";
  EXPECT_EQ(left, "Host;Content-Length;X-Keep;");
}

TEST(HeaderMap, StripHopByHopKeepingUpgrade) {
  HeaderMap h;
  h.add("Connection", "Upgrade, X-Secret");
  h.add("Upgrade", "websocket");
  h.add("X-Secret", "1");
  stripHopByHop(h, /*keep_upgrade=*/true);
  EXPECT_EQ(h.get("upgrade").value(), "websocket");
  EXPECT_EQ(h.get("connection").value(), "upgrade");
  EXPECT_FALSE(h.contains("x-secret"));
}

}  // namespace
}  // namespace remora::http

// The API client's pure parts: list decoding, Status errors, the watch
// stream splitter (fed in every possible split of the bytes).
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kube/api_client.h"

namespace remora::kube {
namespace {

TEST(DecodeListTest, FillsKindAndApiVersionOfItems) {
  auto page = decodeList(R"({"kind":"PodList","apiVersion":"v1",
      "metadata":{"resourceVersion":"42","continue":"next"},
      "items":[{"metadata":{"name":"a"}},{"apiVersion":"v9","metadata":{"name":"b"}}]})");
  ASSERT_TRUE(page.has_value()) << page.error().message;
  EXPECT_EQ(page->kind, "PodList");
  EXPECT_EQ(page->resource_version, "42");
  EXPECT_EQ(page->continue_token, "next");
  ASSERT_EQ(page->items.size(), 2u);
  EXPECT_EQ(dumpJson(page->items[0]),
            R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"}})");
  EXPECT_EQ(dumpJson(page->items[1]),
            R"({"apiVersion":"v9","kind":"Pod","metadata":{"name":"b"}})");
}

TEST(DecodeListTest, NullItemsIsEmptyAndHostileShapesAreErrors) {
  auto empty = decodeList(R"({"kind":"DeploymentList","apiVersion":"apps/v1","items":null})");
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->items.empty());
  EXPECT_TRUE(empty->continue_token.empty());

  const char* bad[] = {
      "",
      "[]",
      R"({"kind":"PodList"})",
      R"({"items":{}})",
      R"({"items":[1]})",
      R"({"metadata":{"continue":5},"items":[]})",
      R"({"metadata":[],"items":[]})",
      R"({"items":[)",
  };
  for (const char* body : bad) {
    auto r = decodeList(body);
    ASSERT_FALSE(r.has_value()) << body;
    EXPECT_EQ(r.error().code, Errc::ParseError) << body;
  }
}

TEST(StatusErrorTest, CarriesTheCodeAndTheApisMessage) {
  const std::string forbidden =
      R"({"kind":"Status","apiVersion":"v1","status":"Failure","message":"pods is forbidden: User \"x\" cannot list resource \"pods\"","reason":"Forbidden","code":403})";
  Error e = statusError(403, forbidden, "GET /api/v1/pods");
  EXPECT_EQ(e.code, Errc::PermissionDenied);
  EXPECT_EQ(e.message,
            "GET /api/v1/pods: 403 Forbidden: pods is forbidden: User \"x\" cannot list "
            "resource \"pods\"");

  struct Case {
    int status;
    Errc code;
  };
  for (auto [status, code] :
       {Case{400, Errc::InvalidArgument}, Case{401, Errc::Unauthenticated},
        Case{404, Errc::NotFound}, Case{409, Errc::AlreadyExists}, Case{410, Errc::Gone},
        Case{422, Errc::InvalidArgument}, Case{429, Errc::Unavailable},
        Case{503, Errc::Unavailable}, Case{500, Errc::Internal}, Case{302, Errc::Internal}}) {
    EXPECT_EQ(statusError(status, "", "GET /").code, code) << status;
  }
  // Not a Status: the start of the body, on one line.
  EXPECT_EQ(statusError(502, "<html>\nbad\n</html>", "GET /x").message,
            "GET /x: 502 Bad Gateway: <html> bad </html>");
  EXPECT_EQ(statusError(599, "", "GET /x").message, "GET /x: HTTP 599");
}

TEST(WatchErrorEventTest, ExpiredVersionIsGone) {
  auto status = parseJson(
      R"j({"kind":"Status","status":"Failure","message":"too old resource version: 1 (5)","reason":"Expired","code":410})j");
  ASSERT_TRUE(status.has_value());
  Error e = watchErrorEvent(*status, "WATCH /api/v1/pods");
  EXPECT_EQ(e.code, Errc::Gone);
  EXPECT_EQ(e.message, "WATCH /api/v1/pods: 410 Gone: too old resource version: 1 (5)");
  EXPECT_EQ(watchErrorEvent(Json::object(), "W").code, Errc::Internal);
}

const std::string kStream =
    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n"
    "\n"
    "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"a\",\"x\":\"\\n\"}}}\r\n"
    "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n";

TEST(WatchDecoderTest, EverySplitGivesTheSameEvents) {
  for (std::size_t cut1 = 0; cut1 <= kStream.size(); ++cut1) {
    for (std::size_t cut2 = cut1; cut2 <= kStream.size(); cut2 += 7) {
      WatchDecoder decoder;
      std::vector<std::string> seen;
      auto sink = [&](WatchEvent&& e) {
        seen.push_back(e.type + ":" + dumpJson(e.object["metadata"]["name"]));
        return true;
      };
      ASSERT_TRUE(decoder.feed(std::string_view(kStream).substr(0, cut1), sink).has_value());
      ASSERT_TRUE(
          decoder.feed(std::string_view(kStream).substr(cut1, cut2 - cut1), sink).has_value());
      ASSERT_TRUE(decoder.feed(std::string_view(kStream).substr(cut2), sink).has_value());
      EXPECT_EQ(seen, (std::vector<std::string>{"ADDED:\"a\"", "MODIFIED:\"a\"", "DELETED:\"a\""}))
          << cut1 << "/" << cut2;
      EXPECT_FALSE(decoder.pending());
    }
  }
}

TEST(WatchDecoderTest, StopsWhenTheSinkSaysSo) {
  WatchDecoder decoder;
  int calls = 0;
  auto sink = [&](WatchEvent&&) { return ++calls < 2; };
  ASSERT_TRUE(decoder.feed(kStream, sink).has_value());
  EXPECT_EQ(calls, 2);
  EXPECT_TRUE(decoder.stopped());
  ASSERT_TRUE(decoder.feed(kStream, sink).has_value());
  EXPECT_EQ(calls, 2);
}

TEST(WatchDecoderTest, MalformedAndOversizedEventsFail) {
  const char* bad[] = {
      "not json\n",
      "[1]\n",
      "{\"type\":1,\"object\":{}}\n",
      "{\"type\":\"ADDED\"}\n",
      "{\"type\":\"ADDED\",\"object\":[]}\n",
  };
  for (const char* line : bad) {
    WatchDecoder decoder;
    auto r = decoder.feed(line, [](WatchEvent&&) { return true; });
    ASSERT_FALSE(r.has_value()) << line;
    EXPECT_EQ(r.error().code, Errc::ParseError) << line;
    // Failed stays failed.
    EXPECT_FALSE(
        decoder.feed("{\"type\":\"ADDED\",\"object\":{}}\n", [](WatchEvent&&) { return true; })
            .has_value());
  }
  WatchDecoder small(64);
  auto big = small.feed(std::string(40, ' '), [](WatchEvent&&) { return true; });
  ASSERT_TRUE(big.has_value());
  EXPECT_TRUE(small.pending());
  big = small.feed(std::string(40, 'x'), [](WatchEvent&&) { return true; });
  ASSERT_FALSE(big.has_value());
  EXPECT_EQ(big.error().code, Errc::PayloadTooLarge);
}

}  // namespace
}  // namespace remora::kube

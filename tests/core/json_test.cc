#include "core/json.h"

#include <string>

#include <gtest/gtest.h>

namespace remora {
namespace {

TEST(JsonTest, KeepsKeyOrder) {
  auto doc = parseJson(R"({"zeta":1,"alpha":2,"mid":{"b":1,"a":2}})");
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ(dumpJson(*doc), R"({"zeta":1,"alpha":2,"mid":{"b":1,"a":2}})");
}

struct BadJsonCase {
  const char* name;
  std::string text;
  Errc code;
};

TEST(JsonTest, RejectsHostileInputWithErrors) {
  const BadJsonCase cases[] = {
      {"truncated", R"({"a": [1, 2)", Errc::ParseError},
      {"trailing-garbage", R"({"a":1} x)", Errc::ParseError},
      {"empty", "", Errc::ParseError},
      {"deep-arrays", std::string(10000, '[') + std::string(10000, ']'), Errc::ParseError},
      {"deep-objects",
       [] {
         std::string s;
         for (int i = 0; i < 5000; ++i) s += "{\"a\":";
         s += "1";
         s += std::string(5000, '}');
         return s;
       }(),
       Errc::ParseError},
      {"too-big", std::string(17 * 1024 * 1024, ' '), Errc::PayloadTooLarge},
  };
  for (const auto& c : cases) {
    auto r = parseJson(c.text);
    ASSERT_FALSE(r) << c.name;
    EXPECT_EQ(r.error().code, c.code) << c.name;
    EXPECT_FALSE(r.error().message.empty()) << c.name;
  }
}

TEST(JsonTest, ErrorNamesThePosition) {
  auto r = parseJson("{\"a\":\n  tru}");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("line 2"), std::string::npos) << r.error().message;
}

TEST(JsonTest, DepthIgnoresBracketsInStrings) {
  EXPECT_EQ(jsonDepth(R"({"a":"[[[[{{{{\"]]"})", 10), 1u);
  EXPECT_EQ(jsonDepth("[[[]]]", 10), 3u);
  EXPECT_EQ(jsonDepth("[[[[[]]]]]", 3), 4u);
}

TEST(JsonTest, DumpReplacesInvalidUtf8) {
  Json v = std::string(
      "a\xff"
      "b");
  EXPECT_EQ(dumpJson(v),
            "\"a\xEF\xBF\xBD"
            "b\"");
}

TEST(JsonTest, TypedLookups) {
  auto doc = *parseJson(R"({"name":"web","port":80})");
  EXPECT_EQ(*getString(doc, "name"), "web");
  EXPECT_EQ(getString(doc, "port").error().code, Errc::InvalidArgument);
  EXPECT_EQ(getString(doc, "absent").error().code, Errc::NotFound);
  EXPECT_EQ(findField(doc, "absent"), nullptr);
  EXPECT_EQ(findField(Json::array(), "x"), nullptr);
}

}  // namespace
}  // namespace remora

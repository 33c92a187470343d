#include "kube/yaml.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace remora::kube {
namespace {

std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Json parseOne(std::string_view text) {
  auto doc = parseYaml(text);
  EXPECT_TRUE(doc) << doc.error().message;
  return doc ? *doc : Json();
}

TEST(YamlScalarTest, ResolvesPlainScalarsAsKubectlDoes) {
  struct Case {
    const char* text;
    Json want;
  };
  const Case cases[] = {
      {"", nullptr},
      {"~", nullptr},
      {"null", nullptr},
      {"NULL", nullptr},
      {"true", true},
      {"False", false},
      {"yes", true},
      {"on", true},
      {"OFF", false},
      {"y", true},
      {"n", false},
      {"80", 80},
      {"-5", -5},
      {"+7", 7},
      {"0644", 420},  // octal, as go-yaml reads `defaultMode: 0644`
      {"0x1F", 31},
      {"0b101", 5},
      {"1_000", 1000},
      {"9223372036854775807", INT64_MAX},
      {"1e3", 1000.0},
      {"1.5", 1.5},
      {".5", 0.5},
      {"-2.5e-3", -0.0025},
      {"hello", "hello"},
      {"1.0.0", "1.0.0"},
      {"0xZZ", "0xZZ"},
      {"08", 8.0},  // not an octal int, but go-yaml's float syntax
      {"1e", "1e"},
      {"12:30", "12:30"},
      {"2024-01-01", "2024-01-01"},
      {"-", "-"},
      {".", "."},
      {"yess", "yess"},
  };
  for (const auto& c : cases) {
    Json got = resolvePlainScalar(c.text);
    EXPECT_EQ(got, c.want) << "'" << c.text << "' -> " << got.dump();
    EXPECT_EQ(got.type(), c.want.type()) << c.text;
  }
  EXPECT_TRUE(std::isinf(resolvePlainScalar(".inf").get<double>()));
  EXPECT_TRUE(std::isnan(resolvePlainScalar(".NaN").get<double>()));
  EXPECT_EQ(resolvePlainScalar("18446744073709551615").get<std::uint64_t>(), UINT64_MAX);
  EXPECT_TRUE(resolvePlainScalar("99999999999999999999999").is_number_float());
}

TEST(YamlScalarTest, QuotesStringsThatWouldReadBackAsSomethingElse) {
  for (const char* s : {"",
                        "false",
                        "true",
                        "80",
                        "1e3",
                        "null",
                        "~",
                        "yes",
                        "on",
                        "Off",
                        "y",
                        "N",
                        "0644",
                        "1.0",
                        ".5",
                        "-1",
                        "+1",
                        ".inf",
                        "*alias",
                        "&anchor",
                        "!tag",
                        "|block",
                        ">folded",
                        "%directive",
                        "@at",
                        "`tick",
                        "'single",
                        "\"double",
                        "[list",
                        "]x",
                        "{map",
                        "}x",
                        ",x",
                        "#comment",
                        "?x",
                        ":x",
                        "-",
                        "- item",
                        "---",
                        "a: b",
                        "a #b",
                        " lead",
                        "trail ",
                        "end:",
                        "tab\there",
                        "new\nline",
                        "nul\x01",
                        "<<",
                        "=",
                        "12:30",
                        "2024-01-01",
                        "\xC2\x85nel",
                        "bad\xFFutf8",
                        "\xEF\xBB\xBF"
                        "bom",
                        "1e5",
                        "1_000k",
                        "1:2m",
                        "2024-01-01T00:00:00Z",
                        "0x1F",
                        "1.0.0"}) {
    EXPECT_FALSE(isPlainSafe(s)) << "'" << s << "'";
  }
  for (const char* s : {"hello",
                        "-p",
                        "--concurrency",
                        "fake.docker.io/google-samples/hello:1.0",
                        "$(POD_NAMESPACE).svc.cluster.local",
                        "a#b",
                        "a:b",
                        "http://x/y",
                        "REDIRECT",
                        "sidecar.istio.io/inject",
                        "istio-proxy",
                        "/healthz/ready",
                        "a b c",
                        "caf\xC3\xA9",
                        "x[0]",
                        "--log_output_level=default:info",
                        ".hidden",
                        "100m",
                        "128Mi",
                        "1.5Gi",
                        "2k"}) {
    EXPECT_TRUE(isPlainSafe(s)) << "'" << s << "'";
  }
}

// parse(toYaml(v)) == v: the emitter's contract.
void expectRoundTrip(const Json& value) {
  std::string yaml = toYaml(value);
  auto back = parseDocuments(yaml);
  ASSERT_TRUE(back) << back.error().message << "\n" << yaml;
  if (value.is_null() || (value.is_object() && value.empty())) {
    EXPECT_TRUE(back->empty() || back->front().value == value) << yaml;
    return;
  }
  ASSERT_EQ(back->size(), 1u) << yaml;
  EXPECT_EQ(back->front().value, value) << yaml;
  EXPECT_EQ(toYaml(back->front().value), yaml) << "emitting twice must give the same bytes";
}

TEST(YamlEmitTest, RoundTripsTrickyStrings) {
  const char* strings[] = {
      "",
      "false",
      "80",
      "1e3",
      "null",
      "~",
      "yes",
      "on",
      "*",
      "&a",
      "!a",
      "|",
      ">",
      "%",
      "@",
      "`",
      "'",
      "\"",
      "it's",
      "say \"hi\"",
      "back\\slash",
      "a: b",
      "a #b",
      "#x",
      " lead",
      "trail ",
      "-",
      "- x",
      "---",
      "...",
      "--- x",
      "<<",
      "=",
      "tab\there",
      "cr\rhere",
      "\x01\x02",
      "\x7f",
      "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80",
      "\xC2\x85",
      "\xE2\x80\xA8",
      "\xEF\xBB\xBFx",
      "line1\nline2",
      "line1\nline2\n",
      "line1\nline2\n\n\n",
      "\nleading blank",
      "  indented\nsecond",
      "first\n  indented second\n",
      "trailing space \nx",
      "\n",
      "\n\n",
      "{\"json\": [1, 2]}\n",
      "- not a list\n- really",
      "key: value\nother: x",
      "#!/bin/sh\necho hi\n",
      "discoveryAddress: foo:123\nconcurrency: 0\nproxyMetadata:\n  FOO: bar",
  };
  for (const char* s : strings) {
    SCOPED_TRACE(s);
    expectRoundTrip(Json{{"k", s}});
    expectRoundTrip(Json::array({s, Json::array({s}), Json{{"n", s}}}));
    expectRoundTrip(Json{{s, "key"}});
  }
}

TEST(YamlEmitTest, RoundTripsTypesAndShapes) {
  Json value = Json::parse(R"({
    "int": 80, "neg": -3, "big": 18446744073709551615, "float": 1.5, "bigfloat": 1e30,
    "tiny": 1e-7, "whole": 1000.0, "t": true, "f": false, "nil": null,
    "emptyMap": {}, "emptyList": [], "nested": {"a": {"b": {"c": [1, [2, [3, {}]], []]}}},
    "list": [{"name": "x", "ports": [{"containerPort": 80}]}, [], {}, null, "s", [[["deep"]]]],
    "80": "numeric key", "": "empty key", "true": "bool key"
  })",
                           nullptr, true);
  Json ordered = Json::parse(value.dump());
  expectRoundTrip(ordered);
  expectRoundTrip(Json::array({1, "two", Json::object(), Json::array()}));
  expectRoundTrip(Json("scalar document"));
  expectRoundTrip(Json(42));
  expectRoundTrip(Json{{std::string(1500, 'k'), Json{{"nested", 1}}}});
  expectRoundTrip(Json{{std::string(1200, 'v'), "long key with scalar"}});
  // Short in bytes, long as written: 200 control characters are 1,200
  // characters of \u000B escapes, past YAML's 1,024 for an implicit key
  // (found by fuzz/yaml_fuzz.cc).
  expectRoundTrip(Json{{std::string(200, '\x0b'), "escaped key"}});
  expectRoundTrip(Json{{"k", Json{{std::string(170, '\x0b') + "x", Json::array({1})}}}});
  expectRoundTrip(Json{{"v", std::string(100000, 'x')}});
}

TEST(YamlEmitTest, UsesKubectlLayout) {
  Json value = Json::parse(R"({"spec":{"containers":[{"name":"a","args":["-p","15001"]}],
      "empty":{}},"s":"multi\nline"})");
  EXPECT_EQ(toYaml(value),
            "spec:\n"
            "  containers:\n"
            "  - name: a\n"
            "    args:\n"
            "    - -p\n"
            "    - \"15001\"\n"
            "  empty: {}\n"
            "s: |-\n"
            "  multi\n"
            "  line\n");
}

TEST(YamlParseTest, KeepsKeyAndDocumentOrderAndDropsEmptyDocuments) {
  auto docs = parseDocuments("---\nz: 1\na: 2\n---\n# just a comment\n---\n---\nkind: B\n---\n");
  ASSERT_TRUE(docs) << docs.error().message;
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ((*docs)[0].value.dump(), R"({"z":1,"a":2})");
  EXPECT_EQ((*docs)[0].index, 1);
  EXPECT_EQ((*docs)[1].value.dump(), R"({"kind":"B"})");
  EXPECT_EQ((*docs)[1].index, 2);
}

TEST(YamlParseTest, ReadsJson) {
  auto docs = parseDocuments(" \n{\"kind\": \"Pod\", \"metadata\": {\"name\": \"p\"}, \"n\": 080}");
  // `080` is invalid JSON but fine YAML flow style (a float, as go-yaml reads it).
  ASSERT_TRUE(docs) << docs.error().message;
  EXPECT_EQ(docs->at(0).value["n"], 80.0);
  docs = parseDocuments("{\"kind\": \"Pod\", \"spec\": {\"a\": [1, 2.5, true, null, \"x\"]}}");
  ASSERT_TRUE(docs) << docs.error().message;
  EXPECT_EQ(docs->at(0).value.dump(), R"({"kind":"Pod","spec":{"a":[1,2.5,true,null,"x"]}})");
  docs = parseDocuments("{\"a\":1}\n---\n{\"b\":2}\n");
  ASSERT_TRUE(docs) << docs.error().message;
  EXPECT_EQ(docs->size(), 2u);
}

TEST(YamlParseTest, AnchorsAliasesAndMergeKeys) {
  Json v = parseOne(
      "base: &b {x: 1, y: 2}\n"
      "copy: *b\n"
      "merged:\n  <<: *b\n  y: 3\n  z: 4\n"
      "multi:\n  <<: [{p: 1}, {p: 2, q: 2}]\n");
  EXPECT_EQ(v["copy"], v["base"]);
  EXPECT_EQ(v["merged"].dump(), R"({"x":1,"y":3,"z":4})");
  EXPECT_EQ(v["multi"].dump(), R"({"p":1,"q":2})");
}

TEST(YamlParseTest, QuotedAndBlockScalarsAreStrings) {
  Json v =
      parseOne("a: \"80\"\nb: 'true'\nc: |\n  x\nd: >-\n  folded\n  text\ne: !!str 12\nf: \"\"\n");
  EXPECT_EQ(v["a"], "80");
  EXPECT_EQ(v["b"], "true");
  EXPECT_EQ(v["c"], "x\n");
  EXPECT_EQ(v["d"], "folded text");
  EXPECT_EQ(v["e"], "12");
  EXPECT_EQ(v["f"], "");
}

struct BadYaml {
  const char* name;
  std::string text;
  const char* message_part;
};

TEST(YamlParseTest, HostileInputIsAnErrorNamingTheDocument) {
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'k'; ++c) {
    char p = static_cast<char>(c - 1);
    bomb += fmt::format("{0}: &{0} [*{1}, *{1}, *{1}, *{1}, *{1}, *{1}, *{1}, *{1}, *{1}, *{1}]\n",
                        c, p);
  }
  const BadYaml cases[] = {
      {"unclosed-flow", "kind: A\n---\nkind: [B\n", "document 2 (line"},
      {"bad-indent", "a: 1\n b: 2\n", "document 1 (line 2"},
      {"duplicate-key", "kind: A\n---\nname: x\nname: y\n",
       "document 2 (line 4, column 1): duplicate key \"name\""},
      {"alias-bomb", bomb, "nodes"},
      {"deep-flow", std::string(5000, '[') + std::string(5000, ']'), "document 1"},
      {"deep-block",
       [] {
         std::string s;
         for (int i = 0; i < 300; ++i) s += std::string(static_cast<std::size_t>(i), ' ') + "a:\n";
         return s;
       }(),
       "nested deeper than"},
      {"unknown-alias", "a: *nope\n", "document 1"},
      {"complex-key", "? [a, b]\n: c\n", "cannot be a key"},
      {"tab-indent", "a:\n\t- b\n", "document 1"},
      {"bad-json-and-yaml", "{\"a\": }}", "invalid JSON"},
      {"invalid-utf8", "a: ok\nb: \xff\xfe\n", "document 1 (line 2, column 4): invalid UTF-8"},
      // yaml-cpp 0.7 looped for ever on a stray flow indicator (found by
      // fuzz/kubeconfig_fuzz.cc).
      {"stray-comma", ",", "document 1 (line 1, column 1): unexpected flow indicator"},
      {"stray-comma-before-map", ", a: c\n", "unexpected flow indicator"},
      {"stray-bracket-after-doc", "kind: A\n---\n]\n", "document 2 (line 3"},
  };
  for (const auto& c : cases) {
    auto r = parseDocuments(c.text);
    ASSERT_FALSE(r) << c.name;
    EXPECT_NE(r.error().message.find(c.message_part), std::string::npos)
        << c.name << ": " << r.error().message;
  }
}

TEST(YamlParseTest, LimitsAreEnforced) {
  auto r = parseDocuments("a: 1\n", {.max_bytes = 3});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::PayloadTooLarge);
  r = parseDocuments("a: [1, 2, 3, 4, 5]\n", {.max_nodes = 4});
  ASSERT_FALSE(r);
}

TEST(YamlParseTest, PipelinedKeepsOrderAndErrors) {
  std::string stream;
  for (int i = 0; i < 500; ++i) stream += fmt::format("---\nkind: K\nindex: {}\n", i);
  int next = 0;
  Status s = forEachDocumentPipelined(
      stream,
      [&](Document&& doc) -> Status {
        EXPECT_EQ(doc.value["index"], next);
        EXPECT_EQ(doc.index, next + 1);
        ++next;
        return ok();
      },
      {}, /*queue_depth=*/4);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(next, 500);

  // A sink error stops the parser and is what the caller gets.
  int seen = 0;
  s = forEachDocumentPipelined(
      stream,
      [&](Document&& doc) -> Status {
        ++seen;
        return doc.index == 7 ? Status(Error{Errc::InvalidArgument, "stop here"}) : ok();
      },
      {}, 2);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "stop here");
  EXPECT_EQ(seen, 7);

  // A parse error arrives after the documents before it.
  seen = 0;
  s = forEachDocumentPipelined("a: 1\n---\nb: 2\n---\nc: [\n", [&](Document&&) -> Status {
    ++seen;
    return ok();
  });
  ASSERT_FALSE(s);
  EXPECT_EQ(seen, 2);
  EXPECT_NE(s.error().message.find("document 3"), std::string::npos) << s.error().message;
}

TEST(YamlParseTest, SinkErrorsStopTheStream) {
  int seen = 0;
  Status s = forEachDocument("a: 1\n---\nb: 2\n---\nc: 3\n", [&](Document&& doc) -> Status {
    ++seen;
    if (doc.index == 2) return Error{Errc::InvalidArgument, "stop"};
    return ok();
  });
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "stop");
  EXPECT_EQ(seen, 2);
}

// Every conformance input reads, writes and reads back to the same values,
// and writing is stable (the second emission is byte-identical).
TEST(YamlRoundTripTest, ConformanceInputsAreLossless) {
  std::filesystem::path dir = "tests/conformance/istio-inject/inputs";
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << "run from the source root";
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    SCOPED_TRACE(entry.path().string());
    ++files;
    auto docs = parseDocuments(readFile(entry.path()));
    ASSERT_TRUE(docs) << docs.error().message;
    ASSERT_FALSE(docs->empty());
    for (const auto& doc : *docs) {
      std::string yaml = toYaml(doc.value);
      auto back = parseDocuments(yaml);
      ASSERT_TRUE(back) << back.error().message << "\n" << yaml;
      ASSERT_EQ(back->size(), 1u);
      EXPECT_EQ(back->front().value, doc.value) << yaml;
      EXPECT_EQ(toYaml(back->front().value), yaml);
    }
  }
  EXPECT_EQ(files, 25);
}

TEST(YamlRoundTripTest, IntsStayInts) {
  Json v = parseOne("replicas: 7\nport: 80\nratio: 0.5\n");
  EXPECT_TRUE(v["replicas"].is_number_integer());
  EXPECT_EQ(toYaml(v), "replicas: 7\nport: 80\nratio: 0.5\n");
}

}  // namespace
}  // namespace remora::kube

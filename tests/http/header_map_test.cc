#include "http/header_map.h"

#include <algorithm>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "http/chars.h"
#include "telemetry/peer_metadata.h"

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

TEST(HeaderMap, EqualsIgnoreCaseFoldsLettersOnly) {
  EXPECT_TRUE(equalsIgnoreCase("Content-Length", "content-LENGTH"));
  EXPECT_TRUE(equalsIgnoreCase("AZaz09-_", "azAZ09-_"));
  EXPECT_TRUE(equalsIgnoreCase("", ""));
  EXPECT_FALSE(equalsIgnoreCase("host", "hos"));
  EXPECT_FALSE(equalsIgnoreCase("host", "hosu"));
  // Pairs that differ in bit 0x20 alone but are not letters.
  const std::pair<char, char> not_letters[] = {{'@', '`'},    {'[', '{'},       {'\\', '|'},
                                               {']', '}'},    {'^', '~'},       {'\x01', '!'},
                                               {'0', '\x10'}, {'\xc1', '\xe1'}, {'\xda', '\xfa'}};
  for (auto [x, y] : not_letters) {
    EXPECT_FALSE(equalsIgnoreCase(std::string(1, x), std::string(1, y))) << int(x) << " " << int(y);
    EXPECT_FALSE(equalsIgnoreCase(std::string(1, y), std::string(1, x))) << int(x) << " " << int(y);
  }
  // Every pair of bytes against the obvious definition.
  for (int x = 0; x < 256; ++x) {
    for (int y = 0; y < 256; ++y) {
      auto lower = [](int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; };
      const std::string a(1, static_cast<char>(x));
      const std::string b(1, static_cast<char>(y));
      ASSERT_EQ(equalsIgnoreCase(a, b), lower(x) == lower(y)) << x << " " << y;
    }
  }
}

// isFieldValue() judges eight bytes at a word; it must agree with the
// byte-by-byte definition (RFC 9110 §5.5: VCHAR, obs-text, SP, HTAB) for
// every byte, at every place in a word and in the tail, beside every kind
// of valid neighbour (the word test's borrows cross byte boundaries).
TEST(HeaderMap, FieldValueWordCheckAgreesWithTheDefinition) {
  auto valid = [](int c) { return c == '\t' || (c >= 0x20 && c != 0x7f); };
  const char fillers[] = {'a', ' ', '\t', '~', '\x80', '\xff', '!'};
  for (char filler : fillers) {
    for (std::size_t size : {1, 7, 8, 9, 15, 16, 17, 24}) {
      for (std::size_t at = 0; at < size; ++at) {
        for (int c = 0; c < 256; ++c) {
          std::string value(size, filler);
          value[at] = static_cast<char>(c);
          ASSERT_EQ(isFieldValue(value), valid(c))
              << "byte " << c << " at " << at << " of " << size << ", filler " << int(filler);
        }
      }
    }
  }
  // Two bytes of interest in one word, in every order and place.
  const int edges[] = {0x00, 0x08, 0x09, 0x0a, 0x1f, 0x20, 0x21, 0x7e, 0x7f, 0x80, 0xff};
  for (int x : edges) {
    for (int y : edges) {
      for (std::size_t i = 0; i < 8; ++i) {
        for (std::size_t j = 0; j < 8; ++j) {
          if (i == j) continue;
          std::string value(8, 'a');
          value[i] = static_cast<char>(x);
          value[j] = static_cast<char>(y);
          ASSERT_EQ(isFieldValue(value), valid(x) && valid(y))
              << x << "@" << i << " " << y << "@" << j;
        }
      }
    }
  }
  EXPECT_TRUE(isFieldValue(""));
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

// Table-driven: which fields survive, in order, and how many were removed.
TEST(HeaderMap, StripHopByHopCases) {
  struct Case {
    const char* name;
    std::vector<std::pair<std::string, std::string>> fields;
    bool keep_upgrade;
    std::string want;  // "Name=value;" for each field left, in order
    std::size_t removed;
  };
  std::string many_tokens;
  std::vector<std::pair<std::string, std::string>> many_fields;
  for (int i = 0; i < 40; ++i) {
    many_tokens += (i ? ", x-" : "x-") + std::to_string(i);
    many_fields.emplace_back("X-" + std::to_string(i), "v");
  }
  many_fields.emplace_back("Connection", many_tokens);
  many_fields.emplace_back("X-Kept", "k");
  const std::vector<Case> cases = {
      {"nothing to strip", {{"Host", "a"}, {"Accept", "*/*"}}, false, "Host=a;Accept=*/*;", 0},
      {"every hop-by-hop field by definition, any case",
       {{"CONNECTION", "keep-alive"},
        {"keep-alive", "timeout=5"},
        {"Proxy-Connection", "close"},
        {"Transfer-Encoding", "chunked"},
        {"te", "trailers"},
        {"Trailer", "x"},
        {"UPGRADE", "h2c"},
        {"Host", "a"}},
       false,
       "Host=a;",
       7},
      {"listed names go, every field of that name",
       {{"X-A", "1"}, {"Connection", "x-a, X-B"}, {"x-b", "2"}, {"X-A", "3"}, {"X-C", "4"}},
       false,
       "X-C=4;",
       4},
      {"listed names the proxy knows go too, unless hop-by-hop or protected",
       {{"X-Request-Id", "1"}, {"Connection", "x-request-id, User-Agent"}, {"user-agent", "c"}},
       false,
       "",
       3},
      {"a listed protected name stays",
       {{"Host", "a"}, {"Content-Length", "0"}, {"Connection", "Host, content-length"}},
       false,
       "Host=a;Content-Length=0;",
       1},
      {"upgrade kept only when asked, listed and present",
       {{"Connection", "upgrade"}, {"Upgrade", "websocket"}, {"X", "1"}},
       true,
       "Upgrade=websocket;X=1;Connection=upgrade;",
       1},
      {"upgrade not listed: dropped even when asked",
       {{"Connection", "close"}, {"Upgrade", "websocket"}},
       true,
       "",
       2},
      {"upgrade listed but absent: no Connection added",
       {{"Connection", "upgrade"}, {"X", "1"}},
       true,
       "X=1;",
       1},
      {"more than 32 listed names", many_fields, false, "X-Kept=k;", 41},
      {"Connection: keep-alive alone, in any case and any number",
       {{"Host", "a"}, {"Connection", "Keep-Alive"}, {"X", "1"}, {"connection", "keep-alive"}},
       false,
       "Host=a;X=1;",
       2},
      {"keep-alive beside a listed name: the name goes too",
       {{"Connection", "keep-alive, x-a"}, {"X-A", "1"}, {"X-B", "2"}},
       false,
       "X-B=2;",
       2},
      {"keep-alive in one Connection field, a name in another",
       {{"Connection", "keep-alive"}, {"X-A", "1"}, {"Connection", "x-a"}},
       false,
       "",
       3},
      {"keep-alive and a Keep-Alive field",
       {{"Connection", "keep-alive"}, {"Keep-Alive", "timeout=5"}, {"X", "1"}},
       false,
       "X=1;",
       2},
  };
  for (const auto& c : cases) {
    HeaderMap h;
    for (const auto& [n, v] : c.fields) h.add(n, v);
    const std::size_t removed = stripHopByHop(h, c.keep_upgrade);
    std::string left;
    for (auto e : h) left += std::string(e.name) + "=" + std::string(e.value) + ";";
    EXPECT_EQ(left, c.want) << c.name;
    EXPECT_EQ(removed, c.removed) << c.name;
    std::size_t bytes = 0;
    for (auto e : h) bytes += e.name.size() + e.value.size();
    EXPECT_EQ(h.byteSize(), bytes) << c.name;
  }
}

constexpr std::size_t kKnownFields = kKnownFieldCount;

KnownField knownAt(std::size_t i) { return static_cast<KnownField>(i); }

// The classification by definition: the known field whose name equals
// `name` ignoring case.
KnownField classifyByDefinition(std::string_view name) {
  for (std::size_t i = 1; i < kKnownFields; ++i) {
    if (equalsIgnoreCase(name, knownFieldName(knownAt(i)))) return knownAt(i);
  }
  return KnownField::None;
}

TEST(HeaderMap, KnownFieldNamesClassifyInAnyCase) {
  EXPECT_EQ(knownFieldName(KnownField::None), "");
  for (std::size_t i = 1; i < kKnownFields; ++i) {
    const std::string lower(knownFieldName(knownAt(i)));
    ASSERT_FALSE(lower.empty());
    EXPECT_EQ(classifyFieldName(lower), knownAt(i)) << lower;
    std::string upper = lower;
    for (char& c : upper) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
    EXPECT_EQ(classifyFieldName(upper), knownAt(i)) << upper;
    // Every single-byte change (a byte of every value) makes it another
    // name, unless the change is the letter's other case.
    for (std::size_t at = 0; at < lower.size(); ++at) {
      for (int b = 0; b < 256; ++b) {
        std::string changed = lower;
        changed[at] = static_cast<char>(b);
        const KnownField want =
            toLower(static_cast<char>(b)) == lower[at] ? knownAt(i) : KnownField::None;
        ASSERT_EQ(classifyFieldName(changed), want) << lower << " byte " << at << " = " << b;
      }
    }
    // One byte more or less is another name too.
    EXPECT_EQ(classifyFieldName(lower + "s"), KnownField::None);
    EXPECT_EQ(classifyFieldName(std::string_view(lower).substr(1)), KnownField::None);
  }
  EXPECT_EQ(classifyFieldName(telemetry::kPeerMetadataHeader), KnownField::XEnvoyPeerMetadata);
  EXPECT_EQ(classifyFieldName(telemetry::kPeerMetadataIdHeader), KnownField::XEnvoyPeerMetadataId);
  for (std::string_view other : {"", "a", "accept", "content-type", "cookie", "date", "server",
                                 "trailers", "x-forwarded-host", "keep-alive2", "user_agent"}) {
    EXPECT_EQ(classifyFieldName(other), KnownField::None) << other;
  }
}

TEST(HeaderMap, KnownFieldLookupsAgreeWithLookupsByName) {
  HeaderMap h;
  h.add("X-Request-Id", "one");
  h.add("Accept", "*/*");
  h.add("x-request-id", "two");
  EXPECT_TRUE(h.contains(KnownField::XRequestId));
  EXPECT_FALSE(h.contains(KnownField::Host));
  EXPECT_EQ(h.get(KnownField::XRequestId), "one");
  EXPECT_EQ(h.get("X-REQUEST-ID"), "one");
  EXPECT_EQ(h.count("x-request-id"), 2U);
  std::vector<std::string> seen;
  h.forEachValue(KnownField::XRequestId, [&](std::string_view v) { seen.emplace_back(v); });
  EXPECT_EQ(seen, (std::vector<std::string>{"one", "two"}));
  h.set(KnownField::XRequestId, "three");
  EXPECT_EQ(h.count("x-request-id"), 1U);
  EXPECT_EQ(h.at(1).name, "x-request-id");  // set() appends under the lowercase name
  h.set(KnownField::Host, "a");             // absent: appended
  EXPECT_EQ(h.get("host"), "a");
  EXPECT_EQ(h.remove(KnownField::Host), 1U);
  EXPECT_FALSE(h.contains(KnownField::Host));
  EXPECT_EQ(h.remove(KnownField::Host), 0U);
  EXPECT_TRUE(listContains(h, "X-Request-ID", "THREE"));
}

// The known-field bits against a plain list after every operation: a
// field is found by KnownField exactly when it is by name.
TEST(HeaderMap, KnownFieldBitsFollowEveryChange) {
  const std::vector<std::string> names = {
      "Host",   "connection", "Upgrade",    "X-Request-Id", "x-a",
      "Accept", "TE",         "user-agent", "Keep-Alive",   "x-envoy-peer-metadata"};
  std::mt19937 rng(7);
  HeaderMap h;
  HeaderMap spare;
  std::vector<std::pair<std::string, std::string>> model;
  std::vector<std::pair<std::string, std::string>> spare_model;
  for (int step = 0; step < 20000; ++step) {
    const std::string& name = names[rng() % names.size()];
    // Connection's values name no field: a number, or keep-alive (a name
    // hop-by-hop by definition, the common case stripHopByHop takes apart).
    const std::string value = rng() % 2 == 0 ? std::to_string(step) : "keep-alive";
    switch (rng() % 8) {
      case 0:
      case 1:
      case 2:
        h.add(name, value);
        model.emplace_back(name, value);
        break;
      case 3: {
        h.set(name, value);
        std::erase_if(model, [&](const auto& f) { return equalsIgnoreCase(f.first, name); });
        model.emplace_back(name, value);
        break;
      }
      case 4: {
        const KnownField known = classifyFieldName(name);
        const std::size_t removed = known != KnownField::None ? h.remove(known) : h.remove(name);
        EXPECT_EQ(removed, std::erase_if(model, [&](const auto& f) {
                    return equalsIgnoreCase(f.first, name);
                  }));
        break;
      }
      case 5:
        stripHopByHop(h);
        std::erase_if(model, [](const auto& f) {
          return classifyByDefinition(f.first) != KnownField::None &&
                 isHopByHopByDefinition(classifyByDefinition(f.first));
        });
        break;
      case 6:
        h.swap(spare);
        std::swap(model, spare_model);
        break;
      default:
        if (rng() % 16 == 0) {
          h.clear();
          model.clear();
        }
    }
    ASSERT_EQ(h.size(), model.size()) << step;
    for (std::size_t i = 1; i < kKnownFields; ++i) {
      const bool present = std::any_of(model.begin(), model.end(), [&](const auto& f) {
        return classifyByDefinition(f.first) == knownAt(i);
      });
      ASSERT_EQ(h.contains(knownAt(i)), present) << step << " " << knownFieldName(knownAt(i));
      ASSERT_EQ(h.get(knownAt(i)).has_value(), present) << step;
    }
  }
}

}  // namespace
}  // namespace remora::http

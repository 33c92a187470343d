#include "security/path.h"

#include <string>

#include <gtest/gtest.h>

namespace remora::security {
namespace {

struct PathCase {
  const char* name;
  const char* in;
  const char* out;  // nullptr: an error
};

const PathCase kCases[] = {
    {"plain", "/admin", "/admin"},
    {"root", "/", "/"},
    {"query kept", "/a/./b?x=/../y&%zz", "/a/b?x=/../y&%zz"},
    {"dot", "/./admin", "/admin"},
    {"dotdot", "/foo/../admin", "/admin"},
    {"dotdot above root", "/../../admin", "/admin"},
    {"escaped unreserved", "/%61dmin", "/admin"},
    {"escaped dots", "/foo/%2e%2E/admin", "/admin"},
    {"escaped dot segment", "/%2e/admin", "/admin"},
    {"trailing slash kept", "/admin/", "/admin/"},
    {"double slash kept (BASE)", "//admin", "//admin"},
    {"case kept", "/ADMIN", "/ADMIN"},
    {"backslash", "\\admin", "/admin"},
    {"backslash dotdot", "/foo\\..\\admin", "/admin"},
    {"escaped slash kept", "/a%2Fb", "/a%2Fb"},
    {"escaped slash dotdot kept", "/a/..%2Fadmin", "/a/..%2Fadmin"},
    {"trailing dot", "/a/.", "/a/"},
    {"trailing dotdot", "/a/b/..", "/a/"},
    {"dotdot pops empty segment", "/a//../b", "/a/b"},
    {"dots in names kept", "/a.b/..c/.d/", "/a.b/..c/.d/"},
    {"space escaped", "/a b", "/a%20b"},
    {"utf8 escaped", "/\xc3\xa9", "/%C3%A9"},
    {"asterisk form", "*", "*"},
    {"truncated escape", "/%2", nullptr},
    {"truncated escape 2", "/a%", nullptr},
    {"bad hex", "/%zzadmin", nullptr},
    {"relative", "admin", nullptr},
    {"empty", "", nullptr},
    {"fragment", "/a#b", nullptr},
};

TEST(NormalizePath, Table) {
  for (const auto& c : kCases) {
    auto r = normalizePath(c.in);
    if (c.out == nullptr) {
      EXPECT_FALSE(r) << c.name;
      if (!r) {
        EXPECT_EQ(r.error().code, Errc::BadRequest) << c.name;
      }
    } else {
      ASSERT_TRUE(r) << c.name << ": " << r.error().message;
      EXPECT_EQ(*r, c.out) << c.name;
    }
  }
}

TEST(NormalizePath, ReturnsTheInputWhenAlreadyNormal) {
  std::string scratch;
  std::string_view in = "/api/v1/items?x=1";
  auto r = normalizePath(in, scratch);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->data(), in.data());
  EXPECT_TRUE(scratch.empty());
}

TEST(NormalizePath, Idempotent) {
  for (const auto& c : kCases) {
    if (c.out == nullptr) continue;
    auto once = normalizePath(c.in);
    ASSERT_TRUE(once);
    auto twice = normalizePath(*once);
    ASSERT_TRUE(twice) << c.name;
    EXPECT_EQ(*twice, *once) << c.name;
  }
}

TEST(NormalizePath, TooLong) {
  std::string big = "/" + std::string(70 * 1024, 'a');
  EXPECT_FALSE(normalizePath(big));
}

}  // namespace
}  // namespace remora::security

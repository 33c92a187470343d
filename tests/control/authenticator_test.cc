#include "control/authenticator.h"

#include <string>

#include <gtest/gtest.h>

namespace remora::control {
namespace {

TEST(BearerTokenTest, Shapes) {
  EXPECT_EQ(*bearerToken("Bearer abc.def"), "abc.def");
  EXPECT_EQ(*bearerToken("bearer abc"), "abc");
  for (const char* bad : {"", "Bearer", "Bearer ", "Basic abc", "Bearer a b", "Bearer\tabc",
                          "Bearerabc", "Bearer  abc"}) {
    auto t = bearerToken(bad);
    ASSERT_FALSE(t) << bad;
    EXPECT_EQ(t.error().code, Errc::Unauthenticated);
  }
  EXPECT_FALSE(bearerToken("Bearer " + std::string(kMaxTokenBytes + 1, 'a')));
  EXPECT_FALSE(bearerToken(std::string("Bearer ab\0c", 11)));
}

TEST(TokenFileTest, MapsTokensToIdentities) {
  auto auth = TokenFileAuthenticator::fromText(
      "# token namespace service-account\n"
      "\n"
      "sleep-token-0123456789 default sleep\n"
      "  httpbin-token-0123456789\tdefault   httpbin  \r\n");
  ASSERT_TRUE(auth) << auth.error().message;
  EXPECT_EQ((*auth)->size(), 2u);
  auto id = (*auth)->authenticate("httpbin-token-0123456789");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->ns, "default");
  EXPECT_EQ(id->service_account, "httpbin");
  auto unknown = (*auth)->authenticate("nobody-token-0123456789");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, Errc::Unauthenticated);
  EXPECT_FALSE((*auth)->authenticate(""));
}

TEST(TokenFileTest, RefusesBadFiles) {
  const char* bad[] = {
      "short default sleep\n",
      "sleep-token-0123456789 default\n",
      "sleep-token-0123456789 default sleep extra\n",
      "sleep-token-0123456789 Default sleep\n",
      "sleep-token-0123456789 default sl/eep\n",
      "sleep-token-0123456789 default sleep\nsleep-token-0123456789 other x\n",
  };
  for (const char* text : bad) {
    auto auth = TokenFileAuthenticator::fromText(text);
    ASSERT_FALSE(auth) << text;
    EXPECT_NE(auth.error().message.find("line"), std::string::npos) << auth.error().message;
  }
  EXPECT_FALSE(TokenFileAuthenticator::fromFile("/nonexistent/remora/tokens"));
}

std::string review(bool authenticated, std::string username, std::string audiences,
                   std::string error = "") {
  std::string s = R"({"kind":"TokenReview","apiVersion":"authentication.k8s.io/v1","status":{)";
  s += R"("authenticated":)" + std::string(authenticated ? "true" : "false");
  if (!username.empty()) s += R"(,"user":{"username":")" + username + R"(","groups":["x"]})";
  if (!audiences.empty()) s += R"(,"audiences":)" + audiences;
  if (!error.empty()) s += R"(,"error":")" + error + R"(")";
  return s + "}}";
}

TEST(TokenReviewTest, RequestBody) {
  EXPECT_EQ(TokenReviewAuthenticator::requestBody("tok\"en", "istio-ca"),
            R"({"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview",)"
            R"("spec":{"token":"tok\"en","audiences":["istio-ca"]}})");
}

TEST(TokenReviewTest, ParsesResponses) {
  auto ok = TokenReviewAuthenticator::parseResponse(
      review(true, "system:serviceaccount:default:sleep", R"(["istio-ca"])"), "istio-ca");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->ns, "default");
  EXPECT_EQ(ok->service_account, "sleep");

  struct Case {
    const char* name;
    std::string body;
    Errc code;
    const char* why;
  };
  const Case cases[] = {
      {"expired", review(false, "", "", "[invalid bearer token, token has expired]"),
       Errc::Unauthenticated, "expired"},
      {"wrong-audience", review(true, "system:serviceaccount:default:sleep", R"(["api"])"),
       Errc::Unauthenticated, "audience"},
      {"no-audiences", review(true, "system:serviceaccount:default:sleep", ""),
       Errc::Unauthenticated, "audience"},
      {"user-not-sa", review(true, "alice", R"(["istio-ca"])"), Errc::Unauthenticated,
       "not a service account"},
      {"extra-colon", review(true, "system:serviceaccount:a:b:c", R"(["istio-ca"])"),
       Errc::Unauthenticated, "malformed"},
      {"bad-names", review(true, "system:serviceaccount:A:b", R"(["istio-ca"])"),
       Errc::Unauthenticated, "invalid names"},
      {"not-json", "<html>", Errc::Unavailable, "TokenReview"},
      {"other-kind", R"({"kind":"Status","status":"Failure"})", Errc::Unavailable,
       "not a TokenReview"},
      {"authenticated-string", R"({"kind":"TokenReview","status":{"authenticated":"true"}})",
       Errc::Unauthenticated, "not authenticated"},
  };
  for (const auto& c : cases) {
    auto r = TokenReviewAuthenticator::parseResponse(c.body, "istio-ca");
    ASSERT_FALSE(r) << c.name;
    EXPECT_EQ(r.error().code, c.code) << c.name;
    EXPECT_NE(r.error().message.find(c.why), std::string::npos)
        << c.name << ": " << r.error().message;
  }
}

TEST(TokenReviewTest, UsesTheTransport) {
  std::string sent;
  TokenReviewAuthenticator auth([&](const std::string& body) -> Result<std::string> {
    sent = body;
    return review(true, "system:serviceaccount:prod:reviews", R"(["istio-ca"])");
  });
  auto id = auth.authenticate("some.jwt.token");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->service_account, "reviews");
  EXPECT_NE(sent.find("some.jwt.token"), std::string::npos);

  TokenReviewAuthenticator down([](const std::string&) -> Result<std::string> {
    return Error{Errc::Io, "refused"};
  });
  auto r = down.authenticate("x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::Unavailable);
}

}  // namespace
}  // namespace remora::control

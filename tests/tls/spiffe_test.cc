#include "tls/spiffe.h"

#include <string>

#include <gtest/gtest.h>

namespace remora::tls {
namespace {

TEST(SpiffeIdTest, ParsesWorkloadIdentity) {
  auto id = SpiffeId::parse("spiffe://cluster.local/ns/default/sa/sleep");
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(id->trustDomain(), "cluster.local");
  EXPECT_EQ(id->path(), "/ns/default/sa/sleep");
  EXPECT_EQ(id->uri(), "spiffe://cluster.local/ns/default/sa/sleep");
  EXPECT_EQ(id->principal(), "cluster.local/ns/default/sa/sleep");
  auto wl = id->workload();
  ASSERT_TRUE(wl);
  EXPECT_EQ(wl->ns, "default");
  EXPECT_EQ(wl->service_account, "sleep");
}

TEST(SpiffeIdTest, AcceptsValidShapes) {
  for (const char* uri : {"spiffe://example.org", "spiffe://a_b-c.9/x", "spiffe://td/A.b-C_d/e",
                          "spiffe://td/ns/x/sa/y.z", "spiffe://td/..a/a.."}) {
    EXPECT_TRUE(SpiffeId::parse(uri)) << uri;
  }
}

TEST(SpiffeIdTest, NonWorkloadPathsHaveNoWorkload) {
  for (const char* uri :
       {"spiffe://td", "spiffe://td/ns/x", "spiffe://td/ns/x/sa", "spiffe://td/ns/X/sa/y",
        "spiffe://td/ns/x/sa/y/extra", "spiffe://td/ns/-x/sa/y", "spiffe://td/ns/x/sa/y_z"}) {
    auto id = SpiffeId::parse(uri);
    ASSERT_TRUE(id) << uri;
    EXPECT_FALSE(id->workload()) << uri;
  }
}

struct BadId {
  const char* name;
  std::string uri;
  const char* why;  // a fragment of the error message
};

TEST(SpiffeIdTest, RefusesEveryBrokenRule) {
  const BadId cases[] = {
      {"empty", "", "scheme"},
      {"http-scheme", "http://cluster.local/ns/a/sa/b", "scheme"},
      {"upper-scheme", "SPIFFE://cluster.local/ns/a/sa/b", "scheme"},
      {"no-slashes", "spiffe:cluster.local", "scheme"},
      {"empty-td", "spiffe:///ns/a/sa/b", "trust domain is empty"},
      {"upper-td", "spiffe://Cluster.local/ns/a", "upper-case"},
      {"port", "spiffe://cluster.local:8080/ns/a", "port"},
      {"userinfo", "spiffe://user@cluster.local/ns/a", "user info"},
      {"td-bad-char", "spiffe://clu$ter/ns/a", "trust domain has a character"},
      {"td-too-long", "spiffe://" + std::string(256, 'a'), "longer than 255"},
      {"trailing-slash", "spiffe://td/ns/a/", "ends with '/'"},
      {"empty-segment", "spiffe://td/ns//a", "empty segment"},
      {"dot-segment", "spiffe://td/ns/./a", "'.' or '..'"},
      {"dotdot-segment", "spiffe://td/ns/../a", "'.' or '..'"},
      {"percent", "spiffe://td/ns/%61", "percent-encoded"},
      {"query", "spiffe://td/ns/a?x=1", "query or fragment"},
      {"fragment", "spiffe://td/ns/a#x", "query or fragment"},
      {"space", "spiffe://td/ns/a b", "character outside"},
      {"nul", std::string("spiffe://td/ns/a\0/sa/b", 22), "NUL"},
      {"nul-in-td", std::string("spiffe://t\0d/ns/a", 17), "NUL"},
      {"utf8", "spiffe://td/ns/caf\xc3\xa9", "character outside"},
      {"too-long", "spiffe://td/" + std::string(2100, 'a'), "longer than 2048"},
  };
  for (const auto& c : cases) {
    auto id = SpiffeId::parse(c.uri);
    ASSERT_FALSE(id) << c.name;
    EXPECT_EQ(id.error().code, Errc::InvalidArgument) << c.name;
    EXPECT_NE(id.error().message.find(c.why), std::string::npos)
        << c.name << ": " << id.error().message;
  }
}

TEST(SpiffeIdTest, ForWorkloadValidatesKubernetesNames) {
  auto id = SpiffeId::forWorkload("cluster.local", "default", "my.sa-1");
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(id->uri(), "spiffe://cluster.local/ns/default/sa/my.sa-1");

  EXPECT_FALSE(SpiffeId::forWorkload("cluster.local", "Default", "sa"));
  EXPECT_FALSE(SpiffeId::forWorkload("cluster.local", "a/b", "sa"));
  EXPECT_FALSE(SpiffeId::forWorkload("cluster.local", std::string(64, 'a'), "sa"));
  EXPECT_FALSE(SpiffeId::forWorkload("cluster.local", "ns", ""));
  EXPECT_FALSE(SpiffeId::forWorkload("cluster.local", "ns", "sa/../x"));
  EXPECT_FALSE(SpiffeId::forWorkload("Cluster", "ns", "sa"));
  EXPECT_FALSE(SpiffeId::forWorkload("cluster.local", "ns", std::string("s\0a", 3)));
}

TEST(SpiffeIdTest, RoundTripsThroughUri) {
  auto id = SpiffeId::parse("spiffe://td.example/ns/a/sa/b");
  ASSERT_TRUE(id);
  auto again = SpiffeId::parse(id->uri());
  ASSERT_TRUE(again);
  EXPECT_EQ(*id, *again);
}

}  // namespace
}  // namespace remora::tls

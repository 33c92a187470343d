#include "core/dns_name.h"

#include <string>

#include <gtest/gtest.h>

namespace remora {
namespace {

TEST(DnsName, LabelsAsKubernetesValidatesThem) {
  for (const char* ok : {"a", "default", "istio-system", "a1", "0abc", "x-y-z"}) {
    EXPECT_TRUE(isDnsLabel(ok)) << ok;
  }
  for (const char* bad : {"", "-a", "a-", "A", "a.b", "a_b", "a b"}) {
    EXPECT_FALSE(isDnsLabel(bad)) << bad;
  }
  EXPECT_TRUE(isDnsLabel(std::string(63, 'a')));
  EXPECT_FALSE(isDnsLabel(std::string(64, 'a')));
}

TEST(DnsName, SubdomainsAreLabelsJoinedByDots) {
  for (const char* ok : {"a", "cluster.local", "web.hello.svc.cluster.local", "bookinfo-reviews"}) {
    EXPECT_TRUE(isDnsSubdomain(ok)) << ok;
  }
  for (const char* bad : {"", ".", "a.", ".a", "a..b", "A.b", "a.-b"}) {
    EXPECT_FALSE(isDnsSubdomain(bad)) << bad;
  }
  std::string long_name;
  while (long_name.size() < 253) long_name += "abcdefgh.";
  long_name.resize(253);
  if (long_name.back() == '.') long_name.back() = 'a';
  EXPECT_TRUE(isDnsSubdomain(long_name));
  EXPECT_FALSE(isDnsSubdomain(long_name + "a"));
}

}  // namespace
}  // namespace remora

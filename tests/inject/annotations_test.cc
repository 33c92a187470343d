#include "inject/annotations.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace remora::inject {
namespace {

TEST(AnnotationsTest, PortLists) {
  auto ports = parsePortList(" 80, 8080 ,,443");
  ASSERT_TRUE(ports);
  EXPECT_EQ(*ports, (std::vector<int>{80, 8080, 443}));
  EXPECT_TRUE(parsePortList("")->empty());
  for (const char* bad : {"0", "65536", "80x", "-1", "8 0", "*", "1e3", "99999999999999999999"}) {
    EXPECT_FALSE(parsePortList(bad)) << bad;
  }
}

TEST(AnnotationsTest, CidrLists) {
  for (const char* good :
       {"", "10.0.0.0/8", "10.0.0.1/32, 192.168.0.0/16", "fd00::/8", "::/0", "0.0.0.0/0"}) {
    EXPECT_TRUE(validateCidrList(good)) << good;
  }
  for (const char* bad : {"bad", "10.0.0.0", "10.0.0.0/33", "fd00::/129", "10.0.0.0/-1",
                          "10.0.0.0/8/1", "300.0.0.0/8", "10.0.0.0/08x"}) {
    EXPECT_FALSE(validateCidrList(bad)) << bad;
  }
}

TEST(AnnotationsTest, Bools) {
  for (const char* t : {"1", "t", "T", "true", "TRUE", "True"}) EXPECT_EQ(parseBool(t), true) << t;
  for (const char* f : {"0", "f", "F", "false", "FALSE", "False"})
    EXPECT_EQ(parseBool(f), false) << f;
  for (const char* bad : {"", "yes", "on", "tRuE", " true"}) EXPECT_FALSE(parseBool(bad)) << bad;
}

TEST(AnnotationsTest, Normalize) {
  EXPECT_EQ(normalizeList(" a , b,,c "), "a,b,c");
  EXPECT_EQ(normalizeList(""), "");
  EXPECT_EQ(normalizeList("*"), "*");
}

TEST(AnnotationsTest, ValidatesOnlyWhatItReads) {
  EXPECT_TRUE(validateAnnotations(testing::yaml("{unrelated: 3, example.com/x: [1]}")));
  EXPECT_TRUE(validateAnnotations(Json()));
  EXPECT_FALSE(validateAnnotations(testing::yaml("[a]")));
  auto s =
      validateAnnotations(testing::yaml("{traffic.sidecar.istio.io/includeOutboundIPRanges: bad}"));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message,
            "annotation traffic.sidecar.istio.io/includeOutboundIPRanges=\"bad\": invalid "
            "includeIPRanges: "
            "\"bad\" is not a CIDR (like 10.0.0.0/8 or fd00::/8)");
}

}  // namespace
}  // namespace remora::inject

#include "netfilter/validate.h"

#include <gtest/gtest.h>

#include "netfilter/flags.h"

namespace remora::netfilter {
namespace {

CaptureConfig config(const char* include, const char* exclude, const char* ports = "") {
  InitFlags f;
  f.service_cidr = include;
  f.service_exclude_cidr = exclude;
  f.outbound_ports = ports;
  HostFacts h;
  h.pod_has_ipv6 = true;
  return *configFromFlags(f, h);
}

TEST(ValidateTest, ProbesATestNetAddressThatIsCapturedAndNotExcluded) {
  EXPECT_EQ(probeAddress(config("*", ""), Family::V4)->str(), "192.0.2.1/32");
  EXPECT_EQ(probeAddress(config("*", "192.0.2.0/24"), Family::V4)->str(), "198.51.100.1/32");
  EXPECT_EQ(probeAddress(config("*", ""), Family::V6)->str(), "2001:db8::1/128");
  EXPECT_EQ(probeAddress(config("10.96.0.0/12", ""), Family::V4)->str(), "10.96.0.1/32");
  EXPECT_EQ(probeAddress(config("10.96.0.7/32", ""), Family::V4)->str(), "10.96.0.7/32");
  EXPECT_EQ(probeAddress(config("", "", "8080"), Family::V4)->str(), "192.0.2.1/32");
  EXPECT_FALSE(probeAddress(config("10.96.0.0/12", "10.0.0.0/8"), Family::V4));
  EXPECT_FALSE(probeAddress(config("10.96.0.0/12", ""), Family::V6));
  EXPECT_FALSE(probeAddress(config("", ""), Family::V4));
  EXPECT_FALSE(probeAddress(config("127.0.0.0/8", ""), Family::V4));
}

}  // namespace
}  // namespace remora::netfilter

#include "netfilter/nft_render.h"

#include <string>

#include <gtest/gtest.h>

#include "netfilter/flags.h"

namespace remora::netfilter {
namespace {

Ruleset rulesFor(bool ipv6, const char* mode = "REDIRECT") {
  InitFlags f;
  f.proxy_uid = "1337";
  f.service_cidr = "*";
  f.service_exclude_cidr = "10.96.0.0/12,fd00:96::/64";
  f.inbound_ports = "*";
  f.inbound_ports_exclude = "15090,15021,15020";
  f.exclude_interfaces = "veth+";
  f.mode = mode;
  HostFacts h;
  h.pod_has_ipv6 = ipv6;
  return buildRuleset(*configFromFlags(f, h));
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(NftRenderTest, Names) {
  EXPECT_EQ(nftChainName("ISTIO_IN_REDIRECT"), "istio-in-redirect");
  EXPECT_EQ(nftChainName("PREROUTING"), "prerouting");
  EXPECT_EQ(nftTableName(Table::Mangle), "istio-proxy-mangle");
}

TEST(NftRenderTest, StartsByRemovingEveryTableOfOursInEveryFamily) {
  auto script = renderNftScript(rulesFor(false));
  EXPECT_TRUE(script.starts_with(renderNftCleanup()));
  for (const char* family : {"ip", "ip6", "inet"}) {
    EXPECT_TRUE(contains(renderNftCleanup(), std::string("table ") + family +
                                                 " istio-proxy-raw\ndelete table " + family +
                                                 " istio-proxy-raw\n"));
  }
}

TEST(NftRenderTest, Ipv4OnlyUsesIpTablesSoIpv6IsNeverCaptured) {
  auto script = renderNftScript(rulesFor(false)).substr(renderNftCleanup().size());
  EXPECT_TRUE(contains(script, "add table ip istio-proxy-nat\n"));
  EXPECT_FALSE(contains(script, "add table inet"));
  EXPECT_FALSE(contains(script, "ip6 "));
  EXPECT_FALSE(contains(script, "meta nfproto"));
  EXPECT_TRUE(contains(script,
                       "add chain ip istio-proxy-nat prerouting { type nat hook prerouting "
                       "priority -100; policy accept; }\n"));
  EXPECT_TRUE(contains(script,
                       "add rule ip istio-proxy-nat istio-output oifname \"lo\" meta "
                       "l4proto tcp ip daddr != 127.0.0.1/32 tcp dport != 15008 meta "
                       "skuid 1337 jump istio-in-redirect\n"));
  EXPECT_TRUE(
      contains(script, "add rule ip istio-proxy-nat prerouting iifname \"veth*\" return\n"));
  EXPECT_TRUE(
      contains(script, "add rule ip istio-proxy-nat istio-output ip daddr 10.96.0.0/12 return\n"));
}

TEST(NftRenderTest, DualStackIsOneInetTableWithFamilyQualifiers) {
  auto script = renderNftScript(rulesFor(true));
  EXPECT_TRUE(contains(script, "add table inet istio-proxy-nat\n"));
  EXPECT_TRUE(contains(script, "ip6 daddr fd00:96::/64 return\n"));
  EXPECT_TRUE(contains(script, "oifname \"lo\" ip6 saddr ::6/128 return\n"));
  // istio-iptables' per-family wildcard jump becomes one inet rule.
  EXPECT_TRUE(contains(script, "add rule inet istio-proxy-nat istio-output jump istio-redirect\n"));
  EXPECT_FALSE(contains(script, "meta nfproto ipv4 jump istio-redirect"));
}

TEST(NftRenderTest, TproxyUsesARouteHookAndFamilyTproxy) {
  auto script = renderNftScript(rulesFor(true, "TPROXY"));
  EXPECT_TRUE(contains(script,
                       "add chain inet istio-proxy-mangle output { type route hook output "
                       "priority -150; policy accept; }\n"));
  EXPECT_TRUE(contains(script,
                       "ip daddr != 127.0.0.1/32 tproxy ip to :15006 meta mark set 1337 "
                       "accept\n"));
  EXPECT_TRUE(contains(script,
                       "ip6 daddr != ::1/128 tproxy ip6 to :15006 meta mark set 1337 "
                       "accept\n"));
  EXPECT_TRUE(contains(script, "ct state related,established jump istio-divert\n"));
  EXPECT_TRUE(contains(script, "meta mark set ct mark\n"));
}

}  // namespace
}  // namespace remora::netfilter

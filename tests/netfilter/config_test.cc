#include "netfilter/config.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "netfilter/flags.h"

namespace remora::netfilter {
namespace {

struct PortCase {
  const char* name;
  const char* input;
  bool wildcard_allowed;
  const char* expect;  // str() of the result, or nullptr for an error
};

TEST(ConfigTest, PortLists) {
  const PortCase cases[] = {
      {"empty", "", true, ""},
      {"blanks-only", " , ,", true, ""},
      {"single", "80", false, "80"},
      {"list", "15090,15021,15020", false, "15090,15021,15020"},
      {"spaces", " 80 , 443 ", false, "80,443"},
      {"duplicates", "80,80,443,80", false, "80,443"},
      {"wildcard", "*", true, "*"},
      {"max", "65535", false, "65535"},
      // hostile
      {"wildcard-not-allowed", "*", false, nullptr},
      {"wildcard-mixed", "*,80", true, nullptr},
      {"zero", "0", false, nullptr},
      {"too-big", "65536", false, nullptr},
      {"huge", "99999999999999999999", false, nullptr},
      {"negative", "-1", false, nullptr},
      {"plus", "+80", false, nullptr},
      {"hex", "0x50", false, nullptr},
      {"trailing-junk", "80abc", false, nullptr},
      {"range", "8000:8080", false, nullptr},
      {"inner-space", "8 0", false, nullptr},
      {"unicode-digit", "\xd9\xa1", false, nullptr},
  };
  for (const auto& c : cases) {
    auto got = parsePortList(c.input, c.wildcard_allowed);
    if (c.expect == nullptr) {
      EXPECT_FALSE(got) << c.name;
      if (!got) {
        EXPECT_EQ(got.error().code, Errc::InvalidArgument) << c.name;
      }
    } else {
      ASSERT_TRUE(got) << c.name << ": " << got.error().message;
      EXPECT_EQ(got->str(), c.expect) << c.name;
    }
  }
}

TEST(ConfigTest, ErrorsQuoteAndBoundHostileValues) {
  auto got = parsePortList(std::string(500, '9') + "\n\x1b[31m", false);
  ASSERT_FALSE(got);
  EXPECT_LT(got.error().message.size(), 200u);
  EXPECT_EQ(got.error().message.find('\x1b'), std::string::npos);
}

struct CidrCase {
  const char* name;
  const char* input;
  bool wildcard_allowed;
  const char* expect;
};

TEST(ConfigTest, CidrLists) {
  const CidrCase cases[] = {
      {"empty", "", false, ""},
      {"wildcard", "*", true, "*"},
      {"v4", "10.0.0.0/8", false, "10.0.0.0/8"},
      {"host-bits-cleared", "10.1.2.3/8", false, "10.0.0.0/8"},
      {"bare-address", "192.168.1.1", false, "192.168.1.1/32"},
      {"v6", "fd00::/8", false, "fd00::/8"},
      {"v6-host-bits", "2001:db8::1/32", false, "2001:db8::/32"},
      {"mixed", "10.0.0.0/8, fd00::/8", false, "10.0.0.0/8,fd00::/8"},
      {"zero-prefix", "0.0.0.0/0", false, "0.0.0.0/0"},
      {"duplicates", "10.0.0.0/8,10.9.9.9/8", false, "10.0.0.0/8"},
      // hostile
      {"wildcard-exclude", "*", false, nullptr},
      {"wildcard-mixed", "*,10.0.0.0/8", true, nullptr},
      {"prefix-too-long-v4", "10.0.0.0/33", false, nullptr},
      {"prefix-too-long-v6", "fd00::/129", false, nullptr},
      {"bad-octet", "10.0.0.256/8", false, nullptr},
      {"short", "10.0.0/8", false, nullptr},
      {"empty-prefix", "10.0.0.0/", false, nullptr},
      {"negative-prefix", "10.0.0.0/-1", false, nullptr},
      {"text", "cluster.local", false, nullptr},
      {"slash-only", "/8", false, nullptr},
      {"double-slash", "10.0.0.0/8/8", false, nullptr},
      {"v6-garbage", "fd00:::1/64", false, nullptr},
      {"too-long", "1111:2222:3333:4444:5555:6666:7777:8888:9999/64", false, nullptr},
  };
  for (const auto& c : cases) {
    auto got = parseCidrList(c.input, c.wildcard_allowed);
    if (c.expect == nullptr) {
      EXPECT_FALSE(got) << c.name;
    } else {
      ASSERT_TRUE(got) << c.name << ": " << got.error().message;
      EXPECT_EQ(got->str(), c.expect) << c.name;
    }
  }
}

TEST(ConfigTest, CidrContainsAndLoopback) {
  auto net = *parseCidr("10.0.0.0/8");
  EXPECT_TRUE(net.contains(*parseCidr("10.2.3.4")));
  EXPECT_FALSE(net.contains(*parseCidr("11.0.0.1")));
  EXPECT_FALSE(net.contains(*parseCidr("fd00::1")));
  EXPECT_TRUE(parseCidr("127.0.0.1/32")->isLoopback());
  EXPECT_TRUE(parseCidr("127.1.2.3/32")->isLoopback());
  EXPECT_TRUE(parseCidr("::1")->isLoopback());
  EXPECT_FALSE(parseCidr("::2")->isLoopback());
}

TEST(ConfigTest, IdsInterfacesDurations) {
  EXPECT_EQ(*parseIdList("1337"), std::vector<std::uint32_t>{1337});
  EXPECT_EQ(*parseIdList("0, 1337,1337"), (std::vector<std::uint32_t>{0, 1337}));
  EXPECT_FALSE(parseIdList("istio-proxy"));
  EXPECT_FALSE(parseIdList("4294967295"));  // (uid_t)-1
  EXPECT_FALSE(parseIdList("-1"));

  EXPECT_EQ(*parseInterfaceList("eth1, eth2,veth+"),
            (std::vector<std::string>{"eth1", "eth2", "veth+"}));
  EXPECT_FALSE(parseInterfaceList("eth0;rm -rf /"));
  EXPECT_FALSE(parseInterfaceList("a-very-long-interface"));
  EXPECT_FALSE(parseInterfaceList("+"));
  EXPECT_FALSE(parseInterfaceList("eth\"0"));
  EXPECT_FALSE(parseInterfaceList("et h0"));

  EXPECT_EQ(*parseDurationMs("5s"), 5000u);
  EXPECT_EQ(*parseDurationMs("500ms"), 500u);
  EXPECT_EQ(*parseDurationMs("1m"), 60000u);
  EXPECT_FALSE(parseDurationMs("5"));
  EXPECT_FALSE(parseDurationMs("s"));
  EXPECT_FALSE(parseDurationMs("0s"));
  EXPECT_FALSE(parseDurationMs("99999999m"));

  EXPECT_EQ(*parseInterceptionMode(""), InterceptionMode::Redirect);
  EXPECT_EQ(*parseInterceptionMode("TPROXY"), InterceptionMode::Tproxy);
  EXPECT_FALSE(parseInterceptionMode("tproxy"));
}

TEST(ConfigTest, InjectorArgumentsParse) {
  InitFlags f;
  f.envoy_port = "15001";
  f.inbound_capture_port = "15006";
  f.proxy_uid = "1337";
  f.mode = "REDIRECT";
  f.service_cidr = "*";
  f.service_exclude_cidr = "";
  f.inbound_ports = "*";
  f.inbound_ports_exclude = "15090,15021,15020";
  auto c = configFromFlags(f, HostFacts{});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->proxy_uids, std::vector<std::uint32_t>{1337});
  EXPECT_EQ(c->proxy_gids, std::vector<std::uint32_t>{1337});  // defaults to the UID
  EXPECT_TRUE(c->outbound_cidrs.wildcard);
  EXPECT_TRUE(c->outbound_cidrs_exclude.empty());
  EXPECT_TRUE(c->inbound_ports.wildcard);
  EXPECT_EQ(c->inbound_ports_exclude.str(), "15090,15021,15020");
}

TEST(ConfigTest, BadFlagsNameTheFlagAndVariable) {
  struct Case {
    const char* name;
    void (*set)(InitFlags&);
    const char* expect;
  };
  const Case cases[] = {
      {"exclude-wildcard", [](InitFlags& f) { f.service_exclude_cidr = "*"; },
       "-x/--istio-service-exclude-cidr (ISTIO_SERVICE_EXCLUDE_CIDR)"},
      {"bad-cidr", [](InitFlags& f) { f.service_cidr = "10.0.0.0/40"; },
       "-i/--istio-service-cidr (ISTIO_SERVICE_CIDR): invalid CIDR \"10.0.0.0/40\""},
      {"port-range", [](InitFlags& f) { f.inbound_ports_exclude = "15090,70000"; },
       "-d/--istio-local-exclude-ports (ISTIO_LOCAL_EXCLUDE_PORTS): invalid port \"70000\""},
      {"envoy-port", [](InitFlags& f) { f.envoy_port = "abc"; }, "-p/--envoy-port (ENVOY_PORT)"},
      {"same-ports", [](InitFlags& f) { f.inbound_capture_port = "15001"; }, "must differ"},
      {"uid-name", [](InitFlags& f) { f.proxy_uid = "istio-proxy"; }, "-u/--proxy-uid"},
      {"mode", [](InitFlags& f) { f.mode = "NAT"; }, "-m/--istio-inbound-interception-mode"},
      {"route-table-main", [](InitFlags& f) { f.tproxy_route_table = "254"; }, "must be 1-252"},
      {"outbound-wildcard", [](InitFlags& f) { f.outbound_ports = "*"; }, "-q/"},
      {"iface", [](InitFlags& f) { f.exclude_interfaces = "eth0 eth1"; }, "-c/"},
  };
  for (const auto& c : cases) {
    InitFlags f;
    c.set(f);
    auto got = configFromFlags(f, HostFacts{});
    ASSERT_FALSE(got) << c.name;
    EXPECT_NE(got.error().message.find(c.expect), std::string::npos)
        << c.name << ": " << got.error().message;
  }
}

TEST(ConfigTest, LoopbackCidrMustStayInLoopback) {
  InitFlags f;
  HostFacts host;
  host.host_ipv4_loopback_cidr = "127.0.0.1/8";
  auto ok = configFromFlags(f, host);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->host_ipv4_loopback.str(), "127.0.0.0/8");
  host.host_ipv4_loopback_cidr = "10.0.0.1/32";
  EXPECT_FALSE(configFromFlags(f, host));
  host.host_ipv4_loopback_cidr = "127.0.0.0/7";
  EXPECT_FALSE(configFromFlags(f, host));
}

TEST(ConfigTest, ResolvConf) {
  auto servers = parseResolvConf(
      "# comment\nsearch svc.cluster.local\nnameserver 10.96.0.10\nnameserver\tfd00::a # x\n"
      "nameserverX 1.2.3.4\noptions ndots:5\nnameserver 10.96.0.10\n");
  ASSERT_TRUE(servers) << servers.error().message;
  ASSERT_EQ(servers->size(), 2u);
  EXPECT_EQ((*servers)[0].str(), "10.96.0.10/32");
  EXPECT_EQ((*servers)[1].str(), "fd00::a/128");
  EXPECT_FALSE(parseResolvConf("nameserver not-an-ip\n"));
  EXPECT_FALSE(parseResolvConf("nameserver 10.0.0.0/8\n"));
  EXPECT_TRUE(parseResolvConf("")->empty());
}

TEST(ConfigTest, DnsServersOnlyWhenRedirecting) {
  InitFlags f;
  HostFacts host;
  host.resolv_conf = "nameserver 10.96.0.10\nnameserver fd00::a\n";
  EXPECT_TRUE(configFromFlags(f, host)->dns_servers.empty());
  f.redirect_dns = true;
  EXPECT_EQ(configFromFlags(f, host)->dns_servers.size(), 1u);  // IPv6 off: v4 only
  host.pod_has_ipv6 = true;
  EXPECT_EQ(configFromFlags(f, host)->dns_servers.size(), 2u);
  f.capture_all_dns = true;
  EXPECT_TRUE(configFromFlags(f, host)->dns_servers.empty());
}

}  // namespace
}  // namespace remora::netfilter

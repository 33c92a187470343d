// Golden files of the rendered rules, one per flag combination, in the
// manner of istio-iptables' pkg/capture/testdata/*.golden. Each file holds
// the IPv4 and IPv6 restore input (for a namespace without rules) and the
// native nftables script.
//
// To update after an intended change:
//   REMORA_UPDATE_GOLDEN=1 build/tests/netfilter/netfilter_tests --gtest_filter='Golden*'
// then review the diff like code.
#include <cstdlib>
#include <fstream>
#include <functional>
#include <ostream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "netfilter/flags.h"
#include "netfilter/iptables_render.h"
#include "netfilter/model.h"
#include "netfilter/nft_render.h"

namespace remora::netfilter {
namespace {

struct GoldenCase {
  const char* name;
  std::function<void(InitFlags&, HostFacts&)> set;
};

// gtest prints a parameter in test names and failures: its name, not its bytes.
void PrintTo(const GoldenCase& c, std::ostream* os) { *os << c.name; }

// The injector's istio-init arguments.
void injector(InitFlags& f) {
  f.envoy_port = "15001";
  f.inbound_capture_port = "15006";
  f.proxy_uid = "1337";
  f.mode = "REDIRECT";
  f.service_cidr = "*";
  f.service_exclude_cidr = "";
  f.inbound_ports = "*";
  f.inbound_ports_exclude = "15090,15021,15020";
}

const GoldenCase kCases[] = {
    {"empty", [](InitFlags&, HostFacts&) {}},
    {"injector-default", [](InitFlags& f, HostFacts&) { injector(f); }},
    {"injector-dual-stack",
     [](InitFlags& f, HostFacts& h) {
       injector(f);
       f.dual_stack = true;
       h.pod_has_ipv6 = true;
     }},
    {"inbound-ports-include", [](InitFlags& f, HostFacts&) { f.inbound_ports = "32000,31000"; }},
    {"inbound-ports-wildcard", [](InitFlags& f, HostFacts&) { f.inbound_ports = "*"; }},
    {"inbound-wildcard-exclude",
     [](InitFlags& f, HostFacts&) {
       f.inbound_ports = "*";
       f.inbound_ports_exclude = "22,15090";
     }},
    {"ip-range",
     [](InitFlags& f, HostFacts&) {
       f.service_cidr = "9.9.0.0/16";
       f.service_exclude_cidr = "1.1.0.0/16";
     }},
    {"ipv6-ip-range",
     [](InitFlags& f, HostFacts& h) {
       f.service_cidr = "9.9.0.0/16,fd00::/16";
       f.service_exclude_cidr = "1.1.0.0/16,fd00:1::/32";
       h.pod_has_ipv6 = true;
     }},
    {"outbound-ports-include", [](InitFlags& f, HostFacts&) { f.outbound_ports = "32000,31000"; }},
    {"outbound-ports-exclude",
     [](InitFlags& f, HostFacts&) {
       injector(f);
       f.outbound_ports_exclude = "3306,6379";
     }},
    {"uid-gid",
     [](InitFlags& f, HostFacts&) {
       injector(f);
       f.proxy_uid = "3,4";
       f.proxy_gid = "1,2";
     }},
    {"dns-uid-gid",
     [](InitFlags& f, HostFacts& h) {
       injector(f);
       f.proxy_uid = "3,4";
       f.proxy_gid = "1,2";
       f.redirect_dns = true;
       h.resolv_conf = "nameserver 127.0.0.53\n";
     }},
    {"ipv6-dns",
     [](InitFlags& f, HostFacts& h) {
       injector(f);
       f.redirect_dns = true;
       h.pod_has_ipv6 = true;
       h.resolv_conf = "nameserver 10.96.0.10\nnameserver fd00::a\n";
     }},
    {"capture-all-dns",
     [](InitFlags& f, HostFacts&) {
       injector(f);
       f.redirect_dns = true;
       f.capture_all_dns = true;
     }},
    {"dns-without-servers",  // istio-iptables turns DNS capture off
     [](InitFlags& f, HostFacts&) {
       injector(f);
       f.redirect_dns = true;
     }},
    {"tproxy",
     [](InitFlags& f, HostFacts&) {
       injector(f);
       f.mode = "TPROXY";
     }},
    {"tproxy-ports-dual-stack",
     [](InitFlags& f, HostFacts& h) {
       injector(f);
       f.mode = "TPROXY";
       f.inbound_ports = "8080,9090";
       h.pod_has_ipv6 = true;
     }},
    {"exclude-interfaces",
     [](InitFlags& f, HostFacts&) {
       injector(f);
       f.exclude_interfaces = "not-istio-nic,veth+";
     }},
    {"tproxy-exclude-interfaces",
     [](InitFlags& f, HostFacts&) {
       injector(f);
       f.mode = "TPROXY";
       f.exclude_interfaces = "not-istio-nic";
     }},
    {"kube-virt-interfaces",
     [](InitFlags& f, HostFacts&) {
       f.kube_virt_interfaces = "eth1,eth2";
       f.service_cidr = "10.0.0.0/8";
     }},
    {"kube-virt-wildcard",
     [](InitFlags& f, HostFacts&) {
       injector(f);
       f.kube_virt_interfaces = "eth1";
     }},
    {"drop-invalid",
     [](InitFlags& f, HostFacts&) {
       injector(f);
       f.drop_invalid = true;
     }},
    {"host-ipv4-loopback-cidr",
     [](InitFlags& f, HostFacts& h) {
       injector(f);
       h.host_ipv4_loopback_cidr = "127.0.0.1/8";
     }},
    {"loopback-outbound-iprange",
     [](InitFlags& f, HostFacts&) {
       f.service_cidr = "127.1.2.3/32";
       f.inbound_ports = "*";
     }},
    {"custom-ports",
     [](InitFlags& f, HostFacts&) {
       injector(f);
       f.envoy_port = "16001";
       f.inbound_capture_port = "16006";
       f.inbound_tunnel_port = "16008";
       f.proxy_uid = "2000";
     }},
};

std::string render(const GoldenCase& c) {
  InitFlags flags;
  HostFacts host;
  c.set(flags, host);
  auto config = configFromFlags(flags, host);
  if (!config) return "ERROR " + config.error().message + "\n";
  auto rules = buildRuleset(*config);
  std::string out = "# iptables-restore --noflush (IPv4)\n";
  out += renderIptablesRestore(rules.forFamily(Family::V4), SavedState{});
  if (rules.ipv6) {
    out += "# ip6tables-restore --noflush (IPv6)\n";
    out += renderIptablesRestore(rules.forFamily(Family::V6), SavedState{});
  }
  if (rules.tproxy_routes) {
    out += "# policy routing: fwmark " + std::to_string(rules.tproxy_mark) + " lookup " +
           std::to_string(rules.tproxy_route_table) + ", local default dev lo\n";
  }
  out += "# nft -f (--native-nftables)\n";
  out += renderNftScript(rules);
  return out;
}

class GoldenTest : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(GoldenTest, MatchesGoldenFile) {
  const auto& c = GetParam();
  std::string path = std::string("tests/netfilter/golden/") + c.name + ".golden";
  std::string got = render(c);
  if (std::getenv("REMORA_UPDATE_GOLDEN") != nullptr) {
    std::ofstream(path) << got;
    GTEST_SKIP() << "updated " << path;
  }
  std::ifstream in(path);
  ASSERT_TRUE(in) << "missing " << path << " (run with REMORA_UPDATE_GOLDEN=1)";
  std::stringstream want;
  want << in.rdbuf();
  EXPECT_EQ(got, want.str()) << "rendering of " << c.name << " changed; see " << path;
}

INSTANTIATE_TEST_SUITE_P(Flags, GoldenTest, ::testing::ValuesIn(kCases),
                         [](const auto& param_info) {
                           std::string name = param_info.param.name;
                           for (auto& ch : name) {
                             if (ch == '-') ch = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace remora::netfilter

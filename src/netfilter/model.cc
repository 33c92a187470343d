#include "netfilter/model.h"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "core/assert.h"

namespace remora::netfilter {

std::string_view tableName(Table table) {
  switch (table) {
    case Table::Raw: return "raw";
    case Table::Mangle: return "mangle";
    case Table::Nat: return "nat";
  }
  return "nat";
}

bool isOwnedChain(std::string_view chain) {
  return std::find(std::begin(kOwnedChains), std::end(kOwnedChains), chain) !=
         std::end(kOwnedChains);
}

bool isBuiltinChain(std::string_view chain) {
  return chain == "PREROUTING" || chain == "INPUT" || chain == "FORWARD" || chain == "OUTPUT" ||
         chain == "POSTROUTING";
}

const Chain* Ruleset::find(Table table, std::string_view name) const {
  for (const auto& chain : chains) {
    if (chain.table == table && chain.name == name) return &chain;
  }
  return nullptr;
}

std::vector<Chain> Ruleset::forFamily(Family family) const {
  std::vector<Chain> out;
  auto referenced = [&](const Chain& target) {
    for (const auto& chain : chains) {
      if (chain.table != target.table) continue;
      for (const auto& rule : chain.rules) {
        if (rule.in(family) && rule.target.kind == TargetKind::Jump &&
            rule.target.chain == target.name) {
          return true;
        }
      }
    }
    return false;
  };
  for (const auto& chain : chains) {
    Chain filtered{chain.table, chain.name, {}};
    for (const auto& rule : chain.rules) {
      if (rule.in(family)) filtered.rules.push_back(rule);
    }
    if (!filtered.rules.empty() || (!isBuiltinChain(chain.name) && referenced(chain))) {
      out.push_back(std::move(filtered));
    }
  }
  return out;
}

namespace {

// Small constructors so the builder below reads like istio-iptables' run.go.
Match proto(std::string_view p) { return {MatchKind::Protocol, false, std::string(p)}; }
Match inIf(std::string_view name) { return {MatchKind::InInterface, false, std::string(name)}; }
Match outIf(std::string_view name) { return {MatchKind::OutInterface, false, std::string(name)}; }
Match src(const std::string& cidr) { return {MatchKind::Source, false, cidr}; }
Match dst(const std::string& cidr, bool negated = false) {
  return {MatchKind::Destination, negated, cidr};
}
Match dport(std::uint32_t port, bool negated = false) {
  return {MatchKind::DestPort, negated, std::to_string(port)};
}
Match dports(const std::string& list, bool negated) {
  return {MatchKind::DestPorts, negated, list};
}
Match sport(std::uint32_t port) { return {MatchKind::SourcePort, false, std::to_string(port)}; }
Match uidOwner(std::uint32_t id, bool negated = false) {
  return {MatchKind::UidOwner, negated, std::to_string(id)};
}
Match gidOwner(std::uint32_t id, bool negated = false) {
  return {MatchKind::GidOwner, negated, std::to_string(id)};
}
Match ctstate(std::string_view states) { return {MatchKind::CtState, false, std::string(states)}; }
Match mark(std::uint32_t m, bool negated = false) {
  return {MatchKind::Mark, negated, std::to_string(m)};
}
Match connmark(std::uint32_t m) { return {MatchKind::Connmark, false, std::to_string(m)}; }

Target jump(std::string_view chain) { return {TargetKind::Jump, std::string(chain), 0, 0}; }
Target ret() { return {TargetKind::Return, {}, 0, 0}; }
Target accept() { return {TargetKind::Accept, {}, 0, 0}; }
Target drop() { return {TargetKind::Drop, {}, 0, 0}; }
Target redirect(std::uint32_t port) { return {TargetKind::Redirect, {}, port, 0}; }
Target tproxy(std::uint32_t port, std::uint32_t m) { return {TargetKind::Tproxy, {}, port, m}; }
Target setMark(std::uint32_t m) { return {TargetKind::SetMark, {}, m, 0}; }
Target connmarkSave() { return {TargetKind::ConnmarkSave, {}, 0, 0}; }
Target connmarkRestore() { return {TargetKind::ConnmarkRestore, {}, 0, 0}; }
Target ctZone(std::uint32_t zone) { return {TargetKind::CtZone, {}, zone, 0}; }

constexpr std::string_view kPrerouting = "PREROUTING";
constexpr std::string_view kOutput = "OUTPUT";
constexpr std::string_view kInbound = "ISTIO_INBOUND";
constexpr std::string_view kRedirect = "ISTIO_REDIRECT";
constexpr std::string_view kInRedirect = "ISTIO_IN_REDIRECT";
constexpr std::string_view kOutputChain = "ISTIO_OUTPUT";
constexpr std::string_view kOutputDns = "ISTIO_OUTPUT_DNS";
constexpr std::string_view kDivert = "ISTIO_DIVERT";
constexpr std::string_view kTproxy = "ISTIO_TPROXY";
constexpr std::string_view kDrop = "ISTIO_DROP";

// Collects rules the way istio-iptables' IptablesRuleBuilder does: append
// and insert per family; rules for IPv6 are dropped unless IPv6 is on.
class Builder {
 public:
  explicit Builder(bool ipv6) { set_.ipv6 = ipv6; }

  void append(Table table, std::string_view chain, std::vector<Match> m, Target t,
              std::uint8_t families = kBoth) {
    families = mask(families);
    if (families == 0) return;
    chainFor(table, chain).rules.push_back(Rule{families, std::move(m), std::move(t)});
  }
  void appendV4(Table table, std::string_view chain, std::vector<Match> m, Target t) {
    append(table, chain, std::move(m), std::move(t), kV4);
  }
  void appendV6(Table table, std::string_view chain, std::vector<Match> m, Target t) {
    append(table, chain, std::move(m), std::move(t), kV6);
  }

  // A rule holding an address: one copy per family with that family's value
  // (istio-iptables' AppendVersionedRule).
  template <typename Make>
  void appendVersioned(Table table, std::string_view chain, const std::string& v4,
                       const std::string& v6, Make make) {
    auto [m4, t4] = make(v4);
    appendV4(table, chain, std::move(m4), std::move(t4));
    auto [m6, t6] = make(v6);
    appendV6(table, chain, std::move(m6), std::move(t6));
  }

  // Inserts at 1-based `position` of the chain as each family sees it now,
  // like `iptables -I chain position` run at this point of the restore.
  void insert(Table table, std::string_view chain, std::size_t position, std::vector<Match> m,
              Target t, std::uint8_t families = kBoth) {
    families = mask(families);
    if (families == 0) return;
    auto& rules = chainFor(table, chain).rules;
    auto index = [&](std::uint8_t family) {
      std::size_t seen = 0;
      for (std::size_t i = 0; i < rules.size(); ++i) {
        if ((rules[i].families & family) == 0) continue;
        if (++seen == position) return i;
      }
      return rules.size();
    };
    if (families == kBoth && index(kV4) != index(kV6)) {
      insert(table, chain, position, m, t, kV4);
      insert(table, chain, position, std::move(m), std::move(t), kV6);
      return;
    }
    auto at = index(families == kV6 ? kV6 : kV4);
    rules.insert(rules.begin() + static_cast<std::ptrdiff_t>(at),
                 Rule{families, std::move(m), std::move(t)});
  }

  Ruleset take() { return std::move(set_); }
  Ruleset& set() { return set_; }

 private:
  std::uint8_t mask(std::uint8_t families) const {
    return set_.ipv6 ? families : static_cast<std::uint8_t>(families & kV4);
  }

  Chain& chainFor(Table table, std::string_view name) {
    for (auto& chain : set_.chains) {
      if (chain.table == table && chain.name == name) return chain;
    }
    set_.chains.push_back(Chain{table, std::string(name), {}});
    return set_.chains.back();
  }

  Ruleset set_;
};

using MatchesAndTarget = std::pair<std::vector<Match>, Target>;

void inboundRules(Builder& b, const CaptureConfig& c, const std::string& loopback4) {
  if (c.inbound_ports.empty()) return;
  bool tp = c.mode == InterceptionMode::Tproxy;
  Table table = Table::Nat;
  if (tp) {
    // Marked packets are routed to lo (policy routing), where TPROXY hands
    // them to the proxy's transparent listener.
    b.append(Table::Mangle, kDivert, {}, setMark(c.tproxy_mark));
    b.append(Table::Mangle, kDivert, {}, accept());
    b.appendVersioned(Table::Mangle, kTproxy, loopback4, "::1/128", [&](const std::string& lo) {
      return MatchesAndTarget{{dst(lo, true), proto("tcp")},
                              tproxy(c.inbound_capture_port, c.tproxy_mark)};
    });
    table = Table::Mangle;
  }
  b.append(table, kPrerouting, {proto("tcp")}, jump(kInbound));
  if (c.inbound_ports.wildcard) {
    for (auto port : c.inbound_ports_exclude.ports) {
      b.append(table, kInbound, {proto("tcp"), dport(port)}, ret());
    }
    if (tp) {
      b.append(Table::Mangle, kInbound, {proto("tcp"), ctstate("RELATED,ESTABLISHED")},
               jump(kDivert));
      b.append(Table::Mangle, kInbound, {proto("tcp")}, jump(kTproxy));
    } else {
      b.append(Table::Nat, kInbound, {proto("tcp")}, jump(kInRedirect));
    }
    return;
  }
  for (auto port : c.inbound_ports.ports) {
    if (tp) {
      b.append(Table::Mangle, kInbound, {proto("tcp"), dport(port), ctstate("RELATED,ESTABLISHED")},
               jump(kDivert));
      b.append(Table::Mangle, kInbound, {proto("tcp"), dport(port)}, jump(kTproxy));
    } else {
      b.append(Table::Nat, kInbound, {proto("tcp"), dport(port)}, jump(kInRedirect));
    }
  }
}

// The proxy's own traffic: an app calling itself through a VIP comes back
// through the proxy (uid => ISTIO_IN_REDIRECT); other loopback traffic of the
// app is left alone; everything else the proxy sends is never captured.
template <typename OwnerMatch>
void ownerRules(Builder& b, const CaptureConfig& c, const std::string& loopback4, std::uint32_t id,
                OwnerMatch owner, bool dns_multiport, bool redirect_dns) {
  b.appendVersioned(Table::Nat, kOutputChain, loopback4, "::1/128", [&](const std::string& lo) {
    std::vector<Match> m{outIf("lo"), dst(lo, true), proto("tcp")};
    if (dns_multiport) {
      m.push_back(dports(fmt::format("53,{}", c.inbound_tunnel_port), true));
    } else {
      m.push_back(dport(c.inbound_tunnel_port, true));
    }
    m.push_back(owner(id, false));
    return MatchesAndTarget{std::move(m), jump(kInRedirect)};
  });
  if (!c.outbound_cidrs.hasLoopback()) {
    if (redirect_dns) {
      b.append(Table::Nat, kOutputChain,
               {outIf("lo"), proto("tcp"), dport(53, true), owner(id, true)}, ret());
    } else {
      b.append(Table::Nat, kOutputChain, {outIf("lo"), owner(id, true)}, ret());
    }
  }
  b.append(Table::Nat, kOutputChain, {owner(id, false)}, ret());
}

void dnsRules(Builder& b, const CaptureConfig& c) {
  std::vector<Cidr> v4, v6;
  for (const auto& s : c.dns_servers) (s.family == Family::V4 ? v4 : v6).push_back(s);
  auto host = [](const Cidr& s) { return s.str(); };
  b.append(Table::Raw, kOutput, {}, jump(kOutputDns));
  if (c.capture_all_dns || !v4.empty()) b.appendV4(Table::Nat, kOutputChain, {}, jump(kOutputDns));
  if (c.capture_all_dns || !v6.empty()) b.appendV6(Table::Nat, kOutputChain, {}, jump(kOutputDns));
  for (std::string_view protocol : {"tcp", "udp"}) {
    if (c.capture_all_dns) {
      b.append(Table::Nat, kOutputDns, {proto(protocol), dport(53)}, redirect(kAgentDnsPort));
      continue;
    }
    for (const auto& s : v4) {
      b.appendV4(Table::Nat, kOutputDns, {proto(protocol), dport(53), dst(host(s))},
                 redirect(kAgentDnsPort));
    }
    for (const auto& s : v6) {
      b.appendV6(Table::Nat, kOutputDns, {proto(protocol), dport(53), dst(host(s))},
                 redirect(kAgentDnsPort));
    }
  }
  // Separate conntrack zones for proxy<->resolver and app<->proxy UDP, so the
  // two legs of one DNS exchange never collide in conntrack.
  for (auto uid : c.proxy_uids) {
    b.append(Table::Raw, kOutputDns, {proto("udp"), dport(53), uidOwner(uid)}, ctZone(1));
    b.append(Table::Raw, kOutputDns, {proto("udp"), sport(kAgentDnsPort), uidOwner(uid)},
             ctZone(2));
  }
  for (auto gid : c.proxy_gids) {
    b.append(Table::Raw, kOutputDns, {proto("udp"), dport(53), gidOwner(gid)}, ctZone(1));
    b.append(Table::Raw, kOutputDns, {proto("udp"), sport(kAgentDnsPort), gidOwner(gid)},
             ctZone(2));
  }
  if (c.capture_all_dns) {
    b.append(Table::Raw, kPrerouting, {}, jump(kInbound));
    b.append(Table::Raw, kOutputDns, {proto("udp"), dport(53)}, ctZone(2));
    b.append(Table::Raw, kInbound, {proto("udp"), sport(53)}, ctZone(1));
    return;
  }
  if (!v4.empty()) b.appendV4(Table::Raw, kPrerouting, {}, jump(kInbound));
  for (const auto& s : v4) {
    b.appendV4(Table::Raw, kOutputDns, {proto("udp"), dport(53), dst(host(s))}, ctZone(2));
    b.appendV4(Table::Raw, kInbound, {proto("udp"), sport(53), src(host(s))}, ctZone(1));
  }
  if (!v6.empty()) b.appendV6(Table::Raw, kPrerouting, {}, jump(kInbound));
  for (const auto& s : v6) {
    b.appendV6(Table::Raw, kOutputDns, {proto("udp"), dport(53), dst(host(s))}, ctZone(2));
    b.appendV6(Table::Raw, kInbound, {proto("udp"), sport(53), src(host(s))}, ctZone(1));
  }
}

void outboundIncludeRules(Builder& b, const CaptureConfig& c, Family family) {
  auto fam = family == Family::V4 ? kV4 : kV6;
  if (c.outbound_cidrs.wildcard) {
    b.append(Table::Nat, kOutputChain, {}, jump(kRedirect), fam);
    for (const auto& iface : c.kube_virt_interfaces) {
      b.insert(Table::Nat, kPrerouting, 1, {inIf(iface)}, jump(kRedirect), fam);
    }
    return;
  }
  for (const auto& cidr : c.outbound_cidrs.of(family)) {
    for (const auto& iface : c.kube_virt_interfaces) {
      b.insert(Table::Nat, kPrerouting, 1, {inIf(iface), dst(cidr.str())}, jump(kRedirect), fam);
    }
    b.append(Table::Nat, kOutputChain, {dst(cidr.str())}, jump(kRedirect), fam);
  }
}

void tproxyTail(Builder& b, const CaptureConfig& c, const std::string& loopback4) {
  // Keep the mark of connections TPROXY accepted, so replies route back via lo.
  b.append(Table::Mangle, kPrerouting, {proto("tcp"), mark(c.tproxy_mark)}, connmarkSave());
  b.append(Table::Mangle, kOutput, {proto("tcp"), outIf("lo"), mark(c.tproxy_mark)}, ret());
  auto markProxyLoopback = [&](auto owner, std::uint32_t id) {
    b.appendVersioned(Table::Mangle, kOutput, loopback4, "::1/128", [&](const std::string& lo) {
      return MatchesAndTarget{{dst(lo, true), proto("tcp"), outIf("lo"), owner(id, false)},
                              setMark(kOutboundMark)};
    });
  };
  for (auto uid : c.proxy_uids) markProxyLoopback(uidOwner, uid);
  for (auto gid : c.proxy_gids) markProxyLoopback(gidOwner, gid);
  b.append(Table::Mangle, kOutput, {proto("tcp"), connmark(c.tproxy_mark)}, connmarkRestore());
  b.insert(Table::Mangle, kInbound, 1, {proto("tcp"), mark(c.tproxy_mark)}, ret());
  b.insert(Table::Mangle, kInbound, 2, {proto("tcp"), src("127.0.0.6/32"), inIf("lo")}, ret(), kV4);
  b.insert(Table::Mangle, kInbound, 2, {proto("tcp"), src("::6/128"), inIf("lo")}, ret(), kV6);
  b.insert(Table::Mangle, kInbound, 3, {proto("tcp"), inIf("lo"), mark(kOutboundMark, true)},
           ret());
}

}  // namespace

Ruleset buildRuleset(const CaptureConfig& c) {
  REMORA_ASSERT(c.validate().has_value());
  Builder b(c.ipv6);
  const std::string loopback4 = c.host_ipv4_loopback.str();
  const bool tp = c.mode == InterceptionMode::Tproxy;
  // istio-iptables turns DNS capture off when there is nothing to capture.
  const bool redirect_dns = c.redirect_dns && (c.capture_all_dns || !c.dns_servers.empty());

  for (const auto& iface : c.exclude_interfaces) {
    b.append(Table::Nat, kPrerouting, {inIf(iface)}, ret());
    b.append(Table::Nat, kOutput, {outIf(iface)}, ret());
  }
  if (tp) {
    for (const auto& iface : c.exclude_interfaces) {
      b.append(Table::Mangle, kPrerouting, {inIf(iface)}, ret());
      b.append(Table::Mangle, kOutput, {outIf(iface)}, ret());
    }
  }
  for (const auto& iface : c.kube_virt_interfaces) {
    b.insert(Table::Nat, kPrerouting, 1, {inIf(iface)}, ret());
  }
  if (c.drop_invalid) {
    b.append(Table::Mangle, kPrerouting, {ctstate("INVALID")}, jump(kDrop));
    b.append(Table::Mangle, kDrop, {}, drop());
  }

  b.append(Table::Nat, kInbound, {proto("tcp"), dport(c.inbound_tunnel_port)}, ret());
  b.append(Table::Nat, kRedirect, {proto("tcp")}, redirect(c.proxy_port));
  b.append(Table::Nat, kInRedirect, {proto("tcp")}, redirect(c.inbound_capture_port));

  inboundRules(b, c, loopback4);

  b.append(Table::Nat, kOutput, {}, jump(kOutputChain));
  for (auto port : c.outbound_ports_exclude.ports) {
    b.append(Table::Nat, kOutputChain, {proto("tcp"), dport(port)}, ret());
    b.append(Table::Nat, kOutputChain, {proto("udp"), dport(port)}, ret());
  }
  // 127.0.0.6 (::6): the source the proxy binds for inbound passthrough.
  b.appendVersioned(Table::Nat, kOutputChain, "127.0.0.6/32", "::6/128", [](const std::string& s) {
    return MatchesAndTarget{{outIf("lo"), src(s)}, ret()};
  });
  for (auto uid : c.proxy_uids) {
    ownerRules(b, c, loopback4, uid, uidOwner, redirect_dns, redirect_dns);
  }
  for (auto gid : c.proxy_gids) {
    ownerRules(b, c, loopback4, gid, gidOwner, false, redirect_dns);
  }
  if (redirect_dns) dnsRules(b, c);

  // Envoy-aware apps and container-to-container traffic use localhost.
  b.appendVersioned(Table::Nat, kOutputChain, loopback4, "::1/128", [](const std::string& lo) {
    return MatchesAndTarget{{dst(lo)}, ret()};
  });
  for (const auto& cidr : c.outbound_cidrs_exclude.of(Family::V4)) {
    b.appendV4(Table::Nat, kOutputChain, {dst(cidr.str())}, ret());
  }
  for (const auto& cidr : c.outbound_cidrs_exclude.of(Family::V6)) {
    b.appendV6(Table::Nat, kOutputChain, {dst(cidr.str())}, ret());
  }
  for (auto port : c.outbound_ports.ports) {
    b.append(Table::Nat, kOutputChain, {proto("tcp"), dport(port)}, jump(kRedirect));
  }
  outboundIncludeRules(b, c, Family::V4);
  outboundIncludeRules(b, c, Family::V6);

  if (tp) tproxyTail(b, c, loopback4);

  auto& set = b.set();
  set.tproxy_routes = tp;
  set.tproxy_mark = c.tproxy_mark;
  set.tproxy_route_table = c.tproxy_route_table;
  return b.take();
}

}  // namespace remora::netfilter

#include "netfilter/nft_render.h"

#include <algorithm>
#include <vector>

#include <fmt/format.h>

namespace remora::netfilter {
namespace {

// Where each of iptables' built-in chains hooks in, at iptables' priorities.
std::string_view baseChainSpec(Table table, std::string_view chain) {
  bool pre = chain == "PREROUTING";
  switch (table) {
    case Table::Nat:
      return pre ? "type nat hook prerouting priority -100; policy accept;"
                 : "type nat hook output priority -100; policy accept;";
    case Table::Mangle:
      // `route`, as iptables' mangle OUTPUT: a changed mark re-routes the packet.
      return pre ? "type filter hook prerouting priority -150; policy accept;"
                 : "type route hook output priority -150; policy accept;";
    case Table::Raw:
      return pre ? "type filter hook prerouting priority -300; policy accept;"
                 : "type filter hook output priority -300; policy accept;";
  }
  return "";
}

std::string nftInterface(std::string_view name) {
  std::string out(name);
  if (!out.empty() && out.back() == '+') out.back() = '*';  // iptables' prefix wildcard
  return fmt::format("\"{}\"", out);
}

bool hasAddress(const Rule& rule) {
  return std::any_of(rule.matches.begin(), rule.matches.end(), [](const Match& m) {
    return m.kind == MatchKind::Source || m.kind == MatchKind::Destination;
  });
}

// Matches in nft's usual reading order; `family` qualifies addresses.
std::string renderRule(const Rule& rule, Family family, bool inet) {
  std::vector<std::string> parts;
  std::string l4 = "th";
  for (const auto& m : rule.matches) {
    if (m.kind == MatchKind::Protocol) l4 = m.value;
  }
  auto op = [](const Match& m) { return m.negated ? "!= " : ""; };
  auto ipkw = family == Family::V4 ? "ip" : "ip6";
  if (inet && rule.families != kBoth && !hasAddress(rule) &&
      rule.target.kind != TargetKind::Tproxy) {
    parts.push_back(family == Family::V4 ? "meta nfproto ipv4" : "meta nfproto ipv6");
  }
  static constexpr MatchKind kOrder[] = {
      MatchKind::InInterface, MatchKind::OutInterface, MatchKind::Protocol,  MatchKind::Source,
      MatchKind::Destination, MatchKind::DestPort,     MatchKind::DestPorts, MatchKind::SourcePort,
      MatchKind::UidOwner,    MatchKind::GidOwner,     MatchKind::CtState,   MatchKind::Mark,
      MatchKind::Connmark,
  };
  for (MatchKind kind : kOrder) {
    for (const auto& m : rule.matches) {
      if (m.kind != kind) continue;
      switch (kind) {
        case MatchKind::InInterface:
          parts.push_back(fmt::format("iifname {}{}", op(m), nftInterface(m.value)));
          break;
        case MatchKind::OutInterface:
          parts.push_back(fmt::format("oifname {}{}", op(m), nftInterface(m.value)));
          break;
        case MatchKind::Protocol:
          parts.push_back(fmt::format("meta l4proto {}{}", op(m), m.value));
          break;
        case MatchKind::Source:
          parts.push_back(fmt::format("{} saddr {}{}", ipkw, op(m), m.value));
          break;
        case MatchKind::Destination:
          parts.push_back(fmt::format("{} daddr {}{}", ipkw, op(m), m.value));
          break;
        case MatchKind::DestPort:
          parts.push_back(fmt::format("{} dport {}{}", l4, op(m), m.value));
          break;
        case MatchKind::DestPorts: {
          std::string set = m.value;
          std::replace(set.begin(), set.end(), ',', ' ');
          std::vector<std::string> items;
          std::size_t start = 0;
          while (start < set.size()) {
            auto end = set.find(' ', start);
            if (end == std::string::npos) end = set.size();
            if (end > start) items.push_back(set.substr(start, end - start));
            start = end + 1;
          }
          parts.push_back(fmt::format("{} dport {}{{ {} }}", l4, op(m), fmt::join(items, ", ")));
          break;
        }
        case MatchKind::SourcePort:
          parts.push_back(fmt::format("{} sport {}{}", l4, op(m), m.value));
          break;
        case MatchKind::UidOwner:
          parts.push_back(fmt::format("meta skuid {}{}", op(m), m.value));
          break;
        case MatchKind::GidOwner:
          parts.push_back(fmt::format("meta skgid {}{}", op(m), m.value));
          break;
        case MatchKind::CtState: {
          std::string states = m.value;
          std::transform(states.begin(), states.end(), states.begin(),
                         [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
          parts.push_back(fmt::format("ct state {}{}", op(m), states));
          break;
        }
        case MatchKind::Mark: parts.push_back(fmt::format("meta mark {}{}", op(m), m.value)); break;
        case MatchKind::Connmark:
          parts.push_back(fmt::format("ct mark {}{}", op(m), m.value));
          break;
      }
    }
  }
  const auto& t = rule.target;
  switch (t.kind) {
    case TargetKind::Jump: parts.push_back(fmt::format("jump {}", nftChainName(t.chain))); break;
    case TargetKind::Return: parts.emplace_back("return"); break;
    case TargetKind::Accept: parts.emplace_back("accept"); break;
    case TargetKind::Drop: parts.emplace_back("drop"); break;
    case TargetKind::Redirect: parts.push_back(fmt::format("redirect to :{}", t.number)); break;
    case TargetKind::Tproxy:
      // iptables' TPROXY sets the mark and accepts in one target.
      if (inet) {
        parts.push_back(fmt::format("tproxy {} to :{}", ipkw, t.number));
      } else {
        parts.push_back(fmt::format("tproxy to :{}", t.number));
      }
      parts.push_back(fmt::format("meta mark set {} accept", t.mark));
      break;
    case TargetKind::SetMark: parts.push_back(fmt::format("meta mark set {}", t.number)); break;
    case TargetKind::ConnmarkSave: parts.emplace_back("ct mark set meta mark"); break;
    case TargetKind::ConnmarkRestore: parts.emplace_back("meta mark set ct mark"); break;
    case TargetKind::CtZone: parts.push_back(fmt::format("ct zone set {}", t.number)); break;
  }
  return fmt::format("{}", fmt::join(parts, " "));
}

}  // namespace

std::string_view nftTableName(Table table) {
  switch (table) {
    case Table::Nat: return kNftTables[0];
    case Table::Mangle: return kNftTables[1];
    case Table::Raw: return kNftTables[2];
  }
  return kNftTables[0];
}

std::string nftChainName(std::string_view chain) {
  std::string out(chain);
  for (auto& c : out) {
    c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string renderNftCleanup() {
  std::string out;
  for (auto table : kNftTables) {
    for (std::string_view family : {"ip", "ip6", "inet"}) {
      // Declaring first makes the delete valid whether or not the table exists.
      out += fmt::format("table {} {}\ndelete table {} {}\n", family, table, family, table);
    }
  }
  return out;
}

std::string renderNftScript(const Ruleset& rules) {
  std::string out = renderNftCleanup();
  const bool inet = rules.ipv6;
  const std::string_view family = inet ? "inet" : "ip";
  for (Table table : {Table::Nat, Table::Mangle, Table::Raw}) {
    std::vector<const Chain*> chains;
    for (const auto& chain : rules.chains) {
      if (chain.table == table) chains.push_back(&chain);
    }
    if (chains.empty()) continue;
    auto tname = nftTableName(table);
    out += fmt::format("add table {} {}\n", family, tname);
    for (const auto* chain : chains) {
      if (isBuiltinChain(chain->name)) {
        out += fmt::format("add chain {} {} {} {{ {} }}\n", family, tname,
                           nftChainName(chain->name), baseChainSpec(table, chain->name));
      } else {
        out += fmt::format("add chain {} {} {}\n", family, tname, nftChainName(chain->name));
      }
    }
    for (const auto* chain : chains) {
      const auto& r = chain->rules;
      for (std::size_t i = 0; i < r.size(); ++i) {
        Rule rule = r[i];
        // istio-iptables writes a family-free rule once per family (e.g. the
        // wildcard jump to ISTIO_REDIRECT); an inet table needs it once.
        if (inet && i + 1 < r.size() && rule.families == kV4 && r[i + 1].families == kV6 &&
            rule.matches == r[i + 1].matches && rule.target == r[i + 1].target &&
            !hasAddress(rule) && rule.target.kind != TargetKind::Tproxy) {
          rule.families = kBoth;
          ++i;
        }
        if (rule.families == kBoth || rule.in(Family::V4)) {
          out += fmt::format("add rule {} {} {} {}\n", family, tname, nftChainName(chain->name),
                             renderRule(rule, Family::V4, inet));
        } else {
          out += fmt::format("add rule {} {} {} {}\n", family, tname, nftChainName(chain->name),
                             renderRule(rule, Family::V6, inet));
        }
      }
    }
  }
  return out;
}

}  // namespace remora::netfilter

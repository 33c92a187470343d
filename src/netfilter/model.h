// The rule model: one description of the redirection rules, built from a
// CaptureConfig the way istio-iptables builds them (tools/istio-iptables/pkg/
// capture/run.go), then rendered per backend (iptables_render.h for
// iptables-restore, nft_render.h for native nftables).
//
// A Ruleset holds, per address family, the rules of each (table, chain) in
// their final order. Matches keep the order istio-iptables writes them in,
// so the iptables rendering reads like Istio's golden files; the nftables
// renderer reorders them into nft's idiom.
//
// Chains we own are the ISTIO_* chains of kOwnedChains; everything else is a
// built-in chain (PREROUTING, OUTPUT) where we only add rules. The appliers
// rely on that split to remove exactly what we made.
//
// Threading: plain values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "netfilter/config.h"

namespace remora::netfilter {

enum class Table : std::uint8_t { Raw, Mangle, Nat };

std::string_view tableName(Table table);  // "raw", "mangle", "nat"

inline constexpr Table kAllTables[] = {Table::Raw, Table::Mangle, Table::Nat};

// Chain names istio-iptables uses; a chain with one of these names in raw,
// mangle or nat is ours (also when an earlier istio-iptables made it).
inline constexpr std::string_view kOwnedChains[] = {
    "ISTIO_INBOUND",    "ISTIO_REDIRECT", "ISTIO_IN_REDIRECT", "ISTIO_OUTPUT",
    "ISTIO_OUTPUT_DNS", "ISTIO_DIVERT",   "ISTIO_TPROXY",      "ISTIO_DROP",
};
bool isOwnedChain(std::string_view chain);
bool isBuiltinChain(std::string_view chain);

enum class MatchKind : std::uint8_t {
  Protocol,      // value "tcp" | "udp"
  InInterface,   // -i
  OutInterface,  // -o
  Source,        // -s CIDR
  Destination,   // -d CIDR
  DestPort,      // --dport N (needs a Protocol match before it)
  DestPorts,     // -m multiport --dports a,b
  SourcePort,    // --sport N
  UidOwner,      // -m owner --uid-owner N
  GidOwner,      // -m owner --gid-owner N
  CtState,       // -m conntrack --ctstate A,B
  Mark,          // -m mark --mark N
  Connmark,      // -m connmark --mark N
};

struct Match {
  MatchKind kind;
  bool negated = false;
  std::string value;
  friend bool operator==(const Match&, const Match&) = default;
};

enum class TargetKind : std::uint8_t {
  Jump,             // -j <our chain>
  Return,           // -j RETURN
  Accept,           // -j ACCEPT
  Drop,             // -j DROP
  Redirect,         // -j REDIRECT --to-ports <port>
  Tproxy,           // -j TPROXY --tproxy-mark <mark>/0xffffffff --on-port <port>
  SetMark,          // -j MARK --set-mark <mark>
  ConnmarkSave,     // -j CONNMARK --save-mark
  ConnmarkRestore,  // -j CONNMARK --restore-mark
  CtZone,           // -j CT --zone <number>
};

struct Target {
  TargetKind kind = TargetKind::Return;
  std::string chain;       // Jump
  std::uint32_t number{};  // port (Redirect, Tproxy), mark (SetMark), zone (CtZone)
  std::uint32_t mark{};    // Tproxy
  friend bool operator==(const Target&, const Target&) = default;
};

// Which address families a rule belongs to. istio-iptables appends most rules
// to both iptables and ip6tables; a rule naming an address exists per family.
enum FamilyMask : std::uint8_t { kV4 = 1, kV6 = 2, kBoth = 3 };

struct Rule {
  std::uint8_t families = kBoth;
  std::vector<Match> matches;
  Target target;
  bool in(Family family) const { return (families & (family == Family::V4 ? kV4 : kV6)) != 0; }
  friend bool operator==(const Rule&, const Rule&) = default;
};

struct Chain {
  Table table = Table::Nat;
  std::string name;
  std::vector<Rule> rules;
};

// The whole capture. `chains` is in order of first use (the order
// istio-iptables creates them in); a chain's rules are in their final order,
// inserts already resolved.
struct Ruleset {
  bool ipv6 = false;  // IPv6 rules are rendered (otherwise kV6 rules are absent)
  std::vector<Chain> chains;
  // TPROXY needs policy routing: fwmark `tproxy_mark` looks up
  // `tproxy_route_table`, which delivers everything locally through lo.
  bool tproxy_routes = false;
  std::uint32_t tproxy_mark = 0;
  std::uint32_t tproxy_route_table = 0;

  const Chain* find(Table table, std::string_view name) const;
  // The chains and rules one family sees: rules filtered by family; an owned
  // chain is listed when it has a rule for the family or a rule jumps to it.
  std::vector<Chain> forFamily(Family family) const;
};

// Builds the rules istio-iptables would build for `config` (which must have
// passed validate()).
Ruleset buildRuleset(const CaptureConfig& config);

}  // namespace remora::netfilter

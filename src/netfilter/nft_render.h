// Native nftables rendering of the rule model (`remora init --native-nftables`),
// one `nft -f` script applied as one kernel transaction.
//
// Names follow Istio's own nftables backend (tools/istio-nftables): one table
// per iptables table, `istio-proxy-nat`, `istio-proxy-mangle` and
// `istio-proxy-raw`, with the chains lower-cased (ISTIO_IN_REDIRECT becomes
// istio-in-redirect, the built-in PREROUTING becomes a base chain
// `prerouting` hooked at the iptables priority). The tables are `inet` when
// IPv6 is on and `ip` otherwise, so an IPv4-only config never captures IPv6.
//
// The script first declares and deletes every table of ours in every family
// (declaring makes the delete valid whether or not the table exists), then
// adds the new ones: in one transaction, so running it twice leaves one copy
// and a failure leaves the previous state. The cleanup script is the same
// without the additions.
//
// Threading: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "netfilter/model.h"

namespace remora::netfilter {

inline constexpr std::string_view kNftTables[] = {"istio-proxy-nat", "istio-proxy-mangle",
                                                  "istio-proxy-raw"};

// "istio-proxy-nat" for Table::Nat, ...
std::string_view nftTableName(Table table);
// "prerouting" for PREROUTING, "istio-in-redirect" for ISTIO_IN_REDIRECT.
std::string nftChainName(std::string_view chain);

// The whole `nft -f` script that replaces our tables with `rules`.
std::string renderNftScript(const Ruleset& rules);
// The `nft -f` script that removes every table of ours.
std::string renderNftCleanup();

}  // namespace remora::netfilter

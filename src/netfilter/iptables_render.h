// iptables-restore rendering of the rule model, and the parser of
// iptables-save output it needs to replace or remove what an earlier run made.
//
// One restore input per family carries the whole change (used with
// `iptables-restore --noflush`, nft or legacy flavour alike):
//
//   *nat
//   :ISTIO_INBOUND - [0:0]        create the chain, or flush it if it exists
//   -D PREROUTING -p tcp -m comment --comment remora-init -j ISTIO_INBOUND
//                                 an earlier run's rule in a built-in chain
//   -A ISTIO_INBOUND -p tcp --dport 15008 -j RETURN
//   -A PREROUTING -p tcp -m comment --comment remora-init -j ISTIO_INBOUND
//   -X ISTIO_TPROXY               an owned chain the new config no longer uses
//   COMMIT
//
// So running twice leaves one copy of each rule, and a run with no rules
// (cleanup) removes every rule and chain we made. What is "ours": the
// ISTIO_* chains of kOwnedChains (whoever made them), and in built-in chains
// the rules that carry our comment tag or jump to an owned chain. Rules of
// other owners are never touched.
//
// Threading: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "netfilter/model.h"

namespace remora::netfilter {

// The comment on every rule we add to a built-in chain (PREROUTING, OUTPUT),
// which is how a later run or --cleanup-only finds them.
inline constexpr std::string_view kRuleTag = "remora-init";

// A rule's arguments after "-A <chain> ", e.g. "-p tcp --dport 15008 -j RETURN".
// `tagged` adds "-m comment --comment remora-init" before the target.
std::string renderIptablesRule(const Rule& rule, bool tagged);

// iptables-save output, as far as we need it.
struct SavedRule {
  std::string chain;
  std::string spec;  // everything after "-A <chain> ", as saved
};
struct SavedChain {
  std::string name;
  std::string policy;  // "ACCEPT", "DROP" for built-in chains, "-" for user chains
};
struct SavedTable {
  std::string name;
  std::vector<SavedChain> chains;  // every chain declared with ':'
  std::vector<SavedRule> rules;
};
struct SavedState {
  std::vector<SavedTable> tables;
  const SavedTable* find(std::string_view table) const;
  // True when any table holds at least one rule (Istio's test for "this
  // backend is in use").
  bool hasRules() const;
};

// Parses iptables-save (or ip6tables-save) output. Lines other than
// comments, "*table", ":chain", "-A chain ..." and "COMMIT" are a ParseError
// naming the line, so an unexpected format stops us before we change anything.
Result<SavedState> parseIptablesSave(std::string_view text);

// True when a saved rule in a built-in chain is ours (tagged, or a jump to an
// owned chain).
bool isOurBuiltinRule(const SavedRule& rule);

// The restore input that turns `current` into `chains` (one family's view
// of the Ruleset, see Ruleset::forFamily) for our chains and rules, leaving
// everything else as it is. With `chains` empty it removes everything of ours.
// Empty when there is nothing to do.
std::string renderIptablesRestore(const std::vector<Chain>& chains, const SavedState& current);

// The restore input (for a restore *without* --noflush) that puts back the
// tables `touched` as `snapshot` had them: the rollback after a failed apply.
// A table absent from the snapshot is restored empty.
std::string renderIptablesRollback(const SavedState& snapshot, const std::vector<Table>& touched);

// Tables a restore input changes, in the order it names them.
std::vector<Table> tablesIn(std::string_view restore_input);

}  // namespace remora::netfilter

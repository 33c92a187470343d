#include "netfilter/iptables_render.h"

#include <algorithm>

#include <fmt/format.h>

namespace remora::netfilter {
namespace {

void renderMatch(std::string& out, const Match& m) {
  auto neg = m.negated ? "! " : "";
  switch (m.kind) {
    case MatchKind::Protocol: out += fmt::format(" {}-p {}", neg, m.value); break;
    case MatchKind::InInterface: out += fmt::format(" {}-i {}", neg, m.value); break;
    case MatchKind::OutInterface: out += fmt::format(" {}-o {}", neg, m.value); break;
    case MatchKind::Source: out += fmt::format(" {}-s {}", neg, m.value); break;
    case MatchKind::Destination: out += fmt::format(" {}-d {}", neg, m.value); break;
    case MatchKind::DestPort: out += fmt::format(" {}--dport {}", neg, m.value); break;
    case MatchKind::DestPorts:
      out += fmt::format(" -m multiport {}--dports {}", neg, m.value);
      break;
    case MatchKind::SourcePort: out += fmt::format(" {}--sport {}", neg, m.value); break;
    case MatchKind::UidOwner: out += fmt::format(" -m owner {}--uid-owner {}", neg, m.value); break;
    case MatchKind::GidOwner: out += fmt::format(" -m owner {}--gid-owner {}", neg, m.value); break;
    case MatchKind::CtState:
      out += fmt::format(" -m conntrack {}--ctstate {}", neg, m.value);
      break;
    case MatchKind::Mark: out += fmt::format(" -m mark {}--mark {}", neg, m.value); break;
    case MatchKind::Connmark: out += fmt::format(" -m connmark {}--mark {}", neg, m.value); break;
  }
}

void renderTarget(std::string& out, const Target& t) {
  switch (t.kind) {
    case TargetKind::Jump: out += fmt::format(" -j {}", t.chain); break;
    case TargetKind::Return: out += " -j RETURN"; break;
    case TargetKind::Accept: out += " -j ACCEPT"; break;
    case TargetKind::Drop: out += " -j DROP"; break;
    case TargetKind::Redirect: out += fmt::format(" -j REDIRECT --to-ports {}", t.number); break;
    case TargetKind::Tproxy:
      out += fmt::format(" -j TPROXY --tproxy-mark {}/0xffffffff --on-port {}", t.mark, t.number);
      break;
    case TargetKind::SetMark: out += fmt::format(" -j MARK --set-mark {}", t.number); break;
    case TargetKind::ConnmarkSave: out += " -j CONNMARK --save-mark"; break;
    case TargetKind::ConnmarkRestore: out += " -j CONNMARK --restore-mark"; break;
    case TargetKind::CtZone: out += fmt::format(" -j CT --zone {}", t.number); break;
  }
}

// Splits a saved rule into words, keeping "quoted strings" whole (without
// their quotes), as iptables-save writes comments with blanks.
std::vector<std::string> words(std::string_view spec) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < spec.size()) {
    while (i < spec.size() && spec[i] == ' ') ++i;
    if (i >= spec.size()) break;
    std::string word;
    if (spec[i] == '"') {
      ++i;
      while (i < spec.size() && spec[i] != '"') {
        if (spec[i] == '\\' && i + 1 < spec.size()) ++i;
        word += spec[i++];
      }
      ++i;
    } else {
      while (i < spec.size() && spec[i] != ' ') word += spec[i++];
    }
    out.push_back(std::move(word));
  }
  return out;
}

std::string_view trimLine(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
  return line;
}

bool knownTable(std::string_view name) {
  return std::any_of(std::begin(kAllTables), std::end(kAllTables),
                     [&](Table t) { return tableName(t) == name; });
}

}  // namespace

std::string renderIptablesRule(const Rule& rule, bool tagged) {
  std::string out;
  for (const auto& m : rule.matches) renderMatch(out, m);
  if (tagged) out += fmt::format(" -m comment --comment {}", kRuleTag);
  renderTarget(out, rule.target);
  return out.substr(1);
}

const SavedTable* SavedState::find(std::string_view table) const {
  for (const auto& t : tables) {
    if (t.name == table) return &t;
  }
  return nullptr;
}

bool SavedState::hasRules() const {
  return std::any_of(tables.begin(), tables.end(),
                     [](const SavedTable& t) { return !t.rules.empty(); });
}

Result<SavedState> parseIptablesSave(std::string_view text) {
  SavedState state;
  SavedTable* table = nullptr;
  std::size_t line_no = 0;
  while (!text.empty()) {
    auto nl = text.find('\n');
    auto line = trimLine(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    auto fail = [&](std::string_view why) {
      return Error{Errc::ParseError, fmt::format("iptables-save line {}: {}: \"{}\"", line_no, why,
                                                 line.substr(0, 120))};
    };
    if (line.empty() || line.front() == '#') continue;
    if (line.front() == '*') {
      if (table != nullptr) return fail("table without COMMIT");
      auto name = line.substr(1);
      if (name.empty() || name.find(' ') != std::string_view::npos) return fail("bad table");
      state.tables.push_back(SavedTable{std::string(name), {}, {}});
      table = &state.tables.back();
      continue;
    }
    if (table == nullptr) return fail("outside a table");
    if (line == "COMMIT") {
      table = nullptr;
      continue;
    }
    if (line.front() == ':') {
      auto end = line.find(' ');
      if (end == std::string_view::npos || end == 1) return fail("bad chain");
      auto chain = line.substr(1, end - 1);
      auto rest = line.substr(end + 1);
      auto policy = rest.substr(0, rest.find(' '));
      if (policy.empty()) return fail("bad chain policy");
      table->chains.push_back(SavedChain{std::string(chain), std::string(policy)});
      continue;
    }
    if (line.starts_with("-A ")) {
      auto rest = line.substr(3);
      auto end = rest.find(' ');
      if (end == 0 || end == std::string_view::npos) return fail("bad rule");
      table->rules.push_back(
          SavedRule{std::string(rest.substr(0, end)), std::string(rest.substr(end + 1))});
      continue;
    }
    return fail("unexpected line");
  }
  if (table != nullptr) return Error{Errc::ParseError, "iptables-save: last table has no COMMIT"};
  return state;
}

bool isOurBuiltinRule(const SavedRule& rule) {
  auto w = words(rule.spec);
  for (std::size_t i = 0; i + 1 < w.size(); ++i) {
    if ((w[i] == "-j" || w[i] == "-g") && isOwnedChain(w[i + 1])) return true;
    if (w[i] == "--comment" && w[i + 1] == kRuleTag) return true;
  }
  return false;
}

std::string renderIptablesRestore(const std::vector<Chain>& chains, const SavedState& current) {
  std::string out;
  // Alphabetical, as istio-iptables writes them.
  for (Table table : {Table::Mangle, Table::Nat, Table::Raw}) {
    auto name = tableName(table);
    const SavedTable* saved = current.find(name);
    std::vector<std::string> owned;  // chains we declare (create or flush)
    auto own = [&](const std::string& chain) {
      if (std::find(owned.begin(), owned.end(), chain) == owned.end()) owned.push_back(chain);
    };
    std::vector<std::string> wanted;
    for (const auto& chain : chains) {
      if (chain.table == table && !isBuiltinChain(chain.name)) {
        own(chain.name);
        wanted.push_back(chain.name);
      }
    }
    std::vector<std::string> obsolete;
    std::vector<const SavedRule*> stale;
    if (saved != nullptr) {
      for (const auto& chain : saved->chains) {
        if (!isOwnedChain(chain.name)) continue;
        own(chain.name);
        if (std::find(wanted.begin(), wanted.end(), chain.name) == wanted.end()) {
          obsolete.push_back(chain.name);
        }
      }
      for (const auto& rule : saved->rules) {
        if (isBuiltinChain(rule.chain) && isOurBuiltinRule(rule)) stale.push_back(&rule);
      }
    }
    bool adds = std::any_of(chains.begin(), chains.end(), [&](const Chain& c) {
      return c.table == table && (!c.rules.empty() || !isBuiltinChain(c.name));
    });
    if (owned.empty() && stale.empty() && !adds) continue;

    out += fmt::format("*{}\n", name);
    for (const auto& chain : owned) out += fmt::format(":{} - [0:0]\n", chain);
    for (const auto* rule : stale) out += fmt::format("-D {} {}\n", rule->chain, rule->spec);
    for (const auto& chain : chains) {
      if (chain.table != table) continue;
      bool builtin = isBuiltinChain(chain.name);
      for (const auto& rule : chain.rules) {
        out += fmt::format("-A {} {}\n", chain.name, renderIptablesRule(rule, builtin));
      }
    }
    for (const auto& chain : obsolete) out += fmt::format("-X {}\n", chain);
    out += "COMMIT\n";
  }
  return out;
}

std::string renderIptablesRollback(const SavedState& snapshot, const std::vector<Table>& touched) {
  std::string out;
  for (Table table : touched) {
    auto name = tableName(table);
    const SavedTable* saved = snapshot.find(name);
    out += fmt::format("*{}\n", name);
    if (saved == nullptr) {
      // Never instantiated before: its built-in chains, empty, policy ACCEPT.
      auto builtins = table == Table::Raw ? std::vector<std::string_view>{"PREROUTING", "OUTPUT"}
                                          : std::vector<std::string_view>{"PREROUTING", "INPUT",
                                                                          "OUTPUT", "POSTROUTING"};
      if (table == Table::Mangle) builtins.insert(builtins.begin() + 2, "FORWARD");
      for (auto chain : builtins) out += fmt::format(":{} ACCEPT [0:0]\n", chain);
      out += "COMMIT\n";
      continue;
    }
    for (const auto& chain : saved->chains) {
      out += fmt::format(":{} {} [0:0]\n", chain.name, chain.policy);
    }
    for (const auto& rule : saved->rules) out += fmt::format("-A {} {}\n", rule.chain, rule.spec);
    out += "COMMIT\n";
  }
  return out;
}

std::vector<Table> tablesIn(std::string_view restore_input) {
  std::vector<Table> out;
  while (!restore_input.empty()) {
    auto nl = restore_input.find('\n');
    auto line = restore_input.substr(0, nl);
    restore_input.remove_prefix(nl == std::string_view::npos ? restore_input.size() : nl + 1);
    if (line.starts_with('*') && knownTable(line.substr(1))) {
      for (Table t : kAllTables) {
        if (tableName(t) == line.substr(1)) out.push_back(t);
      }
    }
  }
  return out;
}

}  // namespace remora::netfilter

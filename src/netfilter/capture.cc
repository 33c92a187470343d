#include "netfilter/capture.h"

#include <fmt/format.h>

#include "netfilter/iptables_render.h"
#include "netfilter/nft_render.h"

namespace remora::netfilter {
namespace {

struct Tools {
  std::string save;
  std::string restore;
};

Tools toolsFor(Backend flavour, Family family) {
  std::string_view base = family == Family::V4 ? "iptables" : "ip6tables";
  std::string_view kind = flavour == Backend::IptablesLegacy ? "legacy" : "nft";
  return {fmt::format("{}-{}-save", base, kind), fmt::format("{}-{}-restore", base, kind)};
}

std::string_view familyName(Family family) { return family == Family::V4 ? "IPv4" : "IPv6"; }

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (text.size() > 2000) text = text.substr(0, 2000) + "...";
  return text;
}

std::string describeFailure(const Command& cmd, const Result<CommandResult>& result) {
  if (!result) return fmt::format("{}: {}", cmd.display(), result.error().message);
  return fmt::format("{} exited {}: {}", cmd.display(), result->exit_code,
                     trimmed(result->err.empty() ? result->out : result->err));
}

// Whether `tables` hold the same chains and rules in both states; a table
// that is absent equals one with nothing but empty built-in chains.
bool sameTables(const SavedState& a, const SavedState& b, const std::vector<Table>& tables) {
  auto key = [](const SavedTable* t) {
    std::string out;
    if (t == nullptr) return out;
    for (const auto& c : t->chains) {
      if (isBuiltinChain(c.name) && c.policy == "ACCEPT") continue;
      out += fmt::format(":{} {}\n", c.name, c.policy);
    }
    for (const auto& r : t->rules) out += fmt::format("-A {} {}\n", r.chain, r.spec);
    return out;
  };
  for (Table table : tables) {
    if (key(a.find(tableName(table))) != key(b.find(tableName(table)))) return false;
  }
  return true;
}

std::vector<std::string> restoreArgs(Backend flavour, bool noflush) {
  std::vector<std::string> args;
  if (noflush) args.emplace_back("--noflush");
  // Legacy iptables serialises on /run/xtables.lock, shared by every namespace.
  if (flavour == Backend::IptablesLegacy) args.emplace_back("--wait=10");
  return args;
}

}  // namespace

std::string_view backendName(Backend backend) {
  switch (backend) {
    case Backend::Auto: return "auto";
    case Backend::IptablesNft: return "iptables-nft";
    case Backend::IptablesLegacy: return "iptables-legacy";
    case Backend::Nftables: return "nftables";
  }
  return "auto";
}

Result<Backend> parseIptablesBackend(std::string_view text) {
  if (text.empty() || text == "auto") return Backend::Auto;
  if (text == "nft") return Backend::IptablesNft;
  if (text == "legacy") return Backend::IptablesLegacy;
  return Error{
      Errc::InvalidArgument,
      fmt::format("invalid iptables backend \"{}\": use auto, nft or legacy", text.substr(0, 32))};
}

Result<std::string> Capture::read(const Command& cmd) {
  auto result = applier_.run(cmd);
  if (!result || result->exit_code != 0) {
    return Error{Errc::Unavailable, describeFailure(cmd, result)};
  }
  return std::move(result->out);
}

Status Capture::write(const Command& cmd, std::string_view what) {
  auto result = applier_.run(cmd);
  if (!result || result->exit_code != 0) {
    return Error{Errc::Unavailable, fmt::format("{}: {}", what, describeFailure(cmd, result))};
  }
  return ok();
}

Result<bool> Capture::iptablesHoldsRules(Backend flavour) {
  bool holds = false;
  for (Family family : {Family::V4, Family::V6}) {
    auto tools = toolsFor(flavour, family);
    if (!applier_.available(tools.save)) continue;
    auto text = read(Command{tools.save, {}, {}, false});
    if (!text) continue;  // e.g. no legacy support in this kernel: holds nothing
    auto state = parseIptablesSave(*text);
    if (!state) return state.error();
    holds = holds || state->hasRules();
  }
  return holds;
}

Result<Backend> Capture::resolve(Backend requested) {
  if (requested != Backend::Auto) return requested;
  for (Backend flavour : {Backend::IptablesNft, Backend::IptablesLegacy}) {
    REMORA_ASSIGN_OR_RETURN(bool holds, iptablesHoldsRules(flavour));
    if (holds) return flavour;
  }
  for (Backend flavour : {Backend::IptablesNft, Backend::IptablesLegacy}) {
    if (applier_.available(toolsFor(flavour, Family::V4).restore)) return flavour;
  }
  return Error{Errc::NotFound,
               "no iptables backend: neither iptables-nft-restore nor iptables-legacy-restore "
               "is in PATH (install iptables, or use --native-nftables)"};
}

struct Capture::FamilyPlan {
  Family family;
  Tools tools;
  SavedState snapshot;
  std::string input;
  bool started = false;
};

Status Capture::applyIptables(const Ruleset& rules, Backend flavour) {
  std::vector<FamilyPlan> plans;
  // Read and render everything first: nothing changes until all of it is ready.
  for (Family family : {Family::V4, Family::V6}) {
    bool wanted = family == Family::V4 || rules.ipv6;
    auto tools = toolsFor(flavour, family);
    if (!applier_.available(tools.save) || !applier_.available(tools.restore)) {
      if (!wanted) continue;
      return Error{Errc::NotFound, fmt::format("{} or {} is not in PATH: cannot apply the {} rules",
                                               tools.save, tools.restore, familyName(family))};
    }
    auto text = read(Command{tools.save, {}, {}, false});
    if (!text) {
      if (!wanted) continue;  // IPv6 off in this kernel: nothing of ours can be there
      return text.error().context(fmt::format("reading the {} rules", familyName(family)));
    }
    auto state = parseIptablesSave(*text);
    if (!state) return state.error();
    auto chains = wanted ? rules.forFamily(family) : std::vector<Chain>{};
    auto input = renderIptablesRestore(chains, *state);
    plans.push_back(FamilyPlan{family, tools, std::move(*state), std::move(input), false});
  }

  auto rollback = [&](const std::string& failure) -> Error {
    std::vector<std::string> problems;
    for (auto it = plans.rbegin(); it != plans.rend(); ++it) {
      if (!it->started) continue;
      auto tables = tablesIn(it->input);
      // A failed restore may have changed nothing (iptables-nft commits all
      // or nothing) or some tables (legacy commits table by table): look.
      auto now = read(Command{it->tools.save, {}, {}, false});
      if (now) {
        auto state = parseIptablesSave(*now);
        if (state && sameTables(it->snapshot, *state, tables)) continue;
      }
      auto input = renderIptablesRollback(it->snapshot, tables);
      auto status = write(Command{it->tools.restore, restoreArgs(flavour, false), input, true},
                          fmt::format("rolling back the {} rules", familyName(it->family)));
      if (!status) problems.push_back(status.error().message);
    }
    if (problems.empty()) {
      return Error{
          Errc::Unavailable,
          fmt::format("{}; rolled back: the rules are as they were before this run", failure)};
    }
    return Error{Errc::Internal, fmt::format("{}; the rollback failed too ({}): inspect the rules "
                                             "with iptables-save and run `remora init "
                                             "--cleanup-only`",
                                             failure, fmt::join(problems, "; "))};
  };

  for (auto& plan : plans) {
    if (plan.input.empty()) continue;
    plan.started = true;
    Command cmd{plan.tools.restore, restoreArgs(flavour, true), plan.input, true};
    auto result = applier_.run(cmd);
    if (!result || result->exit_code != 0) {
      return rollback(fmt::format("applying the {} rules failed: {}", familyName(plan.family),
                                  describeFailure(cmd, result)));
    }
  }
  auto extras = applyExtras(rules);
  if (!extras) return rollback(extras.error().message);
  return ok();
}

Status Capture::applyNft(const Ruleset& rules) {
  if (!applier_.available("nft")) {
    return Error{Errc::NotFound, "nft is not in PATH: cannot apply native nftables rules"};
  }
  // What we had before, to put back if the routes after the rules fail.
  std::string snapshot;
  for (auto table : kNftTables) {
    for (std::string_view family : {"ip", "ip6", "inet"}) {
      auto text = read(
          Command{"nft", {"list", "table", std::string(family), std::string(table)}, {}, false});
      if (text) snapshot += *text;
    }
  }
  Command cmd{"nft", {"-f", "-"}, renderNftScript(rules), true};
  auto result = applier_.run(cmd);
  if (!result || result->exit_code != 0) {
    return Error{Errc::Unavailable,
                 fmt::format("applying the nftables rules failed: {}; nothing was changed (nft "
                             "applies the whole script as one transaction)",
                             describeFailure(cmd, result))};
  }
  auto extras = applyExtras(rules);
  if (!extras) {
    auto undo = write(Command{"nft", {"-f", "-"}, renderNftCleanup() + snapshot, true},
                      "rolling back the nftables rules");
    if (!undo) {
      return Error{Errc::Internal, fmt::format("{}; the rollback failed too ({})",
                                               extras.error().message, undo.error().message)};
    }
    return Error{Errc::Unavailable,
                 fmt::format("{}; rolled back: the rules are as they were before this run",
                             extras.error().message)};
  }
  return ok();
}

Status Capture::applyExtras(const Ruleset& rules) {
  if (rules.ipv6) {
    // The proxy binds ::6 as the source of inbound passthrough (127.0.0.6 in
    // IPv4 needs nothing: all of 127/8 is local).
    Command add{"ip", {"-6", "addr", "add", "::6/128", "dev", "lo"}, {}, true};
    auto result = applier_.run(add);
    bool exists = result && (result->err.find("already assigned") != std::string::npos ||
                             result->err.find("File exists") != std::string::npos);
    if (!result || (result->exit_code != 0 && !exists)) {
      return Error{Errc::Unavailable,
                   fmt::format("adding ::6 to lo failed: {}", describeFailure(add, result))};
    }
  }
  if (rules.tproxy_routes) {
    auto mark = std::to_string(rules.tproxy_mark);
    auto table = std::to_string(rules.tproxy_route_table);
    for (std::string_view family : {"-4", "-6"}) {
      if (family == "-6" && !rules.ipv6) continue;
      auto f = std::string(family);
      auto listed =
          read(Command{"ip", {f, "rule", "list", "fwmark", mark, "lookup", table}, {}, false});
      if (!listed) return listed.error();
      if (listed->find("lookup") == std::string::npos) {
        REMORA_TRY(
            write(Command{"ip", {f, "rule", "add", "fwmark", mark, "lookup", table}, {}, true},
                  "adding the TPROXY policy rule"));
      }
      REMORA_TRY(
          write(Command{"ip",
                        {f, "route", "replace", "local", "default", "dev", "lo", "table", table},
                        {},
                        true},
                "adding the TPROXY local route"));
    }
  }
  return ok();
}

Status Capture::cleanupIptables(Backend flavour, bool quiet) {
  for (Family family : {Family::V4, Family::V6}) {
    auto tools = toolsFor(flavour, family);
    if (!applier_.available(tools.save) || !applier_.available(tools.restore)) {
      if (quiet || family == Family::V6) continue;
      return Error{Errc::NotFound, fmt::format("{} is not in PATH", tools.restore)};
    }
    auto text = read(Command{tools.save, {}, {}, false});
    if (!text) {
      if (!quiet && family == Family::V4) return text.error();
      if (family == Family::V4) warnings_.push_back(text.error().message);
      continue;
    }
    auto state = parseIptablesSave(*text);
    if (!state) return state.error();
    auto input = renderIptablesRestore({}, *state);
    if (input.empty()) continue;
    REMORA_TRY(
        write(Command{tools.restore, restoreArgs(flavour, true), input, true},
              fmt::format("removing the {} {} rules", backendName(flavour), familyName(family))));
  }
  return ok();
}

Status Capture::cleanupNft(bool quiet) {
  if (!applier_.available("nft")) {
    if (quiet) return ok();
    return Error{Errc::NotFound, "nft is not in PATH"};
  }
  auto tables = read(Command{"nft", {"list", "tables"}, {}, false});
  if (!tables) {
    if (quiet) {
      warnings_.push_back(tables.error().message);
      return ok();
    }
    return tables.error();
  }
  bool ours = false;
  for (auto table : kNftTables) {
    if (tables->find(fmt::format(" {}\n", table)) != std::string::npos ||
        tables->ends_with(fmt::format(" {}", table))) {
      ours = true;
    }
  }
  if (!ours) return ok();
  return write(Command{"nft", {"-f", "-"}, renderNftCleanup(), true},
               "removing the nftables rules");
}

Status Capture::cleanupRoutes(const RouteSpec& routes) {
  auto mark = std::to_string(routes.mark);
  auto table = std::to_string(routes.table);
  if (!applier_.available("ip")) return ok();
  for (std::string family : {"-4", "-6"}) {
    auto listed =
        read(Command{"ip", {family, "rule", "list", "fwmark", mark, "lookup", table}, {}, false});
    if (!listed) continue;  // IPv6 off: nothing to remove
    std::size_t count = 0;
    for (std::size_t at = listed->find("lookup"); at != std::string::npos;
         at = listed->find("lookup", at + 1)) {
      ++count;
    }
    for (std::size_t i = 0; i < count; ++i) {
      REMORA_TRY(
          write(Command{"ip", {family, "rule", "del", "fwmark", mark, "lookup", table}, {}, true},
                "removing the TPROXY policy rule"));
    }
    auto route = read(Command{"ip", {family, "route", "show", "table", table}, {}, false});
    if (route && route->find("local default dev lo") != std::string::npos) {
      REMORA_TRY(
          write(Command{"ip",
                        {family, "route", "del", "local", "default", "dev", "lo", "table", table},
                        {},
                        true},
                "removing the TPROXY local route"));
    }
  }
  return ok();
}

Status Capture::apply(const Ruleset& rules, Backend backend) {
  REMORA_ASSERT(backend != Backend::Auto);
  if (backend == Backend::Nftables) {
    REMORA_TRY(applyNft(rules));
  } else {
    REMORA_TRY(applyIptables(rules, backend));
  }
  // What an earlier run left in another backend would capture a second time.
  for (Backend other : {Backend::IptablesNft, Backend::IptablesLegacy, Backend::Nftables}) {
    if (other == backend) continue;
    auto status = other == Backend::Nftables ? cleanupNft(true) : cleanupIptables(other, true);
    if (!status) {
      warnings_.push_back(fmt::format("could not remove earlier {} rules: {}", backendName(other),
                                      status.error().message));
    }
  }
  return ok();
}

Status Capture::cleanup(Backend backend, const RouteSpec& routes) {
  switch (backend) {
    case Backend::Auto:
      REMORA_TRY(cleanupIptables(Backend::IptablesNft, true));
      REMORA_TRY(cleanupIptables(Backend::IptablesLegacy, true));
      REMORA_TRY(cleanupNft(true));
      break;
    case Backend::Nftables: REMORA_TRY(cleanupNft(false)); break;
    default: REMORA_TRY(cleanupIptables(backend, false)); break;
  }
  return cleanupRoutes(routes);
}

}  // namespace remora::netfilter

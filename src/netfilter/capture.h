// Applying and removing the redirection rules: backend choice, one atomic
// transaction per address family, rollback, cleanup.
//
// Backends:
//   iptables-nft     iptables-nft-restore / ip6tables-nft-restore
//   iptables-legacy  iptables-legacy-restore / ip6tables-legacy-restore
//   nftables         nft -f (native tables, see nft_render.h)
// Auto picks as istio-iptables does: the iptables flavour that already holds
// rules in this namespace (nft first), else nft.
//
// apply():
//   1. read the current state of every family (iptables-save) and render the
//      whole change before touching anything, so a parse error changes nothing;
//   2. one `restore --noflush` per family (or one `nft -f`); each replaces what
//      an earlier run made, so a second run is a no-op;
//   3. if any step fails, put back the snapshot of every table touched so far
//      (iptables-legacy commits table by table, so even one restore can fail
//      half-way), and report what failed and whether the rollback worked;
//   4. TPROXY's policy routes and IPv6's ::6 on lo come last, and are rolled
//      back with the rules when they fail;
//   5. remove what an earlier run left in the *other* backends, so switching
//      backends never leaves two captures (best effort, warned).
// A process killed between the IPv4 and IPv6 restores leaves IPv4 applied;
// running again completes it (each step is idempotent).
//
// cleanup() removes every rule, chain, table and route we made, from the
// given backend or, with Auto, from every backend where any is found.
//
// Threading: one thread; all effects go through the Applier.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "netfilter/applier.h"
#include "netfilter/model.h"

namespace remora::netfilter {

enum class Backend : std::uint8_t { Auto, IptablesNft, IptablesLegacy, Nftables };

std::string_view backendName(Backend backend);  // "auto", "iptables-nft", ...
// "auto" | "nft" | "legacy" (the iptables flavour; native nftables is its own flag).
Result<Backend> parseIptablesBackend(std::string_view text);

// The policy route TPROXY mode installs (and cleanup removes).
struct RouteSpec {
  std::uint32_t mark = 1337;
  std::uint32_t table = 133;
};

class Capture {
 public:
  explicit Capture(Applier& applier) : applier_(applier) {}

  // The backend to use: `requested` itself unless Auto.
  Result<Backend> resolve(Backend requested);

  // Replaces whatever we made before with `rules` on `backend` (resolved).
  Status apply(const Ruleset& rules, Backend backend);

  // Removes everything we made. Auto: from every backend where found.
  Status cleanup(Backend backend, const RouteSpec& routes);

  // Warnings collected along the way (e.g. a backend that could not be read
  // while removing leftovers); the caller logs them.
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  struct FamilyPlan;

  Status applyIptables(const Ruleset& rules, Backend flavour);
  Status applyNft(const Ruleset& rules);
  Status applyExtras(const Ruleset& rules);
  Status cleanupIptables(Backend flavour, bool quiet);
  Status cleanupNft(bool quiet);
  Status cleanupRoutes(const RouteSpec& routes);
  Result<bool> iptablesHoldsRules(Backend flavour);
  Result<std::string> read(const Command& cmd);
  Status write(const Command& cmd, std::string_view what);

  Applier& applier_;
  std::vector<std::string> warnings_;
};

}  // namespace remora::netfilter

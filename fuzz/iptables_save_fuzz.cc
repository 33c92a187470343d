// parseIptablesSave reads what iptables-save prints in the pod: any bytes
// are a state or a ParseError. Oracle: a parsed state yields restore input
// (replace and cleanup) without crashing, and every -D line it emits names a
// rule that was in the state.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/assert.h"
#include "netfilter/flags.h"
#include "netfilter/iptables_render.h"
#include "netfilter/model.h"

using namespace remora::netfilter;  // NOLINT: a fuzz target, not a header

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto state = parseIptablesSave(text);
  if (!state) return 0;
  InitFlags f;
  f.service_cidr = "*";
  f.inbound_ports = "*";
  auto rules = buildRuleset(*configFromFlags(f, HostFacts{}));
  for (const auto& input : {renderIptablesRestore(rules.forFamily(Family::V4), *state),
                            renderIptablesRestore({}, *state)}) {
    std::size_t pos = 0;
    while ((pos = input.find("\n-D ", pos)) != std::string::npos) {
      auto end = input.find('\n', pos + 1);
      auto line = input.substr(pos + 4, end - pos - 4);
      bool found = false;
      for (const auto& t : state->tables) {
        for (const auto& r : t.rules) found = found || line == r.chain + " " + r.spec;
      }
      REMORA_CHECK(found, "-D of a rule that is not in the state: {}", line);
      pos = end;
    }
  }
  (void)renderIptablesRollback(*state, {Table::Nat, Table::Mangle, Table::Raw});
  return 0;
}

// The value parsers of `remora init` (flags, environment variables, pod
// annotations): every byte string is a value or an Error, never a crash.
// The first byte picks the parser. Oracle: a parsed list prints back to text
// that parses to the same value (round trip), and a parsed value renders
// into rules without tripping an assertion.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/assert.h"
#include "netfilter/config.h"
#include "netfilter/flags.h"
#include "netfilter/iptables_render.h"
#include "netfilter/model.h"
#include "netfilter/nft_render.h"

using namespace remora::netfilter;  // NOLINT: a fuzz target, not a header

namespace {

template <typename T, typename Parse>
void roundTrip(std::string_view text, Parse parse) {
  auto first = parse(text);
  if (!first) return;
  auto again = parse(first->str());
  REMORA_CHECK(again.has_value(), "printed value does not parse: {}", first->str());
  REMORA_CHECK(*again == *first, "round trip changed the value: {}", first->str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 8) {
    case 0:
      roundTrip<PortList>(text, [](std::string_view t) { return parsePortList(t, true); });
      break;
    case 1:
      roundTrip<PortList>(text, [](std::string_view t) { return parsePortList(t, false); });
      break;
    case 2:
      roundTrip<CidrList>(text, [](std::string_view t) { return parseCidrList(t, true); });
      break;
    case 3: {
      auto ids = parseIdList(text);
      if (ids) {
        auto again = parseIdList(idListStr(*ids));
        REMORA_CHECK(again && *again == *ids, "id list round trip: {}", idListStr(*ids));
      }
      break;
    }
    case 4: {
      auto names = parseInterfaceList(text);
      if (names) {
        for (const auto& n : *names) REMORA_CHECK(parseInterfaceList(n).has_value(), "{}", n);
      }
      break;
    }
    case 5:
      (void)parseDurationMs(text);
      (void)parseInterceptionMode(text);
      (void)parseResolvConf(text);
      break;
    default: {
      // The same text in every list flag at once, rendered for every backend.
      InitFlags f;
      f.inbound_ports = std::string(text);
      f.inbound_ports_exclude = std::string(text);
      f.service_cidr = std::string(text);
      f.service_exclude_cidr = std::string(text);
      f.outbound_ports = std::string(text);
      f.exclude_interfaces = std::string(text);
      HostFacts host;
      host.pod_has_ipv6 = (data[0] & 0x80) != 0;
      auto config = configFromFlags(f, host);
      if (!config) break;
      auto rules = buildRuleset(*config);
      (void)renderIptablesRestore(rules.forFamily(Family::V4), SavedState{});
      (void)renderIptablesRestore(rules.forFamily(Family::V6), SavedState{});
      (void)renderNftScript(rules);
      break;
    }
  }
  return 0;
}

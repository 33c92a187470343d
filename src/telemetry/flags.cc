#include <array>

#include "telemetry/records.h"

namespace remora::telemetry {

namespace {
// Envoy's short names, indexed by bit (StreamInfo::ResponseFlagUtils).
constexpr std::array<std::string_view, 29> kFlagNames = {
    "LH",   "UH",   "UT",   "LR",   "UR", "UF",  "UC", "UO", "NR",  "DI",
    "FI",   "RL",   "UAEX", "RLSE", "DC", "URX", "SI", "IH", "DPE", "UMSDR",
    "RFCF", "NFCF", "DT",   "UPE",  "NC", "OM",  "DF", "DO", "DR"};
static_assert(flags::kLastFlag == 1u << (kFlagNames.size() - 1));
}  // namespace

std::string_view reporterName(Reporter r) noexcept {
  return r == Reporter::Source ? "source" : "destination";
}

void appendResponseFlags(std::string& out, std::uint32_t response_flags) {
  bool first = true;
  for (std::size_t bit = 0; bit < kFlagNames.size(); ++bit) {
    if ((response_flags & (1u << bit)) == 0) continue;
    if (!first) out.push_back(',');
    out.append(kFlagNames[bit]);
    first = false;
  }
  if (first) out.push_back('-');
}

std::string responseFlagsString(std::uint32_t response_flags) {
  std::string out;
  appendResponseFlags(out, response_flags);
  return out;
}

}  // namespace remora::telemetry

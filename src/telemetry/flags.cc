#include <array>
#include <bit>
#include <cstring>

#include "telemetry/records.h"

namespace remora::telemetry {

namespace {
// Envoy's short names, indexed by bit (StreamInfo::ResponseFlagUtils).
constexpr std::array<std::string_view, 29> kFlagNames = {
    "LH",   "UH",   "UT",   "LR",   "UR", "UF",  "UC", "UO", "NR",  "DI",
    "FI",   "RL",   "UAEX", "RLSE", "DC", "URX", "SI", "IH", "DPE", "UMSDR",
    "RFCF", "NFCF", "DT",   "UPE",  "NC", "OM",  "DF", "DO", "DR"};
static_assert(flags::kLastFlag == 1u << (kFlagNames.size() - 1));

constexpr std::size_t allFlagsBytes() {
  std::size_t bytes = kFlagNames.size() - 1;  // the commas
  for (std::string_view name : kFlagNames) bytes += name.size();
  return bytes;
}
static_assert(allFlagsBytes() <= kResponseFlagsMost);
}  // namespace

std::string_view reporterName(Reporter r) noexcept {
  return r == Reporter::Source ? "source" : "destination";
}

char* writeResponseFlags(char* at, std::uint32_t response_flags) {
  std::uint32_t known = response_flags & ((flags::kLastFlag << 1) - 1);
  if (known == 0) {
    *at++ = '-';
    return at;
  }
  for (bool first = true; known != 0; known &= known - 1, first = false) {
    const std::string_view name = kFlagNames[static_cast<std::size_t>(std::countr_zero(known))];
    if (!first) *at++ = ',';
    std::memcpy(at, name.data(), name.size());
    at += name.size();
  }
  return at;
}

void appendResponseFlags(std::string& out, std::uint32_t response_flags) {
  char text[kResponseFlagsMost];
  out.append(text, writeResponseFlags(text, response_flags));
}

std::string responseFlagsString(std::uint32_t response_flags) {
  std::string out;
  appendResponseFlags(out, response_flags);
  return out;
}

}  // namespace remora::telemetry

// mesh::parsePodLabels (the downward API's labels file) must turn any byte
// string into labels or an Error: never a crash or a hang. Oracle: accepted
// labels written back in the file's own format (every byte escaped as \xNN)
// read back to the same map.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "core/assert.h"
#include "mesh/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto labels = remora::mesh::parsePodLabels(text);
  if (!labels) {
    REMORA_CHECK(!labels.error().message.empty(), "an error without a message");
    return 0;
  }
  std::string again;
  for (const auto& [key, value] : *labels) {
    if (key.find('\n') != std::string::npos || key.find('=') != std::string::npos) return 0;
    again += key;
    again += "=\"";
    for (unsigned char c : value) again += fmt::format("\\x{:02x}", c);
    again += "\"\n";
  }
  if (again.size() > 64 * 1024) return 0;
  auto round = remora::mesh::parsePodLabels(again);
  REMORA_CHECK(round && *round == *labels, "labels do not survive a round trip");
  return 0;
}

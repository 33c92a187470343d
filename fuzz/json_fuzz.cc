// parseJson must turn any byte string into a value or an Error: never a
// crash, an exception or a sanitizer report. Oracle: a parsed value dumps and
// re-parses to itself.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/assert.h"
#include "core/json.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = remora::parseJson(text, {.max_bytes = 1 << 20, .max_depth = 64});
  if (!parsed) return 0;
  std::string dumped = remora::dumpJson(*parsed);
  auto again = remora::parseJson(dumped, {.max_bytes = 4 << 20, .max_depth = 64});
  REMORA_CHECK(again.has_value(), "dump of a parsed document does not parse: {}", dumped);
  return 0;
}

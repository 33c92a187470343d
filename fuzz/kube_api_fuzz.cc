// The API client's decoders must turn any bytes into values or Errors:
// decodeList on the whole input, and WatchDecoder on the input as a stream.
// Oracle (differential): the stream fed in one piece and fed split at every
// position picked from the input gives the same events and the same outcome.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/assert.h"
#include "kube/api_client.h"

namespace {

struct Outcome {
  std::vector<std::string> events;
  bool ok = true;
};

Outcome decode(std::string_view stream, std::size_t step) {
  remora::kube::WatchDecoder decoder(4096);
  Outcome out;
  auto sink = [&](remora::kube::WatchEvent&& e) {
    out.events.push_back(e.type + " " + remora::dumpJson(e.object));
    return out.events.size() < 64;  // exercises stopping
  };
  while (!stream.empty() && out.ok) {
    std::size_t n = step == 0 ? stream.size() : std::min(step, stream.size());
    out.ok = decoder.feed(stream.substr(0, n), sink).has_value();
    stream.remove_prefix(n);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto page = remora::kube::decodeList(text, {.max_bytes = 1 << 20, .max_depth = 64});
  if (page) {
    for (const auto& item : page->items)
      REMORA_CHECK(item.is_object(), "a list item not an object");
  }
  Outcome whole = decode(text, 0);
  Outcome split = decode(text, size == 0 ? 1 : 1 + data[0] % 13);
  REMORA_CHECK(whole.events == split.events, "split feeding changed the events");
  REMORA_CHECK(whole.ok == split.ok, "split feeding changed the outcome");
  return 0;
}

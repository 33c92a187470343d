// mesh::parseConfig must turn any byte string into a Config or an Error:
// never a crash, a hang or an escaped exception (RELIABILITY.md test 30,
// "only typed errors may come out"). Oracle: an accepted config indexes into
// a Snapshot whose lookups find what the config lists.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/assert.h"
#include "mesh/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 64 * 1024) return 0;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = remora::mesh::parseConfig(text);
  if (!config) {
    REMORA_CHECK(!config.error().message.empty(), "an error without a message");
    return 0;
  }
  auto snap = remora::mesh::Snapshot::build(std::move(*config));
  for (const auto& svc : snap->config().services) {
    REMORA_CHECK(!svc.ports.empty(), "a service without ports was accepted");
    for (const auto& addr : svc.addresses) {
      for (const auto& sp : svc.ports) {
        auto r = snap->outbound(addr, sp.port);
        REMORA_CHECK(r.service == &svc && r.port == &sp, "VIP {}:{} not found", addr.to_string(),
                     sp.port);
      }
    }
  }
  return 0;
}

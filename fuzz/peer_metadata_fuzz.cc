// telemetry::decodePeerMetadata (Istio's x-envoy-peer-metadata header, from
// any caller) must turn any byte string into metadata or an Error: never a
// crash, a hang or unbounded recursion. The input is tried twice: as the
// header value (base64) and as the Struct's protobuf bytes themselves, so
// the fuzzer reaches the protobuf decoder without having to learn base64.
// Oracle: accepted metadata encodes and decodes back to itself.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/assert.h"
#include "telemetry/peer_metadata.h"

namespace {

using remora::telemetry::PeerMetadata;

void roundTrip(PeerMetadata meta) {
  // The encoder names the pod after its workload when the name is unknown.
  if (meta.name.empty()) meta.name = meta.workload_name;
  auto again = remora::telemetry::decodePeerMetadataStruct(
      remora::telemetry::encodePeerMetadataStruct(meta));
  REMORA_CHECK(again.has_value(), "re-encoded metadata does not decode");
  REMORA_CHECK(again->name == meta.name && again->namespace_ == meta.namespace_ &&
                   again->workload_name == meta.workload_name &&
                   again->cluster_id == meta.cluster_id &&
                   again->service_account == meta.service_account && again->app == meta.app &&
                   again->version == meta.version && again->canonical_name == meta.canonical_name &&
                   again->canonical_revision == meta.canonical_revision,
               "metadata does not survive a round trip");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (auto header = remora::telemetry::decodePeerMetadata(bytes)) roundTrip(*header);
  if (bytes.size() > 16 * 1024) return 0;  // the header's limit keeps real Structs far smaller
  if (auto raw = remora::telemetry::decodePeerMetadataStruct(bytes)) roundTrip(*raw);
  return 0;
}

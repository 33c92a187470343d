// Istio's HTTP metadata exchange: the two headers a sidecar adds to the
// requests it sends (client side) and to the responses it returns (server
// side), so that each side's telemetry knows the other's workload.
//
//   x-envoy-peer-metadata-id: sidecar~<pod ip>~<pod name>.<ns>~<ns>.svc.cluster.local
//   x-envoy-peer-metadata:    base64 (RFC 4648, standard alphabet, padded) of a
//                             protobuf google.protobuf.Struct of node metadata
//
// Istio's Envoys send and read the same bytes, so a Remora pod and an Envoy
// pod in one mesh keep each other's workload labels. Only the tiny protobuf
// subset the Struct needs is hand-coded here (no protobuf dependency):
//
//   Struct   { map<string, Value> fields = 1; }   entry: key = 1, value = 2
//   Value    { null_value = 1 (varint); number_value = 2 (fixed64);
//              string_value = 3; bool_value = 4 (varint);
//              struct_value = 5; list_value = 6 }
//
// Decoding policy (the input is a claim from the network, see
// docs/telemetry.md "Metadata exchange"):
// - at most kMaxPeerMetadataBase64 bytes of base64, decoded strictly
//   (core/base64.h); more is refused unread;
// - every varint at most 10 bytes, every length within what remains; a
//   truncated message is an Error;
// - structs nest at most kMaxPeerMetadataDepth deep (the node Struct and its
//   LABELS); a deeper struct_value is an Error. list_value is skipped as an
//   opaque length-delimited field (it cannot nest a struct we would read);
// - unknown field numbers are skipped when their wire type is one of
//   protobuf's four real ones (varint, fixed64, length-delimited, fixed32),
//   as protobuf does for forward compatibility; field number 0, the group
//   wire types (3, 4) and the undefined ones (6, 7) are Errors;
// - a key we read whose value is not a string (or, for LABELS, not a struct)
//   is ignored; a repeated key: the last one wins (protobuf map semantics).
// Any Error means: the peer stays unknown. Nothing here throws or aborts on
// input.
//
// Threading: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/result.h"

namespace remora::telemetry {

inline constexpr std::string_view kPeerMetadataHeader = "x-envoy-peer-metadata";
inline constexpr std::string_view kPeerMetadataIdHeader = "x-envoy-peer-metadata-id";
// Base64 bytes accepted (3 KiB of Struct): Istio's usual value is 500-1500.
inline constexpr std::size_t kMaxPeerMetadataBase64 = 4096;
// The node Struct (1) and a Struct inside it (2: LABELS, PLATFORM_METADATA).
inline constexpr int kMaxPeerMetadataDepth = 2;

// The node metadata keys Remora sends and reads (Istio's names in comments).
// Empty is "not known": not sent, or not received.
struct PeerMetadata {
  std::string name;             // NAME: the pod name
  std::string namespace_;       // NAMESPACE
  std::string workload_name;    // WORKLOAD_NAME: the Deployment (etc.)
  std::string cluster_id;       // CLUSTER_ID ("Kubernetes")
  std::string service_account;  // SERVICE_ACCOUNT
  std::string instance_ip;      // INSTANCE_IPS (the first of a comma list when read)
  // LABELS
  std::string app;                 // app
  std::string version;             // version
  std::string canonical_name;      // service.istio.io/canonical-name
  std::string canonical_revision;  // service.istio.io/canonical-revision
};

// The Struct's protobuf bytes; keys in a fixed order (as Envoy's are not:
// readers must not care).
std::string encodePeerMetadataStruct(const PeerMetadata& meta);
// The x-envoy-peer-metadata value: base64 of the above.
std::string encodePeerMetadata(const PeerMetadata& meta);
// The x-envoy-peer-metadata-id value (Istio's node id):
// sidecar~<ip>~<name>.<namespace>~<namespace>.svc.cluster.local, with the
// workload name when the pod name is unknown.
std::string peerMetadataId(const PeerMetadata& meta);

// Decodes Struct bytes under the policy above.
Result<PeerMetadata> decodePeerMetadataStruct(std::string_view bytes);
// Decodes an x-envoy-peer-metadata value: size limit, strict base64, Struct.
Result<PeerMetadata> decodePeerMetadata(std::string_view header_value);

}  // namespace remora::telemetry

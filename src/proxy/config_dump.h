// What the admin endpoint (127.0.0.1:15000) shows of the config a sidecar
// runs: Envoy's /config_dump and /clusters, made from the current snapshot.
//
//   configDump(*snapshot, {.outbound_port = 15001, ...}, include_eds)
//       {"configs": [BootstrapConfigDump, ListenersConfigDump,
//                    ClustersConfigDump(, EndpointsConfigDump)]}
//   clustersText(*snapshot)   "outbound|80||web.default.svc.cluster.local::10.0.0.5:80::
//                              health_flags::healthy" lines, as Envoy prints them
//   clustersJson(*snapshot)   {"cluster_statuses": [...]}, Envoy's ?format=json
//
// The shapes and field names are Envoy's (the admin API's v3 protos in their
// JSON form), so the jq habits of Istio users work: cluster names
// (`.configs[2].dynamic_active_clusters[].cluster.name`), listener ports,
// the node's identity, endpoints with ?include_eds. Only what Remora has is
// shown: its two capture listeners (it routes by the original destination
// itself, so there are no per-service listeners or route tables), one cluster
// per service port, the inbound clusters of the ports this pod serves, and
// the passthrough and black-hole clusters. version_info is the snapshot's
// generation (0 for the first config, one more per accepted reload). It is not
// byte for byte what Envoy prints, and istioctl's typed parsers are not a goal.
//
// /clusters lists each cluster's hosts with their static fields (hostname,
// health_flags, weight, locality from the endpoint's topology labels, canary,
// priority). Remora keeps no per-host counters (Istio's metrics are per
// service, on 15090), so Envoy's cx_* and rq_* host lines are not printed.
//
// Threading: pure functions of an immutable snapshot; any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "mesh/config.h"

namespace remora::proxy {

struct DumpContext {
  std::uint16_t outbound_port = 15001;
  std::uint16_t inbound_port = 15006;
  std::uint16_t admin_port = 15000;
  // The pod's DNS domain, as pilot-agent's --domain (<ns>.svc.cluster.local
  // when empty): the last part of the node id.
  std::string domain;
};

std::string configDump(const mesh::Snapshot& snapshot, const DumpContext& context,
                       bool include_eds);
std::string clustersText(const mesh::Snapshot& snapshot);
std::string clustersJson(const mesh::Snapshot& snapshot);

// Envoy's Duration in JSON: "10s", "0.250s".
std::string durationJson(std::chrono::milliseconds d);

}  // namespace remora::proxy

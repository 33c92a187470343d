// TelemetryObserver: the proxy's reports turned into telemetry's records
// (src/telemetry/records.h): Istio's metrics in each worker's WorkerStats
// and one JSON access-log line per request and per TCP connection.
//
// Labels: the outbound listener reports as `source` (this pod is the source,
// the chosen endpoint the destination); the inbound listener as
// `destination` (this pod). The inbound source comes from two places:
// - mTLS, which proves the caller's principal and the namespace in it
//   (source_principal, source_workload_namespace);
// - Istio's metadata exchange (telemetry/peer_metadata.h): the caller's
//   x-envoy-peer-metadata header names its workload, app, version and
//   canonical service. A claim, not a proof: it only labels telemetry, and
//   when mTLS proved a principal the certificate's principal and namespace
//   win; a header that names another namespace than the certificate's is
//   ignored whole. An undecodable header is ignored too (source unknown).
//
// Every telemetry::Workload the observer fills or changes gets a fresh
// revision (telemetry::newWorkloadRevision()): the cached ones when
// created, a metadata peer's merged one on every rewrite. The metrics
// recognise a repeated label set by it (src/telemetry/stats.cc).
//
// Threading: onRequest/onTcp*/onTick come from worker `report.worker`'s
// thread only; the per-worker state (stats table, log sink, workload cache)
// is touched by that thread alone.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proxy/observer.h"
#include "telemetry/records.h"

namespace remora::proxy {

class TelemetryObserver : public Observer {
 public:
  // `stats` and `log` (nullable: no access log) must outlive the observer
  // and have at least `workers` workers.
  TelemetryObserver(std::size_t workers, telemetry::StatsRegistry& stats,
                    telemetry::AccessLog* log);
  ~TelemetryObserver() override;

  void onRequest(const RequestReport& report) override;
  void onTcpOpen(const ConnectionReport& report) override;
  void onTcpClose(const ConnectionReport& report) override;
  void onTlsFailure(std::size_t worker, Direction direction, std::string_view reason) override;
  void onInboundRefused(std::size_t worker, std::string_view reason) override;
  void onTlsHandshake(std::size_t worker, Direction direction, bool resumed) override;
  void onTick(std::size_t worker) override;

 private:
  struct StringHash {
    using is_transparent = void;  // find() by string_view: no key copy per request
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  struct MetadataPeer {
    bool valid = false;
    telemetry::Workload workload;  // as the header says (no principal)
    // With the principal and namespace of the last mTLS certificate seen
    // with this header (empty principal: not built yet).
    telemetry::Workload merged;
  };
  struct PerWorker {
    // telemetry::Workload values for the snapshot's WorkloadInfos; the
    // snapshot is held so that no key can be reused while cached.
    mesh::SnapshotPtr snapshot;
    std::unordered_map<const mesh::WorkloadInfo*, telemetry::Workload> workloads;
    // Inbound mTLS callers, by SPIFFE URI. Bounded: cleared past kMaxPeers.
    std::unordered_map<std::string, telemetry::Workload> peers;
    // Inbound callers by their x-envoy-peer-metadata value (as received),
    // so that a steady caller costs one hash lookup; undecodable values are
    // cached too (as invalid). Bounded: cleared past kMaxMetadataPeers
    // (keys are at most 4 KiB: 4 MiB per worker at worst).
    std::unordered_map<std::string, MetadataPeer, StringHash, std::equal_to<>> metadata_peers;
  };
  static constexpr std::size_t kMaxPeers = 4096;
  static constexpr std::size_t kMaxMetadataPeers = 1024;
  const telemetry::Workload* peerWorkload(PerWorker& w, const PeerIdentity* peer);
  // The inbound source a request's metadata header names, merged with what
  // mTLS proved (`peer`); null when the header is undecodable or
  // contradicts the certificate's namespace.
  const telemetry::Workload* metadataPeer(PerWorker& w, std::string_view header,
                                          const PeerIdentity* peer);
  const telemetry::Workload* workload(PerWorker& w, const mesh::SnapshotPtr& snapshot,
                                      const mesh::WorkloadInfo* info);
  telemetry::ConnectionRecord connectionRecord(const ConnectionReport& r);
  // The labels and fields RequestRecord and ConnectionRecord share.
  template <typename Record, typename Report>
  void fillCommon(const Report& r, Record& rec);

  telemetry::StatsRegistry& stats_;
  telemetry::AccessLog* log_;
  std::vector<PerWorker> workers_;
};

}  // namespace remora::proxy

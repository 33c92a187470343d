// TelemetryObserver: the proxy's reports turned into telemetry's records
// (src/telemetry/records.h): Istio's metrics in each worker's WorkerStats
// and one JSON access-log line per request and per TCP connection.
//
// Labels: the outbound listener reports as `source` (this pod is the source,
// the chosen endpoint the destination); the inbound listener as
// `destination` (this pod; the source is known when mTLS proved who called:
// its principal and the namespace in it, as source_principal and
// source_workload_namespace; the rest stays "unknown" until metadata
// exchange exists).
//
// Threading: onRequest/onTcp*/onTick come from worker `report.worker`'s
// thread only; the per-worker state (stats table, log sink, workload cache)
// is touched by that thread alone.
#pragma once

#include <cstddef>
#include <memory>
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
  struct PerWorker {
    // telemetry::Workload values for the snapshot's WorkloadInfos; the
    // snapshot is held so that no key can be reused while cached.
    mesh::SnapshotPtr snapshot;
    std::unordered_map<const mesh::WorkloadInfo*, telemetry::Workload> workloads;
    // Inbound mTLS callers, by SPIFFE URI. Bounded: cleared past kMaxPeers.
    std::unordered_map<std::string, telemetry::Workload> peers;
  };
  static constexpr std::size_t kMaxPeers = 4096;
  const telemetry::Workload* peerWorkload(PerWorker& w, const PeerIdentity* peer);
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

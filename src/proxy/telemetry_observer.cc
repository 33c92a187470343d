#include "proxy/telemetry_observer.h"

#include "telemetry/peer_metadata.h"

namespace remora::proxy {
namespace {

// spiffe://<trust domain>/ns/<namespace>/sa/<service account> -> namespace.
std::string_view principalNamespace(std::string_view principal) {
  auto ns = principal.find("/ns/");
  if (ns == std::string_view::npos) return {};
  std::string_view rest = principal.substr(ns + 4);
  return rest.substr(0, rest.find('/'));
}

}  // namespace

TelemetryObserver::TelemetryObserver(std::size_t workers, telemetry::StatsRegistry& stats,
                                     telemetry::AccessLog* log)
    : stats_(stats), log_(log), workers_(workers) {}

TelemetryObserver::~TelemetryObserver() = default;

const telemetry::Workload* TelemetryObserver::workload(PerWorker& w,
                                                       const mesh::SnapshotPtr& snapshot,
                                                       const mesh::WorkloadInfo* info) {
  if (info == nullptr) return nullptr;
  if (w.snapshot != snapshot) {
    w.workloads.clear();
    w.snapshot = snapshot;
  }
  auto [it, inserted] = w.workloads.try_emplace(info);
  if (inserted) {
    it->second.name = info->workload;
    it->second.namespace_ = info->namespace_;
    it->second.app = info->app;
    it->second.version = info->version;
    it->second.principal = info->principal;
    it->second.revision = telemetry::newWorkloadRevision();
  }
  return &it->second;
}

const telemetry::Workload* TelemetryObserver::peerWorkload(PerWorker& w, const PeerIdentity* peer) {
  if (peer == nullptr || !peer->mutual_tls || peer->principal.empty()) return nullptr;
  auto it = w.peers.find(peer->principal);
  if (it != w.peers.end()) return &it->second;
  if (w.peers.size() >= kMaxPeers) w.peers.clear();
  telemetry::Workload wl;
  wl.principal = peer->principal;
  // spiffe://<trust domain>/ns/<namespace>/sa/<service account>
  wl.namespace_ = std::string(principalNamespace(peer->principal));
  wl.revision = telemetry::newWorkloadRevision();
  return &w.peers.emplace(peer->principal, std::move(wl)).first->second;
}

const telemetry::Workload* TelemetryObserver::metadataPeer(PerWorker& w, std::string_view header,
                                                           const PeerIdentity* peer) {
  auto it = w.metadata_peers.find(header);
  if (it == w.metadata_peers.end()) {
    if (w.metadata_peers.size() >= kMaxMetadataPeers) w.metadata_peers.clear();
    MetadataPeer entry;
    if (auto meta = telemetry::decodePeerMetadata(header)) {
      entry.valid = true;
      telemetry::Workload& wl = entry.workload;
      wl.name = std::move(meta->workload_name);
      wl.namespace_ = std::move(meta->namespace_);
      // One field each for Istio's *_app / *_canonical_service and
      // *_version / *_canonical_revision (telemetry::Workload): the app and
      // version labels as for the registry's workloads, else the canonical
      // ones.
      wl.app = !meta->app.empty() ? std::move(meta->app) : std::move(meta->canonical_name);
      wl.version =
          !meta->version.empty() ? std::move(meta->version) : std::move(meta->canonical_revision);
      if (!meta->cluster_id.empty()) wl.cluster = std::move(meta->cluster_id);
      wl.revision = telemetry::newWorkloadRevision();
    }
    it = w.metadata_peers.emplace(std::string(header), std::move(entry)).first;
  }
  MetadataPeer& entry = it->second;
  if (!entry.valid) return nullptr;
  if (peer == nullptr || !peer->mutual_tls || peer->principal.empty()) return &entry.workload;
  // mTLS proved who called: its principal and namespace are facts, the
  // header's a claim. A header that contradicts the certificate is not
  // believed at all.
  std::string_view cert_ns = principalNamespace(peer->principal);
  if (!entry.workload.namespace_.empty() && entry.workload.namespace_ != cert_ns) return nullptr;
  if (entry.merged.principal != peer->principal) {
    entry.merged = entry.workload;
    entry.merged.principal = peer->principal;
    entry.merged.namespace_ = std::string(cert_ns);
    entry.merged.revision = telemetry::newWorkloadRevision();  // new contents, new name
  }
  return &entry.merged;
}

// The fields a request and a TCP connection report alike: who is source
// and destination, the service, the cluster, the four addresses, flags and
// timing.
template <typename Record, typename Report>
void TelemetryObserver::fillCommon(const Report& r, Record& rec) {
  PerWorker& w = workers_[r.worker];
  const Route& route = *r.route;
  bool outbound = route.direction == Direction::Outbound;
  rec.reporter = outbound ? telemetry::Reporter::Source : telemetry::Reporter::Destination;
  const telemetry::Workload* self = workload(w, *r.snapshot, r.self);
  const telemetry::Workload* peer =
      workload(w, *r.snapshot, r.endpoint != nullptr ? &r.endpoint->workload() : nullptr);
  rec.source = outbound ? self : peerWorkload(w, r.downstream_peer);
  rec.destination = outbound ? peer : self;
  const PeerIdentity* tls_peer = outbound ? r.upstream_peer : r.downstream_peer;
  rec.mutual_tls = tls_peer != nullptr && tls_peer->mutual_tls;
  if (r.downstream_peer != nullptr) rec.downstream_peer_uri_san = r.downstream_peer->principal;
  if (r.upstream_peer != nullptr) rec.upstream_peer_uri_san = r.upstream_peer->principal;
  rec.destination_service = route.destination_service;
  if (route.service != nullptr) {
    rec.destination_service_name = route.service->name;
    rec.destination_service_namespace = route.service->namespace_;
  }
  rec.upstream_cluster = route.cluster;
  rec.upstream_host = r.upstream_host;
  rec.upstream_local_address = r.upstream_local;
  rec.downstream_remote_address = r.downstream_remote;
  rec.downstream_local_address = r.downstream_local;
  rec.response_flags = r.response_flags;
  rec.start_time = r.start_time;
  rec.duration = r.duration;
}

void TelemetryObserver::onRequest(const RequestReport& r) {
  telemetry::RequestRecord rec;
  fillCommon(r, rec);
  if (rec.reporter == telemetry::Reporter::Destination && !r.peer_metadata.empty()) {
    if (const auto* src = metadataPeer(workers_[r.worker], r.peer_metadata, r.downstream_peer)) {
      rec.source = src;
    }
  }
  rec.method = r.method;
  rec.path = r.path;
  rec.authority = r.authority;
  rec.request_id = r.request_id;
  rec.user_agent = r.user_agent;
  rec.x_forwarded_for = r.x_forwarded_for;
  rec.protocol = r.protocol;
  rec.response_code = static_cast<std::uint32_t>(r.response_code);
  rec.response_code_details = r.response_code_details;
  rec.request_body_bytes = r.request_body_bytes;
  rec.response_body_bytes = r.response_body_bytes;
  stats_.worker(r.worker).recordRequest(rec);
  if (log_ != nullptr && (*r.snapshot)->mesh().accessLogOn()) log_->worker(r.worker).log(rec);
}

telemetry::ConnectionRecord TelemetryObserver::connectionRecord(const ConnectionReport& r) {
  telemetry::ConnectionRecord rec;
  fillCommon(r, rec);
  rec.bytes_sent = r.bytes_sent;
  rec.bytes_received = r.bytes_received;
  return rec;
}

void TelemetryObserver::onTcpOpen(const ConnectionReport& r) {
  stats_.worker(r.worker).tcpOpened(connectionRecord(r));
}

void TelemetryObserver::onTcpClose(const ConnectionReport& r) {
  telemetry::ConnectionRecord rec = connectionRecord(r);
  stats_.worker(r.worker).tcpClosed(rec);
  if (log_ != nullptr && (*r.snapshot)->mesh().accessLogOn()) log_->worker(r.worker).log(rec);
}

void TelemetryObserver::onTlsFailure(std::size_t worker, Direction direction,
                                     std::string_view reason) {
  stats_.worker(worker).tlsHandshakeFailed(
      direction == Direction::Outbound ? "outbound" : "inbound", reason);
}

void TelemetryObserver::onTlsHandshake(std::size_t worker, Direction direction, bool resumed) {
  stats_.worker(worker).tlsHandshake(direction == Direction::Inbound ? "inbound" : "outbound",
                                     resumed);
}

void TelemetryObserver::onInboundRefused(std::size_t worker, std::string_view reason) {
  stats_.worker(worker).inboundRefused(reason);
}

void TelemetryObserver::onTick(std::size_t worker) {
  if (log_ != nullptr) log_->worker(worker).flush();
}

}  // namespace remora::proxy

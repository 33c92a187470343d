// Telemetry records: what the proxy tells telemetry about each request and
// each opaque TCP connection, and the three consumers of those records
// (per-worker metrics, their Prometheus exposition, the JSON access log).
//
// This header is the contract between the data plane (src/proxy) and
// telemetry (src/telemetry). The proxy fills a RequestRecord when an HTTP
// request ends (response sent, or the stream failed) and a ConnectionRecord
// when an opaque TCP connection opens and closes, then hands them to the
// WorkerStats of the worker it runs on and to the AccessLog.
//
// Names follow Istio's standard metrics and Envoy's access-log vocabulary,
// so that dashboards, alerts and log pipelines written for Istio work
// unchanged (docs/telemetry.md lists every metric, label and field).
//
// Threading: records are plain values, filled and read on one worker.
// WorkerStats belongs to one worker thread: its record methods are called
// only from that thread and take no lock. StatsRegistry::renderPrometheus()
// may run on any thread at the same time (see stats.cc for how that stays
// race-free). AccessLog sinks are per worker too (see AccessLog).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <asio/ip/tcp.hpp>

#include "core/time.h"

namespace remora::telemetry {

// Which side of the hop reports: the client's sidecar reports outbound
// traffic as the source, the server's sidecar inbound traffic as the
// destination (Istio's `reporter` label: "source" / "destination").
enum class Reporter : std::uint8_t { Source, Destination };

std::string_view reporterName(Reporter r) noexcept;  // "source" / "destination"

// Envoy's response flags, same bits and same short names (Envoy's
// StreamInfo::CoreResponseFlag order), so that `response_flags` values in
// metrics and logs read as they do with Istio.
namespace flags {
inline constexpr std::uint32_t kFailedLocalHealthCheck = 1u << 0;             // LH
inline constexpr std::uint32_t kNoHealthyUpstream = 1u << 1;                  // UH
inline constexpr std::uint32_t kUpstreamRequestTimeout = 1u << 2;             // UT
inline constexpr std::uint32_t kLocalReset = 1u << 3;                         // LR
inline constexpr std::uint32_t kUpstreamRemoteReset = 1u << 4;                // UR
inline constexpr std::uint32_t kUpstreamConnectionFailure = 1u << 5;          // UF
inline constexpr std::uint32_t kUpstreamConnectionTermination = 1u << 6;      // UC
inline constexpr std::uint32_t kUpstreamOverflow = 1u << 7;                   // UO
inline constexpr std::uint32_t kNoRouteFound = 1u << 8;                       // NR
inline constexpr std::uint32_t kDelayInjected = 1u << 9;                      // DI
inline constexpr std::uint32_t kFaultInjected = 1u << 10;                     // FI
inline constexpr std::uint32_t kRateLimited = 1u << 11;                       // RL
inline constexpr std::uint32_t kUnauthorizedExternalService = 1u << 12;       // UAEX
inline constexpr std::uint32_t kRateLimitServiceError = 1u << 13;             // RLSE
inline constexpr std::uint32_t kDownstreamConnectionTermination = 1u << 14;   // DC
inline constexpr std::uint32_t kUpstreamRetryLimitExceeded = 1u << 15;        // URX
inline constexpr std::uint32_t kStreamIdleTimeout = 1u << 16;                 // SI
inline constexpr std::uint32_t kInvalidEnvoyRequestHeaders = 1u << 17;        // IH
inline constexpr std::uint32_t kDownstreamProtocolError = 1u << 18;           // DPE
inline constexpr std::uint32_t kUpstreamMaxStreamDurationReached = 1u << 19;  // UMSDR
inline constexpr std::uint32_t kResponseFromCacheFilter = 1u << 20;           // RFCF
inline constexpr std::uint32_t kNoFilterConfigFound = 1u << 21;               // NFCF
inline constexpr std::uint32_t kDurationTimeout = 1u << 22;                   // DT
inline constexpr std::uint32_t kUpstreamProtocolError = 1u << 23;             // UPE
inline constexpr std::uint32_t kNoClusterFound = 1u << 24;                    // NC
inline constexpr std::uint32_t kOverloadManager = 1u << 25;                   // OM
inline constexpr std::uint32_t kDnsResolutionFailed = 1u << 26;               // DF
inline constexpr std::uint32_t kDropOverLoad = 1u << 27;                      // DO
inline constexpr std::uint32_t kDownstreamRemoteReset = 1u << 28;             // DR
inline constexpr std::uint32_t kLastFlag = kDownstreamRemoteReset;
}  // namespace flags

// "-" when no flag is set, otherwise the short names joined by "," in bit
// order, as Envoy prints %RESPONSE_FLAGS% ("UF,URX"). Unknown bits are
// ignored.
std::string responseFlagsString(std::uint32_t response_flags);
// Appends the same text to `out` without a temporary (hot path).
void appendResponseFlags(std::string& out, std::uint32_t response_flags);
// The most bytes that text takes: every flag set, with the commas.
inline constexpr std::size_t kResponseFlagsMost = 100;
// Writes the same text at `at`, which has room for kResponseFlagsMost bytes;
// returns its end.
char* writeResponseFlags(char* at, std::uint32_t response_flags);

// One side of a hop, as Istio's labels name it. Owned by whoever knows the
// workload (the proxy's own identity, or the config snapshot for a peer);
// records only point at it. An empty field is reported as "unknown".
struct Workload {
  std::string name;                    // source_workload / destination_workload (Deployment name)
  std::string namespace_;              // *_workload_namespace
  std::string app;                     // canonical service: *_app and *_canonical_service
  std::string version;                 // canonical revision: *_version and *_canonical_revision
  std::string principal;               // SPIFFE id when the peer was authenticated by mTLS
  std::string cluster = "Kubernetes";  // *_cluster (Istio's default cluster id)
  // Names these contents: whoever fills or changes the fields above sets a
  // fresh newWorkloadRevision(), so that two records with the same nonzero
  // revision have the same workload labels, whatever the address. WorkerStats
  // then recognises a repeat label set without reading the strings (see
  // stats.cc). 0: not named, the strings are always read.
  std::uint64_t revision = 0;
};

// A revision no workload had before in this process (never 0). Any thread.
std::uint64_t newWorkloadRevision() noexcept;

// One HTTP request, seen by one proxy, reported once when it ends.
//
// String views point into the proxy's buffers and need to stay valid only
// for the duration of the call that receives the record: telemetry copies
// what it keeps. An empty view is "absent" (null in the access log, "unknown"
// in a metric label).
struct RequestRecord {
  Reporter reporter = Reporter::Source;
  const Workload* source = nullptr;       // nullable: unknown peer
  const Workload* destination = nullptr;  // nullable: unknown peer

  // The destination service's host ("reviews.default.svc.cluster.local"),
  // and its short name and namespace. When name or namespace is empty it is
  // derived from a host of the form <name>.<namespace>.svc.<domain>.
  std::string_view destination_service;
  std::string_view destination_service_name;
  std::string_view destination_service_namespace;

  std::string_view method;
  std::string_view path;  // as received (x-envoy-original-path if rewritten)
  std::string_view authority;
  std::string_view request_id;  // x-request-id
  std::string_view user_agent;
  std::string_view x_forwarded_for;
  std::string_view protocol = "HTTP/1.1";  // "HTTP/1.0", "HTTP/1.1", "HTTP/2"
  std::string_view requested_server_name;  // SNI, if TLS
  std::string_view route_name;

  std::string_view upstream_cluster;      // "outbound|80||reviews.default.svc.cluster.local"
  asio::ip::tcp::endpoint upstream_host;  // port 0: none chosen
  asio::ip::tcp::endpoint upstream_local_address;  // port 0: not connected
  asio::ip::tcp::endpoint downstream_remote_address;
  asio::ip::tcp::endpoint downstream_local_address;

  bool mutual_tls = false;  // connection_security_policy "mutual_tls" / "none"
  // The SPIFFE URIs mTLS verified (Envoy's %DOWNSTREAM_PEER_URI_SAN% and
  // %UPSTREAM_PEER_URI_SAN%); empty when that side was plaintext.
  std::string_view downstream_peer_uri_san;
  std::string_view upstream_peer_uri_san;
  std::uint32_t response_code = 0;  // 0: no response was sent
  std::uint32_t response_flags = 0;
  std::string_view
      response_code_details;  // "via_upstream", "upstream_reset_before_response_started{...}"
  std::string_view connection_termination_details;
  std::string_view upstream_transport_failure_reason;
  std::optional<std::uint32_t> grpc_status;  // grpc_response_status, when gRPC

  std::uint64_t request_body_bytes = 0;   // bytes_received, istio_request_bytes
  std::uint64_t response_body_bytes = 0;  // bytes_sent, istio_response_bytes

  SystemTime start_time{};              // first byte of the request
  std::chrono::nanoseconds duration{};  // start to last byte of the response
  // Time from the request's last byte sent upstream to the response's first
  // byte, when an upstream answered (x-envoy-upstream-service-time).
  std::optional<std::chrono::nanoseconds> upstream_service_time;
};

// One opaque TCP connection (no HTTP seen), reported when it opens and when
// it closes. Long connections may also report progress (WorkerStats::tcpProgress)
// so byte counters move before the close.
struct ConnectionRecord {
  Reporter reporter = Reporter::Source;
  const Workload* source = nullptr;
  const Workload* destination = nullptr;
  std::string_view destination_service;
  std::string_view destination_service_name;
  std::string_view destination_service_namespace;
  std::string_view upstream_cluster;
  std::string_view requested_server_name;
  asio::ip::tcp::endpoint upstream_host;
  asio::ip::tcp::endpoint upstream_local_address;
  asio::ip::tcp::endpoint downstream_remote_address;
  asio::ip::tcp::endpoint downstream_local_address;
  bool mutual_tls = false;
  std::string_view downstream_peer_uri_san;  // as in RequestRecord
  std::string_view upstream_peer_uri_san;
  std::uint32_t response_flags = 0;
  std::string_view connection_termination_details;
  std::string_view upstream_transport_failure_reason;

  // Cumulative bytes: sent = to the downstream (the response direction,
  // istio_tcp_sent_bytes_total), received = from the downstream
  // (istio_tcp_received_bytes_total).
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;
  // What WorkerStats has already counted (tcpProgress updates them); the
  // proxy leaves them at zero.
  std::uint64_t reported_sent = 0;
  std::uint64_t reported_received = 0;

  SystemTime start_time{};
  std::chrono::nanoseconds duration{};
};

// The metrics of one worker thread. Created by StatsRegistry; lives as long
// as it. Every method is called only from the owning worker's thread, takes
// no lock, and allocates only the first time a label combination is seen.
class WorkerStats {
 public:
  ~WorkerStats();
  WorkerStats(const WorkerStats&) = delete;
  WorkerStats& operator=(const WorkerStats&) = delete;

  // istio_requests_total, istio_request_duration_milliseconds,
  // istio_request_bytes, istio_response_bytes.
  void recordRequest(const RequestRecord& record);
  // istio_tcp_connections_opened_total.
  void tcpOpened(const ConnectionRecord& record);
  // Counts the bytes not yet reported and marks them reported.
  void tcpProgress(ConnectionRecord& record);
  // istio_tcp_connections_closed_total, and the bytes not yet reported.
  void tcpClosed(const ConnectionRecord& record);
  // remora_tls_handshake_failures_total{direction="inbound|outbound",
  // reason="expired|untrusted_chain|identity_not_allowed|...|handshake"}.
  void tlsHandshakeFailed(std::string_view direction, std::string_view reason);
  // remora_tls_handshakes_total{direction="inbound|outbound",
  // session_reused="true|false"}.
  void tlsHandshake(std::string_view direction, bool resumed);
  // remora_inbound_refused_total{reason="strict_mtls|rbac_denied"}.
  void inboundRefused(std::string_view reason);

  // Distinct label sets this worker has seen (requests + TCP); for tests and
  // the admin page.
  std::size_t labelSets() const;

  struct Table;  // the storage; stats.cc

 private:
  friend class StatsRegistry;
  WorkerStats();
  std::unique_ptr<Table> table_;
};

// All workers' metrics. Built once at start with the number of workers;
// worker(i) hands worker i its WorkerStats. renderPrometheus() merges the
// workers' values into Prometheus text exposition format 0.0.4 and may be
// called from any thread while the workers record.
class StatsRegistry {
 public:
  explicit StatsRegistry(std::size_t workers);
  ~StatsRegistry();
  StatsRegistry(const StatsRegistry&) = delete;
  StatsRegistry& operator=(const StatsRegistry&) = delete;

  std::size_t workers() const { return workers_.size(); }
  WorkerStats& worker(std::size_t i);

  // `# HELP` / `# TYPE` then the samples of every metric, counters before
  // histograms, label sets in a stable order.
  std::string renderPrometheus() const;

 private:
  std::vector<std::unique_ptr<WorkerStats>> workers_;
};

// The access log: one JSON object per line, with the fields of Istio's
// default JSON access-log format (docs/telemetry.md).
//
// Each worker logs through its own Sink, which copies the record's fields
// into a buffer it owns; full buffers go to a writer thread that formats the
// lines and does the write(2), so a slow stdout (a blocked pipe) never
// stalls a worker. When the writer falls behind by more than the buffered
// bytes, records are dropped and counted (dropped()), never blocking. See
// access_log.cc for the details.
class AccessLog {
 public:
  class Sink;

  // Writes to `fd` (not closed; STDOUT_FILENO by default), for `workers`
  // workers.
  explicit AccessLog(std::size_t workers, int fd = 1);
  // Flushes what the sinks published and stops the writer thread. Call
  // after the workers stopped (their unpublished lines are flushed too).
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  Sink& worker(std::size_t i);
  // Lines lost because the writer could not keep up; any thread.
  std::uint64_t dropped() const;
  // Lines handed to the writer; any thread.
  std::uint64_t written() const;
  // The two counts in Prometheus text format, for the proxy's /stats
  // (remora_access_log_lines_total, remora_access_log_dropped_total); any
  // thread.
  std::string prometheus() const;

  struct Shared;  // access_log.cc

 private:
  std::unique_ptr<Shared> shared_;
};

class AccessLog::Sink {
 public:
  ~Sink();
  Sink(const Sink&) = delete;
  Sink& operator=(const Sink&) = delete;

  // Called only from the owning worker's thread.
  void log(const RequestRecord& record);
  void log(const ConnectionRecord& record);
  // Hands what is buffered to the writer now. Call from a periodic timer on
  // the worker (the proxy does, every second) so that a quiet worker's
  // last lines do not wait for the next request.
  void flush();

  struct State;  // access_log.cc

 private:
  friend class AccessLog;
  friend struct AccessLog::Shared;
  Sink();
  std::unique_ptr<State> state_;
};

// The JSON line (without the newline) the access log writes for a record;
// also used by tests and the admin page.
void appendAccessLogJson(std::string& out, const RequestRecord& record);
void appendAccessLogJson(std::string& out, const ConnectionRecord& record);
// The most bytes appendAccessLogJson may append for `record`: the room it
// reserves before it writes (tests hold it to its word).
std::size_t accessLogJsonBound(const RequestRecord& record);
std::size_t accessLogJsonBound(const ConnectionRecord& record);

}  // namespace remora::telemetry

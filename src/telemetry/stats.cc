// Per-worker metric tables and their Prometheus exposition.
//
// Why this shape (and not message passing to the worker loops, or a lock):
//
//   * Each worker owns a table of label sets. Only the owner inserts, and
//     only the owner writes the values: a value is a std::atomic<uint64_t>
//     updated with a relaxed load + store (one writer, so no read-modify-
//     write and no lock prefix; an uncontended cache line stays in the
//     worker's core).
//   * The scraper reads concurrently. It never touches the owner's index
//     (an unordered_map); it walks an intrusive singly linked list of the
//     entries, published with a release store of the `next` pointer after
//     the entry's immutable label text is written. Acquire loads on the
//     walk make the label text visible. Values are read with relaxed loads:
//     a scrape may see a request's counter but not yet its histogram, which
//     Prometheus tolerates (the next scrape is consistent again), and every
//     access is atomic, so TSan has nothing to report.
//   * Message passing (post a copy job to each worker loop) would make a
//     scrape wait for the busiest worker and need the loops running; here a
//     scrape works whatever the workers are doing, and costs the workers
//     nothing but the cache lines it reads.
//
// Entries are never freed before the registry: label sets only grow, as in
// Envoy/Istio (the label values come from a bounded mesh: workloads,
// services, codes and flags). A new label set allocates once (the entry and
// its label text); a repeat allocates nothing: the lookup key is built in a
// scratch string the worker reuses.
#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <optional>
#include <unordered_map>

#include <fmt/format.h>

#include "core/assert.h"
#include "telemetry/records.h"

namespace remora::telemetry {

namespace {

// Envoy's default histogram buckets, which Istio keeps for its histograms
// (durations in milliseconds, sizes in bytes alike).
constexpr std::array<double, 19> kBuckets = {0.5,   1,      5,      10,      25,     50,    100,
                                             250,   500,    1000,   2500,    5000,   10000, 30000,
                                             60000, 300000, 600000, 1800000, 3600000};
constexpr std::size_t kSlots = kBuckets.size() + 1;  // + the +Inf overflow slot

// Bounds in integer units: durations are recorded in microseconds, so a
// bound of 0.5 ms is 500 us; sizes are integers, so `v <= 0.5` is `v <= 0`.
constexpr std::array<std::uint64_t, kBuckets.size()> boundsScaled(double scale) {
  std::array<std::uint64_t, kBuckets.size()> out{};
  for (std::size_t i = 0; i < kBuckets.size(); ++i) {
    out[i] = static_cast<std::uint64_t>(kBuckets[i] * scale);
  }
  return out;
}
constexpr auto kMicrosBounds = boundsScaled(1000.0);
constexpr auto kByteBounds = boundsScaled(1.0);

// A value with one writer (the owning worker) and any number of readers.
class Cell {
 public:
  void add(std::uint64_t n) noexcept {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

class Histogram {
 public:
  // Non-cumulative slots: the owner touches one; the scrape accumulates.
  void record(std::uint64_t value, const std::array<std::uint64_t, kBuckets.size()>& bounds) {
    const auto it = std::lower_bound(bounds.begin(), bounds.end(), value);
    slots_[static_cast<std::size_t>(it - bounds.begin())].add(1);
    sum_.add(value);
  }
  std::array<Cell, kSlots> slots_;
  Cell sum_;
};

struct RequestEntry {
  std::string key;     // the lookup key (see buildRequestKey); owner-only after publish
  std::string labels;  // `reporter="source",...` rendered once; immutable after publish
  std::uint64_t hash = 0;
  RequestEntry* same_hash = nullptr;  // owner-only collision chain
  std::atomic<RequestEntry*> next{nullptr};

  Cell requests;
  Histogram duration_us;
  Histogram request_bytes;
  Histogram response_bytes;
};

struct TcpEntry {
  std::string key;
  std::string labels;
  std::uint64_t hash = 0;
  TcpEntry* same_hash = nullptr;
  std::atomic<TcpEntry*> next{nullptr};

  Cell opened;
  Cell closed;
  Cell sent;
  Cell received;
};

// One labelled counter of the proxy's own (remora_*) families.
struct CounterEntry {
  std::string key;
  std::string labels;
  std::uint64_t hash = 0;
  CounterEntry* same_hash = nullptr;
  std::atomic<CounterEntry*> next{nullptr};

  Cell count;
};

// Owner-side index plus the published list, for one entry type.
template <typename Entry>
class EntryTable {
 public:
  // The entry for `key`, created (and published) on first sight.
  template <typename RenderLabels>
  Entry& find(std::string_view key, RenderLabels&& render) {
    const std::uint64_t hash = std::hash<std::string_view>{}(key);
    auto it = index_.find(hash);
    if (it != index_.end()) {
      for (Entry* e = it->second; e != nullptr; e = e->same_hash) {
        if (e->key == key) return *e;
      }
    }
    auto owned = std::make_unique<Entry>();
    Entry* e = owned.get();
    e->key.assign(key);
    e->hash = hash;
    render(e->labels);
    if (it != index_.end()) {
      e->same_hash = it->second;
      it->second = e;
    } else {
      index_.emplace(hash, e);
    }
    // Publish: everything above happens-before a scraper's acquire load.
    if (tail_ == nullptr) {
      head_.store(e, std::memory_order_release);
    } else {
      tail_->next.store(e, std::memory_order_release);
    }
    tail_ = e;
    owned_.push_back(std::move(owned));
    count_.store(owned_.size(), std::memory_order_relaxed);
    return *e;
  }

  // Any thread.
  template <typename Fn>
  void forEach(Fn&& fn) const {
    for (const Entry* e = head_.load(std::memory_order_acquire); e != nullptr;
         e = e->next.load(std::memory_order_acquire)) {
      fn(*e);
    }
  }
  std::size_t size() const { return count_.load(std::memory_order_relaxed); }

 private:
  std::unordered_map<std::uint64_t, Entry*> index_;  // owner-only
  std::vector<std::unique_ptr<Entry>> owned_;        // owner-only
  Entry* tail_ = nullptr;                            // owner-only
  std::atomic<Entry*> head_{nullptr};
  std::atomic<std::size_t> count_{0};
};

constexpr std::string_view kUnknown = "unknown";

std::string_view orUnknown(std::string_view v) { return v.empty() ? kUnknown : v; }

// Appends `v` length-prefixed, so that no two field sequences share a key.
void appendKeyField(std::string& key, std::string_view v) {
  const auto n = static_cast<std::uint32_t>(v.size());
  key.append(reinterpret_cast<const char*>(&n), sizeof(n));
  key.append(v);
}

void appendWorkloadKey(std::string& key, const Workload* w) {
  if (w == nullptr) {
    key.push_back('\0');
    return;
  }
  key.push_back('\1');
  appendKeyField(key, w->name);
  appendKeyField(key, w->namespace_);
  appendKeyField(key, w->app);
  appendKeyField(key, w->version);
  appendKeyField(key, w->principal);
  appendKeyField(key, w->cluster);
}

// Prometheus label-value escaping: backslash, double quote and newline.
void appendEscaped(std::string& out, std::string_view v) {
  for (char c : v) {
    switch (c) {
      case '\\': out.append("\\\\"); break;
      case '"': out.append("\\\""); break;
      case '\n': out.append("\\n"); break;
      default: out.push_back(c);
    }
  }
}

void appendLabel(std::string& out, std::string_view name, std::string_view value) {
  if (!out.empty()) out.push_back(',');
  out.append(name);
  out.append("=\"");
  appendEscaped(out, orUnknown(value));
  out.push_back('"');
}

// The service's short name and namespace: given, or derived from a host of
// the form <name>.<namespace>.svc[.<domain>].
struct ServiceNames {
  std::string_view name;
  std::string_view ns;
};
ServiceNames serviceNames(std::string_view host, std::string_view name, std::string_view ns) {
  if (!name.empty() && !ns.empty()) return {name, ns};
  ServiceNames out{name, ns};
  const auto dot = host.find('.');
  if (dot == std::string_view::npos) {
    if (out.name.empty()) out.name = host;
    return out;
  }
  if (out.name.empty()) out.name = host.substr(0, dot);
  const auto rest = host.substr(dot + 1);
  const auto dot2 = rest.find('.');
  if (out.ns.empty() && dot2 != std::string_view::npos &&
      rest.substr(dot2 + 1).starts_with("svc")) {
    out.ns = rest.substr(0, dot2);
  }
  return out;
}

void appendPeerLabels(std::string& out, std::string_view side, const Workload* w) {
  static const Workload kNone{.cluster = ""};
  const Workload& wl = w != nullptr ? *w : kNone;
  const std::string prefix(side);
  appendLabel(out, prefix + "_workload", wl.name);
  appendLabel(out, prefix + "_workload_namespace", wl.namespace_);
  appendLabel(out, prefix + "_principal", wl.principal);
  appendLabel(out, prefix + "_app", wl.app);
  appendLabel(out, prefix + "_version", wl.version);
  appendLabel(out, prefix + "_canonical_service", wl.app);
  appendLabel(out, prefix + "_canonical_revision", wl.version.empty() ? "latest" : wl.version);
  appendLabel(out, prefix + "_cluster", wl.cluster);
}

template <typename Record>
void appendCommonLabels(std::string& out, const Record& r) {
  appendLabel(out, "reporter", reporterName(r.reporter));
  appendPeerLabels(out, "source", r.source);
  appendPeerLabels(out, "destination", r.destination);
  const auto names = serviceNames(r.destination_service, r.destination_service_name,
                                  r.destination_service_namespace);
  appendLabel(out, "destination_service", r.destination_service);
  appendLabel(out, "destination_service_name", names.name);
  appendLabel(out, "destination_service_namespace", names.ns);
}

// Istio's connection_security_policy: what the destination saw ("mutual_tls"
// or "none"); a source cannot know the server's policy and says "unknown".
std::string_view securityPolicy(Reporter reporter, bool mtls) {
  if (reporter == Reporter::Source) return "unknown";
  return mtls ? "mutual_tls" : "none";
}

std::atomic<std::uint64_t> g_workload_revisions{0};

}  // namespace

std::uint64_t newWorkloadRevision() noexcept {
  return g_workload_revisions.fetch_add(1, std::memory_order_relaxed) + 1;
}

namespace {

// The revision a record's workload is known by: 0 for none (null), or
// nullopt when it has no revision and its strings must be read.
std::optional<std::uint64_t> revisionOf(const Workload* w) {
  if (w == nullptr) return 0;
  if (w->revision == 0) return std::nullopt;
  return w->revision;
}

// What identifies a request's label set, as the last request recorded had
// it: the workloads by revision, the rest by value. A sidecar's requests
// nearly all repeat one label set (its callers and services are few, and
// one connection's requests share all but the code and flags), so the
// next request usually matches it field for field and skips building,
// hashing and comparing the key, its biggest cost (and some 30 cache
// lines at low load, docs/performance.md). The strings are the record's
// copied, reused without allocating once they have held the longest. The
// fields are the key's (appendCommonKey, requestEntryByKey): a field added
// to the key must be added here too.
struct LastRequestLabels {
  RequestEntry* entry = nullptr;  // null: nothing remembered
  std::uint64_t source = 0;
  std::uint64_t destination = 0;
  Reporter reporter = Reporter::Source;
  bool mutual_tls = false;
  std::uint32_t response_flags = 0;
  std::uint32_t response_code = 0;
  std::optional<std::uint32_t> grpc_status;
  std::string protocol;
  std::string destination_service;
  std::string destination_service_name;
  std::string destination_service_namespace;

  RequestEntry* match(const RequestRecord& r, std::uint64_t source_revision,
                      std::uint64_t destination_revision) const {
    if (entry == nullptr || source != source_revision || destination != destination_revision ||
        reporter != r.reporter || mutual_tls != r.mutual_tls ||
        response_flags != r.response_flags || response_code != r.response_code ||
        grpc_status != r.grpc_status || protocol != r.protocol ||
        destination_service != r.destination_service ||
        destination_service_name != r.destination_service_name ||
        destination_service_namespace != r.destination_service_namespace) {
      return nullptr;
    }
    return entry;
  }
  void remember(const RequestRecord& r, std::uint64_t source_revision,
                std::uint64_t destination_revision, RequestEntry* e) {
    entry = e;
    source = source_revision;
    destination = destination_revision;
    reporter = r.reporter;
    mutual_tls = r.mutual_tls;
    response_flags = r.response_flags;
    response_code = r.response_code;
    grpc_status = r.grpc_status;
    protocol.assign(r.protocol);
    destination_service.assign(r.destination_service);
    destination_service_name.assign(r.destination_service_name);
    destination_service_namespace.assign(r.destination_service_namespace);
  }
};

}  // namespace

struct WorkerStats::Table {
  EntryTable<RequestEntry> requests;
  EntryTable<TcpEntry> tcp;
  EntryTable<CounterEntry> tls_failures;
  EntryTable<CounterEntry> refused;
  EntryTable<CounterEntry> tls_handshakes;
  std::string scratch;  // the lookup key, reused so a repeat allocates nothing
  LastRequestLabels last_request;

  template <typename Record>
  void appendCommonKey(const Record& r) {
    scratch.push_back(static_cast<char>(r.reporter));
    appendWorkloadKey(scratch, r.source);
    appendWorkloadKey(scratch, r.destination);
    appendKeyField(scratch, r.destination_service);
    appendKeyField(scratch, r.destination_service_name);
    appendKeyField(scratch, r.destination_service_namespace);
    scratch.push_back(r.mutual_tls ? '\1' : '\0');
    const std::uint32_t f = r.response_flags;
    scratch.append(reinterpret_cast<const char*>(&f), sizeof(f));
  }

  RequestEntry& requestEntry(const RequestRecord& r) {
    const auto source = revisionOf(r.source);
    const auto destination = revisionOf(r.destination);
    const bool named = source && destination;
    if (named) {
      if (RequestEntry* e = last_request.match(r, *source, *destination)) return *e;
    }
    RequestEntry& e = requestEntryByKey(r);
    if (named) last_request.remember(r, *source, *destination, &e);
    return e;
  }

  // Keyed by the same fields as LastRequestLabels compares.
  RequestEntry& requestEntryByKey(const RequestRecord& r) {
    scratch.clear();
    appendCommonKey(r);
    appendKeyField(scratch, r.protocol);
    const std::uint32_t code = r.response_code;
    scratch.append(reinterpret_cast<const char*>(&code), sizeof(code));
    const std::int64_t grpc = r.grpc_status ? static_cast<std::int64_t>(*r.grpc_status) : -1;
    scratch.append(reinterpret_cast<const char*>(&grpc), sizeof(grpc));
    return requests.find(scratch, [&](std::string& out) {
      appendCommonLabels(out, r);
      appendLabel(out, "request_protocol", protocolLabel(r.protocol, r.grpc_status.has_value()));
      appendLabel(out, "response_code", std::to_string(r.response_code));
      appendLabel(out, "grpc_response_status",
                  r.grpc_status ? std::to_string(*r.grpc_status) : std::string());
      std::string flags_text;
      appendResponseFlags(flags_text, r.response_flags);
      appendLabel(out, "response_flags", flags_text);
      appendLabel(out, "connection_security_policy", securityPolicy(r.reporter, r.mutual_tls));
    });
  }

  TcpEntry& tcpEntry(const ConnectionRecord& r) {
    scratch.clear();
    appendCommonKey(r);
    return tcp.find(scratch, [&](std::string& out) {
      appendCommonLabels(out, r);
      appendLabel(out, "request_protocol", "tcp");
      std::string flags_text;
      appendResponseFlags(flags_text, r.response_flags);
      appendLabel(out, "response_flags", flags_text);
      appendLabel(out, "connection_security_policy", securityPolicy(r.reporter, r.mutual_tls));
    });
  }

  // Istio's request_protocol: "http" for HTTP/1.x, "grpc" for gRPC, "http"
  // for HTTP/2 without gRPC.
  static std::string_view protocolLabel(std::string_view protocol, bool grpc) {
    if (grpc) return "grpc";
    if (protocol.empty()) return "http";
    return "http";
  }
};

WorkerStats::WorkerStats() : table_(std::make_unique<Table>()) {}
WorkerStats::~WorkerStats() = default;

void WorkerStats::recordRequest(const RequestRecord& record) {
  RequestEntry& e = table_->requestEntry(record);
  e.requests.add(1);
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(record.duration).count();
  e.duration_us.record(us > 0 ? static_cast<std::uint64_t>(us) : 0, kMicrosBounds);
  e.request_bytes.record(record.request_body_bytes, kByteBounds);
  e.response_bytes.record(record.response_body_bytes, kByteBounds);
}

void WorkerStats::tcpOpened(const ConnectionRecord& record) {
  table_->tcpEntry(record).opened.add(1);
}

void WorkerStats::tcpProgress(ConnectionRecord& record) {
  TcpEntry& e = table_->tcpEntry(record);
  if (record.bytes_sent > record.reported_sent) {
    e.sent.add(record.bytes_sent - record.reported_sent);
    record.reported_sent = record.bytes_sent;
  }
  if (record.bytes_received > record.reported_received) {
    e.received.add(record.bytes_received - record.reported_received);
    record.reported_received = record.bytes_received;
  }
}

void WorkerStats::tcpClosed(const ConnectionRecord& record) {
  TcpEntry& e = table_->tcpEntry(record);
  e.closed.add(1);
  if (record.bytes_sent > record.reported_sent)
    e.sent.add(record.bytes_sent - record.reported_sent);
  if (record.bytes_received > record.reported_received) {
    e.received.add(record.bytes_received - record.reported_received);
  }
}

void WorkerStats::tlsHandshakeFailed(std::string_view direction, std::string_view reason) {
  std::string& key = table_->scratch;
  key.clear();
  appendKeyField(key, direction);
  appendKeyField(key, reason);
  table_->tls_failures
      .find(key,
            [&](std::string& out) {
              appendLabel(out, "direction", direction);
              appendLabel(out, "reason", reason);
            })
      .count.add(1);
}

void WorkerStats::tlsHandshake(std::string_view direction, bool resumed) {
  std::string_view reused = resumed ? "true" : "false";
  std::string& key = table_->scratch;
  key.clear();
  appendKeyField(key, direction);
  appendKeyField(key, reused);
  table_->tls_handshakes
      .find(key,
            [&](std::string& out) {
              appendLabel(out, "direction", direction);
              appendLabel(out, "session_reused", reused);
            })
      .count.add(1);
}

void WorkerStats::inboundRefused(std::string_view reason) {
  std::string& key = table_->scratch;
  key.clear();
  appendKeyField(key, reason);
  table_->refused.find(key, [&](std::string& out) { appendLabel(out, "reason", reason); })
      .count.add(1);
}

std::size_t WorkerStats::labelSets() const { return table_->requests.size() + table_->tcp.size(); }

StatsRegistry::StatsRegistry(std::size_t workers) {
  REMORA_CHECK(workers > 0, "a StatsRegistry needs at least one worker");
  workers_.reserve(workers);
  for (std::size_t i = 0; i < workers; ++i) {
    workers_.push_back(std::unique_ptr<WorkerStats>(new WorkerStats()));
  }
}

StatsRegistry::~StatsRegistry() = default;

WorkerStats& StatsRegistry::worker(std::size_t i) {
  REMORA_CHECK(i < workers_.size(), "worker {} of {}", i, workers_.size());
  return *workers_[i];
}

namespace {

struct MergedHistogram {
  std::array<std::uint64_t, kSlots> slots{};
  std::uint64_t sum = 0;
  void add(const Histogram& h) {
    for (std::size_t i = 0; i < kSlots; ++i) slots[i] += h.slots_[i].get();
    sum += h.sum_.get();
  }
};

struct MergedRequest {
  std::uint64_t requests = 0;
  MergedHistogram duration_us, request_bytes, response_bytes;
};

struct MergedTcp {
  std::uint64_t opened = 0, closed = 0, sent = 0, received = 0;
};

void appendHeader(std::string& out, std::string_view name, std::string_view type,
                  std::string_view help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

template <typename Map, typename Get>
void appendCounter(std::string& out, std::string_view name, std::string_view help,
                   const Map& merged, Get&& get) {
  appendHeader(out, name, "counter", help);
  for (const auto& [labels, value] : merged) {
    fmt::format_to(std::back_inserter(out), "{}{{{}}} {}\n", name, labels, get(value));
  }
}

// A bucket bound as Envoy prints it ("%.32g": 0.5, 1, 3600000).
std::string formatBound(double b) { return fmt::format("{}", b); }

template <typename Map, typename Get>
void appendHistogram(std::string& out, std::string_view name, std::string_view help,
                     const Map& merged, Get&& get, double sum_divisor) {
  appendHeader(out, name, "histogram", help);
  static const auto kBoundText = [] {
    std::array<std::string, kBuckets.size()> t;
    for (std::size_t i = 0; i < kBuckets.size(); ++i) t[i] = formatBound(kBuckets[i]);
    return t;
  }();
  auto it = std::back_inserter(out);
  for (const auto& [labels, value] : merged) {
    const MergedHistogram& h = get(value);
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
      cumulative += h.slots[i];
      fmt::format_to(it, "{}_bucket{{{},le=\"{}\"}} {}\n", name, labels, kBoundText[i], cumulative);
    }
    cumulative += h.slots[kBuckets.size()];
    fmt::format_to(it, "{}_bucket{{{},le=\"+Inf\"}} {}\n", name, labels, cumulative);
    if (sum_divisor == 1.0) {
      fmt::format_to(it, "{}_sum{{{}}} {}\n", name, labels, h.sum);
    } else {
      fmt::format_to(it, "{}_sum{{{}}} {}\n", name, labels,
                     static_cast<double>(h.sum) / sum_divisor);
    }
    fmt::format_to(it, "{}_count{{{}}} {}\n", name, labels, cumulative);
  }
}

}  // namespace

std::string StatsRegistry::renderPrometheus() const {
  // Merge by label text; std::map keeps the output order stable.
  std::map<std::string_view, MergedRequest> requests;
  std::map<std::string_view, MergedTcp> tcp;
  std::map<std::string_view, std::uint64_t> tls_failures;
  std::map<std::string_view, std::uint64_t> refused;
  std::map<std::string_view, std::uint64_t> tls_handshakes;
  for (const auto& w : workers_) {
    w->table_->tls_handshakes.forEach(
        [&](const CounterEntry& e) { tls_handshakes[e.labels] += e.count.get(); });
    w->table_->tls_failures.forEach(
        [&](const CounterEntry& e) { tls_failures[e.labels] += e.count.get(); });
    w->table_->refused.forEach([&](const CounterEntry& e) { refused[e.labels] += e.count.get(); });
    w->table_->requests.forEach([&](const RequestEntry& e) {
      MergedRequest& m = requests[e.labels];
      m.requests += e.requests.get();
      m.duration_us.add(e.duration_us);
      m.request_bytes.add(e.request_bytes);
      m.response_bytes.add(e.response_bytes);
    });
    w->table_->tcp.forEach([&](const TcpEntry& e) {
      MergedTcp& m = tcp[e.labels];
      m.opened += e.opened.get();
      m.closed += e.closed.get();
      m.sent += e.sent.get();
      m.received += e.received.get();
    });
  }

  std::string out;
  out.reserve(1024 + requests.size() * 16 * 1024 + tcp.size() * 2048);
  appendCounter(out, "istio_requests_total", "Total requests handled by the sidecar.", requests,
                [](const MergedRequest& m) { return m.requests; });
  appendCounter(out, "istio_tcp_connections_opened_total", "TCP connections opened.", tcp,
                [](const MergedTcp& m) { return m.opened; });
  appendCounter(out, "istio_tcp_connections_closed_total", "TCP connections closed.", tcp,
                [](const MergedTcp& m) { return m.closed; });
  appendCounter(out, "istio_tcp_received_bytes_total",
                "Bytes received from the downstream on TCP connections.", tcp,
                [](const MergedTcp& m) { return m.received; });
  appendCounter(out, "istio_tcp_sent_bytes_total",
                "Bytes sent to the downstream on TCP connections.", tcp,
                [](const MergedTcp& m) { return m.sent; });
  appendCounter(out, "remora_tls_handshake_failures_total",
                "mTLS handshakes that failed, by direction and by why the peer was refused.",
                tls_failures, [](std::uint64_t n) { return n; });
  appendCounter(out, "remora_tls_handshakes_total",
                "mTLS handshakes completed, by direction and whether a session was resumed.",
                tls_handshakes, [](std::uint64_t n) { return n; });
  appendCounter(out, "remora_inbound_refused_total",
                "Inbound connections closed unanswered: plaintext or non-mesh TLS under STRICT "
                "mTLS (strict_mtls), TCP denied by an AuthorizationPolicy (rbac_denied).",
                refused, [](std::uint64_t n) { return n; });
  appendHistogram(
      out, "istio_request_bytes", "HTTP request body sizes in bytes.", requests,
      [](const MergedRequest& m) -> const MergedHistogram& { return m.request_bytes; }, 1.0);
  appendHistogram(
      out, "istio_request_duration_milliseconds", "HTTP request durations in milliseconds.",
      requests, [](const MergedRequest& m) -> const MergedHistogram& { return m.duration_us; },
      1000.0);
  appendHistogram(
      out, "istio_response_bytes", "HTTP response body sizes in bytes.", requests,
      [](const MergedRequest& m) -> const MergedHistogram& { return m.response_bytes; }, 1.0);
  return out;
}

}  // namespace remora::telemetry

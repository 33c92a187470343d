// Telemetry on the hot path and at scrape time, each against a floor
// measured in the same run:
//   RecordRequest   WorkerStats::recordRequest (label-set lookup, counter,
//                   three histograms) vs one relaxed atomic increment, the
//                   least any per-request metric can cost.
//   Scrape/N        StatsRegistry::renderPrometheus over N label sets on 2
//                   workers vs formatting the same number of sample lines
//                   from a flat array with fmt (no merge, no lookup).
//   AccessLogLine   appendAccessLogJson vs nlohmann::json building and
//                   dumping the same object.
// Items are requests, label sets and lines.
#include <atomic>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "core/json.h"
#include "telemetry/records.h"

namespace {

using namespace remora::telemetry;  // NOLINT: a .cc file

const Workload kSource{.name = "productpage-v1",
                       .namespace_ = "default",
                       .app = "productpage",
                       .version = "v1",
                       .principal = "spiffe://cluster.local/ns/default/sa/bookinfo-productpage"};
const Workload kDestination{.name = "reviews-v2",
                            .namespace_ = "default",
                            .app = "reviews",
                            .version = "v2",
                            .principal = "spiffe://cluster.local/ns/default/sa/bookinfo-reviews"};

RequestRecord request() {
  RequestRecord r;
  r.source = &kSource;
  r.destination = &kDestination;
  r.destination_service = "reviews.default.svc.cluster.local";
  r.method = "GET";
  r.path = "/reviews/0";
  r.authority = "reviews:9080";
  r.request_id = "8f2c2f4e-1111-2222-3333-444455556666";
  r.user_agent = "Go-http-client/1.1";
  r.upstream_cluster = "outbound|9080||reviews.default.svc.cluster.local";
  r.upstream_host = {asio::ip::make_address("10.244.0.7"), 9080};
  r.downstream_remote_address = {asio::ip::make_address("10.244.0.5"), 49818};
  r.downstream_local_address = {asio::ip::make_address("10.96.1.1"), 9080};
  r.response_code = 200;
  r.response_code_details = "via_upstream";
  r.mutual_tls = true;
  r.response_body_bytes = 295;
  r.duration = std::chrono::microseconds(3'400);
  return r;
}

void BM_Counter_RecordRequest(benchmark::State& state) {
  std::atomic<std::uint64_t> counter{0};
  for (auto _ : state) {
    counter.fetch_add(1, std::memory_order_relaxed);
    benchmark::DoNotOptimize(counter);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void BM_Remora_RecordRequest(benchmark::State& state) {
  StatsRegistry reg(1);
  WorkerStats& stats = reg.worker(0);
  RequestRecord r = request();
  std::uint32_t i = 0;
  for (auto _ : state) {
    // A handful of codes, as real traffic has: every call is a repeat.
    r.response_code = (++i & 7) == 0 ? 503 : 200;
    r.duration = std::chrono::microseconds(i & 0xffff);
    stats.recordRequest(r);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetLabel("vs:Counter");
}

void BM_Format_Scrape(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  // What the merged output holds per label set: 1 counter line, 3
  // histograms of 22 lines.
  std::vector<std::uint64_t> values(n * 67, 42);
  const std::string labels(900, 'x');
  for (auto _ : state) {
    std::string out;
    auto it = std::back_inserter(out);
    for (std::size_t i = 0; i < values.size(); ++i) {
      fmt::format_to(it, "istio_metric{{{}}} {}\n", labels, values[i]);
    }
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}

void BM_Remora_Scrape(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  StatsRegistry reg(2);
  std::vector<Workload> peers(n);
  for (std::size_t i = 0; i < n; ++i) {
    peers[i] = kSource;
    peers[i].name = "peer-" + std::to_string(i);
    RequestRecord r = request();
    r.source = &peers[i];
    reg.worker(0).recordRequest(r);
    reg.worker(1).recordRequest(r);  // both workers hold each set: a real merge
  }
  for (auto _ : state) {
    std::string out = reg.renderPrometheus();
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
  state.SetLabel("vs:Format");
}

void BM_Nlohmann_AccessLogLine(benchmark::State& state) {
  const RequestRecord r = request();
  for (auto _ : state) {
    remora::Json j = {{"authority", r.authority},
                      {"bytes_received", r.request_body_bytes},
                      {"bytes_sent", r.response_body_bytes},
                      {"connection_termination_details", nullptr},
                      {"downstream_local_address", "10.96.1.1:9080"},
                      {"downstream_remote_address", "10.244.0.5:49818"},
                      {"duration", 3},
                      {"method", r.method},
                      {"path", r.path},
                      {"protocol", r.protocol},
                      {"request_id", r.request_id},
                      {"requested_server_name", nullptr},
                      {"response_code", r.response_code},
                      {"response_code_details", r.response_code_details},
                      {"response_flags", "-"},
                      {"route_name", nullptr},
                      {"start_time", "2025-01-01T00:00:00.000Z"},
                      {"upstream_cluster", r.upstream_cluster},
                      {"upstream_host", "10.244.0.7:9080"},
                      {"upstream_local_address", nullptr},
                      {"upstream_service_time", nullptr},
                      {"upstream_transport_failure_reason", nullptr},
                      {"user_agent", r.user_agent},
                      {"x_forwarded_for", nullptr}};
    std::string line = j.dump();
    benchmark::DoNotOptimize(line);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void BM_Remora_AccessLogLine(benchmark::State& state) {
  const RequestRecord r = request();
  std::string line;
  for (auto _ : state) {
    line.clear();  // a sink reuses its buffer the same way
    appendAccessLogJson(line, r);
    benchmark::DoNotOptimize(line);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetLabel("vs:Nlohmann");
}

BENCHMARK(BM_Counter_RecordRequest);
BENCHMARK(BM_Remora_RecordRequest);
BENCHMARK(BM_Format_Scrape)->Arg(10)->Arg(100)->Arg(1000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Remora_Scrape)->Arg(10)->Arg(100)->Arg(1000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Nlohmann_AccessLogLine);
BENCHMARK(BM_Remora_AccessLogLine);

}  // namespace

BENCHMARK_MAIN();

#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "telemetry/records.h"
#include "tests/telemetry/prom_parse.h"

long allocationCount();  // tests/http/alloc_counter.cc

namespace remora::telemetry {
namespace {

using test::parseExposition;

const Workload kProductpage{
    .name = "productpage-v1",
    .namespace_ = "default",
    .app = "productpage",
    .version = "v1",
    .principal = "spiffe://cluster.local/ns/default/sa/bookinfo-productpage"};
const Workload kReviews{.name = "reviews-v2",
                        .namespace_ = "default",
                        .app = "reviews",
                        .version = "v2",
                        .principal = "spiffe://cluster.local/ns/default/sa/bookinfo-reviews"};

RequestRecord outbound(std::uint32_t code = 200) {
  RequestRecord r;
  r.reporter = Reporter::Source;
  r.source = &kProductpage;
  r.destination = &kReviews;
  r.destination_service = "reviews.default.svc.cluster.local";
  r.method = "GET";
  r.path = "/reviews/0";
  r.response_code = code;
  r.mutual_tls = true;
  r.request_body_bytes = 0;
  r.response_body_bytes = 295;
  r.duration = std::chrono::microseconds(3'400);
  return r;
}

TEST(ResponseFlags, EnvoyNamesInBitOrder) {
  struct Case {
    std::uint32_t bits;
    std::string text;
  };
  const Case cases[] = {
      {0, "-"},
      {flags::kUpstreamConnectionFailure, "UF"},
      {flags::kUpstreamConnectionFailure | flags::kUpstreamRetryLimitExceeded, "UF,URX"},
      {flags::kNoHealthyUpstream, "UH"},
      {flags::kNoRouteFound, "NR"},
      {flags::kUpstreamRequestTimeout, "UT"},
      {flags::kStreamIdleTimeout, "SI"},
      {flags::kDownstreamConnectionTermination, "DC"},
      {flags::kUpstreamConnectionTermination, "UC"},
      {flags::kLocalReset | flags::kDownstreamRemoteReset, "LR,DR"},
      {flags::kUnauthorizedExternalService | flags::kDownstreamProtocolError, "UAEX,DPE"},
      {1u << 31, "-"},  // an unknown bit is ignored
      {~0u,
       "LH,UH,UT,LR,UR,UF,UC,UO,NR,DI,FI,RL,UAEX,RLSE,DC,URX,SI,IH,DPE,UMSDR,RFCF,NFCF,DT,UPE,NC,"
       "OM,DF,DO,DR"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(responseFlagsString(c.bits), c.text) << c.bits;
  }
}

TEST(StatsRegistry, EmptyRegistryRendersValidFamilies) {
  StatsRegistry reg(2);
  auto ex = parseExposition(reg.renderPrometheus());
  ASSERT_EQ(ex.error, "");
  EXPECT_EQ(ex.types["istio_requests_total"], "counter");
  EXPECT_EQ(ex.types["istio_request_duration_milliseconds"], "histogram");
  EXPECT_EQ(ex.types["istio_request_bytes"], "histogram");
  EXPECT_EQ(ex.types["istio_response_bytes"], "histogram");
  EXPECT_EQ(ex.types["istio_tcp_sent_bytes_total"], "counter");
  EXPECT_EQ(ex.types["istio_tcp_received_bytes_total"], "counter");
  EXPECT_EQ(ex.types["istio_tcp_connections_opened_total"], "counter");
  EXPECT_EQ(ex.types["istio_tcp_connections_closed_total"], "counter");
  EXPECT_TRUE(ex.samples.empty());
}

TEST(StatsRegistry, RequestCountsMergeAcrossWorkersWithIstioLabels) {
  StatsRegistry reg(3);
  reg.worker(0).recordRequest(outbound());
  reg.worker(1).recordRequest(outbound());
  reg.worker(2).recordRequest(outbound());
  reg.worker(1).recordRequest(outbound(503));
  auto ex = parseExposition(reg.renderPrometheus());
  ASSERT_EQ(ex.error, "");
  const std::map<std::string, std::string> labels = {
      {"reporter", "source"},
      {"source_workload", "productpage-v1"},
      {"source_workload_namespace", "default"},
      {"source_principal", "spiffe://cluster.local/ns/default/sa/bookinfo-productpage"},
      {"source_app", "productpage"},
      {"source_version", "v1"},
      {"source_canonical_service", "productpage"},
      {"source_canonical_revision", "v1"},
      {"source_cluster", "Kubernetes"},
      {"destination_workload", "reviews-v2"},
      {"destination_workload_namespace", "default"},
      {"destination_principal", "spiffe://cluster.local/ns/default/sa/bookinfo-reviews"},
      {"destination_app", "reviews"},
      {"destination_version", "v2"},
      {"destination_canonical_service", "reviews"},
      {"destination_canonical_revision", "v2"},
      {"destination_cluster", "Kubernetes"},
      {"destination_service", "reviews.default.svc.cluster.local"},
      {"destination_service_name", "reviews"},
      {"destination_service_namespace", "default"},
      {"request_protocol", "http"},
      {"response_code", "200"},
      {"grpc_response_status", "unknown"},
      {"response_flags", "-"},
      {"connection_security_policy", "unknown"},  // a source cannot know (Istio's rule)
  };
  ASSERT_EQ(ex.find("istio_requests_total").size(), 2u);
  const auto* s = ex.find("istio_requests_total", labels).at(0);
  EXPECT_EQ(s->labels, labels);  // exactly Istio's label set, nothing more
  EXPECT_EQ(s->value, 3);
  auto l503 = labels;
  l503["response_code"] = "503";
  EXPECT_EQ(ex.value("istio_requests_total", l503), 1);
}

TEST(StatsRegistry, HistogramBucketsAreIstiosAndCumulative) {
  StatsRegistry reg(1);
  auto r = outbound();
  r.duration = std::chrono::microseconds(500);  // exactly 0.5 ms: the first bucket
  reg.worker(0).recordRequest(r);
  r.duration = std::chrono::microseconds(3'400);
  reg.worker(0).recordRequest(r);
  r.duration = std::chrono::hours(2);  // beyond the last bound
  reg.worker(0).recordRequest(r);
  auto ex = parseExposition(reg.renderPrometheus());
  ASSERT_EQ(ex.error, "");
  auto buckets = ex.find("istio_request_duration_milliseconds_bucket");
  std::vector<std::string> les;
  std::vector<double> counts;
  for (const auto* b : buckets) {
    les.push_back(b->labels.at("le"));
    counts.push_back(b->value);
  }
  const std::vector<std::string> want_les = {
      "0.5",  "1",    "5",     "10",    "25",    "50",     "100",    "250",     "500",     "1000",
      "2500", "5000", "10000", "30000", "60000", "300000", "600000", "1800000", "3600000", "+Inf"};
  EXPECT_EQ(les, want_les);
  EXPECT_EQ(counts[0], 1);   // le=0.5
  EXPECT_EQ(counts[1], 1);   // le=1
  EXPECT_EQ(counts[2], 2);   // le=5 takes the 3.4 ms one
  EXPECT_EQ(counts[18], 2);  // le=3600000
  EXPECT_EQ(counts[19], 3);  // +Inf
  EXPECT_EQ(ex.value("istio_request_duration_milliseconds_count"), 3);
  EXPECT_DOUBLE_EQ(*ex.value("istio_request_duration_milliseconds_sum"), 0.5 + 3.4 + 7'200'000);
  // Sizes: 0 bytes falls in le=0.5; 295 in le=500.
  EXPECT_EQ(ex.value("istio_request_bytes_bucket", {{"le", "0.5"}}), 3);
  EXPECT_EQ(ex.value("istio_response_bytes_bucket", {{"le", "250"}}), 0);
  EXPECT_EQ(ex.value("istio_response_bytes_bucket", {{"le", "500"}}), 3);
  EXPECT_EQ(ex.value("istio_response_bytes_sum"), 3 * 295);
}

TEST(StatsRegistry, LabelValuesAreEscapedAndUnknownsNamed) {
  StatsRegistry reg(1);
  const Workload weird{.name = "a\"b\\c\nd", .namespace_ = "ns"};
  RequestRecord r;
  r.reporter = Reporter::Destination;
  r.source = nullptr;  // unknown peer
  r.destination = &weird;
  r.destination_service = "";
  r.response_code = 0;
  r.response_flags = flags::kDownstreamConnectionTermination;
  reg.worker(0).recordRequest(r);
  const std::string text = reg.renderPrometheus();
  EXPECT_NE(text.find(R"(destination_workload="a\"b\\c\nd")"), std::string::npos) << text;
  auto ex = parseExposition(text);
  ASSERT_EQ(ex.error, "");
  const auto* s = ex.find("istio_requests_total").at(0);
  EXPECT_EQ(s->labels.at("destination_workload"), "a\"b\\c\nd");
  EXPECT_EQ(s->labels.at("reporter"), "destination");
  EXPECT_EQ(s->labels.at("source_workload"), "unknown");
  EXPECT_EQ(s->labels.at("source_principal"), "unknown");
  EXPECT_EQ(s->labels.at("destination_service"), "unknown");
  EXPECT_EQ(s->labels.at("destination_canonical_revision"), "latest");
  EXPECT_EQ(s->labels.at("response_code"), "0");
  EXPECT_EQ(s->labels.at("response_flags"), "DC");
  EXPECT_EQ(s->labels.at("connection_security_policy"), "none");
}

TEST(StatsRegistry, GrpcStatusAndServiceNamesGiven) {
  StatsRegistry reg(1);
  auto r = outbound();
  r.grpc_status = 14;
  r.destination_service = "10.96.0.7:8080";  // passthrough: no derivable name
  r.destination_service_name = "";
  reg.worker(0).recordRequest(r);
  auto ex = parseExposition(reg.renderPrometheus());
  ASSERT_EQ(ex.error, "");
  const auto* s = ex.find("istio_requests_total").at(0);
  EXPECT_EQ(s->labels.at("grpc_response_status"), "14");
  EXPECT_EQ(s->labels.at("request_protocol"), "grpc");
  EXPECT_EQ(s->labels.at("destination_service_namespace"), "unknown");
}

TEST(StatsRegistry, TcpCountersWithProgressAndClose) {
  StatsRegistry reg(2);
  ConnectionRecord c;
  c.reporter = Reporter::Destination;
  c.source = &kProductpage;
  c.destination = &kReviews;
  c.destination_service = "reviews.default.svc.cluster.local";
  reg.worker(0).tcpOpened(c);
  c.bytes_sent = 100;
  c.bytes_received = 40;
  reg.worker(0).tcpProgress(c);
  EXPECT_EQ(c.reported_sent, 100u);
  c.bytes_sent = 150;
  c.bytes_received = 45;
  reg.worker(0).tcpClosed(c);
  ConnectionRecord other = c;
  other.reported_sent = other.reported_received = 0;
  reg.worker(1).tcpOpened(other);
  auto ex = parseExposition(reg.renderPrometheus());
  ASSERT_EQ(ex.error, "");
  EXPECT_EQ(ex.value("istio_tcp_connections_opened_total"), 2);
  EXPECT_EQ(ex.value("istio_tcp_connections_closed_total"), 1);
  EXPECT_EQ(ex.value("istio_tcp_sent_bytes_total"), 150);
  EXPECT_EQ(ex.value("istio_tcp_received_bytes_total"), 45);
  const auto* s = ex.find("istio_tcp_sent_bytes_total").at(0);
  EXPECT_EQ(s->labels.at("request_protocol"), "tcp");
  EXPECT_EQ(s->labels.count("response_code"), 0u);
  EXPECT_EQ(s->labels.at("reporter"), "destination");
}

TEST(StatsRegistry, TlsHandshakeFailuresByDirectionAndReasonMergeAcrossWorkers) {
  StatsRegistry reg(2);
  reg.worker(0).tlsHandshakeFailed("inbound", "expired");
  reg.worker(1).tlsHandshakeFailed("inbound", "expired");
  reg.worker(1).tlsHandshakeFailed("outbound", "identity_not_allowed");
  auto ex = parseExposition(reg.renderPrometheus());
  ASSERT_EQ(ex.error, "");
  EXPECT_EQ(ex.types.at("remora_tls_handshake_failures_total"), "counter");
  auto expired = ex.find("remora_tls_handshake_failures_total",
                         {{"direction", "inbound"}, {"reason", "expired"}});
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0]->value, 2);
  auto identity = ex.find("remora_tls_handshake_failures_total",
                          {{"direction", "outbound"}, {"reason", "identity_not_allowed"}});
  ASSERT_EQ(identity.size(), 1u);
  EXPECT_EQ(identity[0]->value, 1);
  reg.worker(0).inboundRefused("strict_mtls");
  reg.worker(1).inboundRefused("strict_mtls");
  reg.worker(1).inboundRefused("rbac_denied");
  ex = parseExposition(reg.renderPrometheus());
  ASSERT_EQ(ex.error, "");
  EXPECT_EQ(ex.find("remora_inbound_refused_total", {{"reason", "strict_mtls"}}).at(0)->value, 2);
  EXPECT_EQ(ex.find("remora_inbound_refused_total", {{"reason", "rbac_denied"}}).at(0)->value, 1);
}

TEST(StatsRegistry, RepeatLabelSetDoesNotAllocate) {
  StatsRegistry reg(1);
  auto r = outbound();
  ConnectionRecord c;
  c.source = &kProductpage;
  reg.worker(0).recordRequest(r);  // first sight allocates
  reg.worker(0).tcpOpened(c);
  const long before = allocationCount();
  for (int i = 0; i < 1000; ++i) {
    r.duration = std::chrono::microseconds(i * 37);
    reg.worker(0).recordRequest(r);
    reg.worker(0).tcpClosed(c);
  }
  EXPECT_EQ(allocationCount() - before, 0);
  EXPECT_EQ(reg.worker(0).labelSets(), 2u);
}

TEST(StatsRegistry, SameTextDifferentFieldsAreDifferentLabelSets) {
  // "ab"+"c" and "a"+"bc" must not share a key.
  StatsRegistry reg(1);
  const Workload a{.name = "ab", .namespace_ = "c"};
  const Workload b{.name = "a", .namespace_ = "bc"};
  auto r = outbound();
  r.source = &a;
  reg.worker(0).recordRequest(r);
  r.source = &b;
  reg.worker(0).recordRequest(r);
  EXPECT_EQ(reg.worker(0).labelSets(), 2u);
}

// The label set the last request had is recognised again by the workloads'
// revisions and the other fields' values. Random records, with one
// workload rewritten in place under a new revision between records (as the
// observer does), must count exactly as a model that reads every label.
TEST(StatsRegistry, RepeatLabelSetsByRevisionCountAsTheirLabelsSay) {
  Workload a = kProductpage;
  a.revision = newWorkloadRevision();
  Workload b = kReviews;
  b.revision = newWorkloadRevision();
  EXPECT_NE(a.revision, 0u);
  EXPECT_NE(a.revision, b.revision);
  Workload rewritten = kProductpage;  // same address, changing contents
  rewritten.revision = newWorkloadRevision();
  const Workload unnamed{.name = "unnamed", .namespace_ = "default"};  // revision 0
  const std::vector<const Workload*> workloads = {&a, &b, &rewritten, &unnamed, nullptr};
  const std::vector<std::string> services = {"reviews.default.svc.cluster.local",
                                             "ratings.default.svc.cluster.local"};
  StatsRegistry reg(1);
  std::map<std::map<std::string, std::string>, double> model;
  std::mt19937 rng(11);
  for (int i = 0; i < 5000; ++i) {
    if (rng() % 50 == 0) {
      rewritten.name = "rewritten-" + std::to_string(rng() % 3);
      rewritten.revision = newWorkloadRevision();
    }
    RequestRecord r = outbound();
    r.reporter = rng() % 2 ? Reporter::Source : Reporter::Destination;
    r.source = workloads[rng() % workloads.size()];
    r.destination = workloads[rng() % workloads.size()];
    r.destination_service = services[rng() % 2];
    r.destination_service_name = rng() % 4 == 0 ? "alias" : "";
    r.mutual_tls = rng() % 2 != 0;
    r.response_code = rng() % 3 == 0 ? 503 : 200;
    r.response_flags = rng() % 4 == 0 ? flags::kUpstreamConnectionFailure : 0;
    r.protocol = rng() % 5 == 0 ? "HTTP/1.0" : "HTTP/1.1";
    if (rng() % 6 == 0) r.grpc_status = 14;
    // Runs of the same record, as a connection's requests come.
    const int repeat = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < repeat; ++k) reg.worker(0).recordRequest(r);
    std::map<std::string, std::string> labels = {
        {"reporter", std::string(reporterName(r.reporter))},
        {"source_workload", r.source ? r.source->name : "unknown"},
        {"destination_workload", r.destination ? r.destination->name : "unknown"},
        {"destination_service", std::string(r.destination_service)},
        {"destination_service_name", r.destination_service_name.empty()
                                         ? std::string(r.destination_service.substr(0, 7))
                                         : std::string(r.destination_service_name)},
        {"connection_security_policy",
         r.reporter == Reporter::Source ? "unknown" : (r.mutual_tls ? "mutual_tls" : "none")},
        {"response_code", std::to_string(r.response_code)},
        {"response_flags", r.response_flags ? "UF" : "-"},
        {"request_protocol", r.grpc_status ? "grpc" : "http"},
        {"grpc_response_status", r.grpc_status ? "14" : "unknown"},
    };
    model[labels] += repeat;
  }
  auto ex = parseExposition(reg.renderPrometheus());
  ASSERT_EQ(ex.error, "");
  double total = 0;
  for (const auto& [labels, count] : model) {
    const auto found = ex.find("istio_requests_total", labels);
    double sum = 0;
    for (const auto* sample : found) sum += sample->value;
    EXPECT_EQ(sum, count) << labels.at("source_workload") << " -> "
                          << labels.at("destination_workload");
    total += count;
  }
  double all = 0;
  for (const auto* sample : ex.find("istio_requests_total")) all += sample->value;
  EXPECT_EQ(all, total);
}

// Workers record while another thread scrapes: run under TSan (the tsan
// preset) this proves the publication scheme; in any build every scrape
// must parse and counters never go backwards.
TEST(StatsRegistry, ConcurrentScrapeWhileWorkersRecord) {
  constexpr int kWorkers = 2;
  constexpr int kPerWorker = 5'000;
  StatsRegistry reg(kWorkers);
  std::vector<std::thread> threads;
  std::atomic<int> done{0};
  std::vector<Workload> peers(50);
  for (std::size_t i = 0; i < peers.size(); ++i) peers[i].name = "peer-" + std::to_string(i);
  for (int w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&, w] {
      WorkerStats& stats = reg.worker(static_cast<std::size_t>(w));
      for (int i = 0; i < kPerWorker; ++i) {
        auto r = outbound(i % 7 == 0 ? 503 : 200);
        r.source = &peers[static_cast<std::size_t>(i) % peers.size()];  // new label sets appear
        stats.recordRequest(r);
      }
      done.fetch_add(1);
    });
  }
  double last_total = 0;
  int scrapes = 0;
  while (done.load() < kWorkers || scrapes < 3) {
    auto ex = parseExposition(reg.renderPrometheus());
    ASSERT_EQ(ex.error, "");
    double total = 0;
    for (const auto* s : ex.find("istio_requests_total")) total += s->value;
    EXPECT_GE(total, last_total);
    last_total = total;
    ++scrapes;
  }
  for (auto& t : threads) t.join();
  auto ex = parseExposition(reg.renderPrometheus());
  double total = 0;
  for (const auto* s : ex.find("istio_requests_total")) total += s->value;
  EXPECT_EQ(total, kWorkers * kPerWorker);
  EXPECT_EQ(ex.find("istio_requests_total").size(), 100u);  // 50 peers x {200, 503}
}

}  // namespace
}  // namespace remora::telemetry

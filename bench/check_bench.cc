// `remora check` on 10,000 pods (issue 6: "10,000 pods analysed in under a
// second"). The cluster: 100 namespaces enabled for injection, each with 10
// Deployments of 10 pods (a ReplicaSet each); one pod in three has no
// sidecar, so most Deployments are partly injected and every finding path
// (owner lookups, policy decisions, status annotations) runs.
//
//   BM_Analyze_Pods10k        analysis of a Snapshot already in memory
//   BM_ReadAnalyze_Pods10k    what `remora check -f dump.json` does: read the
//                             kubectl List (JSON), build the Snapshot, analyse
//   BM_ParseJson_Pods10k      the baseline: parsing the same JSON text alone
#include <memory>
#include <string>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "check/analyzer.h"
#include "check/snapshot.h"
#include "core/assert.h"
#include "core/json.h"
#include "inject/config.h"

namespace {

constexpr int kNamespaces = 100;
constexpr int kDeployments = 10;
constexpr int kPodsPerDeployment = 10;
constexpr int kPods = kNamespaces * kDeployments * kPodsPerDeployment;

remora::Json ownerRef(const std::string& kind, const std::string& name) {
  remora::Json ref = remora::Json::object();
  ref["kind"] = kind;
  ref["name"] = name;
  ref["controller"] = true;
  return remora::Json::array({ref});
}

remora::Json object(const std::string& api_version, const std::string& kind, remora::Json metadata,
                    remora::Json spec) {
  remora::Json o = remora::Json::object();
  o["apiVersion"] = api_version;
  o["kind"] = kind;
  o["metadata"] = std::move(metadata);
  if (!spec.is_null()) o["spec"] = std::move(spec);
  return o;
}

remora::Json clusterList() {
  using remora::Json;
  Json items = Json::array();
  const std::string status =
      R"({"initContainers":["istio-init"],"containers":["istio-proxy"],"revision":"default"})";
  int n = 0;
  for (int ns = 0; ns < kNamespaces; ++ns) {
    std::string nsname = fmt::format("team-{}", ns);
    Json ns_meta = Json::object();
    ns_meta["name"] = nsname;
    ns_meta["labels"] = Json::object();
    ns_meta["labels"]["istio-injection"] = "enabled";
    items.push_back(object("v1", "Namespace", ns_meta, nullptr));
    for (int d = 0; d < kDeployments; ++d) {
      std::string dep = fmt::format("svc-{}", d);
      std::string rs = dep + "-5d8f6b";
      Json container = Json::object();
      container["name"] = dep;
      container["image"] = "nginx";
      container["ports"] = Json::array({Json::object()});
      container["ports"][0]["containerPort"] = 8080;
      Json tmpl_spec = Json::object();
      tmpl_spec["template"]["spec"]["containers"] = Json::array({container});
      Json dep_meta = Json::object();
      dep_meta["name"] = dep;
      dep_meta["namespace"] = nsname;
      items.push_back(object("apps/v1", "Deployment", dep_meta, tmpl_spec));
      Json rs_meta = dep_meta;
      rs_meta["name"] = rs;
      rs_meta["ownerReferences"] = ownerRef("Deployment", dep);
      items.push_back(object("apps/v1", "ReplicaSet", rs_meta, tmpl_spec));
      for (int p = 0; p < kPodsPerDeployment; ++p, ++n) {
        bool injected = n % 3 != 0;
        Json metadata = Json::object();
        metadata["name"] = fmt::format("{}-{:05d}", rs, p);
        metadata["namespace"] = nsname;
        metadata["labels"]["app"] = dep;
        metadata["labels"]["pod-template-hash"] = "5d8f6b";
        metadata["ownerReferences"] = ownerRef("ReplicaSet", rs);
        Json spec = Json::object();
        spec["containers"] = Json::array({container});
        if (injected) {
          metadata["annotations"]["sidecar.istio.io/status"] = status;
          Json proxy = Json::object();
          proxy["name"] = "istio-proxy";
          proxy["image"] = "remora";
          spec["containers"].push_back(proxy);
          Json init = proxy;
          init["name"] = "istio-init";
          spec["initContainers"] = Json::array({init});
        }
        Json pod = object("v1", "Pod", metadata, spec);
        pod["status"]["phase"] = "Running";
        items.push_back(std::move(pod));
      }
    }
  }
  Json list = Json::object();
  list["apiVersion"] = "v1";
  list["kind"] = "List";
  list["items"] = std::move(items);
  return list;
}

const std::string& clusterText() {
  static const std::string kText = remora::dumpJson(clusterList());
  return kText;
}

const remora::check::Analyzer& analyzer() {
  static const remora::check::Analyzer kAnalyzer = [] {
    auto config = remora::inject::loadConfig();
    REMORA_CHECK(config.has_value(), "config: {}", config.error().message);
    return remora::check::Analyzer(
        std::make_shared<const remora::inject::InjectConfig>(std::move(*config)));
  }();
  return kAnalyzer;
}

void BM_Analyze_Pods10k(benchmark::State& state) {
  remora::check::Snapshot snapshot;
  REMORA_CHECK(snapshot.add(clusterList()).has_value(), "snapshot");
  REMORA_CHECK(snapshot.size(remora::check::Kind::Pod) == kPods, "pods");
  std::size_t findings = 0;
  for (auto _ : state) {
    auto out = analyzer().analyze(snapshot);
    findings = out.size();
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations() * kPods);
  state.counters["findings"] = static_cast<double>(findings);
}

void BM_ReadAnalyze_Pods10k(benchmark::State& state) {
  const std::string& text = clusterText();
  for (auto _ : state) {
    remora::check::Snapshot snapshot;
    REMORA_CHECK(snapshot.addText(text, "bench").has_value(), "read");
    auto out = analyzer().analyze(snapshot);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations() * kPods);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(text.size()));
  state.SetLabel("vs:ParseJson");
}

void BM_ParseJson_Pods10k(benchmark::State& state) {
  const std::string& text = clusterText();
  for (auto _ : state) {
    auto json = remora::parseJson(text, {.max_bytes = 1 << 30});
    benchmark::DoNotOptimize(json);
  }
  state.SetItemsProcessed(state.iterations() * kPods);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(text.size()));
}

}  // namespace

BENCHMARK(BM_Analyze_Pods10k)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReadAnalyze_Pods10k)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ParseJson_Pods10k)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();

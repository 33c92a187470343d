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

remora::Json clusterList() {
  using remora::Json;
  Json items = Json::array();
  const std::string status =
      R"({"initContainers":["istio-init"],"containers":["istio-proxy"],"revision":"default"})";
  int n = 0;
  for (int ns = 0; ns < kNamespaces; ++ns) {
    std::string nsname = fmt::format("team-{}", ns);
    items.push_back(
        Json{{"apiVersion", "v1"},
             {"kind", "Namespace"},
             {"metadata", {{"name", nsname}, {"labels", {{"istio-injection", "enabled"}}}}}});
    for (int d = 0; d < kDeployments; ++d) {
      std::string dep = fmt::format("svc-{}", d);
      std::string rs = dep + "-5d8f6b";
      Json container = {{"name", dep}, {"image", "nginx"}, {"ports", {{{"containerPort", 8080}}}}};
      items.push_back(Json{
        {"apiVersion", "apps/v1"}, {"kind", "Deployment"},
            {"metadata", {{"name", dep}, {"namespace", nsname}}}, {
          "spec", {
            {
              "template", {
                {
                  "spec", {
                    {
                      "containers", { container }
                    }
                  }
                }
              }
            }
          }
        }}
    });
      items.push_back(Json{
      {"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"},
          {"metadata",
           {{"name", rs},
            {"namespace", nsname},
            {"ownerReferences", {{{"kind", "Deployment"}, {"name", dep}, {"controller", true}}}}}},
      {
        "spec", {
          {
            "template", {
              {
                "spec", {
                  {
                    "containers", { container }
                  }
                }
              }
            }
          }
        }
      }}
  });
  for (int p = 0; p < kPodsPerDeployment; ++p, ++n) {
    bool injected = n % 3 != 0;
    Json metadata = {
        {"name", fmt::format("{}-{:05d}", rs, p)},
        {"namespace", nsname},
        {"labels", {{"app", dep}, {"pod-template-hash", "5d8f6b"}}},
        {"ownerReferences", {{{"kind", "ReplicaSet"}, {"name", rs}, {"controller", true}}}}};
    Json spec = {{"containers", {container}}};
    if (injected) {
      metadata["annotations"] = {{"sidecar.istio.io/status", status}};
      spec["containers"].push_back({{"name", "istio-proxy"}, {"image", "remora"}});
      spec["initContainers"] = {{{"name", "istio-init"}, {"image", "remora"}}};
    }
    items.push_back(Json{{"apiVersion", "v1"},
                         {"kind", "Pod"},
                         {"metadata", metadata},
                         {"spec", spec},
                         {"status", {{"phase", "Running"}}}});
  }
}
}
return Json{{"apiVersion", "v1"}, {"kind", "List"}, {"items", items}};
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

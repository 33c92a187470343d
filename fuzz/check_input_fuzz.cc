// `remora check -f` on arbitrary input: any bytes give a Snapshot (or an
// Error) and the analysis of whatever was read, never a crash or a hang.
// Oracles: findings are sorted; a pod the analyzer names is in the snapshot;
// every pod of the snapshot can be inspected; the JSON report round-trips.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "check/analyzer.h"
#include "check/live.h"
#include "check/report.h"
#include "check/snapshot.h"
#include "core/assert.h"
#include "inject/config.h"

namespace {

const remora::check::Analyzer& analyzer() {
  static const remora::check::Analyzer kAnalyzer = [] {
    auto config = remora::inject::loadConfig();
    REMORA_CHECK(config.has_value(), "built-in config: {}", config.error().message);
    return remora::check::Analyzer(
        std::make_shared<const remora::inject::InjectConfig>(std::move(*config)));
  }();
  return kAnalyzer;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace remora::check;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  Snapshot snapshot;
  // A partly read stream is analysed too: what was added before the error.
  (void)snapshot.addText(text, "fuzz",
                         {.max_bytes = 1 << 20, .max_depth = 64, .max_nodes = 1 << 16});
  auto findings = analyzer().analyze(snapshot);
  REMORA_CHECK(std::is_sorted(findings.begin(), findings.end(), findingLess), "not sorted");
  for (const auto& f : findings) {
    if (f.object.kind == "Pod") {
      REMORA_CHECK(snapshot.find(Kind::Pod, f.object.namespace_name, f.object.name) != nullptr,
                   "finding names an unknown pod {}", f.object.name);
    }
  }
  for (const auto& [key, pod] : snapshot.objects(Kind::Pod)) {
    auto report = analyzer().inspectPod(snapshot, key.first, key.second);
    REMORA_CHECK(report.has_value(), "inspectPod: {}", report.error().message);
  }
  for (const auto& [key, ns] : snapshot.objects(Kind::Namespace)) {
    auto explained = analyzer().explain(snapshot, key.second);
    REMORA_CHECK(explained.has_value(), "explain: {}", explained.error().message);
  }
  remora::Json json = findingsToJson(findings);
  auto back = remora::parseJson(remora::dumpJson(json));
  REMORA_CHECK(back.has_value() && *back == json, "report does not round-trip");
  (void)renderTable(findings);
  (void)planRestarts(findings);
  return 0;
}

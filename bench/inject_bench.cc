// Injection of a 10,000-document manifest stream, in process: read (YAML),
// inject every workload, write (YAML) — what `remora inject` does between
// reading its input and writing its output. The baseline, measured in the
// same run on the same bytes, is the round trip alone (read and write, no
// injection), so the ratio says what injection costs on top of YAML I/O.
// A second baseline is yaml-cpp's own Node API (YAML::LoadAll + Emitter),
// the obvious way to do the same round trip.
//
// The stream is examples/shop.yaml (six workloads, four other objects)
// repeated with unique names until it holds 10,000 documents.
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <yaml-cpp/yaml.h>

#include "core/assert.h"
#include "inject/config.h"
#include "inject/injector.h"
#include "inject/manifest.h"
#include "kube/yaml.h"

namespace {

constexpr int kDocuments = 10000;

const std::string& stream() {
  static const std::string kStream = [] {
    std::ifstream in(REMORA_SOURCE_DIR "/examples/shop.yaml");
    std::stringstream ss;
    ss << in.rdbuf();
    auto docs = remora::kube::parseDocuments(ss.str());
    REMORA_CHECK(docs.has_value() && !docs->empty(), "examples/shop.yaml: {}",
                 docs ? "empty" : docs.error().message);
    std::string out;
    for (int i = 0; i < kDocuments; ++i) {
      remora::Json doc = (*docs)[static_cast<std::size_t>(i) % docs->size()].value;
      doc["metadata"]["name"] =
          doc["metadata"]["name"].get<std::string>() + "-" + std::to_string(i);
      if (i > 0) out += "---\n";
      remora::kube::appendYaml(out, doc);
    }
    return out;
  }();
  return kStream;
}

const remora::inject::Injector& injector() {
  static const remora::inject::Injector kInjector = [] {
    auto config = remora::inject::loadConfig();
    REMORA_CHECK(config.has_value(), "config: {}", config.error().message);
    return remora::inject::Injector(
        std::make_shared<const remora::inject::InjectConfig>(std::move(*config)));
  }();
  return kInjector;
}

void BM_Inject_Stream10k(benchmark::State& state) {
  const std::string& input = stream();
  std::vector<remora::inject::ObjectReport> reports;
  std::size_t out_bytes = 0;
  for (auto _ : state) {
    std::string out;
    out.reserve(input.size() * 5);
    auto status =
        remora::kube::forEachDocument(input, [&](remora::kube::Document&& doc) -> remora::Status {
          reports.clear();
          REMORA_TRY(remora::inject::injectObject(injector(), doc.value, reports));
          if (doc.index > 1) out += "---\n";
          remora::kube::appendYaml(out, doc.value);
          return remora::ok();
        });
    REMORA_CHECK(status.has_value(), "inject: {}", status.error().message);
    out_bytes = out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * input.size()));
  state.counters["documents"] = kDocuments;
  state.counters["out_MB"] = static_cast<double>(out_bytes) / 1e6;
  state.SetLabel("vs:RoundTrip");
}

void BM_RoundTrip_Stream10k(benchmark::State& state) {
  const std::string& input = stream();
  for (auto _ : state) {
    std::string out;
    out.reserve(input.size() * 2);
    auto status =
        remora::kube::forEachDocument(input, [&](remora::kube::Document&& doc) -> remora::Status {
          if (doc.index > 1) out += "---\n";
          remora::kube::appendYaml(out, doc.value);
          return remora::ok();
        });
    REMORA_CHECK(status.has_value(), "round trip: {}", status.error().message);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * input.size()));
  state.SetLabel("vs:YamlCppNodes");  // our reader and writer against yaml-cpp's Node API
}

// The same round trip through yaml-cpp's Node API.
void BM_YamlCppNodes_Stream10k(benchmark::State& state) {
  const std::string& input = stream();
  for (auto _ : state) {
    std::vector<YAML::Node> nodes = YAML::LoadAll(input);
    YAML::Emitter emitter;
    for (const auto& node : nodes) emitter << YAML::BeginDoc << node;
    benchmark::DoNotOptimize(emitter.c_str());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * input.size()));
}

BENCHMARK(BM_Inject_Stream10k)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_RoundTrip_Stream10k)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_YamlCppNodes_Stream10k)->Unit(benchmark::kMillisecond)->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();

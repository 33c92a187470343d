// Manifest injection on arbitrary input: any document (or malformed
// annotation value) gives an injected object or an Error, never a crash.
// Oracles: injecting an injected object changes nothing (idempotence), and
// the JSON Patch between input and output applies to give the output.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "core/assert.h"
#include "inject/config.h"
#include "inject/injector.h"
#include "inject/json_patch.h"
#include "inject/manifest.h"
#include "kube/yaml.h"

namespace {

const remora::inject::Injector& injector() {
  static const remora::inject::Injector kInjector = [] {
    auto config = remora::inject::loadConfig();
    REMORA_CHECK(config.has_value(), "built-in config: {}", config.error().message);
    return remora::inject::Injector(
        std::make_shared<const remora::inject::InjectConfig>(std::move(*config)));
  }();
  return kInjector;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)remora::kube::forEachDocument(
      text,
      [](remora::kube::Document&& doc) -> remora::Status {
        remora::Json injected = doc.value;
        std::vector<remora::inject::ObjectReport> reports;
        if (!remora::inject::injectObject(injector(), injected, reports)) return remora::ok();
        remora::Json patch = remora::inject::createPatch(doc.value, injected);
        auto applied = remora::inject::applyPatch(doc.value, patch);
        REMORA_CHECK(applied.has_value(), "patch does not apply: {}", applied.error().message);
        REMORA_CHECK(remora::inject::jsonEquivalent(*applied, injected), "patch result differs");
        remora::Json again = injected;
        reports.clear();
        auto status = remora::inject::injectObject(injector(), again, reports);
        REMORA_CHECK(status.has_value(), "re-injection failed: {}", status.error().message);
        REMORA_CHECK(again == injected, "injection is not idempotent:\n{}\n{}",
                     remora::kube::toYaml(injected), remora::kube::toYaml(again));
        return remora::ok();
      },
      {.max_bytes = 1 << 20, .max_depth = 64, .max_nodes = 1 << 16});
  return 0;
}

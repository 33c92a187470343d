// kube::forEachDocument must turn any byte string into documents or an
// Error: never a crash, a hang, an escaped exception or a sanitizer report.
// Oracle (round trip): every document read, written with toYaml and read
// again, is the same value, and writing it again gives the same bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/assert.h"
#include "core/json.h"
#include "kube/yaml.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  const remora::kube::YamlLimits limits{
      .max_bytes = 1 << 20, .max_depth = 64, .max_nodes = 1 << 16};
  (void)remora::kube::forEachDocument(
      text,
      [&](remora::kube::Document&& doc) -> remora::Status {
        std::string yaml = remora::kube::toYaml(doc.value);
        auto again = remora::kube::parseDocuments(
            yaml, {.max_bytes = 64 << 20, .max_depth = 64, .max_nodes = 1 << 20});
        REMORA_CHECK(again.has_value(), "emitted YAML does not parse: {}\n{}",
                     again.error().message, yaml);
        // dumpJson maps NaN to null on both sides, so NaN compares equal.
        std::string want = remora::dumpJson(doc.value);
        if (again->empty()) {
          REMORA_CHECK(doc.value.is_null() || (doc.value.is_object() && doc.value.empty()),
                       "a document disappeared: {}", want);
          return remora::ok();
        }
        REMORA_CHECK(again->size() == 1, "one document became {}", again->size());
        std::string got = remora::dumpJson(again->front().value);
        REMORA_CHECK(got == want, "round trip changed the value:\n{}\n{}\nyaml:\n{}", want, got,
                     yaml);
        REMORA_CHECK(remora::kube::toYaml(again->front().value) == yaml, "emission is not stable");
        return remora::ok();
      },
      limits);
  return 0;
}

// parseAppProbers and parsePrometheusAnnotations must turn any byte string
// (the ISTIO_KUBE_APP_PROBERS / ISTIO_PROMETHEUS_ANNOTATIONS variables) into
// a value or an Error: never a crash or a sanitizer report. Oracle: what is
// accepted holds the invariants the status server relies on (a known probe
// path, a port, a request target without controls, a bounded timeout).
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>

#include "core/assert.h"
#include "http/chars.h"
#include "proxy/admin/app_probers.h"

using namespace remora::proxy::admin;  // NOLINT: a .cc file

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto probers = parseAppProbers(text)) {
    for (const auto& [path, probe] : *probers) {
      REMORA_CHECK(path.starts_with("/app-health/") || path.starts_with("/app-lifecycle/"),
                   "accepted path {}", path);
      REMORA_CHECK(probe.timeout.count() >= 1 && probe.timeout.count() <= 3600, "timeout");
      if (const auto* h = std::get_if<HttpGetProbe>(&probe.handler)) {
        REMORA_CHECK(h->port != 0 && !h->path.empty() && h->path.front() == '/', "http probe");
        for (char c : h->path) REMORA_CHECK(remora::http::isTargetChar(c), "path char");
      } else if (const auto* t = std::get_if<TcpSocketProbe>(&probe.handler)) {
        REMORA_CHECK(t->port != 0, "tcp port");
      } else {
        REMORA_CHECK(std::get<GrpcProbe>(probe.handler).port != 0, "grpc port");
      }
    }
  }
  if (auto scrape = parsePrometheusAnnotations(text); scrape && *scrape) {
    REMORA_CHECK((*scrape)->port != 0 && (*scrape)->path.front() == '/', "scrape target");
  }
  return 0;
}

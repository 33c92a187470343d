// The application's own probes, as `remora inject` (src/inject/probes.h)
// records them in ISTIO_KUBE_APP_PROBERS, and the app's own Prometheus
// scrape settings from ISTIO_PROMETHEUS_ANNOTATIONS.
//
// The kubelet probes /app-health/<container>/livez|readyz|startupz (and
// calls /app-lifecycle/<container>/prestopz|poststartz for hooks) on the
// status port 15020; the proxy answers by running the original handler
// against the app (runAppProbe), as Istio's pilot-agent does:
//
//   {"/app-health/web/readyz": {"httpGet": {"path": "/ready", "port": 8080,
//        "scheme": "HTTPS", "httpHeaders": [{"name": "X", "value": "1"}]},
//      "timeoutSeconds": 2},
//    "/app-health/db/livez": {"tcpSocket": {"port": 5432}}}
//
// Parsing is strict: a value the inject side never writes (a named port, a
// path with a space or a CR, a header that is not a token, a timeout of 0)
// is an error that names the key and the field, so a hand-edited or
// corrupted variable stops the proxy at start instead of failing probes
// later.
//
// Threading: parsed values are immutable; runAppProbe() blocks the calling
// thread for at most the probe's timeout (twice: connect, then response).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/result.h"

namespace remora::proxy::admin {

struct HttpGetProbe {
  bool https = false;
  std::string host;  // empty: the app host the status server was given
  std::uint16_t port = 0;
  std::string path = "/";
  std::vector<std::pair<std::string, std::string>> headers;
};

struct TcpSocketProbe {
  std::string host;
  std::uint16_t port = 0;
};

// gRPC health checking needs HTTP/2, which the status server does not speak
// yet: the probe checks that the port accepts a connection (docs/telemetry.md).
struct GrpcProbe {
  std::uint16_t port = 0;
  std::string service;
};

struct AppProbe {
  std::variant<HttpGetProbe, TcpSocketProbe, GrpcProbe> handler;
  std::chrono::seconds timeout{1};  // the kubelet's default timeoutSeconds
};

// Keyed by the full request path ("/app-health/web/readyz").
using AppProbers = std::map<std::string, AppProbe, std::less<>>;

inline constexpr std::size_t kMaxProbersBytes = 1024 * 1024;
inline constexpr std::size_t kMaxProbers = 1024;

// Parses ISTIO_KUBE_APP_PROBERS; "" gives an empty map. Errors:
// Errc::InvalidArgument naming the key and the field.
Result<AppProbers> parseAppProbers(std::string_view json);

// The app's scrape target from ISTIO_PROMETHEUS_ANNOTATIONS
// ({"scrape":"true","port":"9090","path":"/metrics"}): nullopt when scraping
// is off or no port is named; an error when the JSON or a value is invalid.
struct AppScrape {
  std::uint16_t port = 0;
  std::string path = "/metrics";
};
Result<std::optional<AppScrape>> parsePrometheusAnnotations(std::string_view json);

// What a probe found: the status to answer the kubelet with (the app's own
// status for httpGet; 200 for an open TCP port; 503 when the app cannot be
// reached or does not answer in time) and a short reason for the body.
struct ProbeOutcome {
  int status = 503;
  std::string detail;
};

// Runs `probe` against the app; `default_host` when the probe names none
// (the proxy passes 127.0.0.1, or the pod IP).
ProbeOutcome runAppProbe(const AppProbe& probe, std::string_view default_host);

}  // namespace remora::proxy::admin

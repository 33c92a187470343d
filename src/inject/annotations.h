// The annotations and labels of Istio's injection API that Remora reads and
// writes, under Istio's names, and the validation of their values.
//
// Validation runs before anything is rendered: a bad value is an Error that
// names the annotation, quotes the value and says what was expected, e.g.
//   annotation traffic.sidecar.istio.io/includeOutboundIPRanges="bad": invalid
//   includeIPRanges: "bad" is not a CIDR (like 10.0.0.0/8) or "*"
// Threading: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/result.h"

namespace remora::inject::names {

// Decision.
inline constexpr std::string_view kInject =
    "sidecar.istio.io/inject";  // label (wins) or annotation
inline constexpr std::string_view kRevisionLabel = "istio.io/rev";
inline constexpr std::string_view kNamespaceInjectionLabel = "istio-injection";

// What injection records on the pod.
inline constexpr std::string_view kStatus = "sidecar.istio.io/status";
inline constexpr std::string_view kOverrides = "proxy.istio.io/overrides";
inline constexpr std::string_view kDefaultContainer = "kubectl.kubernetes.io/default-container";
inline constexpr std::string_view kDefaultLogsContainer =
    "kubectl.kubernetes.io/default-logs-container";
inline constexpr std::string_view kPrometheusScrape = "prometheus.io/scrape";
inline constexpr std::string_view kPrometheusPort = "prometheus.io/port";
inline constexpr std::string_view kPrometheusPath = "prometheus.io/path";
inline constexpr std::string_view kPrometheusMerge = "prometheus.istio.io/merge-metrics";
inline constexpr std::string_view kTlsModeLabel = "security.istio.io/tlsMode";
inline constexpr std::string_view kCanonicalNameLabel = "service.istio.io/canonical-name";
inline constexpr std::string_view kCanonicalRevisionLabel = "service.istio.io/canonical-revision";

// Sidecar shape.
inline constexpr std::string_view kNativeSidecar = "sidecar.istio.io/nativeSidecar";
inline constexpr std::string_view kRewriteProbes = "sidecar.istio.io/rewriteAppHTTPProbers";
inline constexpr std::string_view kProxyImage = "sidecar.istio.io/proxyImage";
inline constexpr std::string_view kProxyCPU = "sidecar.istio.io/proxyCPU";
inline constexpr std::string_view kProxyMemory = "sidecar.istio.io/proxyMemory";
inline constexpr std::string_view kProxyCPULimit = "sidecar.istio.io/proxyCPULimit";
inline constexpr std::string_view kProxyMemoryLimit = "sidecar.istio.io/proxyMemoryLimit";
inline constexpr std::string_view kInterceptionMode = "sidecar.istio.io/interceptionMode";
inline constexpr std::string_view kLogLevel = "sidecar.istio.io/logLevel";
inline constexpr std::string_view kProxyConfig = "proxy.istio.io/config";
inline constexpr std::string_view kStatusPort = "status.sidecar.istio.io/port";
inline constexpr std::string_view kReadinessInitialDelay =
    "readiness.status.sidecar.istio.io/initialDelaySeconds";
inline constexpr std::string_view kReadinessPeriod =
    "readiness.status.sidecar.istio.io/periodSeconds";
inline constexpr std::string_view kReadinessFailureThreshold =
    "readiness.status.sidecar.istio.io/failureThreshold";
inline constexpr std::string_view kReadinessApplicationPorts =
    "readiness.status.sidecar.istio.io/applicationPorts";

// Traffic capture (the istio-init arguments).
inline constexpr std::string_view kIncludeOutboundIPRanges =
    "traffic.sidecar.istio.io/includeOutboundIPRanges";
inline constexpr std::string_view kExcludeOutboundIPRanges =
    "traffic.sidecar.istio.io/excludeOutboundIPRanges";
inline constexpr std::string_view kIncludeInboundPorts =
    "traffic.sidecar.istio.io/includeInboundPorts";
inline constexpr std::string_view kExcludeInboundPorts =
    "traffic.sidecar.istio.io/excludeInboundPorts";
inline constexpr std::string_view kIncludeOutboundPorts =
    "traffic.sidecar.istio.io/includeOutboundPorts";
inline constexpr std::string_view kExcludeOutboundPorts =
    "traffic.sidecar.istio.io/excludeOutboundPorts";
inline constexpr std::string_view kExcludeInterfaces = "traffic.sidecar.istio.io/excludeInterfaces";
inline constexpr std::string_view kKubevirtInterfaces =
    "traffic.sidecar.istio.io/kubevirtInterfaces";

// Container names.
inline constexpr std::string_view kProxyContainer = "istio-proxy";
inline constexpr std::string_view kInitContainer = "istio-init";

}  // namespace remora::inject::names

namespace remora::inject {

// Checks every injection annotation present in `annotations` (an object or
// null). Annotations Remora does not read are ignored.
Status validateAnnotations(const Json& annotations);

// The annotation's value when present and a string; nullopt when absent.
// A non-string value (an unquoted `false` in YAML) is an error naming it.
Result<std::optional<std::string>> annotationValue(const Json& annotations, std::string_view name);

// Go's strconv.ParseBool, which Istio uses: 1 t T TRUE true True / 0 f F FALSE false False.
std::optional<bool> parseBool(std::string_view text);

// "80,8080" -> {80, 8080}; spaces around entries are ignored, empty entries
// skipped; each must be 1..65535. An error says which entry is wrong.
Result<std::vector<int>> parsePortList(std::string_view text);

// A comma-separated list of CIDRs (IPv4 or IPv6, with a prefix length).
Status validateCidrList(std::string_view text);

// Normalises a comma-separated list: entries trimmed, empty ones dropped.
std::string normalizeList(std::string_view text);

}  // namespace remora::inject

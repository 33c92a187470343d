// The proxy's config file for one pod (docs/proxy-config.md): who the proxy
// is and the service registry, as `remora local` knows it from the plan.
// Written into the pod's `istio-envoy` volume, which the sidecar mounts at
// /etc/istio/proxy, so the proxy finds /etc/istio/proxy/remora.yaml with no
// flag and no variable beyond what the injector wrote.
//
// Services become entries with their VIP (none when headless) and ports;
// protocols follow Istio's port naming (http*, grpc*, tcp*, tls*, https*) or
// appProtocol, else AUTO. Endpoints are the selected pods' IPs with their
// labels (security.istio.io/tlsMode: istio marks a sidecar-injected pod),
// workload name and service account; a named targetPort becomes the
// endpoint's per-port override.
//
// Threading: pure.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/result.h"
#include "local/plan.h"

namespace remora::local {

// The file's content as Json (tests read it), and as YAML.
Json proxyConfig(const Plan& plan, const Pod& pod, const std::string& trust_domain);
std::string proxyConfigYaml(const Plan& plan, const Pod& pod, const std::string& trust_domain);

// `remora local apply`: the PeerAuthentication and AuthorizationPolicy
// objects among `documents`, checked as the proxy will check them, with
// metadata.namespace filled in ("default" when absent, as kubectl would).
// Errors name the object and field. Other kinds are not returned.
Result<std::vector<Json>> policyDocuments(const std::vector<Json>& documents);

// Merges `policies` into a proxy config's `policies:` as `kubectl apply`
// would: an object of the same kind, namespace and name is replaced, a new
// one is appended, the others stay. Returns how many were replaced.
std::size_t mergePolicies(Json& config, const std::vector<Json>& policies);

// HTTP, TCP, TLS or AUTO from a port's name and appProtocol, as Istio reads them.
std::string portProtocol(const ServicePort& port);

}  // namespace remora::local

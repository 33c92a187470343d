// The injection decision: should this pod get a sidecar? The same function
// serves `remora inject` (offline), `remora webhook` (admission) and
// `remora check --explain`, so the three can never disagree.
//
// Rules, in the order they are checked (the first that applies decides):
//
//   1. ignored-namespace   kube-system, kube-public, kube-node-lease: never.
//   2. host-network        hostNetwork: true: the proxy would capture the node.
//   3. pod opt-out/opt-in  label sidecar.istio.io/inject (wins over the
//                          annotation of the same name): "true"/"yes"/"on"/"y"
//                          injects, "" is no opinion, anything else skips.
//   4. policy disabled     without an opt-in, nothing is injected.
//   5. never/always        neverInjectSelector then alwaysInjectSelector
//                          (label selectors on the pod's labels).
//   6. namespace           offline (no namespace labels): enabled. Else
//                          istio-injection=disabled skips, istio-injection=
//                          enabled injects for the default revision,
//                          istio.io/rev=R injects for revision R; a pod label
//                          istio.io/rev=R opts the pod in for revision R.
//
// "Already injected" is not a policy rule: a pod that passes the policy and
// carries the status annotation is re-injected, and the injector reports it
// as unchanged when the result equals the input (see injector.h).
//
// Threading: pure function.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/json.h"
#include "core/result.h"
#include "inject/config.h"

namespace remora::inject {

enum class Rule : std::uint8_t {
  IgnoredNamespace,
  HostNetwork,
  PodLabel,        // sidecar.istio.io/inject label decided
  PodAnnotation,   // sidecar.istio.io/inject annotation decided
  PolicyDisabled,  // injector policy "disabled" and no opt-in
  NeverInjectSelector,
  AlwaysInjectSelector,
  NamespaceOffline,   // no namespace information: counts as enabled
  NamespaceLabel,     // istio-injection=enabled|disabled
  NamespaceRevision,  // istio.io/rev on the namespace
  PodRevision,        // istio.io/rev on the pod
  NamespaceNotEnabled,
  AlreadyInjected,  // set by the injector, never by decide()
};

// A stable, kebab-case name for logs and metrics labels: "host-network".
std::string_view ruleName(Rule rule);

struct Decision {
  bool inject = false;
  Rule rule = Rule::NamespaceOffline;
  std::string reason;  // for people: `label sidecar.istio.io/inject="false"`
};

struct PolicyInput {
  const Json& metadata;             // the pod's (template's) metadata; may be null
  const Json& spec;                 // the pod spec
  std::string_view namespace_name;  // "" when unknown (offline, no namespace)
  // The namespace's labels, or nullptr offline: the namespace then counts as
  // enabled, as for `istioctl kube-inject`.
  const Json* namespace_labels = nullptr;
};

// Malformed selectors in the config are rejected by loadConfig(); a pod whose
// labels are not a mapping is an error here.
Result<Decision> decide(const PolicyInput& input, const InjectConfig& config);

}  // namespace remora::inject

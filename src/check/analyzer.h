// `remora check`'s findings: what is wrong with injection in a Snapshot,
// why, and the command that fixes it.
//
// The decision whether a pod should have a sidecar is inject::decide(), the
// function `remora inject` and `remora webhook` use, and "which template made
// this sidecar" is the sidecar.istio.io/status annotation the injector
// writes; so check agrees with the injector by construction.
//
// Codes (docs/check.md has the full list with meaning and fix). Istio's
// analyzer codes and wording where Istio has one:
//   IST0102 NamespaceNotInjected              info
//   IST0103 PodMissingProxy                   error (Istio: warning; here it is
//                                              the seed's "most dangerous state")
//   IST0123 NamespaceMultipleInjectionLabels  warning
//   IST0144 ImageAutoWithoutInjectionWarning  warning (a workload template)
//   IST0145 ImageAutoWithoutInjectionError    error   (a pod)
// Remora's own:
//   RM0001 PodMissingInit           error    istio-proxy without istio-init
//   RM0002 WorkloadPartiallyInjected error   some pods of a workload meshed, some not
//   RM0003 OutdatedSidecar          warning  another template version or revision
//   RM0004 SidecarNotExpected       warning  a sidecar the injector would not add now
//   RM0005 InjectionOptOut          info     opted out (label, annotation, selector)
//   RM0006 HostNetworkPod           info     hostNetwork: never injected
//   RM0007 AppPortNotCaptured       warning  an app port excluded from capture
//   RM0008 NamespaceNotInInput      info     pods whose namespace is unknown
//   RM0009 InvalidInjectionSettings warning  labels/annotations injection cannot read
//
// Pods being deleted (metadata.deletionTimestamp) and pods that have finished
// (status.phase Succeeded or Failed) carry no traffic and are not judged.
//
// Threading: an Analyzer is immutable; analyze() is reentrant.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "check/snapshot.h"
#include "core/json.h"
#include "core/result.h"
#include "inject/config.h"
#include "inject/policy.h"

namespace remora::check {

enum class Severity : std::uint8_t { Info, Warning, Error };

std::string_view severityName(Severity severity);  // "error"

// --fail-on: a severity, or "none" (nullopt inside the optional: never fail).
// An unknown word is an error.
Result<std::optional<Severity>> parseFailOn(std::string_view text);

struct Finding {
  std::string code;  // "IST0103"
  std::string type;  // "PodMissingProxy"
  Severity severity = Severity::Info;
  ObjectRef object;
  // The workload that owns the pod, followed to the top (Pod -> ReplicaSet ->
  // Deployment, Job -> CronJob); absent for a bare pod and for namespaces.
  std::optional<ObjectRef> owner;
  std::string message;
  std::string fix;       // a command, or what to do; "" when nothing is to be done
  bool restart = false;  // the fix is `kubectl rollout restart` of `owner`
};

// Error, then warning, then info; then namespace, owner, object, code.
bool findingLess(const Finding& a, const Finding& b);

// The exact command kubectl users would type: "kubectl rollout restart
// deployment/web -n shop". Only for Deployment, StatefulSet and DaemonSet.
std::string rolloutRestartCommand(const ObjectRef& workload);
bool canRolloutRestart(std::string_view kind);

struct AnalyzeOptions {
  std::string namespace_name;  // "" for every namespace
};

// One pod's containers and what check makes of them (`remora check pod`).
struct PodReport {
  ObjectRef pod;
  std::optional<ObjectRef> owner;
  std::vector<std::string> containers;       // spec.containers[*].name
  std::vector<std::string> init_containers;  // spec.initContainers[*].name
  std::string verdict;                       // "meshed", "not meshed: ...", ...
  std::vector<Finding> findings;
};

// Why the pods of a namespace would or would not be injected now.
struct Explanation {
  ObjectRef object;  // the namespace (a new pod without labels), a workload or a bare pod
  inject::Decision decision;
  std::string now;  // for existing pods: "has a sidecar", "2 of 3 pods have a sidecar", ...
};

class Analyzer {
 public:
  explicit Analyzer(std::shared_ptr<const inject::InjectConfig> config);

  const inject::InjectConfig& config() const { return *config_; }

  // Every finding in scope, sorted by findingLess.
  std::vector<Finding> analyze(const Snapshot& snapshot, const AnalyzeOptions& options = {}) const;

  // NotFound when the pod is not in the snapshot.
  Result<PodReport> inspectPod(const Snapshot& snapshot, std::string_view namespace_name,
                               std::string_view name) const;

  // NotFound when the namespace is not in the snapshot. The first entry is
  // the namespace itself; then its workloads and bare pods, by kind and name.
  Result<std::vector<Explanation>> explain(const Snapshot& snapshot,
                                           std::string_view namespace_name) const;

 private:
  std::shared_ptr<const inject::InjectConfig> config_;
};

}  // namespace remora::check

// The injection engine: turns a pod (or a pod template) into the same pod
// with Remora's sidecar, as `istioctl kube-inject` and Istio's webhook do.
// `remora inject`, `remora webhook` and `remora check` all go through here.
//
// injectPod() does, in order:
//   1. decide (policy.h); a skipped pod is left untouched;
//   2. validate the pod's injection annotations (annotations.h);
//   3. if the pod carries the status annotation of an earlier injection,
//      take away what it says was added (containers, init containers,
//      volumes), put back the original probes, Prometheus annotations and the
//      user's own istio-proxy/istio-init declarations (proxy.istio.io/overrides);
//   4. build the per-pod context and render the sidecar template
//      (sidecar-template.yaml, template.h);
//   5. merge the user's istio-proxy/istio-init fields over the rendered ones
//      (`image: auto` means the injector's image), place the containers (see
//      below), add the volumes, labels and annotations, rewrite the probes.
// Injecting twice equals injecting once, byte for byte; injectPod() reports
// Outcome::Unchanged when the result equals its input.
//
// Layout:
//   classic  istio-proxy is the last container (the first with
//            holdApplicationUntilProxyStarts); istio-init is the last init
//            container, so earlier init containers keep the network.
//   native   istio-init, then istio-proxy with restartPolicy: Always, before
//            every other init container (and before other native sidecars).
// Native mode is chosen by, in order: the pod annotation
// sidecar.istio.io/nativeSidecar; values global.nativeSidecars: true; a pod
// that already declares native sidecars; a Job or CronJob (values
// global.nativeSidecarsForJobs, default true), so that they can complete.
//
// Threading: an Injector is immutable; injectPod() may run concurrently on
// different pods.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/result.h"
#include "inject/config.h"
#include "inject/policy.h"

namespace remora::inject {

// Who owns the pod: the workload whose name the proxy reports.
struct WorkloadRef {
  std::string kind;         // "Deployment", "Pod", ...
  std::string api_version;  // "apps/v1"
  std::string name;         // the workload's name (a Pod's own name)
  std::string namespace_name;
  bool runs_to_completion = false;  // a Job's or CronJob's pod
};

struct PodContext {
  WorkloadRef workload;
  // Policy inputs (see policy.h): the namespace's name and labels; nullptr
  // labels mean offline, where the namespace counts as enabled.
  std::string namespace_name;
  const Json* namespace_labels = nullptr;
};

enum class Outcome : std::uint8_t {
  Injected,   // the pod changed
  Unchanged,  // already injected with the same result
  Skipped,    // the policy said no; the pod is untouched
};

std::string_view outcomeName(Outcome outcome);

struct PodResult {
  Outcome outcome = Outcome::Skipped;
  Decision decision;
  bool native = false;  // the layout used, when injected
};

class Injector {
 public:
  explicit Injector(std::shared_ptr<const InjectConfig> config);

  const InjectConfig& config() const { return *config_; }

  // Injects `pod` in place: an object with `metadata` (optional) and `spec`.
  // On error `pod` may be partly modified: callers inject a copy (the CLI
  // and the webhook keep the original to report or to diff against).
  Result<PodResult> injectPod(Json& pod, const PodContext& context) const;

 private:
  std::shared_ptr<const InjectConfig> config_;
};

// The workload name Istio derives for a pod created by a controller, from its
// ownerReferences and generateName: a ReplicaSet "web-5d4f8c7b9" owned by a
// Deployment gives "web"; a Job "backup-28471230" created by a CronJob gives
// "backup". For the webhook, whose pods arrive without their owner objects.
WorkloadRef workloadFromPod(const Json& pod, std::string_view namespace_name);

}  // namespace remora::inject

// Injection of whole manifests: Kubernetes objects as `remora inject` reads
// them. A workload (Pod, Deployment, ReplicaSet, ReplicationController,
// StatefulSet, DaemonSet, Job, CronJob, DeploymentConfig) has its pod
// template injected; a `kind: List` has each item handled in place; every
// other kind passes through untouched.
//
// Errors name the object and the field:
//   Deployment "traffic", spec.template: annotation traffic.sidecar.istio.io/...
// (the caller adds the document number).
//
// Threading: as Injector (immutable, reentrant).
#pragma once

#include <string>
#include <vector>

#include "core/json.h"
#include "core/result.h"
#include "inject/injector.h"

namespace remora::inject {

// What happened to one object of a manifest.
struct ObjectReport {
  std::string where;        // "" for the document itself, "items[2]" inside a List
  std::string description;  // `Deployment "hello"`
  bool workload = false;    // false: passed through (Service, ConfigMap, ...)
  PodResult result;         // for workloads
};

// Injects `object` in place and appends one report per object met (a List
// gives one per item). On error `object` may be partly modified.
Status injectObject(const Injector& injector, Json& object, std::vector<ObjectReport>& reports);

// The message Istio's kube-inject prints for a skipped workload, e.g.
//   Skipping injection because Deployment "x" has host networking enabled
std::string skipMessage(const ObjectReport& report);

}  // namespace remora::inject

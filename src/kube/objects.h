// Kubernetes objects as Json: which kinds carry a pod template and where it
// is, label selectors, resource quantities, and small lookups that never
// throw (nlohmann's at() and get<>() throw on a missing key or a wrong type;
// these return nullptr, a default or an Error instead).
//
// Threading: pure functions on caller-owned values.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "core/json.h"
#include "core/result.h"

namespace remora::kube {

// The kinds whose pods are injected.
enum class WorkloadKind : std::uint8_t {
  Pod,
  Deployment,
  ReplicaSet,
  ReplicationController,
  StatefulSet,
  DaemonSet,
  Job,
  CronJob,
  DeploymentConfig,  // OpenShift, apps.openshift.io/v1
};

std::string_view workloadKindName(WorkloadKind kind);

// The workload kind of `object` from its `kind` and the group of its
// `apiVersion` (a Deployment of an unrelated API group is not a workload), or
// nullopt for every other kind (Service, ConfigMap, List, ...).
std::optional<WorkloadKind> workloadKind(const Json& object);

// True for Job and CronJob: pods that run to completion.
bool runsToCompletion(WorkloadKind kind);

// Where the pod template sits, as a dotted path for messages: "" for a Pod,
// "spec.template", or "spec.jobTemplate.spec.template" for a CronJob.
std::string_view podTemplatePath(WorkloadKind kind);

// The pod template of `object` (an object with `metadata` and `spec`; for a
// Pod, the object itself). The pointer stays valid while `object` is not
// modified elsewhere. A missing template or spec is an error naming the field,
// e.g. "spec.template is required value".
Result<Json*> podTemplate(Json& object, WorkloadKind kind);

// `Deployment "hello"`, for messages; "<kind>" and "<unnamed>" when absent.
// Uses metadata.generateName when there is no name.
std::string describe(const Json& object);

// metadata.name, else metadata.generateName, else "".
std::string objectName(const Json& object);

// The value at a path of object keys, or nullptr when any step is missing or
// not an object.
const Json* lookup(const Json& value, std::initializer_list<std::string_view> path);
Json* lookup(Json& value, std::initializer_list<std::string_view> path);

// The string at `key` of `object`, or `fallback` when absent or not a string.
std::string stringOr(const Json& object, std::string_view key, std::string_view fallback);

// Sets object[key] = value: in place when the key exists (the member keeps
// its position), appended otherwise. Unlike Json's operator[], growing the
// object moves its members instead of deep-copying them (Json's object is a
// vector of pair<const string, Json>, which std::vector copies on growth).
// Returns the member.
Json& setMember(Json& object, std::string_view key, Json value);

// object[key] as an object, created (or replacing a null) when absent. Returns
// an error when the existing value is not an object, naming `where`.
Result<Json*> childObject(Json& object, std::string_view key, std::string_view where);

// Does a metav1.LabelSelector (matchLabels and matchExpressions with In,
// NotIn, Exists, DoesNotExist) select these labels? An empty selector selects
// everything. A malformed selector is an error.
Result<bool> selectorMatches(const Json& selector, const Json& labels);
bool isEmptySelector(const Json& selector);

// A resource quantity ("100m", "1Gi", "2", "1e3", "0.5") in base units: cores
// for CPU, bytes for memory. An invalid quantity is an error quoting it.
Result<double> parseQuantity(std::string_view text);

}  // namespace remora::kube

// `remora check` against a live cluster: the Snapshot read through the
// Kubernetes API, and the restarts `--restart` performs.
//
// What check needs from the API is the small KubeReader interface below; the
// CLI implements it over kube::ApiClient (src/kube/api_client.h) and the
// unit tests over a fake, so everything here is tested without a cluster.
//
// Restarts are what `kubectl rollout restart` does: a strategic-merge PATCH
// of the workload that sets the pod template's annotation
// kubectl.kubernetes.io/restartedAt to the current time (RFC 3339), so the
// controller rolls new pods, which the webhook injects. One workload at a
// time, each reported. Bare pods and workloads kubectl cannot restart are
// reported with their fix and never touched (a pod is never deleted).
//
// Threading: none; one KubeReader per thread.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "check/analyzer.h"
#include "check/snapshot.h"
#include "core/json.h"
#include "core/result.h"

namespace remora::check {

class KubeReader {
 public:
  virtual ~KubeReader() = default;
  // GET of one object.
  virtual Result<Json> get(const std::string& path) = 0;
  // LIST of a collection, every page (continue tokens followed).
  virtual Result<std::vector<Json>> list(const std::string& path) = 0;
  // PATCH with Content-Type application/strategic-merge-patch+json.
  virtual Result<Json> patchStrategicMerge(const std::string& path, const Json& body) = 0;
};

// The API path of a kind's collection: "/api/v1/namespaces/shop/pods",
// "/apis/apps/v1/deployments" (every namespace when `namespace_name` is "").
std::string collectionPath(Kind kind, std::string_view namespace_name);

// The API path of one workload (Deployment, StatefulSet, DaemonSet).
Result<std::string> workloadPath(const ObjectRef& workload);

// Reads namespaces, pods, deployments, replicasets, statefulsets, daemonsets,
// jobs and cronjobs: of one namespace (which must exist: NotFound otherwise),
// or of the whole cluster. Items without kind/apiVersion (a LIST's items)
// get them from the collection.
Result<Snapshot> loadSnapshot(KubeReader& reader, std::string_view namespace_name);

// The body of the restart PATCH, as kubectl sends it:
//   {"spec":{"template":{"metadata":{"annotations":
//     {"kubectl.kubernetes.io/restartedAt":"2026-01-01T00:00:00Z"}}}}}
Json restartPatch(std::string_view restarted_at);

// What --restart will do: the workloads to restart (owners of findings whose
// fix is a rollout restart), each once, worst first; and the objects it will
// only report (bare pods, Jobs, ...), with their fix.
struct RestartPlan {
  struct Target {
    ObjectRef workload;
    std::vector<std::string> codes;  // the findings it clears
  };
  struct Manual {
    ObjectRef object;
    std::string fix;
    std::vector<std::string> codes;
  };
  std::vector<Target> restarts;
  std::vector<Manual> manual;
};
RestartPlan planRestarts(const std::vector<Finding>& findings);

struct RestartResult {
  ObjectRef workload;
  bool ok = false;
  std::string detail;  // "restarted (restartedAt=...)" or the API error
};

// Performs the plan's restarts in order, one PATCH at a time (none when
// dry_run), calling `report` after each one; a failed PATCH is reported and
// the next workload is still restarted.
using RestartReporter = std::function<void(const RestartResult&, const RestartPlan::Target&)>;
std::vector<RestartResult> performRestarts(KubeReader& reader, const RestartPlan& plan,
                                           std::string_view restarted_at, bool dry_run,
                                           const RestartReporter& report = {});

}  // namespace remora::check

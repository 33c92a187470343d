// The objects `remora check` looks at, from wherever they came: the output of
// `kubectl get namespaces,pods,deployments,replicasets,statefulsets,
// daemonsets,jobs,cronjobs -A -o json|yaml` (a `kind: List`, or single
// objects, in any number of files and documents) or the Kubernetes API
// (check/live.h). The Analyzer sees only this model, so an offline run on a
// dump and a live run on the same cluster give the same findings.
//
// Objects are keyed by kind, namespace and name; a later copy of the same
// object replaces the earlier one. Other kinds (Services, ConfigMaps, ...)
// are counted and ignored. An object of a kept kind without a name, or
// whose metadata is not a mapping, is an error naming the document.
//
// Threading: build on one thread, then read-only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/result.h"
#include "kube/yaml.h"

namespace remora::check {

enum class Kind : std::uint8_t {
  Namespace,
  Pod,
  Deployment,
  ReplicaSet,
  StatefulSet,
  DaemonSet,
  Job,
  CronJob,
};

inline constexpr std::size_t kKindCount = 8;

// "Deployment"; kindFromName("Deployment") is its inverse.
std::string_view kindName(Kind kind);
std::optional<Kind> kindFromName(std::string_view name);
// The resource in kubectl's and the API's lowercase plural: "deployments".
std::string_view kindResource(Kind kind);

// kind/namespace/name of an object; namespace is "" for a Namespace. The
// kind is a string: an owner can be of a kind the Snapshot does not keep
// (ReplicationController, a custom resource).
struct ObjectRef {
  std::string kind;
  std::string namespace_name;
  std::string name;

  auto operator<=>(const ObjectRef&) const = default;
  bool operator==(const ObjectRef&) const = default;
};

// "deployment/web -n shop", "namespace/shop": for tables and messages.
std::string describe(const ObjectRef& ref);

class Snapshot {
 public:
  // Adds one object, or every item of a List (recursively). Objects of other
  // kinds are ignored (and counted). The object is moved in.
  Status add(Json object);

  // Adds every document of a YAML or JSON stream; `source` names it in errors
  // ("cluster.json: document 2 (line 40): ...").
  Status addText(std::string_view text, std::string_view source,
                 const kube::YamlLimits& limits = {});

  // The object, or nullptr.
  const Json* find(Kind kind, std::string_view namespace_name, std::string_view name) const;

  // Every object of a kind, ordered by namespace then name.
  const std::map<std::pair<std::string, std::string>, Json>& objects(Kind kind) const {
    return objects_[static_cast<std::size_t>(kind)];
  }

  std::size_t size(Kind kind) const { return objects(kind).size(); }
  std::size_t ignored() const { return ignored_; }

 private:
  Status addOne(Json&& object, int depth);

  std::map<std::pair<std::string, std::string>, Json> objects_[kKindCount];
  std::size_t ignored_ = 0;
};

}  // namespace remora::check

#include "check/snapshot.h"

#include <fmt/format.h>

#include "kube/objects.h"

namespace remora::check {
namespace {

// A List inside a List inside ... is legal but never deep in practice.
constexpr int kMaxListDepth = 8;

struct KindInfo {
  Kind kind;
  std::string_view name;
  std::string_view resource;
};

constexpr KindInfo kKinds[] = {
    {Kind::Namespace, "Namespace", "namespaces"},
    {Kind::Pod, "Pod", "pods"},
    {Kind::Deployment, "Deployment", "deployments"},
    {Kind::ReplicaSet, "ReplicaSet", "replicasets"},
    {Kind::StatefulSet, "StatefulSet", "statefulsets"},
    {Kind::DaemonSet, "DaemonSet", "daemonsets"},
    {Kind::Job, "Job", "jobs"},
    {Kind::CronJob, "CronJob", "cronjobs"},
};

std::optional<Kind> kindOf(const Json& object) {
  const Json* kind = findField(object, "kind");
  if (kind == nullptr || !kind->is_string()) return std::nullopt;
  if (*kind == "Namespace") {
    const Json* api = findField(object, "apiVersion");
    if (api != nullptr && (!api->is_string() || *api != "v1")) return std::nullopt;
    return Kind::Namespace;
  }
  auto workload = kube::workloadKind(object);
  if (!workload) return std::nullopt;
  switch (*workload) {
    case kube::WorkloadKind::Pod: return Kind::Pod;
    case kube::WorkloadKind::Deployment: return Kind::Deployment;
    case kube::WorkloadKind::ReplicaSet: return Kind::ReplicaSet;
    case kube::WorkloadKind::StatefulSet: return Kind::StatefulSet;
    case kube::WorkloadKind::DaemonSet: return Kind::DaemonSet;
    case kube::WorkloadKind::Job: return Kind::Job;
    case kube::WorkloadKind::CronJob: return Kind::CronJob;
    default: return std::nullopt;  // ReplicationController, DeploymentConfig
  }
}

}  // namespace

std::string_view kindName(Kind kind) { return kKinds[static_cast<std::size_t>(kind)].name; }

std::string_view kindResource(Kind kind) { return kKinds[static_cast<std::size_t>(kind)].resource; }

std::optional<Kind> kindFromName(std::string_view name) {
  for (const auto& info : kKinds) {
    if (info.name == name) return info.kind;
  }
  return std::nullopt;
}

std::string describe(const ObjectRef& ref) {
  std::string kind = ref.kind;
  for (char& c : kind) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (ref.namespace_name.empty()) return fmt::format("{}/{}", kind, ref.name);
  return fmt::format("{}/{} -n {}", kind, ref.name, ref.namespace_name);
}

Status Snapshot::add(Json object) { return addOne(std::move(object), 0); }

Status Snapshot::addOne(Json&& object, int depth) {
  if (!object.is_object()) {
    return Error{Errc::InvalidArgument, "not a Kubernetes object (expected a mapping)"};
  }
  const Json* kind = findField(object, "kind");
  // kind: List, or a typed list (PodList, ...) as the API returns it.
  bool is_list = kind != nullptr && kind->is_string() &&
                 kind->get_ref<const std::string&>().ends_with("List") &&
                 (*kind == "List" || findField(object, "items") != nullptr);
  if (is_list) {
    if (depth >= kMaxListDepth) return Error{Errc::InvalidArgument, "Lists nested too deeply"};
    Json* items = findField(object, "items") != nullptr ? &object["items"] : nullptr;
    if (items == nullptr || items->is_null()) return ok();
    if (!items->is_array()) return Error{Errc::InvalidArgument, "List: items must be a sequence"};
    for (std::size_t i = 0; i < items->size(); ++i) {
      Status s = addOne(std::move((*items)[i]), depth + 1);
      if (!s) return s.error().context(fmt::format("items[{}]", i));
    }
    return ok();
  }
  auto k = kindOf(object);
  if (!k) {
    ++ignored_;
    return ok();
  }
  const Json* metadata = findField(object, "metadata");
  if (metadata == nullptr || !metadata->is_object()) {
    return Error{Errc::InvalidArgument,
                 fmt::format("{}: metadata must be a mapping", kindName(*k))};
  }
  std::string name = kube::stringOr(*metadata, "name", "");
  if (name.empty()) {
    return Error{Errc::InvalidArgument, fmt::format("{}: metadata.name is required", kindName(*k))};
  }
  std::string ns = *k == Kind::Namespace ? "" : kube::stringOr(*metadata, "namespace", "default");
  if (ns.empty() && *k != Kind::Namespace) ns = "default";
  auto& table = objects_[static_cast<std::size_t>(*k)];
  table.insert_or_assign({std::move(ns), std::move(name)}, std::move(object));
  return ok();
}

Status Snapshot::addText(std::string_view text, std::string_view source,
                         const kube::YamlLimits& limits) {
  Status s = kube::forEachDocument(
      text,
      [&](kube::Document&& doc) -> Status {
        Status added = add(std::move(doc.value));
        if (!added) {
          return added.error().context(fmt::format("document {} (line {})", doc.index, doc.line));
        }
        return ok();
      },
      limits);
  if (!s) return s.error().context(source);
  return ok();
}

const Json* Snapshot::find(Kind kind, std::string_view namespace_name,
                           std::string_view name) const {
  const auto& table = objects(kind);
  auto it = table.find({std::string(namespace_name), std::string(name)});
  return it == table.end() ? nullptr : &it->second;
}

}  // namespace remora::check

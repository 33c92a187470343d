#include "check/live.h"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

namespace remora::check {
namespace {

std::string_view groupVersion(Kind kind) {
  switch (kind) {
    case Kind::Namespace:
    case Kind::Pod: return "v1";
    case Kind::Deployment:
    case Kind::ReplicaSet:
    case Kind::StatefulSet:
    case Kind::DaemonSet: return "apps/v1";
    case Kind::Job:
    case Kind::CronJob: return "batch/v1";
  }
  return "v1";
}

std::string prefix(Kind kind) {
  std::string_view gv = groupVersion(kind);
  return gv == "v1" ? std::string("/api/v1") : fmt::format("/apis/{}", gv);
}

}  // namespace

std::string collectionPath(Kind kind, std::string_view namespace_name) {
  if (kind == Kind::Namespace || namespace_name.empty()) {
    return fmt::format("{}/{}", prefix(kind), kindResource(kind));
  }
  return fmt::format("{}/namespaces/{}/{}", prefix(kind), namespace_name, kindResource(kind));
}

Result<std::string> workloadPath(const ObjectRef& workload) {
  auto kind = kindFromName(workload.kind);
  if (!kind || !canRolloutRestart(workload.kind)) {
    return Error{Errc::Unsupported, fmt::format("{} cannot be restarted", workload.kind)};
  }
  return fmt::format("{}/{}", collectionPath(*kind, workload.namespace_name), workload.name);
}

Result<Snapshot> loadSnapshot(KubeReader& reader, std::string_view namespace_name) {
  Snapshot snapshot;
  // The collection says what its items are, whatever the client filled in.
  auto fill = [](Json& item, Kind kind) {
    if (!item.is_object()) return;
    item["kind"] = std::string(kindName(kind));
    item["apiVersion"] = std::string(groupVersion(kind));
  };
  if (namespace_name.empty()) {
    auto items = reader.list(collectionPath(Kind::Namespace, ""));
    if (!items) return items.error().context("listing namespaces");
    for (Json& item : *items) {
      fill(item, Kind::Namespace);
      REMORA_TRY(snapshot.add(std::move(item)));
    }
  } else {
    std::string path = fmt::format("/api/v1/namespaces/{}", namespace_name);
    auto ns = reader.get(path);
    if (!ns) {
      if (ns.error().code == Errc::NotFound) {
        return Error{Errc::NotFound, fmt::format("namespace {} not found", namespace_name)};
      }
      return ns.error().context(fmt::format("reading namespace {}", namespace_name));
    }
    fill(*ns, Kind::Namespace);
    REMORA_TRY(snapshot.add(std::move(*ns)));
  }
  for (Kind kind : {Kind::Pod, Kind::Deployment, Kind::ReplicaSet, Kind::StatefulSet,
                    Kind::DaemonSet, Kind::Job, Kind::CronJob}) {
    auto items = reader.list(collectionPath(kind, namespace_name));
    if (!items) return items.error().context(fmt::format("listing {}", kindResource(kind)));
    for (Json& item : *items) {
      fill(item, kind);
      Status s = snapshot.add(std::move(item));
      if (!s) return s.error().context(fmt::format("listing {}", kindResource(kind)));
    }
  }
  return snapshot;
}

Json restartPatch(std::string_view restarted_at) {
  Json annotations = Json::object();
  annotations["kubectl.kubernetes.io/restartedAt"] = std::string(restarted_at);
  Json metadata = Json::object();
  metadata["annotations"] = std::move(annotations);
  Json tmpl = Json::object();
  tmpl["metadata"] = std::move(metadata);
  Json spec = Json::object();
  spec["template"] = std::move(tmpl);
  Json out = Json::object();
  out["spec"] = std::move(spec);
  return out;
}

RestartPlan planRestarts(const std::vector<Finding>& findings) {
  RestartPlan plan;
  std::map<ObjectRef, std::size_t> restart_index;
  std::map<std::string, std::size_t> manual_index;  // by fix text
  auto addCode = [](std::vector<std::string>& codes, const std::string& code) {
    for (const auto& c : codes) {
      if (c == code) return;
    }
    codes.push_back(code);
  };
  for (const auto& f : findings) {
    if (f.severity == Severity::Info || f.fix.empty()) continue;
    if (f.restart && f.owner) {
      auto [it, inserted] = restart_index.try_emplace(*f.owner, plan.restarts.size());
      if (inserted) plan.restarts.push_back({*f.owner, {}});
      addCode(plan.restarts[it->second].codes, f.code);
      continue;
    }
    if (f.object.kind != "Pod" && f.code != "RM0002") continue;  // namespace/template advice
    if (f.code == "RM0007" || f.code == "RM0009") continue;      // edits, not restarts
    ObjectRef object = f.owner ? *f.owner : f.object;
    auto [it, inserted] = manual_index.try_emplace(f.fix, plan.manual.size());
    if (inserted) plan.manual.push_back({object, f.fix, {}});
    addCode(plan.manual[it->second].codes, f.code);
  }
  for (auto& t : plan.restarts) std::sort(t.codes.begin(), t.codes.end());
  for (auto& m : plan.manual) std::sort(m.codes.begin(), m.codes.end());
  return plan;
}

std::vector<RestartResult> performRestarts(KubeReader& reader, const RestartPlan& plan,
                                           std::string_view restarted_at, bool dry_run,
                                           const RestartReporter& report) {
  std::vector<RestartResult> out;
  for (const auto& target : plan.restarts) {
    RestartResult r{target.workload, true, ""};
    if (dry_run) {
      r.detail = "would restart (dry run)";
      if (report) report(r, target);
      out.push_back(std::move(r));
      continue;
    }
    auto path = workloadPath(target.workload);
    if (!path) {
      r.ok = false;
      r.detail = path.error().message;
      if (report) report(r, target);
      out.push_back(std::move(r));
      continue;
    }
    auto patched = reader.patchStrategicMerge(*path, restartPatch(restarted_at));
    if (!patched) {
      r.ok = false;
      r.detail = patched.error().message;
    } else {
      r.detail = fmt::format("restarted (kubectl.kubernetes.io/restartedAt={})", restarted_at);
    }
    if (report) report(r, target);
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace remora::check

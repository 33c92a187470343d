#include "inject/manifest.h"

#include <fmt/format.h>

#include "kube/objects.h"

namespace remora::inject {
namespace {

constexpr int kMaxListDepth = 4;  // a List of Lists of ... is bounded

Status injectOne(const Injector& injector, Json& object, const std::string& where,
                 std::vector<ObjectReport>& reports, int depth) {
  if (!object.is_object()) {
    return Error{Errc::InvalidArgument,
                 fmt::format("{}expected a Kubernetes object (a mapping), found {}",
                             where.empty() ? "" : where + ": ", object.type_name())};
  }
  std::string description = kube::describe(object);
  auto context = [&](std::string_view field) {
    std::string out = where.empty() ? description : fmt::format("{} ({})", where, description);
    if (!field.empty()) out += fmt::format(", {}", field);
    return out;
  };
  const Json* kind = findField(object, "kind");
  if (kind == nullptr || !kind->is_string() || kind->get_ref<const std::string&>().empty()) {
    return Error{Errc::InvalidArgument, context("") + ": field kind is missing"};
  }

  if (*kind == "List") {
    if (depth >= kMaxListDepth) {
      return Error{Errc::InvalidArgument, context("") + ": Lists nested too deeply"};
    }
    reports.push_back(ObjectReport{where, description, false, {}});
    auto items = object.find("items");
    if (items == object.end() || items->is_null()) return ok();
    if (!items->is_array())
      return Error{Errc::InvalidArgument, context("items") + ": must be a list"};
    for (std::size_t i = 0; i < items->size(); ++i) {
      std::string item_where =
          where.empty() ? fmt::format("items[{}]", i) : fmt::format("{}.items[{}]", where, i);
      REMORA_TRY(injectOne(injector, (*items)[i], item_where, reports, depth + 1));
    }
    return ok();
  }

  auto workload_kind = kube::workloadKind(object);
  if (!workload_kind) {
    reports.push_back(ObjectReport{where, description, false, {}});
    return ok();
  }
  std::string template_path(kube::podTemplatePath(*workload_kind));
  auto pod = kube::podTemplate(object, *workload_kind);
  if (!pod) return Error{Errc::InvalidArgument, context("") + ": " + pod.error().message};

  PodContext pod_context;
  pod_context.workload.kind = kind->get<std::string>();
  pod_context.workload.api_version = kube::stringOr(object, "apiVersion", "");
  pod_context.workload.name = kube::objectName(object);
  if (const Json* metadata = findField(object, "metadata"); metadata != nullptr) {
    pod_context.workload.namespace_name = kube::stringOr(*metadata, "namespace", "");
  }
  pod_context.workload.runs_to_completion = kube::runsToCompletion(*workload_kind);
  if (*workload_kind == kube::WorkloadKind::Pod) {
    // A pod made by a controller (`kubectl get pod -o yaml` of one) names
    // its workload through its owner references, as the webhook reads it:
    // the same pod gives the same sidecar offline and at admission.
    pod_context.workload = workloadFromPod(object, pod_context.workload.namespace_name);
  }
  pod_context.namespace_name = pod_context.workload.namespace_name;
  // Offline: namespace_labels stays nullptr, so the namespace counts as enabled.

  auto result = injector.injectPod(**pod, pod_context);
  if (!result) {
    Error e = std::move(result).error();
    return Error{e.code, context(template_path) + ": " + e.message};
  }
  reports.push_back(ObjectReport{where, description, true, std::move(*result)});
  return ok();
}

}  // namespace

Status injectObject(const Injector& injector, Json& object, std::vector<ObjectReport>& reports) {
  return injectOne(injector, object, "", reports, 0);
}

std::string skipMessage(const ObjectReport& report) {
  const Decision& d = report.result.decision;
  switch (d.rule) {
    case Rule::HostNetwork:
      return fmt::format("Skipping injection because {} has host networking enabled",
                         report.description);
    case Rule::IgnoredNamespace:
      return fmt::format("Skipping injection because {} is in an ignored namespace ({})",
                         report.description, d.reason);
    case Rule::PodLabel:
    case Rule::PodAnnotation:
      return fmt::format("Skipping injection because sidecar injection is disabled for {} ({})",
                         report.description, d.reason);
    default: return fmt::format("Skipping injection of {}: {}", report.description, d.reason);
  }
}

}  // namespace remora::inject

#include "check/analyzer.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include <fmt/format.h>

#include "inject/annotations.h"
#include "kube/objects.h"
#include "kube/yaml.h"

namespace remora::check {
namespace {

namespace names = inject::names;

// Namespaces Istio's analyzers leave alone (istio's SystemNamespaces plus
// the control plane's own).
bool isSystemNamespace(std::string_view ns) {
  return ns == "kube-system" || ns == "kube-public" || ns == "kube-node-lease" ||
         ns == "local-path-storage" || ns == "istio-system";
}

const Json& emptyObject() {
  static const Json kEmpty = Json::object();
  return kEmpty;
}

const Json& objectAt(const Json& object, std::string_view key) {
  const Json* v = object.is_object() ? findField(object, key) : nullptr;
  return v != nullptr && v->is_object() ? *v : emptyObject();
}

std::string stringAt(const Json& object, std::string_view key) {
  return object.is_object() ? kube::stringOr(object, key, "") : std::string();
}

std::string lowerKind(std::string_view kind) {
  std::string out(kind);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

std::vector<std::string> containerNames(const Json& spec, std::string_view key) {
  std::vector<std::string> out;
  const Json* list = spec.is_object() ? findField(spec, key) : nullptr;
  if (list == nullptr || !list->is_array()) return out;
  for (const Json& c : *list) out.push_back(stringAt(c, "name"));
  return out;
}

// What the pod carries, read once.
struct PodState {
  bool proxy = false;   // istio-proxy as a container or as a native sidecar
  bool native = false;  // istio-proxy is an init container with restartPolicy: Always
  bool init = false;    // istio-init (or istio-validation, the CNI's check)
  bool init_expected = true;
  bool has_status = false;
  std::string status_version;
  std::string status_revision;
};

PodState readPod(const Json& spec, const Json& annotations) {
  PodState s;
  const Json* containers = findField(spec, "containers");
  if (containers != nullptr && containers->is_array()) {
    // `image: auto` is a placeholder the injector fills in (the gateway
    // pattern), not a proxy.
    for (const Json& c : *containers) {
      if (stringAt(c, "name") == names::kProxyContainer && stringAt(c, "image") != "auto") {
        s.proxy = true;
      }
    }
  }
  const Json* inits = findField(spec, "initContainers");
  if (inits != nullptr && inits->is_array()) {
    for (const Json& c : *inits) {
      std::string name = stringAt(c, "name");
      if (name == names::kProxyContainer && stringAt(c, "restartPolicy") == "Always") {
        s.proxy = true;
        s.native = true;
      }
      if (name == names::kInitContainer || name == "istio-validation") s.init = true;
    }
  }
  if (const Json* status = findField(annotations, names::kStatus);
      status != nullptr && status->is_string()) {
    s.has_status = true;
    auto parsed = parseJson(status->get_ref<const std::string&>());
    if (parsed && parsed->is_object()) {
      s.status_version = stringAt(*parsed, "version");
      s.status_revision = stringAt(*parsed, "revision");
      // The status lists what the injection added: without istio-init in it
      // (interception mode NONE, the CNI plugin) none is expected.
      if (const Json* added = findField(*parsed, "initContainers");
          added != nullptr && added->is_array()) {
        s.init_expected = std::any_of(added->begin(), added->end(), [](const Json& n) {
          return n.is_string() && n == names::kInitContainer;
        });
      }
    }
  }
  if (auto mode = findField(annotations, names::kInterceptionMode);
      mode != nullptr && mode->is_string() && *mode == "NONE") {
    s.init_expected = false;
  }
  return s;
}

bool notRunning(const Json& pod) {
  const Json& metadata = objectAt(pod, "metadata");
  if (const Json* d = findField(metadata, "deletionTimestamp"); d != nullptr && !d->is_null()) {
    return true;
  }
  std::string phase = stringAt(objectAt(pod, "status"), "phase");
  return phase == "Succeeded" || phase == "Failed";
}

// The controller among ownerReferences, or nullptr.
const Json* controllerOf(const Json& object) {
  const Json* refs = findField(objectAt(object, "metadata"), "ownerReferences");
  if (refs == nullptr || !refs->is_array()) return nullptr;
  const Json* first = nullptr;
  for (const Json& ref : *refs) {
    if (!ref.is_object()) continue;
    if (const Json* c = findField(ref, "controller"); c != nullptr && *c == true) return &ref;
    if (first == nullptr) first = &ref;
  }
  return first;
}

// The top-level workload of a pod: Pod -> ReplicaSet -> Deployment,
// Job -> CronJob, StatefulSet, DaemonSet, or another owner as it is named.
// Without the intermediate object in the snapshot, the names are derived as
// Kubernetes builds them (ReplicaSet "<deployment>-<pod-template-hash>").
std::optional<ObjectRef> ownerOf(const Snapshot& snapshot, const Json& pod, const std::string& ns) {
  const Json* ref = controllerOf(pod);
  if (ref == nullptr) return std::nullopt;
  std::string kind = stringAt(*ref, "kind");
  std::string name = stringAt(*ref, "name");
  if (kind.empty() || name.empty()) return std::nullopt;
  auto up = [&](Kind middle, std::string_view parent_kind) -> std::optional<ObjectRef> {
    const Json* object = snapshot.find(middle, ns, name);
    if (object == nullptr) return std::nullopt;
    const Json* parent = controllerOf(*object);
    if (parent == nullptr || stringAt(*parent, "kind") != parent_kind) return std::nullopt;
    std::string parent_name = stringAt(*parent, "name");
    if (parent_name.empty()) return std::nullopt;
    return ObjectRef{std::string(parent_kind), ns, parent_name};
  };
  if (kind == "ReplicaSet") {
    if (auto d = up(Kind::ReplicaSet, "Deployment")) return d;
    if (snapshot.find(Kind::ReplicaSet, ns, name) == nullptr) {
      std::string hash =
          stringAt(objectAt(objectAt(pod, "metadata"), "labels"), "pod-template-hash");
      if (!hash.empty() && name.size() > hash.size() + 1 && name.ends_with("-" + hash)) {
        return ObjectRef{"Deployment", ns, name.substr(0, name.size() - hash.size() - 1)};
      }
    }
  } else if (kind == "Job") {
    if (auto c = up(Kind::Job, "CronJob")) return c;
  }
  return ObjectRef{kind, ns, name};
}

std::string fixFor(const std::optional<ObjectRef>& owner, const ObjectRef& pod) {
  if (!owner) {
    return fmt::format(
        "delete and recreate the pod (a bare pod has no controller to restart it): kubectl "
        "delete pod {} -n {}, then apply its manifest again",
        pod.name, pod.namespace_name);
  }
  if (canRolloutRestart(owner->kind)) return rolloutRestartCommand(*owner);
  if (owner->kind == "CronJob") {
    return fmt::format(
        "the CronJob's next Job gets the sidecar; to run one now: kubectl create "
        "job --from=cronjob/{} {}-meshed -n {}",
        owner->name, owner->name, owner->namespace_name);
  }
  if (owner->kind == "Job") {
    return fmt::format(
        "recreate the Job (its pods keep the spec they were created with): "
        "kubectl get job {} -n {} -o yaml | kubectl replace --force -f -",
        owner->name, owner->namespace_name);
  }
  return fmt::format(
      "recreate the pods of {}/{} -n {} (delete them one at a time; the "
      "controller creates new ones)",
      lowerKind(owner->kind), owner->name, owner->namespace_name);
}

bool hasImageAuto(const Json& spec) {
  for (std::string_view key : {"containers", "initContainers"}) {
    const Json* list = findField(spec, key);
    if (list == nullptr || !list->is_array()) continue;
    for (const Json& c : *list) {
      if (stringAt(c, "image") == "auto") return true;
    }
  }
  return false;
}

// Pods excluded from capture: ports an app container declares that the
// pod's capture annotations leave out.
std::vector<std::string> uncapturedPorts(const Json& spec, const Json& annotations,
                                         std::string& problem) {
  std::vector<std::string> out;
  std::set<int> excluded;
  std::optional<std::set<int>> included;  // nullopt: every port ("*" or absent)
  if (auto v = findField(annotations, names::kExcludeInboundPorts);
      v != nullptr && v->is_string()) {
    auto ports = inject::parsePortList(v->get_ref<const std::string&>());
    if (!ports) {
      problem =
          fmt::format("annotation {}: {}", names::kExcludeInboundPorts, ports.error().message);
      return out;
    }
    excluded.insert(ports->begin(), ports->end());
  }
  if (auto v = findField(annotations, names::kIncludeInboundPorts);
      v != nullptr && v->is_string() && *v != "*") {
    auto ports = inject::parsePortList(v->get_ref<const std::string&>());
    if (!ports) {
      problem =
          fmt::format("annotation {}: {}", names::kIncludeInboundPorts, ports.error().message);
      return out;
    }
    included.emplace(ports->begin(), ports->end());
  }
  if (excluded.empty() && !included) return out;
  const Json* containers = findField(spec, "containers");
  if (containers == nullptr || !containers->is_array()) return out;
  for (const Json& c : *containers) {
    std::string name = stringAt(c, "name");
    if (name == names::kProxyContainer) continue;
    const Json* ports = findField(c, "ports");
    if (ports == nullptr || !ports->is_array()) continue;
    for (const Json& p : *ports) {
      const Json* port = p.is_object() ? findField(p, "containerPort") : nullptr;
      if (port == nullptr || !port->is_number_integer()) continue;
      int n = port->get<int>();
      std::string protocol = stringAt(p, "protocol");
      if (protocol == "UDP" || protocol == "SCTP") continue;  // never captured
      if (excluded.contains(n) || (included && !included->contains(n))) {
        out.push_back(fmt::format("{} (container {})", n, name));
      }
    }
  }
  return out;
}

bool optedOut(inject::Rule rule) {
  return rule == inject::Rule::PodLabel || rule == inject::Rule::PodAnnotation ||
         rule == inject::Rule::NeverInjectSelector || rule == inject::Rule::PolicyDisabled;
}

struct PodVerdict {
  std::string verdict;
  bool counted = false;  // takes part in the workload's meshed/unmeshed count
  bool meshed = false;
  std::optional<ObjectRef> owner;
};

class Run {
 public:
  Run(const Snapshot& snapshot, const inject::InjectConfig& config)
      : snapshot_(snapshot), config_(config) {}

  // The findings of one pod; its verdict for `remora check pod`.
  PodVerdict pod(const std::string& ns, const std::string& name, const Json& pod,
                 std::vector<Finding>& out, std::set<std::string>& unknown_namespaces) {
    ObjectRef ref{"Pod", ns, name};
    const Json& metadata = objectAt(pod, "metadata");
    const Json& spec = objectAt(pod, "spec");
    const Json& annotations = objectAt(metadata, "annotations");
    std::optional<ObjectRef> owner = ownerOf(snapshot_, pod, ns);
    auto add = [&](std::string code, std::string type, Severity severity, std::string message,
                   std::string fix, bool restart) {
      out.push_back(Finding{std::move(code), std::move(type), severity, ref, owner,
                            std::move(message), std::move(fix),
                            restart && owner && canRolloutRestart(owner->kind)});
    };
    if (notRunning(pod)) return {"not judged: the pod has finished or is being deleted"};
    PodVerdict verdict;
    verdict.owner = owner;

    const Json* namespace_object = snapshot_.find(Kind::Namespace, "", ns);
    if (namespace_object == nullptr) {
      unknown_namespaces.insert(ns);
      verdict.verdict = fmt::format("not judged: namespace {} is not in the input", ns);
      return verdict;
    }
    const Json& ns_labels = objectAt(objectAt(*namespace_object, "metadata"), "labels");
    auto decision = inject::decide({metadata, spec, ns, &ns_labels}, config_);
    if (!decision) {
      add("RM0009", "InvalidInjectionSettings", Severity::Warning,
          fmt::format("The injector cannot read this pod: {}", decision.error().message),
          "fix the pod's labels and annotations", false);
      verdict.verdict = "not judged: " + decision.error().message;
      return verdict;
    }
    if (decision->rule == inject::Rule::IgnoredNamespace) {
      verdict.verdict = decision->reason;
      return verdict;
    }
    PodState state = readPod(spec, annotations);
    verdict.counted = decision->rule != inject::Rule::HostNetwork;
    verdict.meshed = state.proxy;

    if (!decision->inject) {
      if (state.proxy) {
        add("RM0004", "SidecarNotExpected", Severity::Warning,
            fmt::format("The pod has a sidecar that the injector would not add now ({}). If it "
                        "was injected by hand (remora inject, istioctl kube-inject), this is "
                        "intended; otherwise restart it to run without the proxy.",
                        decision->reason),
            fixFor(owner, ref), true);
        verdict.verdict = "has a sidecar, but would not be injected now: " + decision->reason;
        return verdict;
      }
      if (decision->rule == inject::Rule::HostNetwork) {
        add("RM0006", "HostNetworkPod", Severity::Info,
            "The pod uses the host's network (hostNetwork: true) and is never injected: "
            "intentional, its traffic is not meshed.",
            "", false);
        verdict.verdict = "not injected (intentional): " + decision->reason;
      } else if (optedOut(decision->rule)) {
        add("RM0005", "InjectionOptOut", Severity::Info,
            fmt::format("The pod is not injected on purpose ({}): its traffic is not meshed.",
                        decision->reason),
            "", false);
        verdict.verdict = "not injected (intentional): " + decision->reason;
      } else {
        verdict.verdict = "not injected: " + decision->reason;
      }
      if (hasImageAuto(spec)) {
        add("IST0145", "ImageAutoWithoutInjectionError", Severity::Error,
            "Pods with `image: auto` should be targeted for injection: the image is only "
            "replaced by the injector, and the pod cannot start without it.",
            "enable injection for the pod's namespace or remove `image: auto`", false);
      }
      return verdict;
    }

    // The policy says: inject.
    if (!state.proxy) {
      add("IST0103", "PodMissingProxy", Severity::Error,
          fmt::format("The pod {} is missing the Istio proxy. This can often be resolved by "
                      "restarting or redeploying the workload. It would be injected now ({}); "
                      "it was created before, or while the injector was not called. Meshed "
                      "peers may fail mTLS to it: one-way traffic and 503s.",
                      name, decision->reason),
          fixFor(owner, ref), true);
      verdict.verdict = "not meshed: istio-proxy is missing (" + decision->reason + ")";
      return verdict;
    }
    bool init_ok = state.init || !state.init_expected;
    if (!init_ok) {
      add("RM0001", "PodMissingInit", Severity::Error,
          "The pod has istio-proxy but no istio-init: no traffic is redirected to the proxy, "
          "so the pod is not fully meshed.",
          fixFor(owner, ref), true);
      verdict.verdict = "not fully meshed: istio-init is missing";
    } else {
      verdict.verdict = state.native ? "meshed (native sidecar)" : "meshed";
    }
    if (state.has_status) {
      std::string why;
      if (!state.status_revision.empty() && state.status_revision != config_.revision) {
        why = fmt::format("revision {}, the namespace now selects {}", state.status_revision,
                          config_.revision);
      } else if (!state.status_version.empty() && state.status_version != config_.version) {
        why = fmt::format("template version {}, the injector's is {}", state.status_version,
                          config_.version);
      }
      if (!why.empty()) {
        add("RM0003", "OutdatedSidecar", Severity::Warning,
            fmt::format("The pod's sidecar was injected from another template ({}): restart to "
                        "upgrade it.",
                        why),
            fixFor(owner, ref), true);
        if (init_ok) verdict.verdict = "meshed, outdated sidecar (" + why + ")";
      }
    }
    std::string problem;
    std::vector<std::string> ports = uncapturedPorts(spec, annotations, problem);
    if (!problem.empty()) {
      add("RM0009", "InvalidInjectionSettings", Severity::Warning, problem,
          "fix the annotation's value", false);
    } else if (!ports.empty()) {
      std::string list;
      for (const auto& p : ports) list += (list.empty() ? "" : ", ") + p;
      add("RM0007", "AppPortNotCaptured", Severity::Warning,
          fmt::format("Inbound traffic to port {} bypasses the proxy ({} / {}): no mTLS, "
                      "telemetry or policy on it.",
                      list, names::kExcludeInboundPorts, names::kIncludeInboundPorts),
          "remove the port from traffic.sidecar.istio.io/excludeInboundPorts (or add it to "
          "includeInboundPorts) unless it must bypass the mesh",
          false);
    }
    return verdict;
  }

  void namespaces(const AnalyzeOptions& options, std::vector<Finding>& out) {
    for (const auto& [key, object] : snapshot_.objects(Kind::Namespace)) {
      const std::string& ns = key.second;
      if (!options.namespace_name.empty() && ns != options.namespace_name) continue;
      if (isSystemNamespace(ns)) continue;
      const Json& labels = objectAt(objectAt(object, "metadata"), "labels");
      const Json* legacy = findField(labels, names::kNamespaceInjectionLabel);
      const Json* rev = findField(labels, names::kRevisionLabel);
      ObjectRef ref{"Namespace", "", ns};
      if (legacy != nullptr && rev != nullptr) {
        out.push_back(Finding{
            "IST0123", "NamespaceMultipleInjectionLabels", Severity::Warning, ref, std::nullopt,
            fmt::format("The namespace has both new and legacy injection labels. Run 'kubectl "
                        "label namespace {} istio.io/rev-' or 'kubectl label namespace {} "
                        "istio-injection-'",
                        ns, ns),
            fmt::format("kubectl label namespace {} istio.io/rev-", ns), false});
      } else if (legacy == nullptr && rev == nullptr) {
        out.push_back(Finding{
            "IST0102", "NamespaceNotInjected", Severity::Info, ref, std::nullopt,
            fmt::format("The namespace is not enabled for Istio injection. Run 'kubectl label "
                        "namespace {} istio-injection=enabled' to enable it, or 'kubectl label "
                        "namespace {} istio-injection=disabled' to explicitly mark it as not "
                        "needing injection.",
                        ns, ns),
            fmt::format("kubectl label namespace {} istio-injection=enabled", ns), false});
      }
    }
  }

  // IST0144 on workload templates with `image: auto` that would not be injected.
  void templates(const AnalyzeOptions& options, std::vector<Finding>& out) {
    for (Kind kind : {Kind::Deployment, Kind::StatefulSet, Kind::DaemonSet, Kind::Job,
                      Kind::CronJob, Kind::ReplicaSet}) {
      for (const auto& [key, object] : snapshot_.objects(kind)) {
        const std::string& ns = key.first;
        if (!options.namespace_name.empty() && ns != options.namespace_name) continue;
        const Json* ns_object = snapshot_.find(Kind::Namespace, "", ns);
        if (ns_object == nullptr) continue;
        const Json* tmpl = kind == Kind::CronJob
                               ? kube::lookup(object, {"spec", "jobTemplate", "spec", "template"})
                               : kube::lookup(object, {"spec", "template"});
        if (tmpl == nullptr || !tmpl->is_object()) continue;
        const Json& spec = objectAt(*tmpl, "spec");
        if (!hasImageAuto(spec)) continue;
        const Json& ns_labels = objectAt(objectAt(*ns_object, "metadata"), "labels");
        auto decision =
            inject::decide({objectAt(*tmpl, "metadata"), spec, ns, &ns_labels}, config_);
        if (!decision || decision->inject) continue;
        ObjectRef ref{std::string(kindName(kind)), ns, key.second};
        out.push_back(Finding{"IST0144", "ImageAutoWithoutInjectionWarning", Severity::Warning, ref,
                              std::nullopt,
                              fmt::format("{}s with `image: auto` should be targeted for "
                                          "injection ({}).",
                                          kindName(kind), decision->reason),
                              "enable injection for the namespace or the pod template", false});
      }
    }
  }

 private:
  const Snapshot& snapshot_;
  const inject::InjectConfig& config_;
};

}  // namespace

std::string_view severityName(Severity severity) {
  switch (severity) {
    case Severity::Error: return "error";
    case Severity::Warning: return "warning";
    case Severity::Info: return "info";
  }
  return "info";
}

Result<std::optional<Severity>> parseFailOn(std::string_view text) {
  if (text == "error") return std::optional<Severity>(Severity::Error);
  if (text == "warning") return std::optional<Severity>(Severity::Warning);
  if (text == "info") return std::optional<Severity>(Severity::Info);
  if (text == "none") return std::optional<Severity>();
  return Error{Errc::InvalidArgument,
               fmt::format("--fail-on \"{}\": expected error, warning, info or none", text)};
}

bool findingLess(const Finding& a, const Finding& b) {
  auto owner_key = [](const Finding& f) {
    return f.owner ? std::tie(f.owner->kind, f.owner->name)
                   : std::tie(f.object.kind, f.object.name);
  };
  if (a.severity != b.severity) return a.severity > b.severity;
  if (a.object.namespace_name != b.object.namespace_name) {
    // Namespace findings (namespace "") sort with the namespace they name.
    const std::string& na =
        a.object.namespace_name.empty() ? a.object.name : a.object.namespace_name;
    const std::string& nb =
        b.object.namespace_name.empty() ? b.object.name : b.object.namespace_name;
    if (na != nb) return na < nb;
  }
  if (owner_key(a) != owner_key(b)) return owner_key(a) < owner_key(b);
  return std::tie(a.object.kind, a.object.name, a.code) <
         std::tie(b.object.kind, b.object.name, b.code);
}

bool canRolloutRestart(std::string_view kind) {
  return kind == "Deployment" || kind == "StatefulSet" || kind == "DaemonSet";
}

std::string rolloutRestartCommand(const ObjectRef& workload) {
  return fmt::format("kubectl rollout restart {}/{} -n {}", lowerKind(workload.kind), workload.name,
                     workload.namespace_name);
}

Analyzer::Analyzer(std::shared_ptr<const inject::InjectConfig> config)
    : config_(std::move(config)) {}

std::vector<Finding> Analyzer::analyze(const Snapshot& snapshot,
                                       const AnalyzeOptions& options) const {
  std::vector<Finding> out;
  Run run(snapshot, *config_);
  run.namespaces(options, out);
  run.templates(options, out);

  std::set<std::string> unknown;
  // Per owner: pods with and without a sidecar, for RM0002.
  std::map<ObjectRef, std::pair<int, int>> mix;
  for (const auto& [key, pod] : snapshot.objects(Kind::Pod)) {
    const std::string& ns = key.first;
    if (!options.namespace_name.empty() && ns != options.namespace_name) continue;
    PodVerdict v = run.pod(ns, key.second, pod, out, unknown);
    if (!v.counted || !v.owner) continue;
    auto& [meshed, bare] = mix[*v.owner];
    (v.meshed ? meshed : bare) += 1;
  }
  for (const auto& [owner, counts] : mix) {
    auto [meshed, bare] = counts;
    if (meshed == 0 || bare == 0) continue;
    out.push_back(Finding{
        "RM0002", "WorkloadPartiallyInjected", Severity::Error, owner, owner,
        fmt::format("{} of {} pods of {}/{} have the sidecar and {} do not: the worst case of "
                    "partial injection. Meshed pods require mTLS that the others cannot speak: "
                    "random mTLS failures, one-way traffic and unexplained 503s.",
                    meshed, meshed + bare, lowerKind(owner.kind), owner.name, bare),
        fixFor(owner, owner), canRolloutRestart(owner.kind)});
  }
  for (const auto& ns : unknown) {
    out.push_back(Finding{
        "RM0008", "NamespaceNotInInput", Severity::Info, ObjectRef{"Namespace", "", ns},
        std::nullopt,
        fmt::format("Pods in namespace {} were not checked: the namespace (and its labels) is not "
                    "in the input.",
                    ns),
        "kubectl get namespaces,pods,deployments,replicasets,statefulsets,daemonsets,jobs,"
        "cronjobs -A -o json",
        false});
  }
  std::sort(out.begin(), out.end(), findingLess);
  return out;
}

Result<PodReport> Analyzer::inspectPod(const Snapshot& snapshot, std::string_view namespace_name,
                                       std::string_view name) const {
  const Json* pod = snapshot.find(Kind::Pod, namespace_name, name);
  if (pod == nullptr) {
    return Error{Errc::NotFound,
                 fmt::format("pod {} not found in namespace {}", name, namespace_name)};
  }
  PodReport report;
  report.pod = ObjectRef{"Pod", std::string(namespace_name), std::string(name)};
  report.owner = ownerOf(snapshot, *pod, report.pod.namespace_name);
  const Json& spec = objectAt(*pod, "spec");
  report.containers = containerNames(spec, "containers");
  report.init_containers = containerNames(spec, "initContainers");
  Run run(snapshot, *config_);
  std::set<std::string> unknown;
  PodVerdict v =
      run.pod(report.pod.namespace_name, report.pod.name, *pod, report.findings, unknown);
  report.verdict = v.verdict;
  std::sort(report.findings.begin(), report.findings.end(), findingLess);
  return report;
}

Result<std::vector<Explanation>> Analyzer::explain(const Snapshot& snapshot,
                                                   std::string_view namespace_name) const {
  const Json* ns_object = snapshot.find(Kind::Namespace, "", namespace_name);
  if (ns_object == nullptr) {
    return Error{Errc::NotFound, fmt::format("namespace {} not found", namespace_name)};
  }
  std::string ns(namespace_name);
  const Json& ns_labels = objectAt(objectAt(*ns_object, "metadata"), "labels");
  std::vector<Explanation> out;
  auto decideFor = [&](const Json& metadata, const Json& spec) -> inject::Decision {
    auto d = inject::decide({metadata, spec, ns, &ns_labels}, *config_);
    if (!d) return inject::Decision{false, inject::Rule::NamespaceNotEnabled, d.error().message};
    return *d;
  };
  {
    Json spec = Json::object();
    out.push_back(Explanation{ObjectRef{"Namespace", "", ns}, decideFor(Json::object(), spec),
                              "a new pod without labels"});
  }
  // Pods by owner, to say how many of each workload's pods have a sidecar.
  std::map<ObjectRef, std::pair<int, int>> mix;
  for (const auto& [key, pod] : snapshot.objects(Kind::Pod)) {
    if (key.first != ns || notRunning(pod)) continue;
    PodState state =
        readPod(objectAt(pod, "spec"), objectAt(objectAt(pod, "metadata"), "annotations"));
    auto owner = ownerOf(snapshot, pod, ns);
    ObjectRef ref = owner ? *owner : ObjectRef{"Pod", ns, key.second};
    auto& [meshed, total] = mix[ref];
    meshed += state.proxy ? 1 : 0;
    total += 1;
  }
  auto now = [&](const ObjectRef& ref) -> std::string {
    auto it = mix.find(ref);
    if (it == mix.end()) {
      return ref.kind == "Pod" ? "not running (finished or being deleted)" : "no running pods";
    }
    auto [meshed, total] = it->second;
    if (ref.kind == "Pod") return meshed > 0 ? "has a sidecar" : "has no sidecar";
    return fmt::format("{} of {} running pods have a sidecar", meshed, total);
  };
  for (Kind kind : {Kind::Deployment, Kind::StatefulSet, Kind::DaemonSet, Kind::CronJob, Kind::Job,
                    Kind::ReplicaSet}) {
    for (const auto& [key, object] : snapshot.objects(kind)) {
      if (key.first != ns) continue;
      if (kind != Kind::CronJob && kind != Kind::Deployment && controllerOf(object) != nullptr) {
        continue;  // a ReplicaSet of a Deployment, a Job of a CronJob: the owner speaks for it
      }
      const Json* tmpl = kind == Kind::CronJob
                             ? kube::lookup(object, {"spec", "jobTemplate", "spec", "template"})
                             : kube::lookup(object, {"spec", "template"});
      if (tmpl == nullptr) continue;
      ObjectRef ref{std::string(kindName(kind)), ns, key.second};
      out.push_back(Explanation{
          ref, decideFor(objectAt(*tmpl, "metadata"), objectAt(*tmpl, "spec")), now(ref)});
    }
  }
  for (const auto& [key, pod] : snapshot.objects(Kind::Pod)) {
    if (key.first != ns || controllerOf(pod) != nullptr) continue;
    ObjectRef ref{"Pod", ns, key.second};
    out.push_back(
        Explanation{ref, decideFor(objectAt(pod, "metadata"), objectAt(pod, "spec")), now(ref)});
  }
  return out;
}

}  // namespace remora::check

#include "local/plan.h"

#include <algorithm>
#include <cmath>
#include <set>

#include <fmt/format.h>

#include "kube/objects.h"
#include "security/policy.h"

namespace remora::local {
namespace {

// Kubernetes' rand.SafeEncodeString alphabet: no vowels, no look-alikes.
constexpr std::string_view kAlphabet = "bcdfghjklmnpqrstvwxz2456789";

std::uint64_t fnv1a(std::string_view text, std::uint64_t h = 1469598103934665603ULL) {
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::string encode(std::uint64_t value, std::size_t length) {
  std::string out;
  for (std::size_t i = 0; i < length; ++i) {
    out.push_back(kAlphabet[value % kAlphabet.size()]);
    value /= kAlphabet.size();
    if (value == 0) value = fnv1a(out);
  }
  return out;
}

Error fieldError(const Json& object, std::string_view field, std::string_view what) {
  return Error{Errc::InvalidArgument,
               fmt::format("{}: {}: {}", kube::describe(object), field, what)};
}

// An integer field that must be a non-negative number when present.
Result<std::int64_t> intField(const Json& parent, std::string_view key, std::int64_t fallback,
                              const Json& object, std::string_view where) {
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return fallback;
  if (!it->is_number_integer() || it->get<std::int64_t>() < 0) {
    return fieldError(object, where, "must be a non-negative integer");
  }
  return it->get<std::int64_t>();
}

std::string ipOf(std::string_view base, std::size_t host) {
  return fmt::format("{}{}", base, host);
}

Result<std::optional<std::uint32_t>> uidField(const Json& security_context, std::string_view key,
                                              const Json& object, std::string_view where) {
  if (!security_context.is_object()) return std::optional<std::uint32_t>{};
  auto it = security_context.find(key);
  if (it == security_context.end() || it->is_null()) return std::optional<std::uint32_t>{};
  if (!it->is_number_integer() || it->get<std::int64_t>() < 0 ||
      it->get<std::int64_t>() > 0x7fffffff) {
    return fieldError(object, fmt::format("{}.{}", where, key), "must be a UID/GID");
  }
  return std::optional<std::uint32_t>{static_cast<std::uint32_t>(it->get<std::int64_t>())};
}

const Json& emptyObject() {
  static const Json kEmpty = Json::object();
  return kEmpty;
}

const Json& objectOr(const Json* value) {
  return value && value->is_object() ? *value : emptyObject();
}

// The value of a downward-API fieldRef for this pod, or nullopt.
std::optional<std::string> fieldRef(const Pod& pod, std::string_view path,
                                    const PlanOptions& options) {
  if (path == "metadata.name") return pod.name;
  if (path == "metadata.namespace") return pod.namespace_name;
  if (path == "metadata.uid") return fmt::format("local-{}", encode(fnv1a(pod.name), 12));
  if (path == "spec.nodeName") return std::string(kNodeName);
  if (path == "spec.serviceAccountName") return pod.service_account;
  if (path == "status.podIP" || path == "status.podIPs") return pod.ip;
  if (path == "status.hostIP" || path == "status.hostIPs") return options.node_ip;
  for (auto [prefix, map] :
       {std::pair{std::string_view("metadata.labels['"), &pod.labels},
        std::pair{std::string_view("metadata.annotations['"), &pod.annotations}}) {
    if (path.starts_with(prefix) && path.ends_with("']")) {
      auto key = path.substr(prefix.size(), path.size() - prefix.size() - 2);
      auto it = map->find(key);
      return it != map->end() && it->is_string() ? it->get<std::string>() : std::string();
    }
  }
  return std::nullopt;
}

std::optional<std::string> resourceFieldRef(const Json& container, const Json& ref,
                                            const PlanOptions& options) {
  std::string resource = kube::stringOr(ref, "resource", "");
  auto dot = resource.find('.');
  if (dot == std::string::npos) return std::nullopt;
  std::string kind = resource.substr(0, dot);   // limits | requests
  std::string name = resource.substr(dot + 1);  // cpu | memory | ephemeral-storage
  const Json* set = kube::lookup(container, {"resources", kind});
  const Json* value = set && set->is_object() && set->contains(name) ? &(*set)[name] : nullptr;
  std::string divisor = "1";
  if (auto it = ref.find("divisor"); it != ref.end() && it->is_string()) divisor = *it;
  double amount = 0;
  if (value && (value->is_string() || value->is_number())) {
    auto q = kube::parseQuantity(value->is_string() ? value->get<std::string>() : value->dump());
    if (!q) return std::nullopt;
    amount = *q;
  } else if (name == "cpu") {
    amount = options.node_cpus;  // no limit: the node's allocatable CPU
  } else {
    amount = 0;
  }
  auto d = kube::parseQuantity(divisor);
  if (!d || *d <= 0) return std::nullopt;
  // The kubelet rounds up: 500m with divisor 1 is "1".
  return fmt::format("{}", static_cast<std::int64_t>(std::ceil(amount / *d)));
}

Result<Container> buildContainer(const Json& c, const Pod& pod, const Json& object,
                                 std::string_view where, const Json& pod_security,
                                 const PlanOptions& options) {
  Container out;
  if (!c.is_object()) return fieldError(object, where, "must be an object");
  out.name = kube::stringOr(c, "name", "");
  if (out.name.empty()) return fieldError(object, fmt::format("{}.name", where), "required");
  out.image = kube::stringOr(c, "image", "");
  out.native_sidecar = kube::stringOr(c, "restartPolicy", "") == "Always";

  static const Json kNoEnv = Json::array();
  auto env_it = c.find("env");
  const Json& env_list = env_it != c.end() && env_it->is_array() ? *env_it : kNoEnv;
  for (const auto& e : env_list) {
    if (!e.is_object()) continue;
    std::string name = kube::stringOr(e, "name", "");
    if (name.empty()) continue;
    if (auto v = e.find("value"); v != e.end() && v->is_string()) {
      out.env.emplace_back(name, expandVars(v->get<std::string>(), out.env));
      continue;
    }
    const Json* from = kube::lookup(e, {"valueFrom"});
    std::optional<std::string> value;
    if (from && from->contains("fieldRef")) {
      value = fieldRef(pod, kube::stringOr((*from)["fieldRef"], "fieldPath", ""), options);
    } else if (from && from->contains("resourceFieldRef")) {
      value = resourceFieldRef(c, (*from)["resourceFieldRef"], options);
    } else if (!from) {
      value = std::string();  // `- name: X` without a value is the empty string
    }
    if (value) {
      out.env.emplace_back(name, *value);
    } else {
      out.warnings.push_back(
          fmt::format("env {}: valueFrom has no local source; left unset", name));
    }
  }
  if (c.contains("envFrom")) {
    out.warnings.push_back("envFrom (ConfigMaps, Secrets) has no local source; ignored");
  }
  for (auto [key, list] : {std::pair{"command", &out.command}, std::pair{"args", &out.args}}) {
    auto it = c.find(key);
    if (it == c.end() || it->is_null()) continue;
    if (!it->is_array()) return fieldError(object, fmt::format("{}.{}", where, key), "not a list");
    for (const auto& a : *it) {
      if (!a.is_string()) {
        return fieldError(object, fmt::format("{}.{}", where, key), "must hold strings");
      }
      list->push_back(expandVars(a.get<std::string>(), out.env));
    }
  }
  if (auto ports = c.find("ports"); ports != c.end() && ports->is_array()) {
    for (const auto& p : *ports) {
      if (!p.is_object()) continue;
      if (kube::stringOr(p, "protocol", "TCP") != "TCP") continue;
      auto it = p.find("containerPort");
      if (it == p.end() || !it->is_number_integer() || it->get<std::int64_t>() < 1 ||
          it->get<std::int64_t>() > 65535) {
        return fieldError(object, fmt::format("{}.ports", where), "containerPort must be 1-65535");
      }
      out.tcp_ports.push_back(static_cast<std::uint16_t>(it->get<std::int64_t>()));
      out.port_names.push_back(kube::stringOr(p, "name", ""));
    }
  }
  const Json* security = kube::lookup(c, {"securityContext"});
  const Json& sc = objectOr(security);
  REMORA_ASSIGN_OR_RETURN(
      out.run_as_user, uidField(sc, "runAsUser", object, fmt::format("{}.securityContext", where)));
  REMORA_ASSIGN_OR_RETURN(out.run_as_group, uidField(sc, "runAsGroup", object,
                                                     fmt::format("{}.securityContext", where)));
  if (!out.run_as_user) {
    REMORA_ASSIGN_OR_RETURN(out.run_as_user,
                            uidField(pod_security, "runAsUser", object, "spec.securityContext"));
  }
  if (!out.run_as_group) {
    REMORA_ASSIGN_OR_RETURN(out.run_as_group,
                            uidField(pod_security, "runAsGroup", object, "spec.securityContext"));
  }
  if (auto mounts = c.find("volumeMounts"); mounts != c.end() && mounts->is_array()) {
    for (const auto& m : *mounts) {
      VolumeMount vm{kube::stringOr(m, "name", ""), kube::stringOr(m, "mountPath", ""),
                     kube::stringOr(m, "subPath", ""), false};
      if (auto ro = m.find("readOnly"); ro != m.end() && ro->is_boolean()) vm.read_only = *ro;
      if (vm.name.empty() || !vm.mount_path.starts_with('/')) {
        return fieldError(object, fmt::format("{}.volumeMounts", where),
                          "each needs a name and an absolute mountPath");
      }
      if (vm.sub_path.find("..") != std::string::npos || vm.sub_path.starts_with('/')) {
        return fieldError(object, fmt::format("{}.volumeMounts", where),
                          "subPath must be relative and must not contain '..'");
      }
      out.mounts.push_back(std::move(vm));
    }
  }
  return out;
}

Volume buildVolume(const Json& v) {
  Volume out;
  out.name = kube::stringOr(v, "name", "");
  if (const Json* cm = kube::lookup(v, {"configMap"})) {
    if (kube::stringOr(*cm, "name", "") == "istio-ca-root-cert") {
      out.kind = VolumeKind::RootCert;
    } else {
      out.note = "configMap: no local source, an empty directory";
    }
  } else if (const Json* projected = kube::lookup(v, {"projected"})) {
    if (auto sources = projected->find("sources");
        sources != projected->end() && sources->is_array()) {
      for (const auto& s : *sources) {
        if (const Json* sat = kube::lookup(s, {"serviceAccountToken"})) {
          out.kind = VolumeKind::Token;
          out.token_file = kube::stringOr(*sat, "path", "token");
        }
      }
    }
  } else if (const Json* dapi = kube::lookup(v, {"downwardAPI"})) {
    out.kind = VolumeKind::DownwardApi;
    if (auto items = dapi->find("items"); items != dapi->end() && items->is_array()) {
      for (const auto& item : *items) {
        std::string path = kube::stringOr(item, "path", "");
        const Json* ref = kube::lookup(item, {"fieldRef"});
        std::string field = ref ? kube::stringOr(*ref, "fieldPath", "") : "";
        if (!path.empty() && path.find("..") == std::string::npos && !path.starts_with('/') &&
            (field == "metadata.labels" || field == "metadata.annotations")) {
          out.fields.emplace_back(path, field);
        }
      }
    }
  } else if (!v.contains("emptyDir")) {
    out.note = "no local source for this volume kind, an empty directory";
  }
  return out;
}

}  // namespace

bool Pod::hasContainer(std::string_view n) const {
  return std::any_of(containers.begin(), containers.end(), [&](auto& c) { return c.name == n; });
}

bool Pod::hasInitContainer(std::string_view n) const {
  return std::any_of(init_containers.begin(), init_containers.end(),
                     [&](auto& c) { return c.name == n; });
}

const Pod* Plan::findPod(std::string_view ns, std::string_view name) const {
  for (const auto& p : pods) {
    if (p.namespace_name == ns && p.name == name) return &p;
  }
  return nullptr;
}

const Service* Plan::findService(std::string_view ns, std::string_view name) const {
  for (const auto& s : services) {
    if (s.namespace_name == ns && s.name == name) return &s;
  }
  return nullptr;
}

std::string expandVars(std::string_view text,
                       const std::vector<std::pair<std::string, std::string>>& env) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '$' || i + 1 >= text.size()) {
      out.push_back(text[i]);
      continue;
    }
    if (text[i + 1] == '$') {  // $$ -> $
      out.push_back('$');
      ++i;
      continue;
    }
    if (text[i + 1] != '(') {
      out.push_back('$');
      continue;
    }
    auto close = text.find(')', i + 2);
    if (close == std::string_view::npos) {
      out.append(text.substr(i));
      break;
    }
    auto name = text.substr(i + 2, close - i - 2);
    const std::string* value = nullptr;
    // The last definition wins, as in the kubelet's mapping.
    for (const auto& [k, v] : env) {
      if (k == name) value = &v;
    }
    if (value) {
      out += *value;
    } else {
      out.append(text.substr(i, close - i + 1));
    }
    i = close;
  }
  return out;
}

std::string templateHash(const Json& pod_template) {
  return encode(fnv1a(pod_template.dump()), 10);
}

std::string podSuffix(std::string_view seed, int replica) {
  return encode(fnv1a(fmt::format("{}/{}", seed, replica)), 5);
}

Result<Plan> buildPlan(const std::vector<Json>& documents, const PlanOptions& options) {
  Plan plan;
  std::vector<const Json*> objects;
  for (const auto& doc : documents) {
    if (!doc.is_object()) {
      return Error{Errc::InvalidArgument, "a manifest document is not an object"};
    }
    if (kube::stringOr(doc, "kind", "") == "List") {
      if (auto items = doc.find("items"); items != doc.end() && items->is_array()) {
        for (const auto& item : *items) {
          if (!item.is_object())
            return Error{Errc::InvalidArgument, "a List item is not an object"};
          objects.push_back(&item);
        }
      }
      continue;
    }
    objects.push_back(&doc);
  }

  std::set<std::string> declared_namespaces;
  auto namespaceOf = [](const Json& object) {
    const Json* md = kube::lookup(object, {"metadata"});
    return md ? kube::stringOr(*md, "namespace", "default") : std::string("default");
  };
  auto addNamespace = [&](const std::string& name, Json labels) {
    if (!declared_namespaces.insert(name).second) return;
    plan.namespaces.push_back({name, labels.is_object() ? std::move(labels) : Json::object()});
  };
  for (const Json* object : objects) {
    if (kube::stringOr(*object, "kind", "") == "Namespace") {
      const Json* labels = kube::lookup(*object, {"metadata", "labels"});
      std::string name = kube::objectName(*object);
      if (name.empty()) return fieldError(*object, "metadata.name", "required");
      addNamespace(name, labels ? *labels : Json::object());
    }
  }

  std::set<std::pair<std::string, std::string>> pod_names;
  std::vector<const Json*> service_objects;
  // Security policies: checked now (an error names the object and field, as
  // the proxy would refuse the config that carries it), kept as written.
  security::Policies checked;
  for (const Json* object : objects) {
    if (!security::isSecurityPolicy(*object)) continue;
    Json copy = *object;
    if (auto md = copy.find("metadata"); md != copy.end() && md->is_object()) {
      if (!md->contains("namespace")) (*md)["namespace"] = namespaceOf(*object);
    }
    auto status = security::parsePolicy(copy, kube::describe(*object), checked);
    if (!status) return Error{Errc::InvalidArgument, status.error().message};
    plan.policies.push_back(std::move(copy));
  }

  for (const Json* object : objects) {
    std::string kind_name = kube::stringOr(*object, "kind", "");
    if (kind_name == "Service") {
      service_objects.push_back(object);
      continue;
    }
    auto kind = kube::workloadKind(*object);
    if (!kind) continue;
    if (*kind == kube::WorkloadKind::CronJob) {
      plan.skipped.push_back({kube::describe(*object),
                              fmt::format("a CronJob runs on its schedule ({}); `remora local` "
                                          "does not schedule",
                                          kube::stringOr(objectOr(kube::lookup(*object, {"spec"})),
                                                         "schedule", "?"))});
      continue;
    }
    std::string ns = namespaceOf(*object);
    std::string name = kube::objectName(*object);
    if (name.empty()) return fieldError(*object, "metadata.name", "required");
    addNamespace(ns, Json::object());
    Json copy = *object;
    auto tmpl = kube::podTemplate(copy, *kind);
    if (!tmpl)
      return Error{Errc::InvalidArgument, tmpl.error().context(kube::describe(*object)).message};
    const Json& pod_template = **tmpl;
    const Json& spec_obj = objectOr(kube::lookup(*object, {"spec"}));

    std::int64_t replicas = 1;
    if (*kind == kube::WorkloadKind::Deployment || *kind == kube::WorkloadKind::ReplicaSet ||
        *kind == kube::WorkloadKind::ReplicationController ||
        *kind == kube::WorkloadKind::StatefulSet || *kind == kube::WorkloadKind::DeploymentConfig) {
      REMORA_ASSIGN_OR_RETURN(replicas,
                              intField(spec_obj, "replicas", 1, *object, "spec.replicas"));
    } else if (*kind == kube::WorkloadKind::Job) {
      REMORA_ASSIGN_OR_RETURN(replicas,
                              intField(spec_obj, "parallelism", 1, *object, "spec.parallelism"));
    }
    if (*kind != kube::WorkloadKind::Pod) plan.workloads.push_back(*object);
    if (replicas > static_cast<std::int64_t>(kMaxPods)) {
      return fieldError(*object, "spec.replicas", fmt::format("more than {} pods", kMaxPods));
    }
    std::string hash = templateHash(pod_template);
    for (int r = 0; r < replicas; ++r) {
      if (plan.pods.size() >= kMaxPods) {
        return Error{Errc::InvalidArgument,
                     fmt::format("more than {} pods: the local node has one /24", kMaxPods)};
      }
      Pod pod;
      pod.namespace_name = ns;
      pod.workload_kind = std::string(kube::workloadKindName(*kind));
      pod.workload_name = name;
      pod.replica = r;
      switch (*kind) {
        case kube::WorkloadKind::Pod: pod.name = name; break;
        case kube::WorkloadKind::Deployment:
        case kube::WorkloadKind::DeploymentConfig:
          pod.replica_set = fmt::format("{}-{}", name, hash);
          pod.name =
              fmt::format("{}-{}", pod.replica_set, podSuffix(ns + "/" + pod.replica_set, r));
          break;
        case kube::WorkloadKind::StatefulSet: pod.name = fmt::format("{}-{}", name, r); break;
        default: pod.name = fmt::format("{}-{}", name, podSuffix(ns + "/" + name, r)); break;
      }
      if (!pod_names.insert({ns, pod.name}).second) {
        return fieldError(*object, "metadata.name", fmt::format("pod {}/{} twice", ns, pod.name));
      }
      pod.ip = ipOf("10.244.0.", plan.pods.size() + 2);
      const Json& md = objectOr(kube::lookup(pod_template, {"metadata"}));
      if (auto l = md.find("labels"); l != md.end() && l->is_object()) pod.labels = *l;
      if (auto a = md.find("annotations"); a != md.end() && a->is_object()) pod.annotations = *a;
      if (*kind == kube::WorkloadKind::Deployment) {
        kube::setMember(pod.labels, "pod-template-hash", hash);
      } else if (*kind == kube::WorkloadKind::StatefulSet) {
        kube::setMember(pod.labels, "statefulset.kubernetes.io/pod-name", pod.name);
      }
      const Json& spec = objectOr(kube::lookup(pod_template, {"spec"}));
      pod.service_account = kube::stringOr(spec, "serviceAccountName",
                                           kube::stringOr(spec, "serviceAccount", "default"));
      const Json& pod_security = objectOr(kube::lookup(spec, {"securityContext"}));
      for (auto [key, list] : {std::pair{"initContainers", &pod.init_containers},
                               std::pair{"containers", &pod.containers}}) {
        auto it = spec.find(key);
        if (it == spec.end() || it->is_null()) continue;
        if (!it->is_array()) return fieldError(*object, fmt::format("spec.{}", key), "not a list");
        for (std::size_t i = 0; i < it->size(); ++i) {
          REMORA_ASSIGN_OR_RETURN(
              auto c, buildContainer((*it)[i], pod, *object, fmt::format("spec.{}[{}]", key, i),
                                     pod_security, options));
          list->push_back(std::move(c));
        }
      }
      if (pod.containers.empty()) return fieldError(*object, "spec.containers", "no container");
      if (auto vols = spec.find("volumes"); vols != spec.end() && vols->is_array()) {
        for (const auto& v : *vols) pod.volumes.push_back(buildVolume(v));
      }
      // A StatefulSet's claims are volumes of its pods: local empty directories.
      if (auto claims = spec_obj.find("volumeClaimTemplates");
          *kind == kube::WorkloadKind::StatefulSet && claims != spec_obj.end() &&
          claims->is_array()) {
        for (const auto& claim : *claims) {
          std::string claim_name = kube::objectName(claim);
          if (claim_name.empty()) continue;
          pod.volumes.push_back(
              {.name = claim_name, .note = "a PersistentVolumeClaim: an empty directory"});
        }
      }
      // The Pod as the API server would show it.
      Json pod_md = Json::object();
      kube::setMember(pod_md, "name", pod.name);
      kube::setMember(pod_md, "namespace", ns);
      kube::setMember(pod_md, "labels", pod.labels);
      kube::setMember(pod_md, "annotations", pod.annotations);
      if (*kind != kube::WorkloadKind::Pod) {
        std::string owner_kind = pod.workload_kind;
        std::string owner_name = name;
        std::string owner_api = kube::stringOr(*object, "apiVersion", "apps/v1");
        if (*kind == kube::WorkloadKind::Deployment) {
          owner_kind = "ReplicaSet";
          owner_name = pod.replica_set;
        }
        Json ref = {{"apiVersion", owner_api},
                    {"kind", owner_kind},
                    {"name", owner_name},
                    {"controller", true},
                    {"blockOwnerDeletion", true}};
        kube::setMember(pod_md, "generateName",
                        *kind == kube::WorkloadKind::StatefulSet ? name + "-" : owner_name + "-");
        kube::setMember(pod_md, "ownerReferences", Json::array({ref}));
      }
      Json pod_spec = spec;
      kube::setMember(pod_spec, "nodeName", std::string(kNodeName));
      kube::setMember(pod_spec, "serviceAccountName", pod.service_account);
      Json status = {{"phase", "Running"},
                     {"hostIP", options.node_ip},
                     {"podIP", pod.ip},
                     {"podIPs", Json::array({Json{{"ip", pod.ip}}})}};
      pod.object = Json{{"apiVersion", "v1"},
                        {"kind", "Pod"},
                        {"metadata", std::move(pod_md)},
                        {"spec", std::move(pod_spec)},
                        {"status", std::move(status)}};
      plan.pods.push_back(std::move(pod));
    }
    if (*kind == kube::WorkloadKind::Deployment) {
      // The ReplicaSet between a Deployment and its pods, so that tools that
      // walk ownerReferences (remora check's restart plan) find the Deployment.
      Json rs_md = {{"name", fmt::format("{}-{}", name, hash)},
                    {"namespace", ns},
                    {"labels", objectOr(kube::lookup(pod_template, {"metadata", "labels"}))},
                    {"ownerReferences", Json::array({Json{{"apiVersion", "apps/v1"},
                                                          {"kind", "Deployment"},
                                                          {"name", name},
                                                          {"controller", true}}})}};
      kube::setMember(rs_md["labels"], "pod-template-hash", hash);
      plan.workloads.push_back(
          Json{{"apiVersion", "apps/v1"},
               {"kind", "ReplicaSet"},
               {"metadata", std::move(rs_md)},
               {"spec", {{"replicas", replicas}, {"template", pod_template}}}});
    }
  }

  for (const Json* object : service_objects) {
    Service svc;
    svc.name = kube::objectName(*object);
    if (svc.name.empty()) return fieldError(*object, "metadata.name", "required");
    svc.namespace_name = namespaceOf(*object);
    addNamespace(svc.namespace_name, Json::object());
    const Json& spec = objectOr(kube::lookup(*object, {"spec"}));
    bool headless = kube::stringOr(spec, "clusterIP", "") == "None";
    std::string type = kube::stringOr(spec, "type", "ClusterIP");
    if (type == "ExternalName") {
      plan.skipped.push_back(
          {kube::describe(*object), "ExternalName Services have no local meaning"});
      continue;
    }
    if (auto sel = spec.find("selector"); sel != spec.end() && sel->is_object())
      svc.selector = *sel;
    auto ports = spec.find("ports");
    if (ports == spec.end() || !ports->is_array() || ports->empty()) {
      return fieldError(*object, "spec.ports", "required");
    }
    for (std::size_t i = 0; i < ports->size(); ++i) {
      const Json& p = (*ports)[i];
      std::string where = fmt::format("spec.ports[{}]", i);
      ServicePort sp;
      sp.name = kube::stringOr(p, "name", "");
      sp.protocol = kube::stringOr(p, "protocol", "TCP");
      sp.app_protocol = kube::stringOr(p, "appProtocol", "");
      auto port = p.find("port");
      if (port == p.end() || !port->is_number_integer() || port->get<std::int64_t>() < 1 ||
          port->get<std::int64_t>() > 65535) {
        return fieldError(*object, where + ".port", "must be 1-65535");
      }
      sp.port = static_cast<std::uint16_t>(port->get<std::int64_t>());
      auto target = p.find("targetPort");
      if (target == p.end() || target->is_null()) {
        sp.target_port = sp.port;
      } else if (target->is_number_integer()) {
        if (target->get<std::int64_t>() < 1 || target->get<std::int64_t>() > 65535) {
          return fieldError(*object, where + ".targetPort", "must be 1-65535");
        }
        sp.target_port = static_cast<std::uint16_t>(target->get<std::int64_t>());
      } else if (target->is_string() && !target->get<std::string>().empty()) {
        sp.target_port_name = target->get<std::string>();
      } else {
        return fieldError(*object, where + ".targetPort", "must be a port number or name");
      }
      svc.ports.push_back(std::move(sp));
    }
    if (!headless) {
      std::size_t with_vip = 0;
      for (const auto& s : plan.services) with_vip += s.vip.empty() ? 0 : 1;
      if (with_vip >= kMaxServices) {
        return Error{Errc::InvalidArgument, fmt::format("more than {} Services", kMaxServices)};
      }
      svc.vip = ipOf("10.96.0.", with_vip + 10);
    }
    // Endpoints: the pods of the namespace the selector matches (no selector:
    // none, as for a Service whose Endpoints are managed by hand).
    svc.endpoints.resize(svc.ports.size());
    if (!svc.selector.empty()) {
      Json selector = {{"matchLabels", svc.selector}};
      for (std::size_t i = 0; i < plan.pods.size(); ++i) {
        const Pod& pod = plan.pods[i];
        if (pod.namespace_name != svc.namespace_name) continue;
        auto match = kube::selectorMatches(selector, pod.labels);
        if (!match) return fieldError(*object, "spec.selector", match.error().message);
        if (!*match) continue;
        for (std::size_t p = 0; p < svc.ports.size(); ++p) {
          std::uint16_t port = svc.ports[p].target_port;
          if (port == 0) {
            for (const auto& c : pod.containers) {
              for (std::size_t k = 0; k < c.tcp_ports.size(); ++k) {
                if (c.port_names[k] == svc.ports[p].target_port_name) port = c.tcp_ports[k];
              }
            }
          }
          if (port != 0) svc.endpoints[p].push_back({i, port});
        }
      }
    }
    svc.object = *object;
    if (Json* obj_spec = kube::lookup(svc.object, {"spec"})) {
      kube::setMember(*obj_spec, "clusterIP", headless ? std::string("None") : svc.vip);
    }
    plan.services.push_back(std::move(svc));
  }
  return plan;
}

}  // namespace remora::local

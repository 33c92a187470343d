#include "inject/injector.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "inject/annotations.h"
#include "inject/probes.h"
#include "inject/template.h"
#include "kube/objects.h"
#include "kube/yaml.h"

namespace remora::inject {
namespace {

constexpr int kDefaultConcurrency = 2;
constexpr std::string_view kStatsPath = "/stats/prometheus";

// ------------------------------------------------------------ small helpers

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

const Json& emptyObject() {
  static const Json kEmpty = Json::object();
  return kEmpty;
}

const Json& objectOr(const Json* value) {
  return value != nullptr && value->is_object() ? *value : emptyObject();
}

std::string stringAt(const Json& doc, std::string_view path, std::string_view fallback = "") {
  const Json* v = contextValue(doc, path);
  if (v == nullptr || !v->is_string() || v->get_ref<const std::string&>().empty()) {
    return std::string(fallback);
  }
  return v->get<std::string>();
}

std::string annotationOr(const Json& annotations, std::string_view name,
                         std::string_view fallback) {
  const Json* v = findField(annotations, name);
  return v != nullptr && v->is_string() ? v->get<std::string>() : std::string(fallback);
}

bool hasAnnotation(const Json& annotations, std::string_view name) {
  return findField(annotations, name) != nullptr;
}

std::string containerName(const Json& container) { return kube::stringOr(container, "name", ""); }

// Sets object[key] = value, in place when the key exists (so re-injection
// keeps positions), appended otherwise.
void setInPlace(Json& object, std::string_view key, Json value) {
  kube::setMember(object, key, std::move(value));
}

void eraseKey(Json& object, std::string_view key) {
  auto it = object.find(key);
  if (it != object.end()) object.erase(it);
}

// pod.metadata as an object, created before `spec` when missing so the
// output reads metadata-first.
Json& ensureMetadata(Json& pod) {
  auto it = pod.find("metadata");
  if (it != pod.end()) {
    if (it->is_null()) *it = Json::object();
    return *it;
  }
  auto& members = pod.get_ref<Json::object_t&>();
  Json::object_t out;
  out.reserve(members.size() + 1);
  for (auto& member : members) {
    if (member.first == "spec") out.emplace_back("metadata", Json::object());
    out.emplace_back(member.first, std::move(member.second));
  }
  members.swap(out);
  if (auto placed = pod.find("metadata"); placed != pod.end()) return *placed;
  return kube::setMember(pod, "metadata", Json::object());  // a pod without spec (never valid)
}

// An array field of `spec`, created (at the end of spec) when missing.
Json& ensureArray(Json& spec, std::string_view key) {
  auto it = spec.find(key);
  if (it != spec.end()) {
    if (it->is_null()) *it = Json::array();
    return *it;
  }
  return kube::setMember(spec, key, Json::array());
}

// ------------------------------------------------------------ shape checks

Status checkContainerList(const Json& spec, std::string_view key, bool required) {
  const Json* list = findField(spec, key);
  if (list == nullptr || list->is_null()) {
    if (required)
      return Error{Errc::InvalidArgument, fmt::format("spec.{} is required value", key)};
    return ok();
  }
  if (!list->is_array()) {
    return Error{Errc::InvalidArgument, fmt::format("spec.{} must be a list", key)};
  }
  if (required && list->empty()) {
    return Error{Errc::InvalidArgument, fmt::format("spec.{} must not be empty", key)};
  }
  for (std::size_t i = 0; i < list->size(); ++i) {
    const Json& c = (*list)[i];
    if (!c.is_object()) {
      return Error{Errc::InvalidArgument, fmt::format("spec.{}[{}] must be a mapping", key, i)};
    }
    const Json* name = findField(c, "name");
    if (name == nullptr || !name->is_string() || name->get_ref<const std::string&>().empty()) {
      return Error{Errc::InvalidArgument,
                   fmt::format("spec.{}[{}].name is required value", key, i)};
    }
    bool duplicate = false;
    for (std::size_t k = 0; k < i && !duplicate; ++k) {
      const Json* other = findField((*list)[k], "name");
      duplicate = other != nullptr && *other == *name;
    }
    if (duplicate) {
      return Error{Errc::InvalidArgument,
                   fmt::format("spec.{}[{}].name: duplicate container name \"{}\"", key, i,
                               name->get<std::string>())};
    }
    for (const char* field : {"ports", "env", "volumeMounts"}) {
      const Json* f = findField(c, field);
      if (f != nullptr && !f->is_null() && !f->is_array()) {
        return Error{Errc::InvalidArgument,
                     fmt::format("spec.{}[{}].{} must be a list", key, i, field)};
      }
    }
  }
  return ok();
}

Status checkShape(const Json& pod, bool allow_no_containers = false) {
  if (!pod.is_object()) return Error{Errc::InvalidArgument, "a pod must be a mapping"};
  const Json* metadata = findField(pod, "metadata");
  if (metadata != nullptr && !metadata->is_null()) {
    if (!metadata->is_object()) return Error{Errc::InvalidArgument, "metadata must be a mapping"};
    for (const char* key : {"labels", "annotations"}) {
      const Json* m = findField(*metadata, key);
      if (m != nullptr && !m->is_null() && !m->is_object()) {
        return Error{Errc::InvalidArgument, fmt::format("metadata.{} must be a mapping", key)};
      }
    }
    if (const Json* labels = findField(*metadata, "labels");
        labels != nullptr && labels->is_object()) {
      for (const auto& [key, value] : labels->items()) {
        if (!value.is_string()) {
          return Error{
              Errc::InvalidArgument,
              fmt::format("metadata.labels.{} must be a string, not {}", key, value.type_name())};
        }
      }
    }
  }
  const Json* spec = findField(pod, "spec");
  if (spec == nullptr || spec->is_null())
    return Error{Errc::InvalidArgument, "spec is required value"};
  if (!spec->is_object()) return Error{Errc::InvalidArgument, "spec must be a mapping"};
  REMORA_TRY(checkContainerList(*spec, "containers", !allow_no_containers));
  REMORA_TRY(checkContainerList(*spec, "initContainers", false));
  const Json* volumes = findField(*spec, "volumes");
  if (volumes != nullptr && !volumes->is_null() && !volumes->is_array()) {
    return Error{Errc::InvalidArgument, "spec.volumes must be a list"};
  }
  return ok();
}

// ------------------------------------------------------------ re-injection

const Json* envValue(const Json& container, std::string_view name) {
  const Json* env = findField(container, "env");
  if (env == nullptr || !env->is_array()) return nullptr;
  for (const Json& e : *env) {
    if (kube::stringOr(e, "name", "") == name) return findField(e, "value");
  }
  return nullptr;
}

Result<Json> parseAnnotationJson(const Json& annotations, std::string_view name) {
  REMORA_ASSIGN_OR_RETURN(auto text, annotationValue(annotations, name));
  if (!text) return Json();
  auto parsed = parseJson(*text, {.max_bytes = 1 << 20, .max_depth = 64});
  if (!parsed || !parsed->is_object()) {
    return Error{Errc::InvalidArgument,
                 fmt::format("annotation {}: {}", name,
                             parsed ? "must be a JSON object" : parsed.error().message)};
  }
  return std::move(*parsed);
}

std::set<std::string> stringSet(const Json& status, std::string_view key) {
  std::set<std::string> out;
  const Json* list = findField(status, key);
  if (list == nullptr || !list->is_array()) return out;
  for (const Json& v : *list) {
    if (v.is_string()) out.insert(v.get<std::string>());
  }
  return out;
}

void removeNamed(Json& spec, std::string_view list, const std::set<std::string>& names_to_remove,
                 std::vector<Json>* removed) {
  auto it = spec.find(list);
  if (it == spec.end() || !it->is_array()) return;
  Json kept = Json::array();
  for (Json& item : *it) {
    if (names_to_remove.count(containerName(item)) != 0) {
      if (removed != nullptr) removed->push_back(std::move(item));
    } else {
      kept.push_back(std::move(item));
    }
  }
  *it = std::move(kept);
}

// Takes away what the status annotation says the last injection added and
// puts back what it replaced. The result is the pod as the user wrote it
// (up to resolved probe ports), ready to be injected again.
Status stripInjection(Json& metadata, Json& spec) {
  Json& annotations = metadata["annotations"];
  REMORA_ASSIGN_OR_RETURN(Json status, parseAnnotationJson(annotations, names::kStatus));
  REMORA_ASSIGN_OR_RETURN(Json overrides, parseAnnotationJson(annotations, names::kOverrides));

  std::set<std::string> containers = stringSet(status, "containers");
  for (const auto& name : stringSet(status, "initContainers")) containers.insert(name);
  std::vector<Json> removed;
  removeNamed(spec, "containers", containers, &removed);
  removeNamed(spec, "initContainers", containers, &removed);
  removeNamed(spec, "volumes", stringSet(status, "volumes"), nullptr);

  for (const Json& old : removed) {
    if (containerName(old) != names::kProxyContainer) continue;
    if (const Json* probers = envValue(old, "ISTIO_KUBE_APP_PROBERS");
        probers != nullptr && probers->is_string()) {
      auto parsed = parseJson(probers->get<std::string>(), {.max_bytes = 1 << 20, .max_depth = 32});
      if (parsed) restoreProbes(spec, *parsed);
    }
    if (const Json* prom = envValue(old, "ISTIO_PROMETHEUS_ANNOTATIONS");
        prom != nullptr && prom->is_string()) {
      auto parsed = parseJson(prom->get<std::string>(), {.max_bytes = 1 << 16, .max_depth = 4});
      if (parsed && parsed->is_object()) {
        for (auto [key, name] : {std::pair{"scrape", names::kPrometheusScrape},
                                 std::pair{"port", names::kPrometheusPort},
                                 std::pair{"path", names::kPrometheusPath}}) {
          if (const Json* v = findField(*parsed, key); v != nullptr && v->is_string()) {
            setInPlace(annotations, name, *v);
          } else {
            eraseKey(annotations, name);
          }
        }
      }
    }
  }
  // The user's own istio-proxy / istio-init, as they declared them.
  if (overrides.is_object()) {
    for (const char* list : {"containers", "initContainers"}) {
      const Json* items = findField(overrides, list);
      if (items == nullptr || items->is_null()) continue;
      if (!items->is_array()) {
        return Error{Errc::InvalidArgument,
                     fmt::format("annotation {}: {} must be a list", names::kOverrides, list)};
      }
      for (const Json& item : *items) {
        std::string name = item.is_object() ? containerName(item) : "";
        if (name != names::kProxyContainer && name != names::kInitContainer) {
          return Error{Errc::InvalidArgument,
                       fmt::format("annotation {}: {} may hold only istio-proxy and istio-init",
                                   names::kOverrides, list)};
        }
        ensureArray(spec, list).push_back(item);
      }
    }
  }
  return ok();
}

// ------------------------------------------------------------ user overrides

bool isHandlerKey(std::string_view key) {
  return key == "httpGet" || key == "tcpSocket" || key == "grpc" || key == "exec" || key == "sleep";
}

// A handler (probe or hook) from the user replaces ours whole: two handlers
// in one probe would be invalid.
Json mergeHandler(Json base, const Json& over) {
  if (!base.is_object() || !over.is_object()) return over;
  bool over_has_handler = false;
  for (const auto& [key, value] : over.items()) over_has_handler |= isHandlerKey(key);
  if (over_has_handler) {
    for (auto it = base.begin(); it != base.end();) {
      it = isHandlerKey(it.key()) ? base.erase(it) : std::next(it);
    }
  }
  return mergeValues(std::move(base), over);
}

void mergeListByKey(Json& base, const Json& over, std::string_view key) {
  if (!base.is_array()) base = Json::array();
  for (const Json& item : over) {
    const Json* id = item.is_object() ? findField(item, key) : nullptr;
    bool replaced = false;
    if (id != nullptr) {
      for (Json& existing : base) {
        const Json* existing_id = existing.is_object() ? findField(existing, key) : nullptr;
        if (existing_id != nullptr && *existing_id == *id) {
          existing = mergeValues(std::move(existing), item);
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) base.push_back(item);
  }
}

// The user's fields over the rendered container, as Kubernetes' strategic
// merge would apply them: maps merge, env/ports/volumeMounts merge by their
// key, other lists and scalars replace; `image: auto` keeps our image.
Json mergeContainer(Json rendered, const Json& user) {
  for (const auto& [key, value] : user.items()) {
    if (key == "name") continue;
    if (key == "image" && value == "auto") continue;
    auto it = rendered.find(key);
    if (it == rendered.end()) {
      rendered[key] = value;
    } else if (key == "livenessProbe" || key == "readinessProbe" || key == "startupProbe") {
      *it = mergeHandler(std::move(*it), value);
    } else if (key == "lifecycle" && it->is_object() && value.is_object()) {
      for (const auto& [hook, handler] : value.items()) {
        auto h = it->find(hook);
        if (h == it->end()) {
          (*it)[hook] = handler;
        } else {
          *h = mergeHandler(std::move(*h), handler);
        }
      }
    } else if (value.is_array() && (key == "env" || key == "volumeMounts" || key == "ports")) {
      mergeListByKey(*it, value,
                     key == "env" ? "name" : (key == "ports" ? "containerPort" : "mountPath"));
    } else if (it->is_object() && value.is_object()) {
      *it = mergeValues(std::move(*it), value);
    } else {
      *it = value;
    }
  }
  return rendered;
}

// ------------------------------------------------------------ the context

std::string imageName(const Json& values, std::string_view image) {
  if (image.find('/') != std::string_view::npos) return std::string(image);
  return fmt::format("{}/{}:{}", stringAt(values, "global.hub"), image,
                     stringAt(values, "global.tag"));
}

int intAt(const Json& doc, std::string_view path, int fallback) {
  const Json* v = contextValue(doc, path);
  return v != nullptr && v->is_number_integer() ? v->get<int>() : fallback;
}

int intAnnotation(const Json& annotations, std::string_view name, int fallback) {
  const Json* v = findField(annotations, name);
  if (v == nullptr || !v->is_string()) return fallback;
  return std::stoi(v->get<std::string>());  // validated by validateAnnotations()
}

// Resources from the four proxy annotations (any set: the defaults are
// ignored entirely), else from the values.
Json proxyResources(const Json& annotations, const Json& values) {
  bool any = false;
  Json resources = Json::object();
  for (auto [name, section, resource] :
       {std::tuple{names::kProxyCPU, "requests", "cpu"},
        std::tuple{names::kProxyMemory, "requests", "memory"},
        std::tuple{names::kProxyCPULimit, "limits", "cpu"},
        std::tuple{names::kProxyMemoryLimit, "limits", "memory"}}) {
    const Json* v = findField(annotations, name);
    if (v == nullptr || !v->is_string()) continue;
    any = true;
    resources[section][resource] = *v;
  }
  if (any) {
    // Requests before limits, as Kubernetes writes them.
    Json ordered = Json::object();
    for (const char* section : {"requests", "limits"}) {
      if (resources.contains(section)) ordered[section] = resources[section];
    }
    return ordered;
  }
  const Json* defaults = contextValue(values, "global.proxy.resources");
  return defaults != nullptr && defaults->is_object() ? *defaults : Json::object();
}

std::optional<double> cpuOf(const Json& resources, const char* section) {
  const Json* v = kube::lookup(resources, {section, "cpu"});
  if (v == nullptr) return std::nullopt;
  auto q = kube::parseQuantity(v->is_string() ? v->get<std::string>() : v->dump());
  if (!q || *q <= 0) return std::nullopt;
  return *q;
}

// The proxy's worker threads: the ProxyConfig's concurrency when positive;
// when 0 or absent, the CPU limit (or request) rounded up; else the default.
int concurrencyOf(const Json& proxy_config, const Json& resources) {
  const Json* c = findField(proxy_config, "concurrency");
  if (c != nullptr && c->is_number_integer() && c->get<std::int64_t>() > 0) {
    return static_cast<int>(std::min<std::int64_t>(c->get<std::int64_t>(), 1024));
  }
  std::optional<double> cpu = cpuOf(resources, "limits");
  if (!cpu) cpu = cpuOf(resources, "requests");
  if (cpu) return static_cast<int>(std::clamp(std::ceil(*cpu - 1e-9), 1.0, 1024.0));
  return kDefaultConcurrency;
}

std::string joinPorts(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) {
    if (p.empty()) continue;
    if (!out.empty()) out.push_back(',');
    out += p;
  }
  return out;
}

// istio-init's arguments: the capture configuration, read as istio-iptables
// reads it (see `remora init`).
Json initArgs(const Json& annotations, const Json& values, const Json& mesh,
              const std::string& mode, int status_port, int uid, int gid) {
  auto setting = [&](std::string_view annotation, std::string_view value_path) {
    return normalizeList(annotationOr(annotations, annotation, stringAt(values, value_path)));
  };
  std::string include_ranges =
      setting(names::kIncludeOutboundIPRanges, "global.proxy.includeIPRanges");
  std::string include_inbound =
      setting(names::kIncludeInboundPorts, "global.proxy.includeInboundPorts");
  // Always excluded: Envoy-compatible stats (15090), health (15021), and the
  // status port unless the list has it already.
  std::string excluded = setting(names::kExcludeInboundPorts, "global.proxy.excludeInboundPorts");
  std::string status = status_port != 0 ? std::to_string(status_port) : "";
  std::vector<std::string> entries;
  for (std::size_t start = 0; start <= excluded.size() && !excluded.empty();) {
    std::size_t comma = excluded.find(',', start);
    entries.push_back(excluded.substr(start, comma == std::string::npos ? comma : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  bool has_status = std::find(entries.begin(), entries.end(), status) != entries.end();
  std::string exclude_inbound = joinPorts({"15090", "15021", excluded, has_status ? "" : status});

  Json args = Json::array({"init", "-p", std::to_string(intAt(mesh, "proxyListenPort", 15001)),
                           "-z", std::to_string(intAt(mesh, "proxyInboundListenPort", 15006)), "-u",
                           std::to_string(uid)});
  if (gid != uid) {
    args.push_back("-g");
    args.push_back(std::to_string(gid));
  }
  for (const char* a : {"-m"}) args.push_back(a);
  args.push_back(mode);
  args.push_back("-i");
  args.push_back(include_ranges);
  args.push_back("-x");
  args.push_back(setting(names::kExcludeOutboundIPRanges, "global.proxy.excludeIPRanges"));
  args.push_back("-b");
  args.push_back(include_inbound);
  args.push_back("-d");
  args.push_back(exclude_inbound);
  for (auto [flag, annotation, value_path] :
       {std::tuple{"-q", names::kIncludeOutboundPorts, "global.proxy.includeOutboundPorts"},
        std::tuple{"-o", names::kExcludeOutboundPorts, "global.proxy.excludeOutboundPorts"}}) {
    std::string v = setting(annotation, value_path);
    if (!v.empty()) {
      args.push_back(flag);
      args.push_back(v);
    }
  }
  for (auto [flag, annotation] :
       {std::pair{"-c", names::kExcludeInterfaces}, std::pair{"-k", names::kKubevirtInterfaces}}) {
    std::string v = normalizeList(annotationOr(annotations, annotation, ""));
    if (!v.empty()) {
      args.push_back(flag);
      args.push_back(v);
    }
  }
  return args;
}

std::string truncateLabel(std::string value) {
  if (value.size() > 63) value.resize(63);
  while (!value.empty() && !std::isalnum(static_cast<unsigned char>(value.back())))
    value.pop_back();
  return value;
}

std::string firstLabel(const Json& labels, std::initializer_list<std::string_view> keys,
                       std::string_view fallback) {
  for (std::string_view key : keys) {
    const Json* v = findField(labels, key);
    if (v != nullptr && v->is_string() && !v->get_ref<const std::string&>().empty()) {
      return v->get<std::string>();
    }
  }
  return std::string(fallback);
}

bool hasNativeSidecars(const Json& spec) {
  const Json* inits = findField(spec, "initContainers");
  if (inits == nullptr || !inits->is_array()) return false;
  for (const Json& c : *inits) {
    if (containerName(c) == names::kProxyContainer) continue;
    const Json* restart = findField(c, "restartPolicy");
    if (restart != nullptr && *restart == "Always") return true;
  }
  return false;
}

struct Plan {
  Json context;
  bool native = false;
  bool hold = false;
  int status_port = 0;
  bool rewrite_probes = true;
};

Result<Plan> plan(const Json& pod, const PodContext& ctx, const InjectConfig& config) {
  const Json& values = config.values;
  const Json& mesh = config.mesh;
  const Json& metadata = objectOr(findField(pod, "metadata"));
  const Json& annotations = objectOr(findField(metadata, "annotations"));
  const Json& labels = objectOr(findField(metadata, "labels"));
  const Json& spec = *findField(pod, "spec");
  Plan p;

  // ProxyConfig: the mesh default with the pod's proxy.istio.io/config over it.
  Json proxy_config = objectOr(findField(mesh, "defaultConfig"));
  if (auto text = findField(annotations, names::kProxyConfig);
      text != nullptr && text->is_string()) {
    REMORA_ASSIGN_OR_RETURN(Json overlay, kube::parseYaml(text->get<std::string>()));
    proxy_config = mergeValues(std::move(proxy_config), overlay);
  }
  std::string mode = annotationOr(annotations, names::kInterceptionMode,
                                  kube::stringOr(proxy_config, "interceptionMode", "REDIRECT"));

  // Layout.
  if (auto a = findField(annotations, names::kNativeSidecar); a != nullptr && a->is_string()) {
    p.native = *parseBool(a->get<std::string>());
  } else if (isTruthy(contextValue(values, "global.nativeSidecars"))) {
    p.native = true;
  } else if (hasNativeSidecars(spec)) {
    p.native = true;
  } else {
    p.native = ctx.workload.runs_to_completion &&
               isTruthy(contextValue(values, "global.nativeSidecarsForJobs"));
  }
  const Json* hold = findField(proxy_config, "holdApplicationUntilProxyStarts");
  p.hold = !p.native && hold != nullptr && *hold == true;

  p.status_port = intAnnotation(annotations, names::kStatusPort,
                                intAt(values, "global.proxy.statusPort", 15020));
  if (hasAnnotation(annotations, names::kStatusPort)) proxy_config["statusPort"] = p.status_port;
  if (auto a = findField(annotations, names::kRewriteProbes); a != nullptr && a->is_string()) {
    p.rewrite_probes = *parseBool(a->get<std::string>());
  } else {
    p.rewrite_probes = isTruthy(contextValue(values, "sidecarInjectorWebhook.rewriteAppHTTPProbe"));
  }
  p.rewrite_probes = p.rewrite_probes && p.status_port != 0;

  Json resources = proxyResources(annotations, values);
  int concurrency = concurrencyOf(proxy_config, resources);
  bool tproxy = mode == "TPROXY";
  int uid = intAt(values, "global.proxy.runAsUser", 1337);
  int gid = intAt(values, "global.proxy.runAsGroup", 1337);

  Json metadata_env = Json::array();
  if (const Json* md = findField(proxy_config, "proxyMetadata"); md != nullptr && md->is_object()) {
    for (const auto& [key, value] : md->items()) {
      metadata_env.push_back(Json{
          {"name", key}, {"value", value.is_string() ? value.get<std::string>() : value.dump()}});
    }
  }

  std::string trust_domain = kube::stringOr(mesh, "trustDomain", "");
  if (trust_domain.empty()) trust_domain = "cluster.local";
  std::string ca_address = stringAt(values, "global.caAddress");
  if (ca_address.empty()) {
    ca_address = fmt::format("istiod{}.{}.svc:15012",
                             config.revision == "default" ? "" : "-" + config.revision,
                             stringAt(values, "global.istioNamespace", "istio-system"));
  }
  std::string pull_policy = stringAt(values, "global.imagePullPolicy");

  Json proxy = Json::object();
  proxy.get_ref<Json::object_t&>().reserve(32);  // no growth, so members are never copied
  proxy["image"] = annotationOr(annotations, names::kProxyImage,
                                imageName(values, stringAt(values, "global.proxy.image")));
  proxy["imagePullPolicy"] = pull_policy.empty() ? Json() : Json(pull_policy);
  proxy["concurrencyArgs"] = Json::array({"--concurrency", std::to_string(concurrency)});
  proxy["logLevel"] = annotationOr(annotations, names::kLogLevel,
                                   stringAt(values, "global.proxy.logLevel", "warning"));
  proxy["caAddress"] = ca_address;
  proxy["config"] = dumpJson(proxy_config);
  proxy["clusterId"] = stringAt(values, "global.multiCluster.clusterName", "Kubernetes");
  proxy["interceptionMode"] = mode;
  proxy["meshId"] = stringAt(values, "global.meshID", trust_domain);
  proxy["trustDomain"] = trust_domain;
  proxy["metadataEnv"] = metadata_env.empty() ? Json() : metadata_env;
  proxy["statusPort"] = p.status_port;
  proxy["readiness"] = Json{
      {"initialDelaySeconds",
       intAnnotation(annotations, names::kReadinessInitialDelay,
                     intAt(values, "global.proxy.readinessInitialDelaySeconds", 0))},
      {"periodSeconds", intAnnotation(annotations, names::kReadinessPeriod,
                                      intAt(values, "global.proxy.readinessPeriodSeconds", 15))},
      {"failureThreshold",
       intAnnotation(annotations, names::kReadinessFailureThreshold,
                     intAt(values, "global.proxy.readinessFailureThreshold", 4))}};
  proxy["startupProbe"] = p.native && p.status_port != 0 &&
                          isTruthy(contextValue(values, "global.proxy.startupProbe.enabled"));
  proxy["native"] = p.native;
  proxy["holdApplication"] = p.hold;
  proxy["restartPolicy"] = p.native ? Json("Always") : Json();
  proxy["resources"] = resources;
  proxy["capabilities"] = tproxy ? Json::array({"NET_ADMIN"}) : Json();
  proxy["runAsUser"] = tproxy ? 0 : uid;
  proxy["runAsGroup"] = gid;
  proxy["runAsNonRoot"] = !tproxy;

  Json init = Json::object();
  init.get_ref<Json::object_t&>().reserve(4);
  init["enabled"] = mode != "NONE";
  init["image"] = imageName(values, stringAt(values, "global.proxy_init.image"));
  init["args"] = initArgs(annotations, values, mesh, mode, p.status_port, uid, gid);

  // The workload, as the proxy reports it.
  std::string workload_name = ctx.workload.name;
  if (workload_name.empty()) workload_name = kube::objectName(pod);
  std::string ns = ctx.workload.namespace_name;
  if (ns.empty()) ns = ctx.namespace_name;
  if (ns.empty()) ns = kube::stringOr(metadata, "namespace", "default");
  Json workload = Json::object();
  workload.get_ref<Json::object_t&>().reserve(8);
  workload["name"] = workload_name;
  workload["owner"] =
      ctx.workload.api_version.empty() || workload_name.empty()
          ? Json()
          : Json(fmt::format("kubernetes://apis/{}/namespaces/{}/{}s/{}", ctx.workload.api_version,
                             ns, lower(ctx.workload.kind), workload_name));
  workload["canonicalName"] = truncateLabel(firstLabel(
      labels, {names::kCanonicalNameLabel, "app.kubernetes.io/name", "app"}, workload_name));
  workload["canonicalRevision"] = truncateLabel(firstLabel(
      labels, {names::kCanonicalRevisionLabel, "app.kubernetes.io/version", "version"}, "latest"));

  // values and mesh are bound by reference when rendering (TemplateScope).
  // (An initializer list would copy these objects: its elements are const.)
  p.context = Json::object();
  p.context.get_ref<Json::object_t&>().reserve(4);
  kube::setMember(p.context, "proxy", std::move(proxy));
  kube::setMember(p.context, "init", std::move(init));
  kube::setMember(p.context, "workload", std::move(workload));
  kube::setMember(p.context, "revision", config.revision);
  return p;
}

// The app containers' names and declared ports, once the overrides are out.
void describeApps(const Json& spec, Json& workload) {
  Json ports = Json::array();
  std::string names_list;
  std::string first;
  for (const Json& c : spec["containers"]) {
    std::string name = containerName(c);
    if (first.empty()) first = name;
    if (!names_list.empty()) names_list.push_back(',');
    names_list += name;
    if (const Json* p = findField(c, "ports"); p != nullptr && p->is_array()) {
      for (const Json& port : *p) ports.push_back(port);
    }
  }
  workload["podPorts"] = dumpJson(ports);
  workload["appContainers"] = names_list;
  workload["defaultContainer"] = first.empty() ? Json() : Json(first);
}

// The Prometheus annotations point at the proxy's merged stats; the app's
// own scrape settings (if any) go to the proxy in ISTIO_PROMETHEUS_ANNOTATIONS.
void applyPrometheus(Json& annotations, int status_port, Json& proxy_context) {
  if (status_port == 0) return;
  if (annotationOr(annotations, names::kPrometheusMerge, "true") == "false") return;
  if (annotationOr(annotations, names::kPrometheusScrape, "") == "false") return;
  Json ours = Json{{"scrape", "true"}, {"port", std::to_string(status_port)}, {"path", kStatsPath}};
  Json existing = Json::object();
  for (auto [key, name] :
       {std::pair{"scrape", names::kPrometheusScrape}, std::pair{"port", names::kPrometheusPort},
        std::pair{"path", names::kPrometheusPath}}) {
    if (const Json* v = findField(annotations, name); v != nullptr && v->is_string()) {
      existing[key] = *v;
    }
  }
  bool already_ours = existing.size() == 3 && existing["scrape"] == ours["scrape"] &&
                      existing["port"] == ours["port"] && existing["path"] == ours["path"];
  if (!existing.empty() && !already_ours)
    proxy_context["prometheusAnnotations"] = dumpJson(existing);
  setInPlace(annotations, names::kPrometheusScrape, ours["scrape"]);
  setInPlace(annotations, names::kPrometheusPort, ours["port"]);
  setInPlace(annotations, names::kPrometheusPath, ours["path"]);
}

// Takes the user's own istio-proxy / istio-init out of the pod.
Status extractOverrides(Json& spec, std::optional<Json>& user_proxy,
                        std::optional<Json>& user_init) {
  for (const char* list : {"containers", "initContainers"}) {
    auto it = spec.find(list);
    if (it == spec.end() || !it->is_array()) continue;
    Json kept = Json::array();
    for (Json& c : *it) {
      std::string name = containerName(c);
      std::optional<Json>* slot = name == names::kProxyContainer  ? &user_proxy
                                  : name == names::kInitContainer ? &user_init
                                                                  : nullptr;
      if (slot == nullptr) {
        kept.push_back(std::move(c));
      } else if (slot->has_value()) {
        return Error{Errc::InvalidArgument,
                     fmt::format("spec.{}: a second container named {} (one is already declared "
                                 "in containers or initContainers)",
                                 list, name)};
      } else {
        *slot = std::move(c);
      }
    }
    *it = std::move(kept);
  }
  return ok();
}

}  // namespace

std::string_view outcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::Injected: return "injected";
    case Outcome::Unchanged: return "unchanged";
    case Outcome::Skipped: return "skipped";
  }
  return "unknown";
}

Injector::Injector(std::shared_ptr<const InjectConfig> config) : config_(std::move(config)) {
  REMORA_CHECK(config_ != nullptr, "Injector needs a config");
}

Result<PodResult> Injector::injectPod(Json& pod, const PodContext& context) const {
  REMORA_TRY(checkShape(pod));
  PodResult result;
  {
    const Json& metadata = objectOr(findField(pod, "metadata"));
    REMORA_ASSIGN_OR_RETURN(
        result.decision,
        decide(PolicyInput{metadata, pod["spec"], context.namespace_name, context.namespace_labels},
               *config_));
    if (!result.decision.inject) {
      result.outcome = Outcome::Skipped;
      return result;
    }
    REMORA_TRY(
        validateAnnotations(findField(metadata, "annotations") ? metadata["annotations"] : Json()));
  }

  Json& metadata = ensureMetadata(pod);
  const bool reinjecting =
      findField(objectOr(findField(metadata, "annotations")), names::kStatus) != nullptr;
  std::optional<Json> original;
  if (reinjecting) {
    original = pod;
    REMORA_TRY(stripInjection(metadata, pod["spec"]));
    // A gateway-style pod may have had only the proxy: no containers is fine here.
    Status restored = checkShape(pod, /*allow_no_containers=*/true);
    if (!restored) return restored.error().context("after undoing the earlier injection");
  }
  Json& spec = pod["spec"];

  std::optional<Json> user_proxy;
  std::optional<Json> user_init;
  REMORA_TRY(extractOverrides(spec, user_proxy, user_init));

  REMORA_ASSIGN_OR_RETURN(Plan p, plan(pod, context, *config_));
  result.native = p.native;
  Json& ctx = p.context;
  describeApps(spec, ctx["workload"]);

  if (findField(metadata, "annotations") == nullptr || metadata["annotations"].is_null()) {
    kube::setMember(metadata, "annotations", Json::object());
  }
  if (findField(metadata, "labels") == nullptr || metadata["labels"].is_null()) {
    kube::setMember(metadata, "labels", Json::object());
  }
  Json& annotations = metadata["annotations"];
  Json& labels = metadata["labels"];

  if (p.rewrite_probes) {
    Json probers = rewriteProbes(spec, p.status_port);
    if (!probers.empty()) ctx["proxy"]["probers"] = dumpJson(probers);
  }
  applyPrometheus(annotations, p.status_port, ctx["proxy"]);

  TemplateScope scope(ctx);
  scope.bind("values", config_->values).bind("mesh", config_->mesh);
  REMORA_ASSIGN_OR_RETURN(Json rendered, renderTemplate(config_->sidecar_template, scope));

  // The containers, with the user's overrides merged in.
  Json proxy = rendered.contains("proxyContainer") ? rendered["proxyContainer"] : Json();
  Json init = rendered.contains("initContainer") ? rendered["initContainer"] : Json();
  if (!proxy.is_object()) return Error{Errc::Internal, "the template rendered no proxyContainer"};
  if (user_proxy) proxy = mergeContainer(std::move(proxy), *user_proxy);
  if (user_init) {
    init = init.is_object() ? mergeContainer(std::move(init), *user_init) : *user_init;
  }

  Json added_containers = Json::array();
  Json added_inits = Json::array();
  if (p.native) {
    Json& inits = ensureArray(spec, "initContainers");
    Json placed = Json::array();
    if (init.is_object()) {
      added_inits.push_back(names::kInitContainer);
      placed.push_back(std::move(init));
    }
    added_inits.push_back(names::kProxyContainer);
    placed.push_back(std::move(proxy));
    for (Json& c : inits) placed.push_back(std::move(c));
    inits = std::move(placed);
  } else {
    Json& containers = spec["containers"];
    if (p.hold) {
      containers.insert(containers.begin(), std::move(proxy));
    } else {
      containers.push_back(std::move(proxy));
    }
    added_containers.push_back(names::kProxyContainer);
    if (init.is_object()) {
      ensureArray(spec, "initContainers").push_back(std::move(init));
      added_inits.push_back(names::kInitContainer);
    }
  }

  // Volumes: ours replace same-named ones, else they are appended.
  Json added_volumes = Json::array();
  if (const Json* volumes = findField(rendered, "volumes");
      volumes != nullptr && volumes->is_array()) {
    Json& pod_volumes = ensureArray(spec, "volumes");
    for (const Json& volume : *volumes) {
      std::string name = containerName(volume);
      added_volumes.push_back(name);
      bool replaced = false;
      for (Json& existing : pod_volumes) {
        if (containerName(existing) == name) {
          existing = volume;
          replaced = true;
          break;
        }
      }
      if (!replaced) pod_volumes.push_back(volume);
    }
  }

  // Labels and annotations.
  for (const char* section : {"labels", "annotations"}) {
    Json& target = std::string_view(section) == "labels" ? labels : annotations;
    if (const Json* set = findField(rendered, section); set != nullptr && set->is_object()) {
      for (const auto& [key, value] : set->items()) {
        if (!target.contains(key)) kube::setMember(target, key, value);
      }
    }
  }
  setInPlace(annotations, names::kRevisionLabel, config_->revision);
  Json status = Json::object();
  status["version"] = config_->version;
  status["initContainers"] = added_inits;
  status["containers"] = added_containers;
  status["volumes"] = added_volumes;
  status["imagePullSecrets"] = nullptr;
  status["revision"] = config_->revision;
  setInPlace(annotations, names::kStatus, dumpJson(status));
  if (user_proxy || user_init) {
    Json overrides = Json::object();
    if (user_proxy) overrides["containers"] = Json::array({*user_proxy});
    if (user_init) overrides["initContainers"] = Json::array({*user_init});
    setInPlace(annotations, names::kOverrides, dumpJson(overrides));
  } else {
    eraseKey(annotations, names::kOverrides);
  }

  result.outcome = Outcome::Injected;
  if (original && *original == pod) {
    result.outcome = Outcome::Unchanged;
    result.decision.rule = Rule::AlreadyInjected;
    result.decision.reason = "already injected with this configuration (sidecar.istio.io/status)";
  } else if (original) {
    result.decision.reason = "re-injected over an earlier injection; " + result.decision.reason;
  }
  return result;
}

WorkloadRef workloadFromPod(const Json& pod, std::string_view namespace_name) {
  WorkloadRef ref;
  const Json& metadata = objectOr(findField(pod, "metadata"));
  ref.namespace_name = kube::stringOr(metadata, "namespace", "");
  if (ref.namespace_name.empty()) ref.namespace_name = std::string(namespace_name);
  ref.kind = "Pod";
  ref.api_version = "v1";
  ref.name = kube::objectName(pod);
  const Json* owners = findField(metadata, "ownerReferences");
  const Json* controller = nullptr;
  if (owners != nullptr && owners->is_array()) {
    for (const Json& o : *owners) {
      const Json* c = findField(o, "controller");
      if (controller == nullptr || (c != nullptr && *c == true)) controller = &o;
    }
  }
  if (controller == nullptr) {
    // A bare pod with only generateName: the name without its random suffix.
    if (kube::stringOr(metadata, "name", "").empty() && !ref.name.empty() &&
        ref.name.back() == '-') {
      ref.name.pop_back();
    }
    return ref;
  }
  ref.kind = kube::stringOr(*controller, "kind", "");
  ref.api_version = kube::stringOr(*controller, "apiVersion", "");
  ref.name = kube::stringOr(*controller, "name", "");
  auto stripSuffix = [](std::string& name) {
    auto dash = name.rfind('-');
    if (dash != std::string::npos && dash > 0) name.resize(dash);
  };
  if (ref.kind == "ReplicaSet") {
    // A Deployment's ReplicaSet is "<deployment>-<pod-template-hash>".
    const Json* labels = findField(metadata, "labels");
    std::string hash = labels ? kube::stringOr(*labels, "pod-template-hash", "") : "";
    if (!hash.empty() && ref.name.size() > hash.size() + 1 &&
        ref.name.compare(ref.name.size() - hash.size() - 1, std::string::npos, "-" + hash) == 0) {
      ref.name.resize(ref.name.size() - hash.size() - 1);
      ref.kind = "Deployment";
      ref.api_version = "apps/v1";
    }
  } else if (ref.kind == "Job") {
    ref.runs_to_completion = true;
    // A CronJob's Job is "<cronjob>-<scheduled time in minutes>".
    auto dash = ref.name.rfind('-');
    if (dash != std::string::npos &&
        ref.name.find_first_not_of("0123456789", dash + 1) == std::string::npos &&
        ref.name.size() - dash - 1 >= 8) {
      stripSuffix(ref.name);
      ref.kind = "CronJob";
      ref.api_version = "batch/v1";
    }
  }
  return ref;
}

}  // namespace remora::inject

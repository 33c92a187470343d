#include "inject/config.h"

#include <cstdint>

#include <fmt/format.h>

#include "inject/annotations.h"
#include "inject/template.h"
#include "kube/objects.h"
#include "kube/yaml.h"

namespace remora::inject {

namespace embedded {
// Defined in the file that cmake/Embed.cmake generates.
std::string_view valuesYaml();
std::string_view meshConfigYaml();
std::string_view sidecarTemplateYaml();
}  // namespace embedded

namespace {

// Checks of one settings document, with errors prefixed by its role.
class Checker {
 public:
  Checker(const Json& doc, std::string_view role) : doc_(doc), role_(role) {}

  const Json* get(std::string_view path) const { return contextValue(doc_, path); }

  Status string(std::string_view path) const {
    const Json* v = get(path);
    if (v == nullptr || v->is_string()) return ok();
    return fail(path, "must be a string");
  }
  Status boolean(std::string_view path) const {
    const Json* v = get(path);
    if (v == nullptr || v->is_boolean()) return ok();
    return fail(path, "must be true or false");
  }
  Status integer(std::string_view path, std::int64_t min, std::int64_t max) const {
    const Json* v = get(path);
    if (v == nullptr) return ok();
    if (v->is_number_integer() && v->get<std::int64_t>() >= min && v->get<std::int64_t>() <= max) {
      return ok();
    }
    return fail(path, fmt::format("must be an integer in {}..{}", min, max));
  }
  Status object(std::string_view path) const {
    const Json* v = get(path);
    if (v == nullptr || v->is_object() || v->is_null()) return ok();
    return fail(path, "must be a mapping");
  }
  Status selectors(std::string_view path) const {
    const Json* v = get(path);
    if (v == nullptr || v->is_null()) return ok();
    if (!v->is_array()) return fail(path, "must be a list of label selectors");
    for (const Json& selector : *v) {
      auto r = kube::selectorMatches(selector, Json::object());
      if (!r) return fail(path, r.error().message);
    }
    return ok();
  }
  // A string field validated as the annotation of the same meaning would be.
  Status likeAnnotation(std::string_view path, std::string_view annotation) const {
    REMORA_TRY(string(path));
    const Json* v = get(path);
    if (v == nullptr) return ok();
    Status s = validateAnnotations(Json{{std::string(annotation), *v}});
    if (!s) return fail(path, s.error().message);
    return ok();
  }
  Status resources(std::string_view path) const {
    REMORA_TRY(object(path));
    const Json* v = get(path);
    if (v == nullptr || v->is_null()) return ok();
    for (const auto& [section, quantities] : v->items()) {
      if (!quantities.is_object()) return fail(path, fmt::format("{} must be a mapping", section));
      for (const auto& [name, q] : quantities.items()) {
        std::string text = q.is_string() ? q.get<std::string>() : q.dump();
        if (!q.is_string() && !q.is_number()) {
          return fail(path, fmt::format("{}.{} must be a quantity", section, name));
        }
        auto parsed = kube::parseQuantity(text);
        if (!parsed)
          return fail(path, fmt::format("{}.{}: {}", section, name, parsed.error().message));
      }
    }
    return ok();
  }
  Error fail(std::string_view path, std::string_view what) const {
    return Error{Errc::InvalidArgument, fmt::format("{}: {} {}", role_, path, what)};
  }

 private:
  const Json& doc_;
  std::string_view role_;
};

Status checkValues(const Json& values) {
  Checker c(values, "values");
  if (!values.is_object()) return c.fail("(top level)", "must be a mapping");
  for (auto path :
       {"global.hub", "global.tag", "global.imagePullPolicy", "global.istioNamespace",
        "global.caAddress", "global.meshID", "global.network", "global.multiCluster.clusterName",
        "global.proxy.image", "global.proxy.clusterDomain", "global.proxy_init.image"}) {
    REMORA_TRY(c.string(path));
  }
  for (auto path :
       {"global.nativeSidecars", "global.nativeSidecarsForJobs", "global.proxy.privileged",
        "global.proxy.startupProbe.enabled", "sidecarInjectorWebhook.rewriteAppHTTPProbe"}) {
    REMORA_TRY(c.boolean(path));
  }
  REMORA_TRY(c.likeAnnotation("global.proxy.logLevel", names::kLogLevel));
  REMORA_TRY(c.integer("global.proxy.runAsUser", 0, 2147483647));
  REMORA_TRY(c.integer("global.proxy.runAsGroup", 0, 2147483647));
  REMORA_TRY(c.integer("global.proxy.statusPort", 0, 65535));
  REMORA_TRY(c.integer("global.proxy.readinessInitialDelaySeconds", 0, 2147483647));
  REMORA_TRY(c.integer("global.proxy.readinessPeriodSeconds", 1, 2147483647));
  REMORA_TRY(c.integer("global.proxy.readinessFailureThreshold", 1, 2147483647));
  REMORA_TRY(c.integer("global.proxy.startupProbe.failureThreshold", 1, 2147483647));
  REMORA_TRY(c.resources("global.proxy.resources"));
  REMORA_TRY(c.likeAnnotation("global.proxy.includeIPRanges", names::kIncludeOutboundIPRanges));
  REMORA_TRY(c.likeAnnotation("global.proxy.excludeIPRanges", names::kExcludeOutboundIPRanges));
  REMORA_TRY(c.likeAnnotation("global.proxy.includeInboundPorts", names::kIncludeInboundPorts));
  REMORA_TRY(c.likeAnnotation("global.proxy.excludeInboundPorts", names::kExcludeInboundPorts));
  REMORA_TRY(c.likeAnnotation("global.proxy.includeOutboundPorts", names::kIncludeOutboundPorts));
  REMORA_TRY(c.likeAnnotation("global.proxy.excludeOutboundPorts", names::kExcludeOutboundPorts));
  REMORA_TRY(c.selectors("sidecarInjectorWebhook.neverInjectSelector"));
  REMORA_TRY(c.selectors("sidecarInjectorWebhook.alwaysInjectSelector"));
  if (const Json* policy = c.get("sidecarInjectorWebhook.policy");
      policy != nullptr && *policy != "enabled" && *policy != "disabled") {
    return c.fail("sidecarInjectorWebhook.policy", "must be enabled or disabled");
  }
  // Every value the template reads must be present (the defaults have them).
  for (auto path : {"global.hub", "global.tag", "global.proxy.image", "global.proxy.clusterDomain",
                    "global.proxy.statusPort", "global.proxy_init.image"}) {
    if (c.get(path) == nullptr) return c.fail(path, "is required");
  }
  return ok();
}

Status checkMesh(const Json& mesh) {
  Checker c(mesh, "meshconfig");
  if (!mesh.is_object()) return c.fail("(top level)", "must be a mapping");
  REMORA_TRY(c.string("trustDomain"));
  REMORA_TRY(c.object("defaultConfig"));
  if (const Json* config = c.get("defaultConfig"); config != nullptr && config->is_object()) {
    Status s = validateAnnotations(Json{{std::string(names::kProxyConfig), kube::toYaml(*config)}});
    if (!s) return c.fail("defaultConfig", s.error().message);
  }
  REMORA_TRY(c.likeAnnotation("defaultConfig.interceptionMode", names::kInterceptionMode));
  REMORA_TRY(c.integer("proxyListenPort", 1, 65535));
  REMORA_TRY(c.integer("proxyInboundListenPort", 1, 65535));
  REMORA_TRY(c.selectors("neverInjectSelector"));
  REMORA_TRY(c.selectors("alwaysInjectSelector"));
  return ok();
}

Result<Json> parseSettings(std::string_view text, std::string_view role) {
  auto parsed = kube::parseYaml(text, {.max_bytes = 16 << 20, .max_depth = 64});
  if (!parsed) return std::move(parsed).error().context(role);
  if (!parsed->is_object()) {
    return Error{Errc::InvalidArgument, fmt::format("{}: expected a mapping", role)};
  }
  return std::move(*parsed);
}

// FNV-1a, 64 bits: a stable fingerprint, not a security measure.
std::uint64_t fnv1a(std::string_view data, std::uint64_t hash = 0xcbf29ce484222325ULL) {
  for (unsigned char c : data) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

void appendSelectors(Json& out, const Json* selectors) {
  if (selectors == nullptr || !selectors->is_array()) return;
  for (const Json& s : *selectors) out.push_back(s);
}

}  // namespace

std::string_view defaultValuesYaml() { return embedded::valuesYaml(); }
std::string_view defaultMeshConfigYaml() { return embedded::meshConfigYaml(); }
std::string_view sidecarTemplateYaml() { return embedded::sidecarTemplateYaml(); }

Json mergeValues(Json base, const Json& overlay) {
  if (!base.is_object() || !overlay.is_object()) return overlay;
  for (const auto& [key, value] : overlay.items()) {
    auto it = base.find(key);
    if (it != base.end() && it->is_object() && value.is_object()) {
      *it = mergeValues(std::move(*it), value);
    } else {
      base[key] = value;
    }
  }
  return base;
}

Result<InjectConfig> loadConfig(std::string_view values_text, std::string_view mesh_text,
                                std::string_view revision) {
  InjectConfig config;
  REMORA_ASSIGN_OR_RETURN(config.values, parseSettings(defaultValuesYaml(), "built-in values"));
  REMORA_ASSIGN_OR_RETURN(config.mesh,
                          parseSettings(defaultMeshConfigYaml(), "built-in meshconfig"));
  if (!values_text.empty()) {
    REMORA_ASSIGN_OR_RETURN(Json user, parseSettings(values_text, "values"));
    config.values = mergeValues(std::move(config.values), user);
  }
  if (!mesh_text.empty()) {
    REMORA_ASSIGN_OR_RETURN(Json user, parseSettings(mesh_text, "meshconfig"));
    config.mesh = mergeValues(std::move(config.mesh), user);
  }
  REMORA_TRY(checkValues(config.values));
  REMORA_TRY(checkMesh(config.mesh));
  REMORA_ASSIGN_OR_RETURN(config.sidecar_template,
                          parseSettings(sidecarTemplateYaml(), "sidecar template"));

  config.revision = revision.empty() ? "default" : std::string(revision);
  for (char c : config.revision) {
    bool ok_char = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
    if (!ok_char || config.revision.size() > 63) {
      return Error{Errc::InvalidArgument,
                   fmt::format("revision \"{}\" is not a valid label value (lowercase letters, "
                               "digits, '-' and '.', at most 63)",
                               config.revision)};
    }
  }

  appendSelectors(config.never_inject_selectors,
                  contextValue(config.values, "sidecarInjectorWebhook.neverInjectSelector"));
  appendSelectors(config.never_inject_selectors, findField(config.mesh, "neverInjectSelector"));
  appendSelectors(config.always_inject_selectors,
                  contextValue(config.values, "sidecarInjectorWebhook.alwaysInjectSelector"));
  appendSelectors(config.always_inject_selectors, findField(config.mesh, "alwaysInjectSelector"));
  const Json* policy = contextValue(config.values, "sidecarInjectorWebhook.policy");
  config.policy_enabled = policy == nullptr || *policy == "enabled";

  std::uint64_t hash = fnv1a(sidecarTemplateYaml());
  hash = fnv1a(dumpJson(config.values), hash);
  hash = fnv1a(dumpJson(config.mesh), hash);
  hash = fnv1a(config.revision, hash);
  config.version = fmt::format("{:016x}", hash);
  return config;
}

}  // namespace remora::inject

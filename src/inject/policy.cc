#include "inject/policy.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "inject/annotations.h"
#include "kube/objects.h"

namespace remora::inject {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Istio reads the opt-in/opt-out value as YAML 1.1 booleans: y, yes, true,
// on (any case) opt in; "" has no opinion; any other value opts out.
enum class Opinion { None, In, Out };

Opinion readOpinion(std::string_view value) {
  std::string v = lower(value);
  if (v.empty()) return Opinion::None;
  if (v == "y" || v == "yes" || v == "true" || v == "on") return Opinion::In;
  return Opinion::Out;
}

const Json* stringField(const Json* object, std::string_view key) {
  if (object == nullptr || !object->is_object()) return nullptr;
  const Json* v = findField(*object, key);
  return v != nullptr && v->is_string() ? v : nullptr;
}

Decision make(bool inject, Rule rule, std::string reason) {
  return Decision{inject, rule, std::move(reason)};
}

}  // namespace

std::string_view ruleName(Rule rule) {
  switch (rule) {
    case Rule::IgnoredNamespace: return "ignored-namespace";
    case Rule::HostNetwork: return "host-network";
    case Rule::PodLabel: return "pod-label";
    case Rule::PodAnnotation: return "pod-annotation";
    case Rule::PolicyDisabled: return "policy-disabled";
    case Rule::NeverInjectSelector: return "never-inject-selector";
    case Rule::AlwaysInjectSelector: return "always-inject-selector";
    case Rule::NamespaceOffline: return "namespace-offline";
    case Rule::NamespaceLabel: return "namespace-label";
    case Rule::NamespaceRevision: return "namespace-revision";
    case Rule::PodRevision: return "pod-revision";
    case Rule::NamespaceNotEnabled: return "namespace-not-enabled";
    case Rule::AlreadyInjected: return "already-injected";
  }
  return "unknown";
}

Result<Decision> decide(const PolicyInput& input, const InjectConfig& config) {
  for (std::string_view ignored : {"kube-system", "kube-public", "kube-node-lease"}) {
    if (input.namespace_name == ignored) {
      return make(false, Rule::IgnoredNamespace,
                  fmt::format("namespace {} is never injected", ignored));
    }
  }
  if (const Json* host = findField(input.spec, "hostNetwork"); host != nullptr && *host == true) {
    return make(false, Rule::HostNetwork,
                "the pod has host networking enabled (hostNetwork: true)");
  }

  const Json* labels = input.metadata.is_object() ? findField(input.metadata, "labels") : nullptr;
  const Json* annotations =
      input.metadata.is_object() ? findField(input.metadata, "annotations") : nullptr;
  if (labels != nullptr && !labels->is_null() && !labels->is_object()) {
    return Error{Errc::InvalidArgument, "metadata.labels must be a mapping"};
  }
  const Json empty = Json::object();
  const Json& label_set = labels != nullptr && labels->is_object() ? *labels : empty;

  Opinion opinion = Opinion::None;
  Rule opinion_rule = Rule::PodAnnotation;
  std::string opinion_reason;
  if (const Json* label = stringField(labels, names::kInject)) {
    opinion = readOpinion(label->get_ref<const std::string&>());
    opinion_rule = Rule::PodLabel;
    opinion_reason = fmt::format("label {}=\"{}\"", names::kInject, label->get<std::string>());
  } else if (const Json* annotation = stringField(annotations, names::kInject)) {
    opinion = readOpinion(annotation->get_ref<const std::string&>());
    opinion_reason =
        fmt::format("annotation {}=\"{}\"", names::kInject, annotation->get<std::string>());
  }
  if (opinion == Opinion::Out) return make(false, opinion_rule, opinion_reason);

  if (opinion == Opinion::None) {
    if (!config.policy_enabled) {
      return make(false, Rule::PolicyDisabled,
                  "the injector policy is disabled and the pod does not opt in");
    }
    for (const Json& selector : config.never_inject_selectors) {
      if (kube::isEmptySelector(selector)) continue;
      REMORA_ASSIGN_OR_RETURN(bool match, kube::selectorMatches(selector, label_set));
      if (match) {
        return make(
            false, Rule::NeverInjectSelector,
            fmt::format("the pod's labels match neverInjectSelector {}", dumpJson(selector)));
      }
    }
    for (const Json& selector : config.always_inject_selectors) {
      if (kube::isEmptySelector(selector)) continue;
      REMORA_ASSIGN_OR_RETURN(bool match, kube::selectorMatches(selector, label_set));
      if (match) {
        return make(
            true, Rule::AlwaysInjectSelector,
            fmt::format("the pod's labels match alwaysInjectSelector {}", dumpJson(selector)));
      }
    }
  }

  // The namespace. An explicit opt-in still needs the webhook to be called,
  // which the webhook configuration arranges; here it injects.
  if (input.namespace_labels == nullptr) {
    if (opinion == Opinion::In) return make(true, opinion_rule, opinion_reason);
    return make(true, Rule::NamespaceOffline,
                "no namespace information (offline): the namespace counts as enabled");
  }
  const Json* ns_injection = stringField(input.namespace_labels, names::kNamespaceInjectionLabel);
  if (ns_injection != nullptr && *ns_injection == "disabled") {
    return make(
        false, Rule::NamespaceLabel,
        fmt::format("namespace {} has label istio-injection=disabled", input.namespace_name));
  }
  if (opinion == Opinion::In) return make(true, opinion_rule, opinion_reason);
  if (ns_injection != nullptr && *ns_injection == "enabled") {
    if (config.revision == "default") {
      return make(
          true, Rule::NamespaceLabel,
          fmt::format("namespace {} has label istio-injection=enabled", input.namespace_name));
    }
    return make(false, Rule::NamespaceLabel,
                fmt::format("namespace {} has istio-injection=enabled, which selects the default "
                            "revision, not {}",
                            input.namespace_name, config.revision));
  }
  if (const Json* rev = stringField(input.namespace_labels, names::kRevisionLabel)) {
    bool match = *rev == config.revision;
    return make(match, Rule::NamespaceRevision,
                fmt::format("namespace {} has label istio.io/rev={}{}", input.namespace_name,
                            rev->get<std::string>(),
                            match ? "" : fmt::format(", not {}", config.revision)));
  }
  if (const Json* rev = stringField(labels, names::kRevisionLabel)) {
    bool match = *rev == config.revision;
    return make(match, Rule::PodRevision,
                fmt::format("the pod has label istio.io/rev={}{}", rev->get<std::string>(),
                            match ? "" : fmt::format(", not {}", config.revision)));
  }
  return make(false, Rule::NamespaceNotEnabled,
              fmt::format("namespace {} is not enabled for injection (no istio-injection or "
                          "istio.io/rev label)",
                          input.namespace_name));
}

}  // namespace remora::inject

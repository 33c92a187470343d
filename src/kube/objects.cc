#include "kube/objects.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

namespace remora::kube {
namespace {

struct KindInfo {
  std::string_view kind;
  WorkloadKind workload;
  std::initializer_list<std::string_view> groups;  // "" is the core group
};

// The API groups each kind is served from, current and historical.
constexpr std::string_view kCore = "";
const KindInfo kKinds[] = {
    {"Pod", WorkloadKind::Pod, {kCore}},
    {"Deployment", WorkloadKind::Deployment, {"apps", "extensions"}},
    {"ReplicaSet", WorkloadKind::ReplicaSet, {"apps", "extensions"}},
    {"ReplicationController", WorkloadKind::ReplicationController, {kCore}},
    {"StatefulSet", WorkloadKind::StatefulSet, {"apps"}},
    {"DaemonSet", WorkloadKind::DaemonSet, {"apps", "extensions"}},
    {"Job", WorkloadKind::Job, {"batch"}},
    {"CronJob", WorkloadKind::CronJob, {"batch"}},
    {"DeploymentConfig", WorkloadKind::DeploymentConfig, {"apps.openshift.io", kCore}},
};

std::string_view apiGroup(std::string_view api_version) {
  auto slash = api_version.find('/');
  return slash == std::string_view::npos ? std::string_view() : api_version.substr(0, slash);
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::string_view workloadKindName(WorkloadKind kind) {
  for (const auto& info : kKinds) {
    if (info.workload == kind) return info.kind;
  }
  return "Unknown";
}

std::optional<WorkloadKind> workloadKind(const Json& object) {
  const Json* kind = findField(object, "kind");
  if (kind == nullptr || !kind->is_string()) return std::nullopt;
  const auto& name = kind->get_ref<const std::string&>();
  for (const auto& info : kKinds) {
    if (info.kind != name) continue;
    const Json* api_version = findField(object, "apiVersion");
    // Without apiVersion (a fragment), the kind alone decides.
    if (api_version == nullptr || !api_version->is_string()) return info.workload;
    std::string_view group = apiGroup(api_version->get_ref<const std::string&>());
    for (std::string_view g : info.groups) {
      if (g == group) return info.workload;
    }
    return std::nullopt;
  }
  return std::nullopt;
}

bool runsToCompletion(WorkloadKind kind) {
  return kind == WorkloadKind::Job || kind == WorkloadKind::CronJob;
}

std::string_view podTemplatePath(WorkloadKind kind) {
  switch (kind) {
    case WorkloadKind::Pod: return "";
    case WorkloadKind::CronJob: return "spec.jobTemplate.spec.template";
    default: return "spec.template";
  }
}

Result<Json*> podTemplate(Json& object, WorkloadKind kind) {
  auto require = [](Json* parent, std::string_view key, std::string_view path) -> Result<Json*> {
    Json* child = parent == nullptr ? nullptr : lookup(*parent, {key});
    if (child == nullptr || child->is_null()) {
      return Error{Errc::InvalidArgument, fmt::format("{} is required value", path)};
    }
    if (!child->is_object()) {
      return Error{Errc::InvalidArgument,
                   fmt::format("{} must be an object, not {}", path, child->type_name())};
    }
    return child;
  };
  Json* pod = &object;
  switch (kind) {
    case WorkloadKind::Pod: break;
    case WorkloadKind::CronJob: {
      REMORA_ASSIGN_OR_RETURN(Json * spec, require(&object, "spec", "spec"));
      REMORA_ASSIGN_OR_RETURN(Json * job, require(spec, "jobTemplate", "spec.jobTemplate"));
      REMORA_ASSIGN_OR_RETURN(Json * job_spec, require(job, "spec", "spec.jobTemplate.spec"));
      REMORA_ASSIGN_OR_RETURN(pod, require(job_spec, "template", "spec.jobTemplate.spec.template"));
      break;
    }
    default: {
      REMORA_ASSIGN_OR_RETURN(Json * spec, require(&object, "spec", "spec"));
      REMORA_ASSIGN_OR_RETURN(pod, require(spec, "template", "spec.template"));
      break;
    }
  }
  std::string prefix(podTemplatePath(kind));
  if (!prefix.empty()) prefix += ".";
  REMORA_TRY(require(pod, "spec", prefix + "spec"));
  if (const Json* metadata = findField(*pod, "metadata");
      metadata != nullptr && !metadata->is_null() && !metadata->is_object()) {
    return Error{Errc::InvalidArgument, fmt::format("{}metadata must be an object", prefix)};
  }
  return pod;
}

std::string objectName(const Json& object) {
  const Json* metadata = findField(object, "metadata");
  if (metadata == nullptr) return {};
  std::string name = stringOr(*metadata, "name", "");
  if (name.empty()) name = stringOr(*metadata, "generateName", "");
  return name;
}

std::string describe(const Json& object) {
  std::string kind = stringOr(object, "kind", "<kind>");
  std::string name = objectName(object);
  return fmt::format("{} \"{}\"", kind, name.empty() ? "<unnamed>" : name);
}

const Json* lookup(const Json& value, std::initializer_list<std::string_view> path) {
  const Json* current = &value;
  for (std::string_view key : path) {
    current = findField(*current, key);
    if (current == nullptr) return nullptr;
  }
  return current;
}

Json* lookup(Json& value, std::initializer_list<std::string_view> path) {
  return const_cast<Json*>(lookup(static_cast<const Json&>(value), path));
}

std::string stringOr(const Json& object, std::string_view key, std::string_view fallback) {
  const Json* field = findField(object, key);
  if (field == nullptr || !field->is_string()) return std::string(fallback);
  return field->get<std::string>();
}

Json& setMember(Json& object, std::string_view key, Json value) {
  REMORA_ASSERT(object.is_object());
  auto& members = object.get_ref<Json::object_t&>();
  for (auto& member : members) {
    if (member.first == key) {
      member.second = std::move(value);
      return member.second;
    }
  }
  if (members.size() == members.capacity()) {
    Json::object_t grown;
    grown.reserve(std::max<std::size_t>(8, members.size() * 2));
    for (auto& member : members) grown.emplace_back(member.first, std::move(member.second));
    members.swap(grown);
  }
  members.emplace_back(std::string(key), std::move(value));
  return members.back().second;
}

Result<Json*> childObject(Json& object, std::string_view key, std::string_view where) {
  REMORA_ASSERT(object.is_object());
  auto it = object.find(key);
  if (it == object.end()) return &setMember(object, key, Json::object());
  if (it->is_null()) *it = Json::object();
  if (!it->is_object()) {
    return Error{Errc::InvalidArgument,
                 fmt::format("{} must be an object, not {}", where, it->type_name())};
  }
  return &*it;
}

bool isEmptySelector(const Json& selector) {
  if (!selector.is_object()) return true;
  const Json* labels = findField(selector, "matchLabels");
  const Json* exprs = findField(selector, "matchExpressions");
  return (labels == nullptr || labels->empty()) && (exprs == nullptr || exprs->empty());
}

Result<bool> selectorMatches(const Json& selector, const Json& labels) {
  if (selector.is_null()) return true;
  if (!selector.is_object())
    return Error{Errc::InvalidArgument, "a label selector must be an object"};
  auto labelValue = [&](const std::string& key) -> const Json* {
    return labels.is_object() ? findField(labels, key) : nullptr;
  };
  if (const Json* match = findField(selector, "matchLabels");
      match != nullptr && !match->is_null()) {
    if (!match->is_object()) return Error{Errc::InvalidArgument, "matchLabels must be an object"};
    for (const auto& [key, want] : match->items()) {
      const Json* have = labelValue(key);
      if (have == nullptr || *have != want) return false;
    }
  }
  const Json* exprs = findField(selector, "matchExpressions");
  if (exprs == nullptr || exprs->is_null()) return true;
  if (!exprs->is_array()) return Error{Errc::InvalidArgument, "matchExpressions must be a list"};
  for (const Json& expr : *exprs) {
    if (!expr.is_object())
      return Error{Errc::InvalidArgument, "a matchExpression must be an object"};
    std::string key = stringOr(expr, "key", "");
    std::string op = stringOr(expr, "operator", "");
    if (key.empty()) return Error{Errc::InvalidArgument, "a matchExpression needs a key"};
    const Json* values = findField(expr, "values");
    auto contains = [&](const Json* have) {
      if (have == nullptr || values == nullptr || !values->is_array()) return false;
      for (const Json& v : *values) {
        if (v == *have) return true;
      }
      return false;
    };
    const Json* have = labelValue(key);
    if (op == "In" || op == "NotIn") {
      if (values == nullptr || !values->is_array() || values->empty()) {
        return Error{Errc::InvalidArgument,
                     fmt::format("matchExpression {} {} needs a non-empty values list", key, op)};
      }
      bool in = contains(have);
      if ((op == "In") != in) return false;
    } else if (op == "Exists") {
      if (have == nullptr) return false;
    } else if (op == "DoesNotExist") {
      if (have != nullptr) return false;
    } else {
      return Error{Errc::InvalidArgument, fmt::format("unknown selector operator \"{}\"", op)};
    }
  }
  return true;
}

Result<double> parseQuantity(std::string_view text) {
  auto invalid = [&] {
    return Error{Errc::InvalidArgument, fmt::format("\"{}\" is not a valid quantity", text)};
  };
  std::size_t i = 0;
  bool negative = false;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) negative = text[i++] == '-';
  std::size_t start = i;
  std::size_t digits = 0;
  while (i < text.size() && isDigit(text[i])) ++i, ++digits;
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && isDigit(text[i])) ++i, ++digits;
  }
  if (digits == 0 || digits > 30) return invalid();
  double number = std::strtod(std::string(text.substr(start, i - start)).c_str(), nullptr);
  std::string_view suffix = text.substr(i);
  double scale = 1;
  struct Suffix {
    std::string_view name;
    double scale;
  };
  static constexpr Suffix kSuffixes[] = {
      {"Ki", 1024.0},
      {"Mi", 1048576.0},
      {"Gi", 1073741824.0},
      {"Ti", 1099511627776.0},
      {"Pi", 1125899906842624.0},
      {"Ei", 1152921504606846976.0},
      {"n", 1e-9},
      {"u", 1e-6},
      {"m", 1e-3},
      {"", 1},
      {"k", 1e3},
      {"M", 1e6},
      {"G", 1e9},
      {"T", 1e12},
      {"P", 1e15},
      {"E", 1e18},
  };
  bool found = false;
  for (const auto& s : kSuffixes) {
    if (suffix == s.name) {
      scale = s.scale;
      found = true;
      break;
    }
  }
  if (!found) {
    // A decimal exponent: e3, E-2, e+6.
    if (suffix.size() < 2 || (suffix[0] != 'e' && suffix[0] != 'E')) return invalid();
    std::size_t k = 1;
    bool exp_negative = false;
    if (suffix[k] == '+' || suffix[k] == '-') exp_negative = suffix[k++] == '-';
    if (k >= suffix.size() || suffix.size() - k > 3) return invalid();
    int exponent = 0;
    for (; k < suffix.size(); ++k) {
      if (!isDigit(suffix[k])) return invalid();
      exponent = exponent * 10 + (suffix[k] - '0');
    }
    scale = std::pow(10.0, exp_negative ? -exponent : exponent);
  }
  double value = number * scale;
  if (!std::isfinite(value)) return invalid();
  return negative ? -value : value;
}

}  // namespace remora::kube

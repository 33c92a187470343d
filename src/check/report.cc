#include "check/report.h"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

namespace remora::check {
namespace {

Json refToJson(const ObjectRef& ref) {
  Json out = Json::object();
  out["kind"] = ref.kind;
  out["namespace"] = ref.namespace_name;
  out["name"] = ref.name;
  return out;
}

std::string shortRef(const ObjectRef& ref) {
  std::string kind = ref.kind;
  for (char& c : kind) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return fmt::format("{}/{}", kind, ref.name);
}

std::string joinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : " ") + n;
  return out.empty() ? "(none)" : out;
}

}  // namespace

Json findingToJson(const Finding& f) {
  Json out = Json::object();
  out["code"] = f.code;
  out["type"] = f.type;
  out["severity"] = std::string(severityName(f.severity));
  out["object"] = refToJson(f.object);
  out["owner"] = f.owner ? refToJson(*f.owner) : Json(nullptr);
  out["message"] = f.message;
  out["fix"] = f.fix;
  out["restart"] = f.restart;
  return out;
}

Json findingsToJson(const std::vector<Finding>& findings) {
  Json list = Json::array();
  int counts[3] = {0, 0, 0};
  for (const auto& f : findings) {
    list.push_back(findingToJson(f));
    ++counts[static_cast<int>(f.severity)];
  }
  Json out = Json::object();
  out["findings"] = std::move(list);
  out["summary"] = Json{{"error", counts[2]}, {"warning", counts[1]}, {"info", counts[0]}};
  return out;
}

std::string renderTable(const std::vector<Finding>& findings) {
  std::string out;
  int counts[3] = {0, 0, 0};
  for (const auto& f : findings) ++counts[static_cast<int>(f.severity)];
  if (findings.empty()) {
    return "No injection findings.\n";
  }
  // Column widths from the content, capped so one long name does not push
  // every message off the screen.
  std::size_t w_ns = 9, w_object = 6, w_owner = 5;
  for (const auto& f : findings) {
    w_ns = std::max(w_ns, f.object.namespace_name.size());
    w_object = std::max(w_object, shortRef(f.object).size());
    w_owner = std::max(w_owner, f.owner ? shortRef(*f.owner).size() : 1);
  }
  w_ns = std::min<std::size_t>(w_ns, 40);
  w_object = std::min<std::size_t>(w_object, 60);
  w_owner = std::min<std::size_t>(w_owner, 50);
  out += fmt::format("{:<8} {:<8} {:<{}} {:<{}} {:<{}} {}\n", "SEVERITY", "CODE", "NAMESPACE", w_ns,
                     "OBJECT", w_object, "OWNER", w_owner, "MESSAGE");
  for (const auto& f : findings) {
    out += fmt::format("{:<8} {:<8} {:<{}} {:<{}} {:<{}} {}\n", severityName(f.severity), f.code,
                       f.object.namespace_name.empty() ? "-" : f.object.namespace_name, w_ns,
                       shortRef(f.object), w_object, f.owner ? shortRef(*f.owner) : "-", w_owner,
                       f.message);
  }
  // The fixes, one per command, for warnings and errors, in finding order
  // (the worst first), with the codes each one clears.
  std::vector<std::string> commands;
  std::map<std::string, std::set<std::string>> codes;
  bool any_restart = false;
  for (const auto& f : findings) {
    if (f.severity == Severity::Info || f.fix.empty()) continue;
    if (!codes.contains(f.fix)) commands.push_back(f.fix);
    codes[f.fix].insert(f.code);
    any_restart = any_restart || f.restart;
  }
  if (!commands.empty()) {
    out += "\nTo fix (one line per workload):\n";
    for (const auto& c : commands) {
      std::string list;
      for (const auto& code : codes[c]) list += (list.empty() ? "" : ", ") + code;
      out += fmt::format("  {}    # {}\n", c, list);
    }
    if (any_restart) {
      out += "  (remora check --restart runs the rollout restarts above, one workload at a time)\n";
    }
  }
  out += fmt::format("\n{} error{}, {} warning{}, {} info\n", counts[2], counts[2] == 1 ? "" : "s",
                     counts[1], counts[1] == 1 ? "" : "s", counts[0]);
  return out;
}

std::string renderPod(const PodReport& r) {
  std::string out = fmt::format("pod/{} -n {}: containers: {}; init containers: {}; {}\n",
                                r.pod.name, r.pod.namespace_name, joinNames(r.containers),
                                joinNames(r.init_containers), r.verdict);
  for (const auto& f : r.findings) {
    out += fmt::format("  {} {}: {}\n", severityName(f.severity), f.code, f.message);
    if (!f.fix.empty()) out += fmt::format("    fix: {}\n", f.fix);
  }
  return out;
}

std::string renderExplanations(const std::vector<Explanation>& explanations) {
  std::string out;
  for (const auto& e : explanations) {
    std::string what = e.object.kind == "Namespace"
                           ? fmt::format("namespace/{} (a new pod)", e.object.name)
                           : shortRef(e.object);
    out += fmt::format("{}: {} (rule {}: {}){}\n", what,
                       e.decision.inject ? "would be injected" : "would not be injected",
                       inject::ruleName(e.decision.rule), e.decision.reason,
                       e.now.empty() || e.object.kind == "Namespace" ? "" : "; now: " + e.now);
  }
  return out;
}

bool failsOn(const std::vector<Finding>& findings, std::optional<Severity> fail_on) {
  if (!fail_on) return false;
  return std::any_of(findings.begin(), findings.end(),
                     [&](const Finding& f) { return f.severity >= *fail_on; });
}

}  // namespace remora::check

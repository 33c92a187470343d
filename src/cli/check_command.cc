// `remora check`: verify injection, find partial injection, plan and perform
// the restarts (docs/check.md).
//
//   remora check [-n NS | -A] [-f FILE|- ...] [-o table|json] [--fail-on SEVERITY]
//   remora check pod NAME -n NS
//   remora check --restart [--dry-run] [-n NS]
//   remora check --explain -n NS
//
// Objects come from -f (the output of `kubectl get ... -o json|yaml`) or,
// without -f, from the cluster kubectl would talk to (--kubeconfig,
// --context, $KUBECONFIG, ~/.kube/config, in-cluster). Exit status: 0 clean,
// 1 findings at or above --fail-on (default error), 2 usage, input or API
// errors.
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "check/analyzer.h"
#include "check/live.h"
#include "check/report.h"
#include "check/snapshot.h"
#include "cli/check_cluster.h"
#include "cli/commands.h"
#include "core/file.h"
#include "core/result.h"
#include "core/time.h"
#include "inject/config.h"

namespace remora::cli {
namespace {

constexpr std::size_t kMaxInputBytes = 512 * 1024 * 1024;
constexpr int kExitFindings = 1;
constexpr int kExitError = 2;

struct CheckOptions {
  std::string namespace_name;
  bool all_namespaces = false;
  std::vector<std::string> files;
  std::string output = "table";
  std::string fail_on = "error";
  std::string kubeconfig;
  std::string context;
  std::string values_file;
  std::string meshconfig_file;
  std::string revision;
  bool restart = false;
  bool dry_run = false;
  bool explain = false;
  std::string pod;  // `remora check pod NAME`
};

Result<std::shared_ptr<const inject::InjectConfig>> loadInjectConfig(const CheckOptions& o) {
  std::string values_text;
  std::string mesh_text;
  if (!o.values_file.empty()) {
    auto text = readFile(o.values_file, kMaxInputBytes);
    if (!text) return text.error().context(o.values_file);
    values_text = std::move(*text);
  }
  if (!o.meshconfig_file.empty()) {
    auto text = readFile(o.meshconfig_file, kMaxInputBytes);
    if (!text) return text.error().context(o.meshconfig_file);
    mesh_text = std::move(*text);
  }
  REMORA_ASSIGN_OR_RETURN(inject::InjectConfig config,
                          inject::loadConfig(values_text, mesh_text, o.revision));
  return std::make_shared<const inject::InjectConfig>(std::move(config));
}

Result<check::Snapshot> loadFiles(const CheckOptions& o) {
  check::Snapshot snapshot;
  bool stdin_read = false;
  for (const auto& file : o.files) {
    if (file == "-") {
      if (stdin_read) return Error{Errc::InvalidArgument, "-f - given twice"};
      stdin_read = true;
    }
    auto text = readFile(file == "-" ? "/dev/stdin" : file, kMaxInputBytes);
    if (!text) return text.error().context(file == "-" ? "stdin" : file);
    REMORA_TRY(snapshot.addText(*text, file == "-" ? "stdin" : file));
  }
  return snapshot;
}

void print(std::string_view text) { std::fwrite(text.data(), 1, text.size(), stdout); }

int runPod(const CheckOptions& o, const std::string& ns, const check::Analyzer& analyzer,
           const check::Snapshot& snapshot, std::optional<check::Severity> fail_on) {
  auto report = analyzer.inspectPod(snapshot, ns, o.pod);
  if (!report) {
    fmt::print(stderr, "remora check: error: {}\n", report.error().message);
    return kExitError;
  }
  if (o.output == "json") {
    Json out = Json::object();
    out["pod"] = Json{{"namespace", report->pod.namespace_name}, {"name", report->pod.name}};
    out["owner"] = report->owner ? Json{{"kind", report->owner->kind},
                                        {"namespace", report->owner->namespace_name},
                                        {"name", report->owner->name}}
                                 : Json(nullptr);
    out["containers"] = report->containers;
    out["initContainers"] = report->init_containers;
    out["verdict"] = report->verdict;
    out["findings"] = check::findingsToJson(report->findings)["findings"];
    print(dumpJson(out, 2) + "\n");
  } else {
    print(check::renderPod(*report));
  }
  return check::failsOn(report->findings, fail_on) ? kExitFindings : 0;
}

int runExplain(const CheckOptions& o, const check::Analyzer& analyzer,
               const check::Snapshot& snapshot) {
  auto explanations = analyzer.explain(snapshot, o.namespace_name);
  if (!explanations) {
    fmt::print(stderr, "remora check: error: {}\n", explanations.error().message);
    return kExitError;
  }
  if (o.output == "json") {
    Json out = Json::array();
    for (const auto& e : *explanations) {
      out.push_back(Json{{"kind", e.object.kind},
                         {"namespace", e.object.namespace_name},
                         {"name", e.object.name},
                         {"inject", e.decision.inject},
                         {"rule", std::string(inject::ruleName(e.decision.rule))},
                         {"reason", e.decision.reason},
                         {"now", e.now}});
    }
    print(dumpJson(out, 2) + "\n");
  } else {
    print(check::renderExplanations(*explanations));
  }
  return 0;
}

Json refJson(const check::ObjectRef& ref) {
  return Json{{"kind", ref.kind}, {"namespace", ref.namespace_name}, {"name", ref.name}};
}

int runRestart(const CheckOptions& o, const std::vector<check::Finding>& findings,
               check::KubeReader* reader) {
  check::RestartPlan plan = check::planRestarts(findings);
  std::string now = formatRfc3339(systemClock().now());
  bool json = o.output == "json";
  auto codes = [](const std::vector<std::string>& list) {
    std::string out;
    for (const auto& c : list) out += (out.empty() ? "" : ", ") + c;
    return out;
  };
  if (plan.restarts.empty() && plan.manual.empty() && !json) print("Nothing to restart.\n");
  std::vector<check::RestartResult> results;
  if (reader == nullptr) {  // --dry-run on files
    for (const auto& t : plan.restarts) {
      results.push_back({t.workload, true, "would restart (dry run)"});
      if (!json) {
        print(fmt::format("{}: would restart (dry run): {}    # {}\n", check::describe(t.workload),
                          check::rolloutRestartCommand(t.workload), codes(t.codes)));
      }
    }
  } else {
    results = check::performRestarts(
        *reader, plan, now, o.dry_run,
        [&](const check::RestartResult& r, const check::RestartPlan::Target& t) {
          if (json) return;
          print(fmt::format("{}: {}    # {}\n", check::describe(r.workload),
                            r.ok ? r.detail : "FAILED: " + r.detail, codes(t.codes)));
          std::fflush(stdout);
        });
  }
  if (!json) {
    for (const auto& m : plan.manual) {
      print(fmt::format("{}: not restarted, by hand: {}    # {}\n", check::describe(m.object),
                        m.fix, codes(m.codes)));
    }
  }
  bool failed = false;
  for (const auto& r : results) failed = failed || !r.ok;
  if (json) {
    Json out = Json::object();
    out["restarts"] = Json::array();
    for (std::size_t i = 0; i < results.size(); ++i) {
      out["restarts"].push_back(Json{{"workload", refJson(results[i].workload)},
                                     {"ok", results[i].ok},
                                     {"detail", results[i].detail},
                                     {"codes", plan.restarts[i].codes}});
    }
    out["manual"] = Json::array();
    for (const auto& m : plan.manual) {
      out["manual"].push_back(
          Json{{"object", refJson(m.object)}, {"fix", m.fix}, {"codes", m.codes}});
    }
    print(dumpJson(out, 2) + "\n");
  }
  return failed ? kExitError : 0;
}

int run(const CheckOptions& o) {
  auto fail = [](const Error& e) {
    fmt::print(stderr, "remora check: error: {}\n", e.message);
    return kExitError;
  };
  if (o.output != "table" && o.output != "json") {
    return fail(
        Error{Errc::InvalidArgument, fmt::format("-o \"{}\": expected table or json", o.output)});
  }
  auto fail_on = check::parseFailOn(o.fail_on);
  if (!fail_on) return fail(fail_on.error());
  if (o.all_namespaces && !o.namespace_name.empty()) {
    return fail(Error{Errc::InvalidArgument, "-n and -A exclude each other"});
  }
  if (o.explain && o.namespace_name.empty()) {
    return fail(Error{Errc::InvalidArgument, "--explain needs a namespace (-n NS)"});
  }
  if (o.explain && (o.restart || !o.pod.empty())) {
    return fail(Error{Errc::InvalidArgument, "--explain cannot be combined with --restart or pod"});
  }
  if (o.restart && !o.pod.empty()) {
    return fail(Error{Errc::InvalidArgument, "--restart restarts workloads, not one pod"});
  }
  if (o.dry_run && !o.restart) {
    return fail(Error{Errc::InvalidArgument, "--dry-run goes with --restart"});
  }
  if (o.restart && !o.files.empty() && !o.dry_run) {
    return fail(Error{Errc::InvalidArgument,
                      "--restart changes a live cluster: without -f (or with --dry-run to plan "
                      "from files)"});
  }
  auto config = loadInjectConfig(o);
  if (!config) return fail(config.error());
  check::Analyzer analyzer(*config);

  // The pod's namespace decides what is read from a live cluster; without
  // -n it is the context's namespace, as for kubectl (files: "default").
  std::string scope = o.namespace_name;
  std::unique_ptr<check::KubeReader> reader;
  check::Snapshot snapshot;
  if (!o.files.empty()) {
    if (!o.pod.empty() && scope.empty()) scope = "default";
    auto loaded = loadFiles(o);
    if (!loaded) return fail(loaded.error());
    snapshot = std::move(*loaded);
    // As the API answers 404 for a namespace that does not exist.
    if (!scope.empty() && snapshot.find(check::Kind::Namespace, "", scope) == nullptr) {
      bool any = false;
      for (const auto& [key, pod] : snapshot.objects(check::Kind::Pod)) {
        if (key.first == scope) {
          any = true;
          break;
        }
      }
      if (!any) {
        return fail(
            Error{Errc::NotFound, fmt::format("namespace {} not found in the input", scope)});
      }
    }
  } else {
    auto connected = connectCluster(o.kubeconfig, o.context);
    if (!connected) return fail(connected.error());
    reader = std::move(connected->reader);
    if (!o.pod.empty() && scope.empty()) scope = connected->default_namespace;
    auto loaded = check::loadSnapshot(*reader, scope);
    if (!loaded) return fail(loaded.error());
    snapshot = std::move(*loaded);
  }

  if (!o.pod.empty()) return runPod(o, scope, analyzer, snapshot, *fail_on);
  if (o.explain) return runExplain(o, analyzer, snapshot);

  check::AnalyzeOptions options;
  options.namespace_name = o.namespace_name;
  std::vector<check::Finding> findings = analyzer.analyze(snapshot, options);
  if (o.restart) return runRestart(o, findings, reader.get());
  if (o.output == "json") {
    print(dumpJson(check::findingsToJson(findings), 2) + "\n");
  } else {
    print(check::renderTable(findings));
  }
  return check::failsOn(findings, *fail_on) ? kExitFindings : 0;
}

}  // namespace

void addCheckCommand(CLI::App& app) {
  auto options = std::make_shared<CheckOptions>();
  auto* cmd = app.add_subcommand(
      "check",
      "Verify sidecar injection: find pods without the sidecar in enabled namespaces (partial\n"
      "injection), outdated sidecars, opted-out and hostNetwork pods, uncaptured app ports;\n"
      "name the fix, and with --restart perform it. Exit 0 clean, 1 findings at or above\n"
      "--fail-on, 2 errors.");
  cmd->add_option("-n,--namespace", options->namespace_name, "Only this namespace");
  cmd->add_flag("-A,--all-namespaces", options->all_namespaces,
                "Every namespace (the default without -n)");
  cmd->add_option("-f,--filename", options->files,
                  "Read objects from this file instead of the cluster: the output of kubectl get "
                  "namespaces,pods,deployments,replicasets,statefulsets,daemonsets,jobs,cronjobs "
                  "-A -o json|yaml; - for stdin; repeatable");
  cmd->add_option("-o,--output", options->output, "table or json")->capture_default_str();
  cmd->add_option("--fail-on", options->fail_on,
                  "Exit 1 when a finding is at or above: error, warning, info or none")
      ->capture_default_str();
  cmd->add_option("--kubeconfig", options->kubeconfig, "Path to the kubeconfig file");
  cmd->add_option("--context", options->context, "The kubeconfig context to use");
  cmd->add_option("--values", options->values_file,
                  "Injection values, as given to remora inject/webhook (the template version)");
  cmd->add_option("--meshconfig", options->meshconfig_file,
                  "Mesh config, as given to remora inject/webhook");
  cmd->add_option("--revision", options->revision, "Control-plane revision (istio.io/rev)");
  cmd->add_flag("--restart", options->restart,
                "Restart the workloads the findings name (kubectl rollout restart), one at a "
                "time; bare pods are reported, never deleted");
  cmd->add_flag("--dry-run", options->dry_run, "With --restart: say what would be restarted");
  cmd->add_flag("--explain", options->explain,
                "Why the pods of the namespace (-n) would or would not be injected now");
  auto* pod = cmd->add_subcommand("pod", "One pod: containers, init containers and verdict");
  pod->add_option("name", options->pod, "The pod's name")->required();
  cmd->callback([options] {
    int code = run(*options);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace remora::cli

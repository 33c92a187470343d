// `remora inject`: manifests in, injected manifests out (istioctl kube-inject).
//
// The whole output is produced before anything is committed: to stdout in
// one write at the end, or to -o through writeFileAtomic (a temporary file
// renamed over it). A bad document therefore leaves no partial output.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/commands.h"
#include "core/file.h"
#include "core/result.h"
#include "inject/config.h"
#include "inject/injector.h"
#include "inject/manifest.h"
#include "kube/yaml.h"

namespace remora::cli {
namespace {

constexpr std::size_t kMaxInputBytes = 512 * 1024 * 1024;

struct InjectOptions {
  std::string filename;
  std::string output;
  std::string values_file;
  std::string meshconfig_file;
  std::string revision;
  bool explain = false;
};

Status writeStdout(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(STDOUT_FILENO, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error{Errc::Io, fmt::format("writing to stdout: {}", std::strerror(errno))};
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return ok();
}

Result<std::string> readInput(const std::string& path) {
  return readFile(path == "-" ? "/dev/stdin" : path, kMaxInputBytes);
}

std::string where(int document, const inject::ObjectReport& report) {
  std::string out = fmt::format("document {}", document);
  if (!report.where.empty()) out += ", " + report.where;
  return out;
}

void explain(int document, const inject::ObjectReport& report) {
  std::string head = fmt::format("{}: {}", where(document, report), report.description);
  if (!report.workload) {
    fmt::print(stderr, "{}: passed through (not a workload)\n", head);
    return;
  }
  const auto& r = report.result;
  const auto& d = r.decision;
  std::string what = std::string(inject::outcomeName(r.outcome));
  if (r.outcome != inject::Outcome::Skipped) {
    what += r.native ? ", native sidecar layout" : ", classic layout";
  }
  fmt::print(stderr, "{}: {} (rule {}: {})\n", head, what, inject::ruleName(d.rule), d.reason);
}

Status run(const InjectOptions& options) {
  std::string values_text;
  std::string mesh_text;
  if (!options.values_file.empty()) {
    REMORA_ASSIGN_OR_RETURN(values_text, readInput(options.values_file));
  }
  if (!options.meshconfig_file.empty()) {
    REMORA_ASSIGN_OR_RETURN(mesh_text, readInput(options.meshconfig_file));
  }
  auto config = inject::loadConfig(values_text, mesh_text, options.revision);
  if (!config) {
    Error e = std::move(config).error();
    std::string file =
        e.message.rfind("values", 0) == 0 ? options.values_file : options.meshconfig_file;
    return file.empty() ? e : e.context(file);
  }
  inject::Injector injector(std::make_shared<const inject::InjectConfig>(std::move(*config)));

  REMORA_ASSIGN_OR_RETURN(std::string input, readInput(options.filename));
  std::string output;
  output.reserve(input.size() * 4);

  bool first = true;
  std::vector<inject::ObjectReport> reports;
  Status status = kube::forEachDocumentPipelined(input, [&](kube::Document&& doc) -> Status {
    reports.clear();
    Status s = inject::injectObject(injector, doc.value, reports);
    if (!s)
      return Error{s.error().code, fmt::format("document {} (line {}): {}", doc.index, doc.line,
                                               s.error().message)};
    for (const auto& report : reports) {
      if (options.explain) {
        explain(doc.index, report);
      } else if (report.workload && report.result.outcome == inject::Outcome::Skipped) {
        fmt::print(stderr, "{}\n", inject::skipMessage(report));
      }
    }
    if (!first) output += "---\n";
    first = false;
    kube::appendYaml(output, doc.value);
    return ok();
  });
  REMORA_TRY(status);
  input = std::string();  // the output may be large: give the input's memory back first
  if (options.output.empty() || options.output == "-") return writeStdout(output);
  return writeFileAtomic(options.output, output);
}

}  // namespace

void addInjectCommand(CLI::App& app) {
  auto options = std::make_shared<InjectOptions>();
  auto* cmd = app.add_subcommand(
      "inject",
      "Inject the Remora sidecar into Kubernetes manifests (istioctl kube-inject).\n"
      "Workloads (Pod, Deployment, ReplicaSet, ReplicationController, StatefulSet, DaemonSet,\n"
      "Job, CronJob, DeploymentConfig) get istio-init and istio-proxy; other kinds pass through.");
  cmd->add_option("-f,--filename", options->filename,
                  "Manifests to inject (YAML or JSON), - for stdin")
      ->required();
  cmd->add_option("-o,--output", options->output,
                  "Write here instead of stdout (replaced only when every document succeeds)");
  cmd->add_option("--values", options->values_file,
                  "Injection values (Istio's shape) merged over the built-in ones");
  cmd->add_option("--meshconfig", options->meshconfig_file,
                  "Mesh config (Istio's MeshConfig) merged over the built-in one");
  cmd->add_option("--revision", options->revision, "Control-plane revision (istio.io/rev)");
  cmd->add_flag("--explain", options->explain,
                "Print, per workload, injected or skipped and the rule that decided (stderr)");
  cmd->callback([options] {
    Status s = run(*options);
    if (!s) {
      fmt::print(stderr, "remora inject: error: {}\n", s.error().message);
      throw CLI::RuntimeError(1);
    }
  });
}

}  // namespace remora::cli

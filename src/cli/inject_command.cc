// `remora inject`: manifests in, injected manifests out (istioctl kube-inject).
//
// The whole output is produced before anything is committed: to stdout in
// one write at the end, or to a temporary file beside -o that is renamed over
// it only on success. A bad document therefore leaves no partial output.
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
#include "core/result.h"
#include "inject/config.h"
#include "inject/injector.h"
#include "inject/manifest.h"
#include "kube/yaml.h"

namespace remora::cli {
namespace {

constexpr std::size_t kMaxInputBytes = 512 * 1024 * 1024;
constexpr std::size_t kFlushBytes = 1 << 20;

struct InjectOptions {
  std::string filename;
  std::string output;
  std::string values_file;
  std::string meshconfig_file;
  std::string revision;
  bool explain = false;
};

Status writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error{Errc::Io, std::strerror(errno)};
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return ok();
}

Result<std::string> readAll(const std::string& path) {
  int fd = path == "-" ? STDIN_FILENO : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error{Errc::Io, fmt::format("cannot read {}: {}", path, std::strerror(errno))};
  std::string data;
  char buf[1 << 16];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      if (fd != STDIN_FILENO) ::close(fd);
      return Error{Errc::Io, fmt::format("cannot read {}: {}", path, std::strerror(err))};
    }
    if (n == 0) break;
    data.append(buf, static_cast<std::size_t>(n));
    if (data.size() > kMaxInputBytes) {
      if (fd != STDIN_FILENO) ::close(fd);
      return Error{Errc::PayloadTooLarge,
                   fmt::format("{} is larger than {} bytes", path, kMaxInputBytes)};
    }
  }
  if (fd != STDIN_FILENO) ::close(fd);
  return data;
}

// Where the injected manifests go: stdout (buffered until the end) or a
// temporary file renamed over -o on commit. Destroying an uncommitted sink
// removes the temporary file.
class OutputSink {
 public:
  static Result<std::unique_ptr<OutputSink>> open(const std::string& path) {
    auto sink = std::unique_ptr<OutputSink>(new OutputSink());
    if (path.empty() || path == "-") return sink;
    std::filesystem::path target(path);
    std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : ".";
    std::string tmpl = (dir / ("." + target.filename().string() + ".remora-XXXXXX")).string();
    int fd = ::mkstemp(tmpl.data());
    if (fd < 0) {
      return Error{Errc::Io,
                   fmt::format("cannot create a file beside {}: {}", path, std::strerror(errno))};
    }
    ::fchmod(fd, 0644);
    sink->fd_ = fd;
    sink->tmp_ = tmpl;
    sink->target_ = path;
    return sink;
  }

  ~OutputSink() {
    if (fd_ >= 0) ::close(fd_);
    if (!tmp_.empty() && !committed_) ::unlink(tmp_.c_str());
  }
  OutputSink(const OutputSink&) = delete;
  OutputSink& operator=(const OutputSink&) = delete;

  std::string& buffer() { return buffer_; }

  // Writes the buffer out when it is large (files only: stdout waits).
  Status maybeFlush() {
    if (fd_ < 0 || buffer_.size() < kFlushBytes) return ok();
    REMORA_TRY(flush());
    return ok();
  }

  Status commit() {
    if (fd_ < 0) {
      Status s = writeAll(STDOUT_FILENO, buffer_);
      if (!s) return s.error().context("writing to stdout");
      return ok();
    }
    REMORA_TRY(flush());
    if (::fsync(fd_) != 0 || ::close(fd_) != 0) {
      fd_ = -1;
      return Error{Errc::Io, fmt::format("writing {}: {}", target_, std::strerror(errno))};
    }
    fd_ = -1;
    if (::rename(tmp_.c_str(), target_.c_str()) != 0) {
      return Error{Errc::Io, fmt::format("cannot write {}: {}", target_, std::strerror(errno))};
    }
    committed_ = true;
    return ok();
  }

 private:
  OutputSink() = default;

  Status flush() {
    Status s = writeAll(fd_, buffer_);
    if (!s) return s.error().context("writing " + target_);
    buffer_.clear();
    return ok();
  }

  int fd_ = -1;
  std::string tmp_;
  std::string target_;
  std::string buffer_;
  bool committed_ = false;
};

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
    REMORA_ASSIGN_OR_RETURN(values_text, readAll(options.values_file));
  }
  if (!options.meshconfig_file.empty()) {
    REMORA_ASSIGN_OR_RETURN(mesh_text, readAll(options.meshconfig_file));
  }
  auto config = inject::loadConfig(values_text, mesh_text, options.revision);
  if (!config) {
    Error e = std::move(config).error();
    std::string file =
        e.message.rfind("values", 0) == 0 ? options.values_file : options.meshconfig_file;
    return file.empty() ? e : e.context(file);
  }
  inject::Injector injector(std::make_shared<const inject::InjectConfig>(std::move(*config)));

  REMORA_ASSIGN_OR_RETURN(std::string input, readAll(options.filename));
  REMORA_ASSIGN_OR_RETURN(auto sink, OutputSink::open(options.output));

  bool first = true;
  std::vector<inject::ObjectReport> reports;
  Status status = kube::forEachDocument(input, [&](kube::Document&& doc) -> Status {
    reports.clear();
    Status s = inject::injectObject(injector, doc.value, reports);
    if (!s)
      return Error{s.error().code, fmt::format("document {}: {}", doc.index, s.error().message)};
    for (const auto& report : reports) {
      if (options.explain) {
        explain(doc.index, report);
      } else if (report.workload && report.result.outcome == inject::Outcome::Skipped) {
        fmt::print(stderr, "{}\n", inject::skipMessage(report));
      }
    }
    if (!first) sink->buffer() += "---\n";
    first = false;
    kube::appendYaml(sink->buffer(), doc.value);
    return sink->maybeFlush();
  });
  REMORA_TRY(status);
  return sink->commit();
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

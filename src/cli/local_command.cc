// `remora local`: run injected pods on this machine, without a cluster
// (src/local/runner.h).
//
//   remora local up -f injected.yaml     namespaces, CA, istio-init, sidecars, apps
//   remora local status                  the pods and their containers
//   remora local get -o json             kubectl-get-style List (for remora check -f)
//   remora local exec client -- curl -sS http://web/
//   remora local down                    removes everything `up` made
#include <csignal>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <unistd.h>

#include "cli/commands.h"
#include "core/log.h"
#include "kube/yaml.h"
#include "local/runner.h"

namespace remora::cli {
namespace {

[[noreturn]] void fail(std::string_view command, std::string_view message, int code = 1) {
  fmt::print(stderr, "remora local {}: {}\n", command, message);
  throw CLI::RuntimeError(code);
}

void requireRoot(std::string_view command) {
  if (::geteuid() != 0) {
    fail(command, "needs root (it creates network namespaces and runs pods as their users)");
  }
}

std::string selfPath() {
  std::vector<char> buf(4096);
  ssize_t n = ::readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  return n > 0 ? std::string(buf.data(), static_cast<std::size_t>(n)) : "remora";
}

// Absolute, so that runs are told apart by their directory wherever they were started.
std::string absolute(const std::string& dir) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(dir, ec);
  return ec ? dir : abs.lexically_normal().string();
}

void onInterrupt(int) { local::interrupted().store(true); }

struct LocalFlags {
  std::vector<std::string> files;
  std::string run_dir = std::string(local::kDefaultRunDir);
  double timeout_seconds = 20;
  std::string output = "json";
  std::string pod;
  std::string container;
  std::vector<std::string> argv;
};

}  // namespace

void addLocalCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "local", "Run injected pods on this machine: network namespaces, the CA, the sidecars");
  cmd->require_subcommand(1);
  auto flags = std::make_shared<LocalFlags>();
  auto addRunDir = [&](CLI::App* sub) {
    sub->add_option("--run-dir", flags->run_dir, "Where the run's state, logs and volumes live")
        ->envname("REMORA_LOCAL_RUN_DIR")
        ->capture_default_str()
        ->transform([](std::string dir) { return absolute(dir); });
  };

  auto* up = cmd->add_subcommand("up",
                                 "Start every pod of the manifests (after removing a "
                                 "previous run), return when they are ready");
  up->add_option("-f,--filename", flags->files, "Manifests, as `remora inject` wrote them")
      ->required();
  up->add_option("--timeout", flags->timeout_seconds, "Seconds to wait for the pods' ports")
      ->capture_default_str();
  addRunDir(up);
  up->callback([flags] {
    requireRoot("up");
    struct sigaction sa {};
    sa.sa_handler = onInterrupt;
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    ::sigaction(SIGHUP, &sa, nullptr);
    local::UpOptions options;
    options.files = flags->files;
    options.run_dir = flags->run_dir;
    options.remora_path = selfPath();
    options.ready_timeout =
        std::chrono::milliseconds(static_cast<long>(flags->timeout_seconds * 1000));
    if (auto s = local::up(options); !s) {
      bool stopped = local::interrupted().load();
      fail("up",
           stopped ? "interrupted; everything it had made was removed"
                   : s.error().message + "\n(everything it had made was removed)",
           stopped ? 130 : 1);
    }
  });

  auto* down = cmd->add_subcommand(
      "down", "Stop every process and remove every namespace, rule and file the run made");
  addRunDir(down);
  down->callback([flags] {
    requireRoot("down");
    auto report = local::down(flags->run_dir);
    if (!report) fail("down", report.error().message);
    if (!report->had_state) {
      fmt::print("remora local: nothing to remove in {}\n", flags->run_dir);
      return;
    }
    fmt::print(
        "remora local: removed {} namespaces, stopped {} processes, removed {} host "
        "directories\n",
        report->namespaces, report->processes, report->host_dirs);
  });

  auto* apply = cmd->add_subcommand(
      "apply",
      "Apply PeerAuthentication and AuthorizationPolicy objects to the running pods' proxies "
      "(their config files are rewritten; the proxies reload them)");
  apply->add_option("-f,--filename", flags->files, "Files holding security.istio.io objects")
      ->required();
  addRunDir(apply);
  apply->callback([flags] {
    requireRoot("apply");
    auto report = local::applyPolicies(flags->run_dir, flags->files);
    if (!report) fail("apply", report.error().message);
    for (const auto& what : report->ignored) {
      fmt::print("remora local: ignored {} (apply only changes security policies)\n", what);
    }
    fmt::print("remora local: {} {} applied to {} proxy {}\n", report->policies,
               report->policies == 1 ? "policy" : "policies", report->configs,
               report->configs == 1 ? "config" : "configs");
  });

  auto* status = cmd->add_subcommand("status", "The pods of the run and their containers");
  addRunDir(status);
  status->callback([flags] {
    auto text = local::status(flags->run_dir);
    if (!text) fail("status", text.error().message);
    fmt::print("{}", *text);
  });

  auto* get = cmd->add_subcommand(
      "get", "The run's objects as `kubectl get ... -A -o json` shows them (for remora check -f)");
  get->add_option("-o,--output", flags->output, "json or yaml")->capture_default_str();
  addRunDir(get);
  get->callback([flags] {
    auto list = local::getObjects(flags->run_dir);
    if (!list) fail("get", list.error().message);
    if (flags->output == "yaml") {
      fmt::print("{}", kube::toYaml(*list));
    } else if (flags->output == "json") {
      fmt::print("{}\n", list->dump(2));
    } else {
      fail("get", "-o must be json or yaml");
    }
  });

  auto* exec = cmd->add_subcommand(
      "exec", "Run a command in a pod's container (its network, mounts, user, environment)");
  exec->add_option("pod", flags->pod, "Pod name, namespace/name, or a workload's name")->required();
  exec->add_option("-c,--container", flags->container, "Container (default: the app)");
  exec->add_option("command", flags->argv, "The command, after --")->required();
  addRunDir(exec);
  exec->callback([flags] {
    requireRoot("exec");
    local::ExecOptions options;
    options.run_dir = flags->run_dir;
    options.pod = flags->pod;
    options.container = flags->container;
    options.argv = flags->argv;
    auto code = local::exec(options);
    if (!code) fail("exec", code.error().message);
    if (*code != 0) throw CLI::RuntimeError(*code);
  });
}

}  // namespace remora::cli

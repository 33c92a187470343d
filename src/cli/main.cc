// remora: one binary, six roles (see docs/architecture.md).
#include <csignal>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "core/log.h"

int main(int argc, char** argv) {
  // A closed pipe (`remora inject ... | head`) is an error on write, not a kill.
  std::signal(SIGPIPE, SIG_IGN);

  CLI::App app{"Remora: a service-mesh sidecar system that speaks Istio's conventions", "remora"};
  app.require_subcommand(1);
  app.fallthrough();
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, off")
      ->envname("REMORA_LOG_LEVEL")
      ->capture_default_str()
      ->each([](const std::string& level) {
        if (!remora::log::setLevel(level)) throw CLI::ValidationError("--log-level", level);
      });

  remora::cli::addVersionCommand(app);
  remora::cli::addInjectCommand(app);
  remora::cli::addInitCommand(app);
  remora::cli::addControlCommand(app);
  remora::cli::addLocalCommand(app);
  remora::cli::addProxyCommand(app);
  remora::cli::addWebhookCommand(app);
  remora::cli::addCheckCommand(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    // `remora check` is a CI gate: 1 means findings, so its usage errors
    // are 2 (CLI11's own codes start at 100). Help and successes stay 0.
    bool usage = dynamic_cast<const CLI::RuntimeError*>(&e) == nullptr;
    if (usage && code != 0 && app.get_subcommand("check")->parsed() > 0) return 2;
    return code;
  }
  return 0;
}

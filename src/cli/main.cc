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

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return 0;
}

// The `remora` command's subcommands. Each adds itself to the CLI11 app; its
// callback runs the command and reports failure by throwing
// CLI::RuntimeError(exit_code), which main() turns into the exit status.
// Commands print their output on stdout and diagnostics on stderr.
#pragma once

#include <CLI/CLI.hpp>

namespace remora::cli {

void addVersionCommand(CLI::App& app);
void addInjectCommand(CLI::App& app);
void addInitCommand(CLI::App& app);     // `remora init`, see init_command.cc
void addControlCommand(CLI::App& app);  // `remora control`, see control_command.cc
void addLocalCommand(CLI::App& app);    // `remora local`, see local_command.cc
void addProxyCommand(CLI::App& app);    // `remora proxy`, see proxy_command.cc
void addWebhookCommand(CLI::App& app);  // `remora webhook`, see webhook_command.cc
void addCheckCommand(CLI::App& app);    // `remora check`, see check_command.cc

}  // namespace remora::cli

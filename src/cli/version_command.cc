#include <fmt/format.h>
#include <openssl/opensslv.h>

#include "cli/commands.h"

namespace remora::cli {

void addVersionCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("version", "Print the version of remora and its libraries");
  cmd->callback([] {
    fmt::print("remora {}\n", REMORA_VERSION);
    fmt::print("openssl {}\n", OPENSSL_FULL_VERSION_STR);
  });
}

}  // namespace remora::cli

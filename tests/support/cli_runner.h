// CliRunner: a test fixture that runs the built `remora` binary as a user
// would, with a temporary folder of its own (made in SetUp, removed in
// TearDown), and keeps what the command printed. The CLI tests of each
// command derive from it; the test target defines REMORA_BIN, the binary's
// path.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/assert.h"

namespace remora::test {

class CliRunner : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "remora-cli-XXXXXX").string();
    REMORA_CHECK(::mkdtemp(tmpl.data()) != nullptr, "mkdtemp");
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Writes `content` to `name` in the temporary folder.
  std::filesystem::path file(std::string_view name, std::string_view content) {
    std::filesystem::path p = dir_ / name;
    std::ofstream(p) << content;
    return p;
  }
  static std::string read(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // Runs `<env> remora <args>` in a shell from `cwd` (the temporary folder
  // when empty); stdout and stderr land in out_ and err_. Returns the exit
  // code, -1 when the binary did not exit normally.
  int runRemora(std::string_view args, const std::filesystem::path& cwd = {},
                std::string_view env = "") {
    std::string cmd =
        fmt::format("cd '{}' && {} '{}' {} >'{}' 2>'{}'", (cwd.empty() ? dir_ : cwd).string(), env,
                    REMORA_BIN, args, (dir_ / "out.txt").string(), (dir_ / "err.txt").string());
    int status = std::system(cmd.c_str());
    out_ = read(dir_ / "out.txt");
    err_ = read(dir_ / "err.txt");
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::filesystem::path dir_;
  std::string out_;
  std::string err_;
};

}  // namespace remora::test

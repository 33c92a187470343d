#include "netfilter/applier.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace remora::netfilter {
namespace {

// Closes its descriptors on every path out of run().
struct Pipe {
  int fd[2] = {-1, -1};
  ~Pipe() {
    for (int f : fd) {
      if (f >= 0) ::close(f);
    }
  }
  void closeEnd(int i) {
    if (fd[i] >= 0) ::close(fd[i]);
    fd[i] = -1;
  }
};

std::string errnoText(int err) { return std::strerror(err); }

}  // namespace

std::string Command::display() const {
  std::string out = program;
  for (const auto& a : args) {
    out += ' ';
    bool plain = !a.empty() && a.find_first_of(" \t\"'\\$`*?") == std::string::npos;
    out += plain ? a : fmt::format("'{}'", a);
  }
  return out;
}

bool ExecApplier::available(std::string_view program) {
  if (program.find('/') != std::string_view::npos) {
    return ::access(std::string(program).c_str(), X_OK) == 0;
  }
  const char* path = std::getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "/usr/sbin:/usr/bin:/sbin:/bin";
  while (true) {
    auto colon = dirs.find(':');
    auto dir = dirs.substr(0, colon);
    if (!dir.empty()) {
      auto full = fmt::format("{}/{}", dir, program);
      if (::access(full.c_str(), X_OK) == 0) return true;
    }
    if (colon == std::string_view::npos) return false;
    dirs.remove_prefix(colon + 1);
  }
}

Result<CommandResult> ExecApplier::run(const Command& cmd) {
  Pipe in, out, err;
  if (::pipe2(in.fd, O_CLOEXEC) != 0 || ::pipe2(out.fd, O_CLOEXEC) != 0 ||
      ::pipe2(err.fd, O_CLOEXEC) != 0) {
    return Error{Errc::Io, fmt::format("pipe: {}", errnoText(errno))};
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in.fd[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out.fd[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err.fd[1], 2);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(cmd.program.c_str()));
  for (const auto& a : cmd.args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  // remora ignores SIGPIPE; the tools it runs get the default back.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, cmd.program.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return Error{Errc::NotFound, fmt::format("cannot run {}: {}", cmd.program, errnoText(rc))};
  }
  in.closeEnd(0);
  out.closeEnd(1);
  err.closeEnd(1);
  for (int fd : {in.fd[1], out.fd[0], err.fd[0]}) ::fcntl(fd, F_SETFL, O_NONBLOCK);

  CommandResult result;
  std::size_t written = 0;
  if (cmd.input.empty()) in.closeEnd(1);
  auto deadline = std::chrono::steady_clock::now() + timeout_;
  bool timed_out = false;
  while (out.fd[0] >= 0 || err.fd[0] >= 0) {
    pollfd fds[3];
    int n = 0;
    if (in.fd[1] >= 0) fds[n++] = {in.fd[1], POLLOUT, 0};
    if (out.fd[0] >= 0) fds[n++] = {out.fd[0], POLLIN, 0};
    if (err.fd[0] >= 0) fds[n++] = {err.fd[0], POLLIN, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    int ready = ::poll(fds, static_cast<nfds_t>(n), static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) break;
    for (int i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == in.fd[1]) {
        ssize_t w = ::write(in.fd[1], cmd.input.data() + written, cmd.input.size() - written);
        if (w > 0) written += static_cast<std::size_t>(w);
        if (w < 0 && errno != EAGAIN) written = cmd.input.size();  // EPIPE: it stopped reading
        if (written >= cmd.input.size()) in.closeEnd(1);
        continue;
      }
      char buf[8192];
      ssize_t r = ::read(fds[i].fd, buf, sizeof(buf));
      if (r > 0) {
        (fds[i].fd == out.fd[0] ? result.out : result.err).append(buf, static_cast<size_t>(r));
      } else if (r == 0 || errno != EAGAIN) {
        if (fds[i].fd == out.fd[0]) {
          out.closeEnd(0);
        } else {
          err.closeEnd(0);
        }
      }
    }
  }
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return Error{Errc::Timeout, fmt::format("{} did not finish within {} ms and was killed",
                                            cmd.display(), timeout_.count())};
  }
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else {
    result.exit_code = 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  }
  return result;
}

Result<CommandResult> DryRunApplier::run(const Command& cmd) {
  if (cmd.mutates) {
    recorded_.push_back(cmd);
    return CommandResult{};
  }
  if (inner_ != nullptr) {
    auto result = inner_->run(cmd);
    if (result && result->exit_code == 0) return result;
    auto why = result ? fmt::format("exit {}: {}", result->exit_code, result->err)
                      : result.error().message;
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    notes_.push_back(
        fmt::format("cannot read the current rules with {} ({}); showing what would "
                    "be applied to a namespace without rules",
                    cmd.display(), why));
  }
  return CommandResult{};
}

// A dry run shows the rules even where the tools are missing.
bool DryRunApplier::available(std::string_view /*program*/) { return true; }

std::string DryRunApplier::transcript() const {
  std::string out;
  for (const auto& cmd : recorded_) {
    out += fmt::format("# {}\n", cmd.display());
    out += cmd.input;
    if (!cmd.input.empty() && cmd.input.back() != '\n') out += '\n';
  }
  return out;
}

}  // namespace remora::netfilter

#include "local/host.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/file.h"
#include "netfilter/applier.h"

namespace remora::local {
namespace {

std::string errnoText(int err) { return std::strerror(err); }

// Writes a message and exits: the child's only way to report before exec.
[[noreturn]] void childFail(const char* what, int err) {
  const char* reason = std::strerror(err);
  // Best effort: the log file is already on fd 2 when this is called late,
  // and /dev/null-or-inherited stderr before that.
  (void)!::write(2, "remora local: ", 14);
  (void)!::write(2, what, std::strlen(what));
  (void)!::write(2, ": ", 2);
  (void)!::write(2, reason, std::strlen(reason));
  (void)!::write(2, "\n", 1);
  ::_exit(127);
}

std::vector<char*> cStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

Result<pid_t> spawn(const SpawnSpec& spec) {
  if (spec.argv.empty()) return Error{Errc::InvalidArgument, "spawn: empty argv"};
  // Everything the child needs, prepared before fork: after it, only system calls.
  std::string netns_path = fmt::format("{}/{}", kNetnsDir, spec.netns);
  std::vector<std::string> argv = spec.argv;
  std::vector<std::string> env = spec.env;
  std::vector<char*> c_argv = cStrings(argv);
  std::vector<char*> c_env = cStrings(env);
  bool inherit = spec.log_path.empty();
  int log_fd = ::open(inherit ? "/dev/null" : spec.log_path.c_str(),
                      O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return Error{Errc::Io, fmt::format("opening {}: {}", spec.log_path, errnoText(errno))};
  }
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int ns_fd = ::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (ns_fd < 0 || null_fd < 0) {
    int err = errno;
    ::close(log_fd);
    if (null_fd >= 0) ::close(null_fd);
    return Error{Errc::NotFound,
                 fmt::format("network namespace {}: {}", spec.netns, errnoText(err))};
  }

  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    ::close(log_fd);
    ::close(null_fd);
    ::close(ns_fd);
    return Error{Errc::Io, fmt::format("fork: {}", errnoText(err))};
  }
  if (pid == 0) {
    if (!inherit) {
      ::dup2(null_fd, 0);
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
    }
    // Default signal handling: a SIGINT ignored by our caller must not stay
    // ignored in a container.
    for (int sig : {SIGINT, SIGTERM, SIGPIPE, SIGHUP, SIGQUIT}) ::signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (spec.new_session && ::setsid() < 0) childFail("setsid", errno);
    if (::setns(ns_fd, CLONE_NEWNET) != 0) childFail("setns", errno);
    if (::unshare(CLONE_NEWNS) != 0) childFail("unshare(CLONE_NEWNS)", errno);
    // Our binds must never propagate back to the host's mount table.
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      childFail("making / private", errno);
    }
    for (const auto& m : spec.mounts) {
      if (::mount(m.source.c_str(), m.target.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
        childFail(m.target.c_str(), errno);
      }
      if (m.read_only && ::mount(nullptr, m.target.c_str(), nullptr,
                                 MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) != 0) {
        childFail(m.target.c_str(), errno);
      }
    }
    if (spec.uid || spec.gid) {
      gid_t gid = spec.gid ? *spec.gid : static_cast<gid_t>(spec.uid ? *spec.uid : 0);
      if (::setgroups(0, nullptr) != 0) childFail("setgroups", errno);
      if (::setresgid(gid, gid, gid) != 0) childFail("setgid", errno);
      if (spec.uid && ::setresuid(*spec.uid, *spec.uid, *spec.uid) != 0) {
        childFail("setuid", errno);
      }
    }
    if (::chdir(spec.cwd.c_str()) != 0) childFail("chdir", errno);
    ::syscall(SYS_close_range, 3U, ~0U, 0U);
    ::execve(c_argv[0], c_argv.data(), c_env.data());
    childFail(c_argv[0], errno);
  }
  ::close(log_fd);
  ::close(null_fd);
  ::close(ns_fd);
  return pid;
}

Result<int> runToCompletion(const SpawnSpec& spec, std::chrono::milliseconds timeout) {
  REMORA_ASSIGN_OR_RETURN(pid_t pid, spawn(spec));
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) {
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      return 128 + WTERMSIG(status);
    }
    if (done < 0 && errno != EINTR) {
      return Error{Errc::Io, fmt::format("waitpid: {}", errnoText(errno))};
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return Error{Errc::Timeout,
                   fmt::format("{} did not finish within {} ms", spec.argv[0], timeout.count())};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

Status runTool(const std::vector<std::string>& argv, std::string_view input) {
  netfilter::ExecApplier exec(std::chrono::seconds(20));
  netfilter::Command cmd{argv.front(), {argv.begin() + 1, argv.end()}, std::string(input), true};
  REMORA_ASSIGN_OR_RETURN(auto result, exec.run(cmd));
  if (result.exit_code != 0) {
    std::string err = result.err;
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    return Error{Errc::Io, fmt::format("{} exited {}: {}", cmd.display(), result.exit_code, err)};
  }
  return ok();
}

Status runToolIn(const std::string& netns, const std::vector<std::string>& argv,
                 std::string_view input) {
  std::vector<std::string> full = {"ip", "netns", "exec", netns};
  full.insert(full.end(), argv.begin(), argv.end());
  return runTool(full, input);
}

bool namespaceExists(const std::string& name) {
  struct stat st {};
  return ::stat(fmt::format("{}/{}", kNetnsDir, name).c_str(), &st) == 0;
}

std::vector<std::string> listNamespaces() {
  std::vector<std::string> out;
  DIR* dir = ::opendir(std::string(kNetnsDir).c_str());
  if (!dir) return out;
  while (auto* entry = ::readdir(dir)) {
    std::string name = entry->d_name;
    if (name != "." && name != "..") out.push_back(name);
  }
  ::closedir(dir);
  return out;
}

std::vector<pid_t> processesIn(const std::string& name) {
  std::vector<pid_t> out;
  struct stat ns {};
  if (::stat(fmt::format("{}/{}", kNetnsDir, name).c_str(), &ns) != 0) return out;
  DIR* proc = ::opendir("/proc");
  if (!proc) return out;
  while (auto* entry = ::readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(entry->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    struct stat st {};
    if (::stat(fmt::format("/proc/{}/ns/net", pid).c_str(), &st) != 0) continue;
    if (st.st_ino == ns.st_ino && st.st_dev == ns.st_dev) out.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(proc);
  return out;
}

std::size_t killProcessesIn(const std::vector<std::string>& names,
                            std::chrono::milliseconds grace) {
  auto all = [&] {
    std::vector<pid_t> pids;
    for (const auto& n : names) {
      auto p = processesIn(n);
      pids.insert(pids.end(), p.begin(), p.end());
    }
    return pids;
  };
  auto pids = all();
  std::size_t signalled = pids.size();
  for (pid_t pid : pids) ::kill(pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (!pids.empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    pids = all();
  }
  for (int round = 0; round < 100 && !pids.empty(); ++round) {
    for (pid_t pid : pids) ::kill(pid, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    pids = all();
  }
  return signalled;
}

bool listening(const std::string& netns, std::uint16_t port) {
  // /proc/thread-self/net shows the namespace of the reading thread, so
  // read it from a thread that joined `netns`: our own thread never moves.
  bool found = false;
  std::thread reader([&] {
    int fd = ::open(fmt::format("{}/{}", kNetnsDir, netns).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    int joined = ::setns(fd, CLONE_NEWNET);
    ::close(fd);
    if (joined != 0) return;
    for (const char* file : {"/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6"}) {
      std::ifstream in(file);
      std::string line;
      std::getline(in, line);  // header
      while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string slot, local, remote, state;
        fields >> slot >> local >> remote >> state;
        auto colon = local.rfind(':');
        if (colon == std::string::npos || state != "0A") continue;  // 0A: LISTEN
        if (std::strtoul(local.c_str() + colon + 1, nullptr, 16) == port) found = true;
      }
    }
  });
  reader.join();
  return found;
}

std::string tail(const std::string& path, std::size_t max_bytes) {
  auto text = readFile(path, 64 * 1024 * 1024);
  if (!text) return "";
  std::string s = std::move(*text);
  if (s.size() > max_bytes) s = "..." + s.substr(s.size() - max_bytes);
  return s;
}

}  // namespace remora::local

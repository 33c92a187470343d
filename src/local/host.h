// The host side of `remora local`: network namespaces, processes started
// inside them, and the programs (ip, nft, sysctl) that configure them.
//
// A process is started the way a container runtime starts one, minus the
// image: fork, join the pod's network namespace (setns), a private mount
// namespace with the pod's volumes, /etc/hosts and /etc/resolv.conf bound
// over their mount paths, then the container's user, working directory and
// environment, stdout and stderr appended to a log file, and exec. The
// process leads its own session and keeps no descriptor of ours, so it
// outlives `remora local up` and never holds its pipes or locks.
//
// Everything is found again from the namespaces, not from PIDs:
// processesIn() lists the processes whose network namespace is one of ours,
// which is what `down` kills, whoever started them and whatever happened to
// `up`.
//
// Threading: call from one thread. spawn() forks; the child only makes
// system calls prepared before the fork.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

#include "core/result.h"

namespace remora::local {

// Where `ip netns` keeps its namespaces.
inline constexpr std::string_view kNetnsDir = "/run/netns";

struct BindMount {
  std::string source;  // a file or directory of the run directory
  std::string target;  // where the container sees it
  bool read_only = false;
};

struct SpawnSpec {
  std::string netns;              // a name under /run/netns
  std::vector<std::string> argv;  // argv[0] is the path executed
  std::vector<std::string> env;   // "NAME=value", the whole environment
  std::optional<uid_t> uid;       // unchanged (root) when unset
  std::optional<gid_t> gid;       // the uid when unset
  std::vector<BindMount> mounts;  // in order; targets must exist
  std::string cwd = "/";
  std::string log_path;     // stdout and stderr appended here; "" keeps the caller's stdio
  bool new_session = true;  // false for `exec`: the terminal's Ctrl-C reaches it
};

// Starts `spec` and returns its PID without waiting. The child's failures
// before exec (a namespace gone, a mount refused, exec failing) are written
// to the log file and end it with status 127.
Result<pid_t> spawn(const SpawnSpec& spec);

// spawn() and wait for the exit status (the code, or 128+signal), killing
// the process after `timeout`.
Result<int> runToCompletion(const SpawnSpec& spec, std::chrono::milliseconds timeout);

// Runs a host program (ip, nft, sysctl) in the host namespaces; `input` is
// its stdin. A non-zero exit is an Error quoting the command and its stderr.
Status runTool(const std::vector<std::string>& argv, std::string_view input = {});

// The same inside the network namespace `netns` (`ip netns exec`).
Status runToolIn(const std::string& netns, const std::vector<std::string>& argv,
                 std::string_view input = {});

bool namespaceExists(const std::string& name);
std::vector<std::string> listNamespaces();

// PIDs of the processes whose network namespace is `name` (as `ip netns pids`).
std::vector<pid_t> processesIn(const std::string& name);

// SIGTERM to every process in the namespaces, up to `grace` for them to go,
// then SIGKILL until none is left. Returns how many were signalled.
std::size_t killProcessesIn(const std::vector<std::string>& names, std::chrono::milliseconds grace);

// Is a TCP socket listening on `port` inside `netns` (any address)? Reads
// the namespace's /proc/net/tcp{,6}; no connection is made.
bool listening(const std::string& netns, std::uint16_t port);

// The last `max_bytes` of a log file, for error messages.
std::string tail(const std::string& path, std::size_t max_bytes = 2048);

}  // namespace remora::local

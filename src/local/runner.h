// `remora local`: the injected pods of a manifest, run on this machine.
//
//   up    plan (plan.h) -> node namespace with the bridge and the Service VIPs
//         -> the CA (`remora control`, token file) in the node namespace
//         -> per pod: namespace + veth + IP, volumes, istio-init's command,
//            the sidecar and the apps as the spec says -> wait until every
//            declared port listens -> state.json complete
//   down  every process in our namespaces, the namespaces (and with them the
//         bridge, the veths, every iptables and nftables rule), the mount
//         points made on the host, the run directory
//
// Everything `up` creates is written to the run directory's state.json
// *before* it is created, so `down` removes it after a Ctrl-C (up cleans up
// itself), a crash or a SIGKILL of `up` (the next `down` or `up` does). A
// second `up` runs `down` first: it always starts from scratch. Namespace
// names are `remora-<id>-node` and `remora-<id>-<namespace>-<pod>`, with a
// random <id> per `up`, so nothing is confused with the test harness
// (`rmr-`) or another run directory's pods.
//
// Nothing is created in the host's network namespace: the node namespace
// holds the bridge and NATs Service VIPs; pods reach only each other and
// the node. The host's filesystem gets the volume mount points that do not
// exist yet (/etc/istio/proxy, /var/run/secrets/tokens, ...): empty
// directories, bound over only inside each container's private mount
// namespace, and removed by `down`.
//
// Threading: one thread; `up` polls an interrupt flag (set by SIGINT and
// SIGTERM) between steps.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/result.h"
#include "local/plan.h"

namespace remora::local {

inline constexpr std::string_view kDefaultRunDir = "/run/remora-local";
inline constexpr std::string_view kNamespacePrefix = "remora-";

struct UpOptions {
  std::vector<std::string> files;  // manifests ("-" for stdin)
  std::string run_dir = std::string(kDefaultRunDir);
  std::string remora_path;  // this binary, for istio-init, istio-proxy and the CA
  std::chrono::milliseconds ready_timeout = std::chrono::seconds(20);
  // Where progress lines go (stdout). Colour is the caller's business: none here.
  std::FILE* out = stdout;
};

// Set by the CLI's signal handler; `up` stops at the next step and removes
// what it made.
std::atomic<bool>& interrupted();

// Runs `up`. On failure (or interrupt) everything made so far is removed
// before the error is returned.
Status up(const UpOptions& options);

struct DownReport {
  std::size_t processes = 0;
  std::size_t namespaces = 0;
  std::size_t host_dirs = 0;
  bool had_state = false;
};

// Removes everything the run directory's state records, and any namespace
// carrying its id. Succeeds (doing nothing) when there is no state.
Result<DownReport> down(const std::string& run_dir);

// The state as `kubectl get namespaces,deployments,replicasets,statefulsets,
// services,pods -A -o json` would show it (a v1 List), for `remora check -f`.
Result<Json> getObjects(const std::string& run_dir);

// A human table of the pods: namespace, name, IP, containers and how each runs.
Result<std::string> status(const std::string& run_dir);

struct ApplyReport {
  std::size_t policies = 0;          // security objects read from the files
  std::size_t configs = 0;           // proxy config files rewritten
  std::vector<std::string> ignored;  // other objects, which apply does not change
};

// `remora local apply -f`: merges the PeerAuthentication and
// AuthorizationPolicy objects of `files` (mergePolicies(): same kind,
// namespace and name replaced, others added) into every running pod's proxy
// config file, each rewritten atomically; the proxies' config watchers pick
// the change up within their poll interval (1 s), so PERMISSIVE -> STRICT
// needs no restart. Nothing is written when any object is invalid or no
// policy is given. Needs a run made by `up`.
Result<ApplyReport> applyPolicies(const std::string& run_dir,
                                  const std::vector<std::string>& files);

struct ExecOptions {
  std::string run_dir = std::string(kDefaultRunDir);
  std::string pod;        // "name" or "namespace/name"; a workload name picks its first pod
  std::string container;  // default: the pod's default container (first app container)
  std::vector<std::string> argv;
  std::chrono::milliseconds timeout = std::chrono::seconds(60);
};

// Runs a command inside a pod's container (its network namespace, mounts,
// user and environment), as `kubectl exec` does; returns its exit code.
// stdout and stderr are the caller's.
Result<int> exec(const ExecOptions& options);

}  // namespace remora::local

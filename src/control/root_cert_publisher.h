// RootCertPublisher: the mesh root as Istio's ConfigMap `istio-ca-root-cert`
// (key `root-cert.pem`) in every namespace, as istiod's namespace controller
// publishes it. The injected pod mounts that ConfigMap at
// /var/run/secrets/istio/root-cert.pem to verify the CA and its peers, so a
// namespace without it cannot start meshed pods.
//
// reconcile() is one pass: two list calls (namespaces; the ConfigMaps of
// that name in all namespaces), then a create or an update only where the
// ConfigMap is missing or holds another root. run() repeats it every
// `resync` until stop(): a new namespace gets its ConfigMap within one
// period, a deleted or edited one is put back.
//
// Namespaces being deleted (status.phase Terminating) are left alone, as
// are those named in `skip` (Istio does not write into kube-system's
// siblings either).
//
// Threading: run() blocks its caller's thread; stop() may be called from
// any thread and returns at once (run() ends within one API call).
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/result.h"

namespace remora::control {

inline constexpr std::string_view kRootCertConfigMap = "istio-ca-root-cert";
inline constexpr std::string_view kRootCertKey = "root-cert.pem";

// The few calls the publisher makes; kube::ApiClient in `remora control`, a
// fake in unit tests.
class ConfigMapApi {
 public:
  virtual ~ConfigMapApi() = default;
  // Names of the namespaces that are not terminating.
  virtual Result<std::vector<std::string>> activeNamespaces() = 0;
  // namespace -> data["root-cert.pem"] of every istio-ca-root-cert ConfigMap.
  virtual Result<std::map<std::string, std::string>> publishedRoots() = 0;
  virtual Status create(const std::string& namespace_, const std::string& pem) = 0;
  virtual Status update(const std::string& namespace_, const std::string& pem) = 0;
};

struct PublishReport {
  std::size_t created = 0;
  std::size_t updated = 0;
  std::size_t failed = 0;  // per-namespace errors, logged; the pass goes on
};

class RootCertPublisher {
 public:
  RootCertPublisher(ConfigMapApi& api, std::string root_pem,
                    std::set<std::string> skip = {"kube-system", "kube-public", "kube-node-lease"});

  // One pass. Errors listing are returned; a failed create/update of one
  // namespace is counted and the others still get theirs.
  Result<PublishReport> reconcile();

  void run(std::chrono::milliseconds resync);
  void stop();

 private:
  ConfigMapApi& api_;
  std::string root_pem_;
  std::set<std::string> skip_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
};

}  // namespace remora::control

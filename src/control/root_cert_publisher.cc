#include "control/root_cert_publisher.h"

#include "core/log.h"

namespace remora::control {

RootCertPublisher::RootCertPublisher(ConfigMapApi& api, std::string root_pem,
                                     std::set<std::string> skip)
    : api_(api), root_pem_(std::move(root_pem)), skip_(std::move(skip)) {}

Result<PublishReport> RootCertPublisher::reconcile() {
  REMORA_ASSIGN_OR_RETURN(auto namespaces, api_.activeNamespaces());
  REMORA_ASSIGN_OR_RETURN(auto published, api_.publishedRoots());
  PublishReport report;
  for (const auto& ns : namespaces) {
    if (skip_.contains(ns)) continue;
    auto found = published.find(ns);
    if (found != published.end() && found->second == root_pem_) continue;
    bool exists = found != published.end();
    Status done = exists ? api_.update(ns, root_pem_) : api_.create(ns, root_pem_);
    if (!done) {
      ++report.failed;
      REMORA_LOG(control, warn, "{} {}/{}: {}", exists ? "updating" : "creating", ns,
                 kRootCertConfigMap, done.error().message);
      continue;
    }
    ++(exists ? report.updated : report.created);
    REMORA_LOG(control, info, "{} ConfigMap {}/{}", exists ? "updated" : "published", ns,
               kRootCertConfigMap);
  }
  return report;
}

void RootCertPublisher::run(std::chrono::milliseconds resync) {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    if (auto pass = reconcile(); !pass) {
      REMORA_LOG(control, warn, "publishing the root certificate: {}", pass.error().message);
    }
    lock.lock();
    wake_.wait_for(lock, resync, [this] { return stopping_; });
  }
}

void RootCertPublisher::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
}

}  // namespace remora::control

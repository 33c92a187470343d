#include "cli/check_cluster.h"

#include <utility>

#include "kube/api_client.h"
#include "kube/kubeconfig.h"

namespace remora::cli {
namespace {

class ApiReader : public check::KubeReader {
 public:
  explicit ApiReader(kube::KubeConfig config) : api_(std::move(config)) {}

  Result<Json> get(const std::string& path) override { return api_.get(path); }
  Result<std::vector<Json>> list(const std::string& path) override { return api_.list(path); }
  Result<Json> patchStrategicMerge(const std::string& path, const Json& body) override {
    return api_.patch(path, body, kube::PatchType::StrategicMerge);
  }

 private:
  kube::ApiClient api_;
};

}  // namespace

Result<Cluster> connectCluster(const std::string& kubeconfig, const std::string& context) {
  kube::KubeConfigOptions options;
  options.path = kubeconfig;
  options.context = context;
  auto config = kube::loadKubeConfig(options);
  if (!config) return config.error().context("finding the cluster (as kubectl does)");
  Cluster cluster;
  cluster.default_namespace = config->ns;
  cluster.reader = std::make_unique<ApiReader>(std::move(*config));
  return cluster;
}

}  // namespace remora::cli

// The live side of `remora check`: a check::KubeReader over the Kubernetes
// API client (src/kube/api_client.h), configured as kubectl is (--kubeconfig,
// $KUBECONFIG, ~/.kube/config, in-cluster service account; --context).
#pragma once

#include <memory>
#include <string>

#include "check/live.h"
#include "core/result.h"

namespace remora::cli {

struct Cluster {
  std::unique_ptr<check::KubeReader> reader;
  std::string default_namespace;  // the context's namespace, as kubectl's default for -n
};

Result<Cluster> connectCluster(const std::string& kubeconfig, const std::string& context);

}  // namespace remora::cli

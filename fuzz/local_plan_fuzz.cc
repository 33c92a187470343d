// `remora local`'s planner on arbitrary manifests: any input gives a plan or
// an Error, never a crash. Oracles: addresses are unique and inside their
// ranges, every endpoint names a pod of the Service's namespace, and the
// proxy config of every pod renders to YAML that reads back as the same value.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string_view>
#include <vector>

#include "core/assert.h"
#include "kube/yaml.h"
#include "local/plan.h"
#include "local/proxy_config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto docs = remora::kube::parseDocuments(
      text, {.max_bytes = 1 << 20, .max_depth = 64, .max_nodes = 1 << 16});
  if (!docs) return 0;
  std::vector<remora::Json> values;
  for (auto& d : *docs) values.push_back(std::move(d.value));
  auto plan = remora::local::buildPlan(values);
  if (!plan) return 0;
  std::set<std::string> ips;
  for (const auto& pod : plan->pods) {
    REMORA_CHECK(pod.ip.starts_with("10.244.0."), "pod IP {}", pod.ip);
    REMORA_CHECK(ips.insert(pod.ip).second, "pod IP {} twice", pod.ip);
    REMORA_CHECK(!pod.containers.empty(), "pod {} without containers", pod.name);
  }
  for (const auto& svc : plan->services) {
    REMORA_CHECK(svc.vip.empty() || ips.insert(svc.vip).second, "VIP {} twice", svc.vip);
    REMORA_CHECK(svc.endpoints.size() == svc.ports.size(), "endpoints per port");
    for (const auto& eps : svc.endpoints) {
      for (const auto& ep : eps) {
        REMORA_CHECK(ep.pod < plan->pods.size(), "endpoint out of range");
        REMORA_CHECK(plan->pods[ep.pod].namespace_name == svc.namespace_name, "endpoint namespace");
        REMORA_CHECK(ep.target_port != 0, "endpoint port 0");
      }
    }
  }
  for (const auto& pod : plan->pods) {
    auto config = remora::local::proxyConfig(*plan, pod, "cluster.local");
    auto back = remora::kube::parseYaml(remora::kube::toYaml(config));
    REMORA_CHECK(back.has_value() && *back == config, "proxy config does not round-trip");
  }
  return 0;
}

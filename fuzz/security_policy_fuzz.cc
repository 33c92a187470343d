// security::parsePolicies and normalizePath must turn any bytes into a value
// or an Error: never a crash, a hang or an escaped exception. Oracles: an
// accepted policy list builds a WorkloadPolicy whose authorize() answers for
// HTTP and TCP attributes; normalizePath is idempotent and its output starts
// with '/' (or is "*").
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/assert.h"
#include "kube/yaml.h"
#include "security/path.h"
#include "security/policy.h"
#include "security/workload_policy.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 64 * 1024) return 0;
  std::string_view text(reinterpret_cast<const char*>(data), size);

  std::string scratch;
  auto once = remora::security::normalizePath(text, scratch);
  if (once) {
    std::string first(*once);
    REMORA_CHECK(first == "*" || (!first.empty() && first[0] == '/'), "not a path: {}", first);
    auto twice = remora::security::normalizePath(first);
    REMORA_CHECK(twice && *twice == first, "normalizePath is not idempotent on {}", first);
  }

  auto json = remora::kube::parseYaml(
      text, {.max_bytes = 64 * 1024, .max_depth = 32, .max_nodes = 64 * 1024});
  if (!json) return 0;
  auto policies = remora::security::parsePolicies(*json, "policies");
  if (!policies) {
    REMORA_CHECK(!policies.error().message.empty(), "an error without a message");
    return 0;
  }
  remora::security::WorkloadSelectorInfo workload{"default", {{"app", "web"}}};
  auto w = remora::security::WorkloadPolicy::build(*policies, workload);
  (void)w.mtlsMode(8080);
  remora::security::RequestAttributes a;
  a.principal = "cluster.local/ns/default/sa/web";
  a.source_namespace = "default";
  a.source_ip = asio::ip::make_address("10.0.0.1");
  a.destination_port = 8080;
  (void)w.authorize(a);
  a.http = true;
  a.method = "GET";
  a.host = "web.default:8080";
  a.path = "/admin/../x?y";
  auto d = w.authorize(a);
  REMORA_CHECK(d.allowed || w.hasAuthorization(), "denied without any policy");
  return 0;
}

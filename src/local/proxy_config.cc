#include "local/proxy_config.h"

#include <fmt/format.h>

#include "kube/objects.h"
#include "kube/yaml.h"
#include "security/policy.h"

namespace remora::local {
namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// kind, namespace and name: what identifies an object for `apply`.
std::string objectKey(const Json& object) {
  const Json* md = kube::lookup(object, {"metadata"});
  return fmt::format("{}/{}/{}", kube::stringOr(object, "kind", ""),
                     md ? kube::stringOr(*md, "namespace", "default") : "default",
                     kube::objectName(object));
}

std::string portName(const ServicePort& port) {
  return port.name.empty() ? fmt::format("port-{}", port.port) : port.name;
}

}  // namespace

std::string portProtocol(const ServicePort& port) {
  std::string proto = lower(port.app_protocol);
  if (proto.empty()) {
    proto = lower(port.name);
    if (auto dash = proto.find('-'); dash != std::string::npos) proto = proto.substr(0, dash);
  }
  if (proto == "http" || proto == "http2" || proto == "grpc" || proto == "grpc-web" ||
      proto == "h2c" || proto == "kubernetes.io/h2c") {
    return "HTTP";
  }
  if (proto == "https" || proto == "tls") return "TLS";
  if (proto == "tcp" || proto == "mongo" || proto == "mysql" || proto == "redis") return "TCP";
  return "AUTO";
}

Json proxyConfig(const Plan& plan, const Pod& pod, const std::string& trust_domain) {
  Json proxy = Json::object();
  proxy["workload"] = pod.workload_name;
  proxy["namespace"] = pod.namespace_name;
  if (auto app = kube::stringOr(pod.labels, "app", ""); !app.empty()) proxy["app"] = app;
  if (auto v = kube::stringOr(pod.labels, "version", ""); !v.empty()) proxy["version"] = v;
  proxy["serviceAccount"] = pod.service_account;
  proxy["ip"] = pod.ip;
  // The pod's labels, for the policies' selectors (label values are strings).
  Json labels = Json::object();
  for (const auto& [key, value] : pod.labels.items()) {
    if (value.is_string()) labels[key] = value;
  }
  if (!labels.empty()) proxy["labels"] = std::move(labels);

  Json services = Json::array();
  for (const auto& svc : plan.services) {
    Json s = Json::object();
    s["name"] = svc.name;
    s["namespace"] = svc.namespace_name;
    s["hostname"] = fmt::format("{}.{}.svc.cluster.local", svc.name, svc.namespace_name);
    if (!svc.vip.empty()) s["addresses"] = Json::array({svc.vip});
    Json ports = Json::array();
    bool named_target = false;
    for (const auto& p : svc.ports) {
      if (p.protocol != "TCP") continue;  // UDP and SCTP: not proxied
      Json port = {{"name", portName(p)}, {"port", p.port}, {"protocol", portProtocol(p)}};
      if (p.target_port != 0) port["targetPort"] = p.target_port;
      named_target = named_target || p.target_port == 0;
      ports.push_back(std::move(port));
    }
    if (ports.empty()) continue;
    s["ports"] = std::move(ports);
    // One entry per pod, with a per-port override where the target is named.
    Json endpoints = Json::array();
    std::vector<std::size_t> seen;
    for (std::size_t p = 0; p < svc.ports.size(); ++p) {
      for (const auto& ep : svc.endpoints[p]) {
        if (std::find(seen.begin(), seen.end(), ep.pod) != seen.end()) continue;
        seen.push_back(ep.pod);
        const Pod& target = plan.pods[ep.pod];
        Json e = {{"address", target.ip},
                  {"workload", target.workload_name},
                  {"namespace", target.namespace_name},
                  {"serviceAccount", target.service_account},
                  {"labels", target.labels}};
        if (named_target) {
          Json overrides = Json::object();
          for (std::size_t q = 0; q < svc.ports.size(); ++q) {
            if (svc.ports[q].target_port != 0 || svc.ports[q].protocol != "TCP") continue;
            for (const auto& other : svc.endpoints[q]) {
              if (other.pod == ep.pod) overrides[portName(svc.ports[q])] = other.target_port;
            }
          }
          if (!overrides.empty()) e["ports"] = std::move(overrides);
        }
        endpoints.push_back(std::move(e));
      }
    }
    s["endpoints"] = std::move(endpoints);
    services.push_back(std::move(s));
  }
  Json config{{"version", 1},
              {"mesh", {{"trustDomain", trust_domain}}},
              {"proxy", std::move(proxy)},
              {"services", std::move(services)}};
  if (!plan.policies.empty()) config["policies"] = Json(plan.policies);
  return config;
}

Result<std::vector<Json>> policyDocuments(const std::vector<Json>& documents) {
  std::vector<Json> out;
  security::Policies checked;
  for (const auto& doc : documents) {
    if (!security::isSecurityPolicy(doc)) continue;
    Json copy = doc;
    if (auto md = copy.find("metadata"); md != copy.end() && md->is_object()) {
      if (!md->contains("namespace")) (*md)["namespace"] = "default";
    }
    auto status = security::parsePolicy(copy, kube::describe(doc), checked);
    if (!status) return Error{Errc::InvalidArgument, status.error().message};
    out.push_back(std::move(copy));
  }
  return out;
}

std::size_t mergePolicies(Json& config, const std::vector<Json>& policies) {
  if (!config.contains("policies") || !config["policies"].is_array()) {
    config["policies"] = Json::array();
  }
  Json& list = config["policies"];
  std::size_t replaced = 0;
  for (const auto& p : policies) {
    std::string key = objectKey(p);
    bool found = false;
    for (auto& existing : list) {
      if (objectKey(existing) == key) {
        existing = p;
        found = true;
        ++replaced;
        break;
      }
    }
    if (!found) list.push_back(p);
  }
  return replaced;
}

std::string proxyConfigYaml(const Plan& plan, const Pod& pod, const std::string& trust_domain) {
  return fmt::format("# Generated by remora local for {}/{} (docs/proxy-config.md).\n{}",
                     pod.namespace_name, pod.name,
                     kube::toYaml(proxyConfig(plan, pod, trust_domain)));
}

}  // namespace remora::local

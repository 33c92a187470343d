// Helpers shared by the inject tests: YAML in, injector with optional
// values/mesh overrides, and lookups of injected containers.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "core/json.h"
#include "inject/config.h"
#include "inject/injector.h"
#include "inject/manifest.h"
#include "kube/yaml.h"

namespace remora::inject::testing {

inline Json yaml(std::string_view text) {
  auto v = kube::parseYaml(text);
  EXPECT_TRUE(v) << v.error().message;
  return v ? *v : Json();
}

inline std::shared_ptr<const InjectConfig> makeConfig(std::string_view values = {},
                                                      std::string_view mesh = {},
                                                      std::string_view revision = {}) {
  auto config = loadConfig(values, mesh, revision);
  EXPECT_TRUE(config) << config.error().message;
  return std::make_shared<const InjectConfig>(config ? *config : InjectConfig{});
}

inline Injector makeInjector(std::string_view values = {}, std::string_view mesh = {},
                             std::string_view revision = {}) {
  return Injector(makeConfig(values, mesh, revision));
}

// Injects one manifest object; fails the test on error.
inline std::vector<ObjectReport> injectOk(const Injector& injector, Json& object) {
  std::vector<ObjectReport> reports;
  Status s = injectObject(injector, object, reports);
  EXPECT_TRUE(s) << s.error().message;
  return reports;
}

inline Error injectError(const Injector& injector, Json object) {
  std::vector<ObjectReport> reports;
  Status s = injectObject(injector, object, reports);
  EXPECT_FALSE(s) << "expected an error";
  return s ? Error{} : s.error();
}

// The pod template of a Deployment/…, or the Pod itself.
inline Json& podOf(Json& object) {
  if (object["kind"] == "Pod") return object;
  if (object["kind"] == "CronJob") return object["spec"]["jobTemplate"]["spec"]["template"];
  return object["spec"]["template"];
}

inline std::vector<std::string> namesOf(const Json& list) {
  std::vector<std::string> out;
  if (!list.is_array()) return out;
  for (const Json& c : list) out.push_back(c.value("name", ""));
  return out;
}

inline const Json* containerNamed(const Json& pod, std::string_view name) {
  for (const char* list : {"containers", "initContainers"}) {
    const Json* l = findField(pod["spec"], list);
    if (l == nullptr || !l->is_array()) continue;
    for (const Json& c : *l) {
      if (c.value("name", "") == name) return &c;
    }
  }
  return nullptr;
}

inline std::string envOf(const Json& container, std::string_view name) {
  const Json* env = findField(container, "env");
  if (env == nullptr) return {};
  for (const Json& e : *env) {
    if (e.value("name", "") == name) return e.value("value", "");
  }
  return {};
}

inline bool hasEnv(const Json& container, std::string_view name) {
  const Json* env = findField(container, "env");
  if (env == nullptr) return false;
  for (const Json& e : *env) {
    if (e.value("name", "") == name) return true;
  }
  return false;
}

inline std::vector<std::string> argsOf(const Json& container) {
  std::vector<std::string> out;
  for (const Json& a : container["args"]) out.push_back(a.get<std::string>());
  return out;
}

// The value following `flag` in the args, or "<absent>".
inline std::string flagValue(const Json& container, std::string_view flag) {
  auto args = argsOf(container);
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == flag) return args[i + 1];
  }
  return "<absent>";
}

constexpr std::string_view kDeployment = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web, version: v3}
    spec:
      containers:
      - name: web
        image: nginx:1.25
        ports:
        - {name: http, containerPort: 8080}
)";

}  // namespace remora::inject::testing

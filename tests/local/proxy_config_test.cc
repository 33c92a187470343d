#include "local/proxy_config.h"

#include <gtest/gtest.h>

#include "kube/yaml.h"
#include "mesh/config.h"
#include "test_util.h"

namespace remora::local {
namespace {

constexpr std::string_view kManifests = R"(
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web, version: v2, security.istio.io/tlsMode: istio}}
spec:
  serviceAccountName: web-sa
  containers: [{name: web, image: nginx, ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: shop, labels: {app: client}}
spec:
  containers: [{name: c, image: curl}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports:
  - {name: http-web, port: 80, targetPort: http}
  - {name: tcp-raw, port: 9000, targetPort: 9000}
  - {port: 53, protocol: UDP}
)";

TEST(LocalProxyConfig, RegistryFromThePlan) {
  auto plan = buildPlan(testing::docs(kManifests));
  ASSERT_TRUE(plan.has_value()) << plan.error().message;
  Json config = proxyConfig(*plan, plan->pods[1], "example.org");
  EXPECT_EQ(config["version"], 1);
  EXPECT_EQ(config["mesh"]["trustDomain"], "example.org");
  EXPECT_EQ(config["proxy"]["workload"], "client");
  EXPECT_EQ(config["proxy"]["ip"], "10.244.0.3");
  EXPECT_EQ(config["proxy"]["serviceAccount"], "default");
  ASSERT_EQ(config["services"].size(), 1u);
  const Json& svc = config["services"][0];
  EXPECT_EQ(svc["hostname"], "web.shop.svc.cluster.local");
  EXPECT_EQ(svc["addresses"][0], "10.96.0.10");
  ASSERT_EQ(svc["ports"].size(), 2u);  // UDP is not proxied
  EXPECT_EQ(svc["ports"][0]["protocol"], "HTTP");
  EXPECT_FALSE(svc["ports"][0].contains("targetPort"));
  EXPECT_EQ(svc["ports"][1]["protocol"], "TCP");
  EXPECT_EQ(svc["ports"][1]["targetPort"], 9000);
  ASSERT_EQ(svc["endpoints"].size(), 1u);
  const Json& ep = svc["endpoints"][0];
  EXPECT_EQ(ep["address"], "10.244.0.2");
  EXPECT_EQ(ep["serviceAccount"], "web-sa");
  EXPECT_EQ(ep["labels"]["security.istio.io/tlsMode"], "istio");
  EXPECT_EQ(ep["ports"]["http-web"], 8080);
  // The YAML reads back as the same value.
  auto back = kube::parseYaml(proxyConfigYaml(*plan, plan->pods[1], "example.org"));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, config);
}

constexpr std::string_view kPolicies = R"(
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: web-get-only}
spec:
  selector: {matchLabels: {app: web}}
  rules: [{to: [{operation: {methods: [GET]}}]}]
)";

TEST(LocalProxyConfig, PoliciesAndLabelsReachEveryPod) {
  std::string manifests = std::string(kManifests) + std::string(kPolicies);
  auto plan = buildPlan(testing::docs(manifests));
  ASSERT_TRUE(plan.has_value()) << plan.error().message;
  ASSERT_EQ(plan->policies.size(), 2u);
  // A policy without a namespace is in the manifest's default, as kubectl puts it.
  EXPECT_EQ(plan->policies[1]["metadata"]["namespace"], "default");
  for (const Pod& pod : plan->pods) {
    Json config = proxyConfig(*plan, pod, "cluster.local");
    ASSERT_EQ(config["policies"].size(), 2u);
    EXPECT_EQ(config["proxy"]["labels"]["app"], pod.labels["app"]);
    // The proxy accepts what remora local writes, and selects its own policies.
    auto parsed = mesh::parseConfig(proxyConfigYaml(*plan, pod, "cluster.local"));
    ASSERT_TRUE(parsed) << parsed.error().message;
    auto snap = mesh::Snapshot::build(std::move(*parsed));
    EXPECT_EQ(snap->security().mtlsMode(8080), security::MtlsMode::Strict);
    EXPECT_FALSE(snap->security().hasAuthorization());  // web-get-only is in "default"
  }
}

TEST(LocalProxyConfig, NoPoliciesNoField) {
  auto plan = buildPlan(testing::docs(kManifests));
  ASSERT_TRUE(plan.has_value());
  EXPECT_FALSE(proxyConfig(*plan, plan->pods[0], "cluster.local").contains("policies"));
}

TEST(LocalProxyConfig, AnInvalidPolicyFailsThePlanNamingIt) {
  std::string manifests = std::string(kManifests) + R"(
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: bad, namespace: shop}
spec: {action: CUSTOM}
)";
  auto plan = buildPlan(testing::docs(manifests));
  ASSERT_FALSE(plan.has_value());
  EXPECT_NE(plan.error().message.find("spec.action"), std::string::npos) << plan.error().message;
  EXPECT_NE(plan.error().message.find("bad"), std::string::npos) << plan.error().message;
}

TEST(LocalProxyConfig, ApplyMergesPoliciesAsKubectlApply) {
  auto plan = buildPlan(testing::docs(std::string(kManifests) + std::string(kPolicies)));
  ASSERT_TRUE(plan.has_value());
  Json config = proxyConfig(*plan, plan->pods[0], "cluster.local");
  auto update = policyDocuments(testing::docs(R"(
apiVersion: v1
kind: ConfigMap
metadata: {name: ignored}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: PERMISSIVE}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-all, namespace: shop}
spec: {}
)"));
  ASSERT_TRUE(update) << update.error().message;
  ASSERT_EQ(update->size(), 2u);
  EXPECT_EQ(mergePolicies(config, *update), 1u);
  ASSERT_EQ(config["policies"].size(), 3u);
  EXPECT_EQ(config["policies"][0]["spec"]["mtls"]["mode"], "PERMISSIVE");
  auto parsed = mesh::parseConfig(kube::toYaml(config));
  ASSERT_TRUE(parsed) << parsed.error().message;
  auto snap = mesh::Snapshot::build(std::move(*parsed));
  EXPECT_EQ(snap->security().mtlsMode(8080), security::MtlsMode::Permissive);
  EXPECT_TRUE(snap->security().hasAuthorization());  // pods[0] is web in shop: deny-all

  auto bad = policyDocuments(testing::docs(R"(
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: x}
spec: {mtls: {mode: MUTUAL}}
)"));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("spec.mtls.mode"), std::string::npos);
}

TEST(LocalProxyConfig, ProtocolsFollowIstioPortNaming) {
  auto proto = [](std::string name, std::string app = "") {
    ServicePort p;
    p.name = std::move(name);
    p.app_protocol = std::move(app);
    return portProtocol(p);
  };
  EXPECT_EQ(proto("http"), "HTTP");
  EXPECT_EQ(proto("http2-x"), "HTTP");
  EXPECT_EQ(proto("grpc-api"), "HTTP");
  EXPECT_EQ(proto("HTTP"), "HTTP");
  EXPECT_EQ(proto("https"), "TLS");
  EXPECT_EQ(proto("tcp-db"), "TCP");
  EXPECT_EQ(proto("web"), "AUTO");
  EXPECT_EQ(proto(""), "AUTO");
  EXPECT_EQ(proto("web", "http"), "HTTP");
  EXPECT_EQ(proto("http", "tcp"), "TCP");
}

}  // namespace
}  // namespace remora::local

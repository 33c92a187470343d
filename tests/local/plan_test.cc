#include "local/plan.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace remora::local {
namespace {

using testing::docs;

constexpr std::string_view kMesh = R"yaml(
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio-injection: enabled}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, version: v1}}
    spec:
      serviceAccountName: web-sa
      containers:
      - name: web
        image: nginx:1.25
        ports: [{name: http, containerPort: 8080}, {containerPort: 53, protocol: UDP}]
      - name: istio-proxy
        image: ghcr.io/remora-mesh/remora:0.1.0
        args: [proxy, sidecar, --domain, $(POD_NAMESPACE).svc.cluster.local, "$$(KEEP)", "$(UNDEFINED)"]
        securityContext: {runAsUser: 1337, runAsGroup: 1337}
        resources: {limits: {cpu: 1500m}}
        env:
        - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        - {name: POD_NAMESPACE, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
        - {name: INSTANCE_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
        - {name: SERVICE_ACCOUNT, valueFrom: {fieldRef: {fieldPath: spec.serviceAccountName}}}
        - {name: HOST_IP, valueFrom: {fieldRef: {fieldPath: status.hostIP}}}
        - {name: CPU, valueFrom: {resourceFieldRef: {resource: limits.cpu}}}
        - {name: APP, valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}}
        - {name: SECRET, valueFrom: {secretKeyRef: {name: s, key: k}}}
        - {name: DERIVED, value: "$(POD_NAME).$(POD_NAMESPACE)"}
        volumeMounts: [{name: istio-token, mountPath: /var/run/secrets/tokens}]
      volumes:
      - name: istio-token
        projected: {sources: [{serviceAccountToken: {audience: istio-ca, path: istio-token}}]}
      - name: istiod-ca-cert
        configMap: {name: istio-ca-root-cert}
      - name: istio-podinfo
        downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}
      - name: data
        persistentVolumeClaim: {claimName: x}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{port: 5432}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec:
  replicas: 1
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: nginx, ports: [{containerPort: 5432}],
                    volumeMounts: [{name: data, mountPath: /var/lib/db}]}]
  volumeClaimTemplates: [{metadata: {name: data}}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: shop}
spec:
  schedule: "0 2 * * *"
  jobTemplate: {spec: {template: {spec: {containers: [{name: r, image: python}]}}}}
---
apiVersion: v1
kind: Pod
metadata: {name: loose}
spec:
  containers: [{name: c, image: busybox, command: [sleep, "1"]}]
)yaml";

TEST(LocalPlan, ReplicasNamesAndAddresses) {
  auto plan = buildPlan(docs(kMesh));
  ASSERT_TRUE(plan.has_value()) << plan.error().message;
  ASSERT_EQ(plan->pods.size(), 4u);
  const Pod& web0 = plan->pods[0];
  const Pod& web1 = plan->pods[1];
  EXPECT_EQ(web0.namespace_name, "shop");
  EXPECT_EQ(web0.replica_set, web1.replica_set);
  EXPECT_TRUE(web0.name.starts_with(web0.replica_set + "-"));
  EXPECT_NE(web0.name, web1.name);
  EXPECT_EQ(web0.name.size(), web0.replica_set.size() + 6);
  EXPECT_EQ(web0.ip, "10.244.0.2");
  EXPECT_EQ(web1.ip, "10.244.0.3");
  EXPECT_EQ(plan->pods[2].name, "db-0");
  EXPECT_EQ(plan->pods[3].name, "loose");
  EXPECT_EQ(plan->pods[3].namespace_name, "default");
  // Deterministic: a second plan gives the same names.
  auto again = buildPlan(docs(kMesh));
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->pods[0].name, web0.name);
  // The CronJob waits for its schedule.
  ASSERT_EQ(plan->skipped.size(), 1u);
  EXPECT_EQ(plan->skipped[0].what, "CronJob \"report\"");
  // Namespaces: declared with labels, implied without.
  ASSERT_EQ(plan->namespaces.size(), 2u);
  EXPECT_EQ(plan->namespaces[0].labels["istio-injection"], "enabled");
  EXPECT_EQ(plan->namespaces[1].name, "default");
}

TEST(LocalPlan, EnvironmentAsTheKubeletResolvesIt) {
  auto plan = buildPlan(docs(kMesh), {.node_cpus = 8, .node_ip = "10.244.0.1"});
  ASSERT_TRUE(plan.has_value()) << plan.error().message;
  const Pod& pod = plan->pods[0];
  const Container& proxy = pod.containers[1];
  auto env = [&](std::string_view name) -> std::string {
    for (const auto& [k, v] : proxy.env) {
      if (k == name) return v;
    }
    return "<unset>";
  };
  EXPECT_EQ(env("POD_NAME"), pod.name);
  EXPECT_EQ(env("POD_NAMESPACE"), "shop");
  EXPECT_EQ(env("INSTANCE_IP"), "10.244.0.2");
  EXPECT_EQ(env("SERVICE_ACCOUNT"), "web-sa");
  EXPECT_EQ(env("HOST_IP"), "10.244.0.1");
  EXPECT_EQ(env("CPU"), "2");  // 1500m rounded up
  EXPECT_EQ(env("APP"), "web");
  EXPECT_EQ(env("SECRET"), "<unset>");
  EXPECT_EQ(env("DERIVED"), pod.name + ".shop");
  ASSERT_EQ(proxy.warnings.size(), 1u);
  EXPECT_NE(proxy.warnings[0].find("SECRET"), std::string::npos);
  EXPECT_EQ(proxy.args,
            (std::vector<std::string>{"proxy", "sidecar", "--domain", "shop.svc.cluster.local",
                                      "$(KEEP)", "$(UNDEFINED)"}));
  EXPECT_EQ(proxy.run_as_user, 1337u);
  EXPECT_EQ(proxy.run_as_group, 1337u);
  EXPECT_FALSE(pod.containers[0].run_as_user.has_value());
  // Only TCP ports are listened for.
  EXPECT_EQ(pod.containers[0].tcp_ports, (std::vector<std::uint16_t>{8080}));
}

TEST(LocalPlan, VolumesHaveLocalMeanings) {
  auto plan = buildPlan(docs(kMesh));
  ASSERT_TRUE(plan.has_value());
  const auto& v = plan->pods[0].volumes;
  ASSERT_EQ(v.size(), 4u);
  EXPECT_EQ(v[0].kind, VolumeKind::Token);
  EXPECT_EQ(v[0].token_file, "istio-token");
  EXPECT_EQ(v[1].kind, VolumeKind::RootCert);
  EXPECT_EQ(v[2].kind, VolumeKind::DownwardApi);
  ASSERT_EQ(v[2].fields.size(), 1u);
  EXPECT_EQ(v[2].fields[0].second, "metadata.labels");
  EXPECT_EQ(v[3].kind, VolumeKind::EmptyDir);
  EXPECT_FALSE(v[3].note.empty());
  // A StatefulSet's claim templates are volumes of its pods.
  ASSERT_EQ(plan->pods[2].volumes.size(), 1u);
  EXPECT_EQ(plan->pods[2].volumes[0].name, "data");
}

TEST(LocalPlan, ServicesGetVipsAndEndpoints) {
  auto plan = buildPlan(docs(kMesh));
  ASSERT_TRUE(plan.has_value());
  const Service* web = plan->findService("shop", "web");
  ASSERT_NE(web, nullptr);
  EXPECT_EQ(web->vip, "10.96.0.10");
  ASSERT_EQ(web->endpoints.size(), 1u);
  ASSERT_EQ(web->endpoints[0].size(), 2u);
  EXPECT_EQ(web->endpoints[0][0].target_port, 8080);  // named targetPort resolved per pod
  EXPECT_EQ(web->object["spec"]["clusterIP"], "10.96.0.10");
  const Service* db = plan->findService("shop", "db");
  ASSERT_NE(db, nullptr);
  EXPECT_TRUE(db->vip.empty());
  ASSERT_EQ(db->endpoints[0].size(), 1u);
  EXPECT_EQ(plan->pods[db->endpoints[0][0].pod].name, "db-0");
}

TEST(LocalPlan, PodsAsTheApiServerShowsThem) {
  auto plan = buildPlan(docs(kMesh));
  ASSERT_TRUE(plan.has_value());
  const Json& pod = plan->pods[0].object;
  EXPECT_EQ(pod["kind"], "Pod");
  EXPECT_EQ(pod["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet");
  EXPECT_EQ(pod["metadata"]["ownerReferences"][0]["name"], plan->pods[0].replica_set);
  EXPECT_EQ(pod["metadata"]["labels"]["pod-template-hash"], plan->pods[0].replica_set.substr(4));
  EXPECT_EQ(pod["status"]["podIP"], "10.244.0.2");
  EXPECT_EQ(pod["spec"]["containers"][1]["name"], "istio-proxy");
  // The ReplicaSet links the pod to its Deployment.
  bool found = false;
  for (const auto& w : plan->workloads) {
    if (w["kind"] == "ReplicaSet") {
      found = true;
      EXPECT_EQ(w["metadata"]["ownerReferences"][0]["name"], "web");
    }
  }
  EXPECT_TRUE(found);
}

struct BadCase {
  const char* name;
  const char* yaml;
  const char* message;
};

TEST(LocalPlan, HostileManifestsAreErrors) {
  const BadCase cases[] = {
      {"no containers", "kind: Pod\napiVersion: v1\nmetadata: {name: p}\nspec: {containers: []}\n",
       "no container"},
      {"negative replicas",
       "kind: Deployment\napiVersion: apps/v1\nmetadata: {name: d}\nspec: {replicas: -1, "
       "template: {spec: {containers: [{name: c}]}}}\n",
       "spec.replicas"},
      {"too many replicas",
       "kind: Deployment\napiVersion: apps/v1\nmetadata: {name: d}\nspec: {replicas: 100000, "
       "template: {spec: {containers: [{name: c}]}}}\n",
       "more than"},
      {"port out of range",
       "kind: Pod\napiVersion: v1\nmetadata: {name: p}\nspec: {containers: [{name: c, ports: "
       "[{containerPort: 70000}]}]}\n",
       "containerPort"},
      {"unnamed container",
       "kind: Pod\napiVersion: v1\nmetadata: {name: p}\nspec: {containers: [{image: x}]}\n",
       "name"},
      {"subPath escapes",
       "kind: Pod\napiVersion: v1\nmetadata: {name: p}\nspec: {containers: [{name: c, "
       "volumeMounts: [{name: v, mountPath: /x, subPath: ../../etc}]}]}\n",
       "subPath"},
      {"relative mountPath",
       "kind: Pod\napiVersion: v1\nmetadata: {name: p}\nspec: {containers: [{name: c, "
       "volumeMounts: [{name: v, mountPath: x}]}]}\n",
       "mountPath"},
      {"uid not a number",
       "kind: Pod\napiVersion: v1\nmetadata: {name: p}\nspec: {containers: [{name: c, "
       "securityContext: {runAsUser: root}}]}\n",
       "runAsUser"},
      {"service port zero",
       "kind: Service\napiVersion: v1\nmetadata: {name: s}\nspec: {ports: [{port: 0}]}\n", "port"},
      {"service without ports", "kind: Service\napiVersion: v1\nmetadata: {name: s}\nspec: {}\n",
       "spec.ports"},
      {"same pod twice",
       "kind: Pod\napiVersion: v1\nmetadata: {name: p}\nspec: {containers: [{name: c}]}\n---\n"
       "kind: Pod\napiVersion: v1\nmetadata: {name: p}\nspec: {containers: [{name: c}]}\n",
       "twice"},
      {"no template", "kind: Deployment\napiVersion: apps/v1\nmetadata: {name: d}\nspec: {}\n",
       "template"},
  };
  for (const auto& c : cases) {
    auto plan = buildPlan(docs(c.yaml));
    ASSERT_FALSE(plan.has_value()) << c.name;
    EXPECT_NE(plan.error().message.find(c.message), std::string::npos)
        << c.name << ": " << plan.error().message;
  }
}

TEST(LocalPlan, ExpandVars) {
  std::vector<std::pair<std::string, std::string>> env = {{"A", "1"}, {"B", "two"}, {"A", "3"}};
  EXPECT_EQ(expandVars("$(A)-$(B)", env), "3-two");  // the last definition wins
  EXPECT_EQ(expandVars("$$(A)", env), "$(A)");
  EXPECT_EQ(expandVars("$(C)", env), "$(C)");
  EXPECT_EQ(expandVars("$(A", env), "$(A");
  EXPECT_EQ(expandVars("cost $5 $", env), "cost $5 $");
  EXPECT_EQ(expandVars("", env), "");
}

}  // namespace
}  // namespace remora::local

#include "inject/injector.h"

#include <gtest/gtest.h>

#include "inject/annotations.h"
#include "inject/json_patch.h"
#include "test_util.h"

namespace remora::inject {
namespace {

using testing::argsOf;
using testing::containerNamed;
using testing::envOf;
using testing::flagValue;
using testing::hasEnv;
using testing::injectError;
using testing::injectOk;
using testing::kDeployment;
using testing::makeInjector;
using testing::namesOf;
using testing::podOf;
using testing::yaml;

// A Deployment with extra template annotations.
Json deploymentWith(std::string_view annotations_yaml) {
  Json d = yaml(kDeployment);
  d["spec"]["template"]["metadata"]["annotations"] = yaml(annotations_yaml);
  return d;
}

TEST(InjectorTest, PlainDeploymentGetsTheSeedsLayout) {
  Injector injector = makeInjector();
  Json d = yaml(kDeployment);
  auto reports = injectOk(injector, d);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].result.outcome, Outcome::Injected);
  EXPECT_FALSE(reports[0].result.native);
  Json& pod = podOf(d);
  EXPECT_EQ(namesOf(pod["spec"]["containers"]), (std::vector<std::string>{"web", "istio-proxy"}));
  EXPECT_EQ(namesOf(pod["spec"]["initContainers"]), (std::vector<std::string>{"istio-init"}));

  const Json& init = *containerNamed(pod, "istio-init");
  EXPECT_EQ(argsOf(init), (std::vector<std::string>{"init", "-p", "15001", "-z", "15006", "-u",
                                                    "1337", "-m", "REDIRECT", "-i", "*", "-x", "",
                                                    "-b", "*", "-d", "15090,15021,15020"}));
  EXPECT_EQ(init["image"], "ghcr.io/remora-mesh/remora:0.1.0");
  EXPECT_EQ(init["securityContext"]["capabilities"]["add"], Json::array({"NET_ADMIN", "NET_RAW"}));
  EXPECT_EQ(init["securityContext"]["capabilities"]["drop"], Json::array({"ALL"}));
  EXPECT_EQ(init["securityContext"]["runAsUser"], 0);
  EXPECT_EQ(init["securityContext"]["runAsNonRoot"], false);

  const Json& proxy = *containerNamed(pod, "istio-proxy");
  EXPECT_EQ(proxy["image"], "ghcr.io/remora-mesh/remora:0.1.0");
  auto args = argsOf(proxy);
  ASSERT_GE(args.size(), 4u);
  EXPECT_EQ((std::vector<std::string>(args.begin(), args.begin() + 4)),
            (std::vector<std::string>{"proxy", "sidecar", "--concurrency", "2"}));
  EXPECT_EQ(proxy["ports"], yaml("[{containerPort: 15090, name: http-envoy-prom, protocol: TCP}]"));
  EXPECT_EQ(proxy["readinessProbe"]["httpGet"], yaml("{path: /healthz/ready, port: 15021}"));
  const Json& sc = proxy["securityContext"];
  EXPECT_EQ(sc["runAsUser"], 1337);
  EXPECT_EQ(sc["runAsGroup"], 1337);
  EXPECT_EQ(sc["runAsNonRoot"], true);
  EXPECT_EQ(sc["readOnlyRootFilesystem"], true);
  EXPECT_EQ(sc["allowPrivilegeEscalation"], false);
  EXPECT_EQ(sc["capabilities"], yaml("{drop: [ALL]}"));
  EXPECT_EQ(proxy["resources"],
            yaml("{requests: {cpu: 100m, memory: 128Mi}, limits: {cpu: '2', memory: 1Gi}}"));
  EXPECT_EQ(init["resources"], proxy["resources"]);
  EXPECT_FALSE(proxy.contains("restartPolicy"));
  EXPECT_FALSE(proxy.contains("startupProbe"));

  for (const char* name :
       {"POD_NAME", "POD_NAMESPACE", "INSTANCE_IP", "SERVICE_ACCOUNT", "HOST_IP", "PROXY_CONFIG",
        "ISTIO_META_POD_PORTS", "ISTIO_META_APP_CONTAINERS", "ISTIO_META_CLUSTER_ID",
        "ISTIO_META_MESH_ID", "TRUST_DOMAIN", "CA_ADDR", "ISTIO_META_WORKLOAD_NAME"}) {
    EXPECT_TRUE(hasEnv(proxy, name)) << name;
  }
  EXPECT_EQ(envOf(proxy, "ISTIO_META_POD_PORTS"), R"([{"name":"http","containerPort":8080}])");
  EXPECT_EQ(envOf(proxy, "ISTIO_META_APP_CONTAINERS"), "web");
  EXPECT_EQ(envOf(proxy, "ISTIO_META_WORKLOAD_NAME"), "web");
  EXPECT_EQ(envOf(proxy, "ISTIO_META_OWNER"),
            "kubernetes://apis/apps/v1/namespaces/shop/deployments/web");
  EXPECT_EQ(envOf(proxy, "CA_ADDR"), "istiod.istio-system.svc:15012");
  EXPECT_EQ(envOf(proxy, "TRUST_DOMAIN"), "cluster.local");
  EXPECT_EQ(envOf(proxy, "ISTIO_META_CLUSTER_ID"), "Kubernetes");
  auto proxy_config = parseJson(envOf(proxy, "PROXY_CONFIG"));
  ASSERT_TRUE(proxy_config);
  EXPECT_EQ((*proxy_config)["concurrency"], 2);
  EXPECT_FALSE(hasEnv(proxy, "ISTIO_KUBE_APP_PROBERS"));  // no probes to rewrite

  EXPECT_EQ(namesOf(pod["spec"]["volumes"]),
            (std::vector<std::string>{"istio-envoy", "istio-data", "istio-podinfo", "istio-token",
                                      "istiod-ca-cert"}));
  const Json& token = pod["spec"]["volumes"][3]["projected"]["sources"][0]["serviceAccountToken"];
  EXPECT_EQ(token["audience"], "istio-ca");
  EXPECT_EQ(token["expirationSeconds"], 43200);
  EXPECT_EQ(pod["spec"]["volumes"][4]["configMap"]["name"], "istio-ca-root-cert");

  const Json& annotations = pod["metadata"]["annotations"];
  EXPECT_EQ(annotations[std::string(names::kDefaultContainer)], "web");
  EXPECT_EQ(annotations[std::string(names::kDefaultLogsContainer)], "web");
  EXPECT_EQ(annotations["prometheus.io/scrape"], "true");
  EXPECT_EQ(annotations["prometheus.io/port"], "15020");
  EXPECT_EQ(annotations["prometheus.io/path"], "/stats/prometheus");
  EXPECT_EQ(annotations["istio.io/rev"], "default");
  auto status = parseJson(annotations[std::string(names::kStatus)].get<std::string>());
  ASSERT_TRUE(status);
  EXPECT_EQ((*status)["containers"], Json::array({"istio-proxy"}));
  EXPECT_EQ((*status)["initContainers"], Json::array({"istio-init"}));
  EXPECT_EQ((*status)["volumes"].size(), 5u);
  EXPECT_EQ((*status)["revision"], "default");
  EXPECT_EQ((*status)["version"], injector.config().version);

  const Json& labels = pod["metadata"]["labels"];
  EXPECT_EQ(labels["security.istio.io/tlsMode"], "istio");
  EXPECT_EQ(labels["service.istio.io/canonical-name"], "web");
  EXPECT_EQ(labels["service.istio.io/canonical-revision"], "v3");
  // The selector and the workload's own metadata are untouched.
  EXPECT_EQ(d["spec"]["selector"], yaml("matchLabels: {app: web}"));
  EXPECT_FALSE(d["metadata"].contains("annotations"));
}

TEST(InjectorTest, InjectingTwiceEqualsInjectingOnce) {
  Injector injector = makeInjector();
  for (const char* annotations :
       {"{}", "{prometheus.io/scrape: 'true', prometheus.io/port: '9090', prometheus.io/path: /m}",
        "{sidecar.istio.io/nativeSidecar: 'true'}", "{status.sidecar.istio.io/port: '0'}",
        "{proxy.istio.io/config: 'holdApplicationUntilProxyStarts: true'}",
        "{sidecar.istio.io/interceptionMode: NONE}"}) {
    SCOPED_TRACE(annotations);
    Json once = deploymentWith(annotations);
    Json& pod = podOf(once);
    pod["spec"]["containers"][0]["livenessProbe"] =
        yaml("{httpGet: {port: http, path: /l}, periodSeconds: 3}");
    pod["spec"]["containers"][0]["readinessProbe"] = yaml("{tcpSocket: {port: 8080}}");
    injectOk(injector, once);
    Json twice = once;
    auto reports = injectOk(injector, twice);
    EXPECT_EQ(reports[0].result.outcome, Outcome::Unchanged);
    EXPECT_EQ(reports[0].result.decision.rule, Rule::AlreadyInjected);
    EXPECT_EQ(kube::toYaml(twice), kube::toYaml(once));
    EXPECT_TRUE(createPatch(once, twice).empty());
  }
}

TEST(InjectorTest, ResourceAnnotationsReplaceTheDefaultsOnBothContainers) {
  Injector injector = makeInjector();
  Json d = deploymentWith(
      "{sidecar.istio.io/proxyCPU: 100m, sidecar.istio.io/proxyCPULimit: 1000m, "
      "sidecar.istio.io/proxyMemory: 1Gi, sidecar.istio.io/proxyMemoryLimit: 2Gi}");
  injectOk(injector, d);
  Json want = yaml("{requests: {cpu: 100m, memory: 1Gi}, limits: {cpu: 1000m, memory: 2Gi}}");
  EXPECT_EQ((*containerNamed(podOf(d), "istio-proxy"))["resources"], want);
  EXPECT_EQ((*containerNamed(podOf(d), "istio-init"))["resources"], want);

  // One annotation is enough to drop every default.
  Json one = deploymentWith("{sidecar.istio.io/proxyMemory: 256Mi}");
  injectOk(injector, one);
  EXPECT_EQ((*containerNamed(podOf(one), "istio-proxy"))["resources"],
            yaml("{requests: {memory: 256Mi}}"));
}

TEST(InjectorTest, ConcurrencyFollowsProxyConfigThenCpu) {
  Injector injector = makeInjector();
  struct Case {
    const char* annotations;
    const char* want;
  };
  const Case cases[] = {
      {"{}", "2"},
      {"{proxy.istio.io/config: 'concurrency: 3'}", "3"},
      {"{proxy.istio.io/config: 'concurrency: 0', sidecar.istio.io/proxyCPU: 4000m}", "4"},
      {"{proxy.istio.io/config: 'concurrency: 0', sidecar.istio.io/proxyCPU: 500m, "
       "sidecar.istio.io/proxyCPULimit: 2500m}",
       "3"},
      {"{proxy.istio.io/config: 'concurrency: 0', sidecar.istio.io/proxyCPU: 100m}", "1"},
  };
  for (const auto& c : cases) {
    Json d = deploymentWith(c.annotations);
    injectOk(injector, d);
    EXPECT_EQ(flagValue(*containerNamed(podOf(d), "istio-proxy"), "--concurrency"), c.want)
        << c.annotations;
  }
}

TEST(InjectorTest, TrafficAnnotationsShapeTheInitArguments) {
  Injector injector = makeInjector();
  Json d = deploymentWith(R"({
      traffic.sidecar.istio.io/includeInboundPorts: "1,2,3",
      traffic.sidecar.istio.io/excludeInboundPorts: "4, 5,6",
      traffic.sidecar.istio.io/excludeOutboundPorts: "7,8,9",
      traffic.sidecar.istio.io/includeOutboundPorts: "443",
      traffic.sidecar.istio.io/includeOutboundIPRanges: "127.0.0.1/24,10.96.0.1/24",
      traffic.sidecar.istio.io/excludeOutboundIPRanges: "10.96.0.2/24,fd00::/8",
      traffic.sidecar.istio.io/excludeInterfaces: "eth1,net2",
      sidecar.istio.io/interceptionMode: TPROXY})");
  injectOk(injector, d);
  const Json& init = *containerNamed(podOf(d), "istio-init");
  EXPECT_EQ(flagValue(init, "-i"), "127.0.0.1/24,10.96.0.1/24");
  EXPECT_EQ(flagValue(init, "-x"), "10.96.0.2/24,fd00::/8");
  EXPECT_EQ(flagValue(init, "-b"), "1,2,3");
  EXPECT_EQ(flagValue(init, "-d"), "15090,15021,4,5,6,15020");
  EXPECT_EQ(flagValue(init, "-o"), "7,8,9");
  EXPECT_EQ(flagValue(init, "-q"), "443");
  EXPECT_EQ(flagValue(init, "-c"), "eth1,net2");
  EXPECT_EQ(flagValue(init, "-m"), "TPROXY");
  const Json& proxy = *containerNamed(podOf(d), "istio-proxy");
  EXPECT_EQ(proxy["securityContext"]["capabilities"]["add"], Json::array({"NET_ADMIN"}));
  EXPECT_EQ(proxy["securityContext"]["runAsUser"], 0);
  EXPECT_EQ(envOf(proxy, "ISTIO_META_INTERCEPTION_MODE"), "TPROXY");

  // The status port is not excluded twice; an empty include list captures nothing.
  Json e = deploymentWith(R"({traffic.sidecar.istio.io/excludeInboundPorts: "15020,9000",
                              traffic.sidecar.istio.io/includeInboundPorts: ""})");
  injectOk(injector, e);
  EXPECT_EQ(flagValue(*containerNamed(podOf(e), "istio-init"), "-d"), "15090,15021,15020,9000");
  EXPECT_EQ(flagValue(*containerNamed(podOf(e), "istio-init"), "-b"), "");
}

TEST(InjectorTest, BadAnnotationValuesAreErrorsNamingTheAnnotation) {
  Injector injector = makeInjector();
  struct Case {
    const char* annotations;
    const char* message_part;
  };
  const Case cases[] = {
      {"{traffic.sidecar.istio.io/includeOutboundIPRanges: bad}", "includeipranges"},
      {"{traffic.sidecar.istio.io/excludeOutboundIPRanges: '*'}", "excludeOutboundIPRanges"},
      {"{traffic.sidecar.istio.io/excludeInboundPorts: '*'}", "excludeInboundPorts"},
      {"{traffic.sidecar.istio.io/excludeOutboundPorts: '80,x'}", "excludeOutboundPorts"},
      {"{traffic.sidecar.istio.io/includeInboundPorts: '70000'}", "includeInboundPorts"},
      {"{traffic.sidecar.istio.io/includeOutboundIPRanges: '10.0.0.0/33'}",
       "includeOutboundIPRanges"},
      {"{status.sidecar.istio.io/port: '-1'}", "status.sidecar.istio.io/port"},
      {"{readiness.status.sidecar.istio.io/periodSeconds: soon}", "periodSeconds"},
      {"{sidecar.istio.io/proxyCPU: lots}", "proxyCPU"},
      {"{sidecar.istio.io/proxyCPU: '2', sidecar.istio.io/proxyCPULimit: '1'}", "proxyCPULimit"},
      {"{sidecar.istio.io/nativeSidecar: maybe}", "nativeSidecar"},
      {"{sidecar.istio.io/rewriteAppHTTPProbers: nope}", "rewriteAppHTTPProbers"},
      {"{sidecar.istio.io/interceptionMode: MAGIC}", "interceptionMode"},
      {"{sidecar.istio.io/logLevel: loud}", "logLevel"},
      {"{proxy.istio.io/config: 'concurrency: [1'}", "proxy.istio.io/config"},
      {"{proxy.istio.io/config: 'concurrency: -2'}", "concurrency"},
      {"{proxy.istio.io/config: 'proxyMetadata: [a]'}", "proxyMetadata"},
      {"{sidecar.istio.io/proxyCPU: 100}", "must be a string"},
  };
  for (const auto& c : cases) {
    Error e = injectError(injector, deploymentWith(c.annotations));
    std::string lower = e.message;
    std::string want = c.message_part;
    for (auto* s : {&lower, &want}) {
      for (char& ch : *s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
    EXPECT_NE(lower.find(want), std::string::npos) << c.annotations << " -> " << e.message;
    EXPECT_NE(e.message.find("Deployment \"web\", spec.template"), std::string::npos) << e.message;
  }
}

TEST(InjectorTest, StatusPortAnnotations) {
  Injector injector = makeInjector();
  Json d = deploymentWith(R"({status.sidecar.istio.io/port: "123",
      readiness.status.sidecar.istio.io/initialDelaySeconds: "100",
      readiness.status.sidecar.istio.io/periodSeconds: "200",
      readiness.status.sidecar.istio.io/failureThreshold: "300",
      sidecar.istio.io/nativeSidecar: "true"})");
  podOf(d)["spec"]["containers"][0]["livenessProbe"] = yaml("{httpGet: {port: 8080}}");
  injectOk(injector, d);
  const Json& proxy = *containerNamed(podOf(d), "istio-proxy");
  EXPECT_EQ(proxy["readinessProbe"],
            yaml("{httpGet: {path: /healthz/ready, port: 15021}, initialDelaySeconds: 100, "
                 "periodSeconds: 200, timeoutSeconds: 3, failureThreshold: 300}"));
  EXPECT_EQ(flagValue(*containerNamed(podOf(d), "istio-init"), "-d"), "15090,15021,123");
  EXPECT_EQ(proxy["lifecycle"]["preStop"]["exec"]["command"],
            Json::array({"remora", "proxy", "drain", "--debug-port=123"}));
  EXPECT_EQ(podOf(d)["spec"]["containers"][0]["livenessProbe"]["httpGet"]["port"], 123);
  EXPECT_EQ(podOf(d)["metadata"]["annotations"]["prometheus.io/port"], "123");

  // Port 0 turns the status server off: no readiness probe, no rewriting.
  Json off = deploymentWith(R"({status.sidecar.istio.io/port: "0"})");
  podOf(off)["spec"]["containers"][0]["livenessProbe"] = yaml("{httpGet: {port: 8080}}");
  injectOk(injector, off);
  const Json& proxy_off = *containerNamed(podOf(off), "istio-proxy");
  EXPECT_FALSE(proxy_off.contains("readinessProbe"));
  EXPECT_FALSE(hasEnv(proxy_off, "ISTIO_KUBE_APP_PROBERS"));
  EXPECT_EQ(flagValue(*containerNamed(podOf(off), "istio-init"), "-d"), "15090,15021");
  EXPECT_EQ(podOf(off)["spec"]["containers"][0]["livenessProbe"]["httpGet"]["port"], 8080);
}

TEST(InjectorTest, NativeSidecarModeAndOrdering) {
  const char* inits = R"([{name: init-one, image: busybox}, {name: init-two, image: busybox}])";
  struct Case {
    const char* values;
    const char* kind;
    const char* annotations;
    bool native;
  };
  const Case cases[] = {
      {"", "Deployment", "{}", false},
      {"global: {nativeSidecars: true}", "Deployment", "{}", true},
      {"", "Deployment", "{sidecar.istio.io/nativeSidecar: 'true'}", true},
      {"global: {nativeSidecars: true}", "Deployment", "{sidecar.istio.io/nativeSidecar: 'false'}",
       false},
      {"", "Job", "{}", true},
      {"", "Job", "{sidecar.istio.io/nativeSidecar: 'false'}", false},
      {"global: {nativeSidecarsForJobs: false}", "Job", "{}", false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.values) + " " + c.kind + " " + c.annotations);
    Injector injector = makeInjector(c.values);
    Json d = deploymentWith(c.annotations);
    d["kind"] = c.kind;
    d["apiVersion"] = std::string_view(c.kind) == "Job" ? "batch/v1" : "apps/v1";
    podOf(d)["spec"]["initContainers"] = yaml(inits);
    auto reports = injectOk(injector, d);
    EXPECT_EQ(reports[0].result.native, c.native);
    const Json& spec = podOf(d)["spec"];
    if (c.native) {
      EXPECT_EQ(namesOf(spec["initContainers"]),
                (std::vector<std::string>{"istio-init", "istio-proxy", "init-one", "init-two"}));
      EXPECT_EQ(namesOf(spec["containers"]), (std::vector<std::string>{"web"}));
      const Json& proxy = *containerNamed(podOf(d), "istio-proxy");
      EXPECT_EQ(proxy["restartPolicy"], "Always");
      EXPECT_EQ(proxy["startupProbe"]["httpGet"]["port"], 15021);
      auto status = parseJson(
          podOf(d)["metadata"]["annotations"]["sidecar.istio.io/status"].get<std::string>());
      EXPECT_EQ((*status)["initContainers"], Json::array({"istio-init", "istio-proxy"}));
      EXPECT_EQ((*status)["containers"], Json::array());
    } else {
      EXPECT_EQ(namesOf(spec["initContainers"]),
                (std::vector<std::string>{"init-one", "init-two", "istio-init"}));
      EXPECT_EQ(namesOf(spec["containers"]), (std::vector<std::string>{"web", "istio-proxy"}));
    }
  }
}

TEST(InjectorTest, ExistingNativeSidecarsSelectNativeModeAndGetProbesRewritten) {
  Injector injector = makeInjector();
  Json pod = yaml(R"(apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  initContainers:
  - name: other-sidecar
    restartPolicy: Always
    image: x
    readinessProbe: {httpGet: {port: 3333}}
  - name: plain-init
    image: x
    readinessProbe: {httpGet: {port: 1}}
  containers:
  - {name: app, image: y}
)");
  auto reports = injectOk(injector, pod);
  EXPECT_TRUE(reports[0].result.native);
  EXPECT_EQ(namesOf(pod["spec"]["initContainers"]),
            (std::vector<std::string>{"istio-init", "istio-proxy", "other-sidecar", "plain-init"}));
  EXPECT_EQ(pod["spec"]["initContainers"][2]["readinessProbe"],
            yaml("{httpGet: {path: /app-health/other-sidecar/readyz, port: 15020}}"));
  EXPECT_EQ(pod["spec"]["initContainers"][3]["readinessProbe"], yaml("{httpGet: {port: 1}}"));
  EXPECT_EQ(envOf(*containerNamed(pod, "istio-proxy"), "ISTIO_KUBE_APP_PROBERS"),
            R"({"/app-health/other-sidecar/readyz":{"httpGet":{"port":3333}}})");
}

TEST(InjectorTest, ProxyConfigAnnotation) {
  Injector injector = makeInjector();
  Json d = deploymentWith(
      R"({proxy.istio.io/config: "discoveryAddress: foo:123\nconcurrency: 5\nholdApplicationUntilProxyStarts: true\nproxyMetadata:\n  FOO: bar\n  N: 1\n"})");
  injectOk(injector, d);
  const Json& spec = podOf(d)["spec"];
  EXPECT_EQ(namesOf(spec["containers"]), (std::vector<std::string>{"istio-proxy", "web"}));
  const Json& proxy = *containerNamed(podOf(d), "istio-proxy");
  EXPECT_EQ(proxy["lifecycle"]["postStart"]["exec"]["command"],
            Json::array({"remora", "proxy", "wait"}));
  EXPECT_EQ(envOf(proxy, "FOO"), "bar");
  EXPECT_EQ(envOf(proxy, "N"), "1");
  EXPECT_EQ(envOf(*containerNamed(podOf(d), "istio-init"), "FOO"), "bar");
  auto config = parseJson(envOf(proxy, "PROXY_CONFIG"));
  ASSERT_TRUE(config);
  EXPECT_EQ((*config)["discoveryAddress"], "foo:123");
  EXPECT_EQ(flagValue(proxy, "--concurrency"), "5");
}

TEST(InjectorTest, InterceptionNoneAddsNoInitContainer) {
  Injector injector = makeInjector();
  Json d = deploymentWith("{sidecar.istio.io/interceptionMode: NONE}");
  injectOk(injector, d);
  EXPECT_FALSE(podOf(d)["spec"].contains("initContainers"));
  EXPECT_NE(containerNamed(podOf(d), "istio-proxy"), nullptr);
}

TEST(InjectorTest, ProbesAreRewrittenAndRecorded) {
  Injector injector = makeInjector();
  Json d = yaml(kDeployment);
  Json& c = podOf(d)["spec"]["containers"][0];
  c["livenessProbe"] = yaml(
      "{httpGet: {port: http, path: /live, httpHeaders: [{name: X, value: z}]}, timeoutSeconds: 2, "
      "periodSeconds: 7}");
  c["readinessProbe"] = yaml("{httpGet: {port: 8443, scheme: HTTPS, path: /ready}}");
  c["startupProbe"] = yaml("{grpc: {port: 9000, service: health}}");
  c["lifecycle"] = yaml("{preStop: {httpGet: {port: 91}}, postStart: {tcpSocket: {port: http}}}");
  podOf(d)["spec"]["containers"].push_back(
      yaml("{name: side, image: s, livenessProbe: {exec: {command: [true]}}, "
           "readinessProbe: {tcpSocket: {port: unknown-name}}}"));
  injectOk(injector, d);
  const Json& app = podOf(d)["spec"]["containers"][0];
  EXPECT_EQ(app["livenessProbe"], yaml("{httpGet: {path: /app-health/web/livez, port: 15020, "
                                       "httpHeaders: [{name: X, value: z}]}, "
                                       "timeoutSeconds: 2, periodSeconds: 7}"));
  EXPECT_EQ(app["readinessProbe"],
            yaml("{httpGet: {path: /app-health/web/readyz, port: 15020, scheme: HTTP}}"));
  EXPECT_EQ(app["startupProbe"], yaml("{httpGet: {path: /app-health/web/startupz, port: 15020}}"));
  EXPECT_EQ(app["lifecycle"]["preStop"],
            yaml("{httpGet: {path: /app-lifecycle/web/prestopz, port: 15020}}"));
  EXPECT_EQ(app["lifecycle"]["postStart"],
            yaml("{httpGet: {path: /app-lifecycle/web/poststartz, port: 15020}}"));
  const Json& side = podOf(d)["spec"]["containers"][1];
  EXPECT_EQ(side["livenessProbe"], yaml("{exec: {command: [true]}}"));
  EXPECT_EQ(side["readinessProbe"], yaml("{tcpSocket: {port: unknown-name}}"));
  auto probers =
      parseJson(envOf(*containerNamed(podOf(d), "istio-proxy"), "ISTIO_KUBE_APP_PROBERS"));
  ASSERT_TRUE(probers);
  EXPECT_EQ(
      probers->dump(),
      R"({"/app-health/web/livez":{"httpGet":{"port":8080,"path":"/live","httpHeaders":[{"name":"X","value":"z"}]},"timeoutSeconds":2},)"
      R"("/app-health/web/readyz":{"httpGet":{"port":8443,"scheme":"HTTPS","path":"/ready"}},)"
      R"("/app-health/web/startupz":{"grpc":{"port":9000,"service":"health"}},)"
      R"("/app-lifecycle/web/poststartz":{"tcpSocket":{"port":8080}},)"
      R"("/app-lifecycle/web/prestopz":{"httpGet":{"port":91}}})");
  EXPECT_EQ(podOf(d)["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"], "web");
  EXPECT_EQ(envOf(*containerNamed(podOf(d), "istio-proxy"), "ISTIO_META_APP_CONTAINERS"),
            "web,side");

  // Turned off per pod.
  Json off = deploymentWith("{sidecar.istio.io/rewriteAppHTTPProbers: 'false'}");
  podOf(off)["spec"]["containers"][0]["livenessProbe"] = yaml("{httpGet: {port: http}}");
  injectOk(injector, off);
  EXPECT_EQ(podOf(off)["spec"]["containers"][0]["livenessProbe"], yaml("{httpGet: {port: http}}"));
  EXPECT_FALSE(hasEnv(*containerNamed(podOf(off), "istio-proxy"), "ISTIO_KUBE_APP_PROBERS"));
}

TEST(InjectorTest, UserOverridesAreKeptAndRecorded) {
  Injector injector = makeInjector();
  Json d = yaml(kDeployment);
  Json& spec = podOf(d)["spec"];
  spec["containers"].push_back(yaml(R"({name: istio-proxy, image: auto,
      resources: {requests: {cpu: 123m}, limits: {cpu: 3000m}},
      livenessProbe: {httpGet: {path: /healthz/ready, port: 15021}},
      readinessProbe: {exec: {command: [ok]}},
      env: [{name: TRUST_DOMAIN, value: example.org}, {name: EXTRA, value: '1'}],
      securityContext: {runAsUser: 1234, runAsGroup: 1234}, tty: true})"));
  spec["initContainers"] =
      yaml("[{name: istio-init, image: fake/custom-image, args: [my, custom, args]}]");
  Json original_proxy = spec["containers"][1];
  injectOk(injector, d);
  const Json& proxy = *containerNamed(podOf(d), "istio-proxy");
  EXPECT_EQ(namesOf(podOf(d)["spec"]["containers"]),
            (std::vector<std::string>{"web", "istio-proxy"}));
  EXPECT_EQ(proxy["image"], "ghcr.io/remora-mesh/remora:0.1.0");
  EXPECT_EQ(proxy["resources"],
            yaml("{requests: {cpu: 123m, memory: 128Mi}, limits: {cpu: 3000m, memory: 1Gi}}"));
  EXPECT_EQ(proxy["securityContext"]["runAsUser"], 1234);
  EXPECT_EQ(proxy["securityContext"]["runAsGroup"], 1234);
  EXPECT_EQ(proxy["securityContext"]["readOnlyRootFilesystem"], true);
  EXPECT_EQ(proxy["tty"], true);
  EXPECT_EQ(proxy["livenessProbe"]["httpGet"]["port"], 15021);  // never rewritten
  // The user's handler replaces ours; our timings stay unless the user set them.
  EXPECT_EQ(proxy["readinessProbe"],
            yaml("{initialDelaySeconds: 0, periodSeconds: 15, timeoutSeconds: 3, "
                 "failureThreshold: 4, exec: {command: [ok]}}"));
  EXPECT_EQ(envOf(proxy, "TRUST_DOMAIN"), "example.org");
  EXPECT_EQ(envOf(proxy, "EXTRA"), "1");
  const Json& init = *containerNamed(podOf(d), "istio-init");
  EXPECT_EQ(argsOf(init), (std::vector<std::string>{"my", "custom", "args"}));
  EXPECT_EQ(init["image"], "fake/custom-image");
  auto overrides =
      parseJson(podOf(d)["metadata"]["annotations"]["proxy.istio.io/overrides"].get<std::string>());
  ASSERT_TRUE(overrides);
  EXPECT_EQ((*overrides)["containers"][0], original_proxy);

  Json again = d;
  auto reports = injectOk(injector, again);
  EXPECT_EQ(reports[0].result.outcome, Outcome::Unchanged);
  EXPECT_EQ(kube::toYaml(again), kube::toYaml(d));
}

TEST(InjectorTest, ReinjectionReplacesAnIstioInjectionAndMergesProbers) {
  Injector injector = makeInjector();
  // A pod injected by Istio, to which the user then added a container.
  Json d = yaml(kDeployment);
  Json& pod = podOf(d);
  pod["metadata"]["annotations"] = yaml(
      R"({sidecar.istio.io/status: '{"initContainers":["istio-init"],"containers":["istio-proxy"],"volumes":["workload-socket","istio-envoy"]}'})");
  pod["spec"]["containers"][0]["livenessProbe"] =
      yaml("{httpGet: {path: /app-health/web/livez, port: 15020}}");
  pod["spec"]["containers"].push_back(
      yaml(R"({name: istio-proxy, image: docker.io/istio/proxyv2:1.20,
      env: [{name: ISTIO_KUBE_APP_PROBERS, value: '{"/app-health/web/livez":{"httpGet":{"port":8080,"path":"/l"}}}'}]})"));
  pod["spec"]["containers"].push_back(
      yaml("{name: new, image: n, livenessProbe: {httpGet: {port: 7000}}}"));
  pod["spec"]["initContainers"] = yaml("[{name: istio-init, image: docker.io/istio/proxyv2:1.20}]");
  pod["spec"]["volumes"] = yaml(
      "[{name: workload-socket, emptyDir: {}}, {name: istio-envoy, emptyDir: {}}, {name: data, "
      "emptyDir: {}}]");
  auto reports = injectOk(injector, d);
  EXPECT_EQ(reports[0].result.outcome, Outcome::Injected);
  EXPECT_EQ(namesOf(pod["spec"]["containers"]),
            (std::vector<std::string>{"web", "new", "istio-proxy"}));
  EXPECT_EQ(namesOf(pod["spec"]["initContainers"]), (std::vector<std::string>{"istio-init"}));
  EXPECT_EQ(namesOf(pod["spec"]["volumes"]),
            (std::vector<std::string>{"data", "istio-envoy", "istio-data", "istio-podinfo",
                                      "istio-token", "istiod-ca-cert"}));
  const Json& proxy = *containerNamed(pod, "istio-proxy");
  EXPECT_EQ(proxy["image"], "ghcr.io/remora-mesh/remora:0.1.0");
  auto probers = parseJson(envOf(proxy, "ISTIO_KUBE_APP_PROBERS"));
  ASSERT_TRUE(probers);
  EXPECT_EQ(probers->size(), 2u);
  EXPECT_EQ((*probers)["/app-health/web/livez"]["httpGet"]["path"], "/l");
  EXPECT_EQ((*probers)["/app-health/new/livez"]["httpGet"]["port"], 7000);
}

TEST(InjectorTest, PrometheusAnnotationsOfTheAppAreHandedToTheProxy) {
  Injector injector = makeInjector();
  Json d = deploymentWith(
      "{prometheus.io/scrape: 'true', prometheus.io/port: '9102', prometheus.io/path: /metrics}");
  injectOk(injector, d);
  const Json& annotations = podOf(d)["metadata"]["annotations"];
  EXPECT_EQ(annotations["prometheus.io/port"], "15020");
  EXPECT_EQ(annotations["prometheus.io/path"], "/stats/prometheus");
  EXPECT_EQ(envOf(*containerNamed(podOf(d), "istio-proxy"), "ISTIO_PROMETHEUS_ANNOTATIONS"),
            R"({"scrape":"true","port":"9102","path":"/metrics"})");

  for (const char* opt_out :
       {"{prometheus.io/scrape: 'false'}", "{prometheus.istio.io/merge-metrics: 'false'}"}) {
    Json o = deploymentWith(opt_out);
    injectOk(injector, o);
    EXPECT_FALSE(podOf(o)["metadata"]["annotations"].contains("prometheus.io/port")) << opt_out;
  }
}

TEST(InjectorTest, ExistingLabelsAndAnnotationsWin) {
  Injector injector = makeInjector();
  Json d = deploymentWith("{kubectl.kubernetes.io/default-container: sidecar-logger}");
  podOf(d)["metadata"]["labels"] = yaml(R"({app: web, security.istio.io/tlsMode: disabled,
      app.kubernetes.io/name: shop-frontend, app.kubernetes.io/version: "2.1"})");
  injectOk(injector, d);
  const Json& meta = podOf(d)["metadata"];
  EXPECT_EQ(meta["labels"]["security.istio.io/tlsMode"], "disabled");
  EXPECT_EQ(meta["labels"]["service.istio.io/canonical-name"], "shop-frontend");
  EXPECT_EQ(meta["labels"]["service.istio.io/canonical-revision"], "2.1");
  EXPECT_EQ(meta["annotations"]["kubectl.kubernetes.io/default-container"], "sidecar-logger");

  Json long_name = yaml(kDeployment);
  podOf(long_name)["metadata"]["labels"]["app"] = std::string(70, 'a') + "-x";
  injectOk(injector, long_name);
  EXPECT_EQ(podOf(long_name)["metadata"]["labels"]["service.istio.io/canonical-name"],
            std::string(63, 'a'));
}

TEST(InjectorTest, ValuesMeshConfigRevisionAndImageAnnotation) {
  Injector injector = makeInjector(
      "global: {hub: registry.local/mesh, tag: dev, meshID: mesh1, network: net1, "
      "multiCluster: {clusterName: east}, imagePullPolicy: ''}",
      "trustDomain: example.org", "canary");
  Json d = yaml(kDeployment);
  injectOk(injector, d);
  const Json& proxy = *containerNamed(podOf(d), "istio-proxy");
  EXPECT_EQ(proxy["image"], "registry.local/mesh/remora:dev");
  EXPECT_FALSE(proxy.contains("imagePullPolicy"));
  EXPECT_EQ(envOf(proxy, "TRUST_DOMAIN"), "example.org");
  EXPECT_EQ(envOf(proxy, "ISTIO_META_MESH_ID"), "mesh1");
  EXPECT_EQ(envOf(proxy, "ISTIO_META_NETWORK"), "net1");
  EXPECT_EQ(envOf(proxy, "ISTIO_META_CLUSTER_ID"), "east");
  EXPECT_EQ(envOf(proxy, "CA_ADDR"), "istiod-canary.istio-system.svc:15012");
  EXPECT_EQ(podOf(d)["metadata"]["annotations"]["istio.io/rev"], "canary");

  Injector plain = makeInjector();
  Json i = deploymentWith("{sidecar.istio.io/proxyImage: my.registry/custom-proxy:1}");
  injectOk(plain, i);
  EXPECT_EQ((*containerNamed(podOf(i), "istio-proxy"))["image"], "my.registry/custom-proxy:1");
  EXPECT_EQ((*containerNamed(podOf(i), "istio-init"))["image"], "ghcr.io/remora-mesh/remora:0.1.0");
}

TEST(InjectorTest, EveryWorkloadKindAndPassThrough) {
  Injector injector = makeInjector();
  Json cron = yaml(R"(apiVersion: batch/v1
kind: CronJob
metadata: {name: backup}
spec:
  schedule: "*/5 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: backup, image: busybox}]
)");
  auto reports = injectOk(injector, cron);
  EXPECT_TRUE(reports[0].result.native);
  Json& pod = podOf(cron);
  EXPECT_EQ(pod.begin().key(), "metadata");  // created before spec
  EXPECT_EQ(pod["metadata"]["labels"]["service.istio.io/canonical-name"], "backup");
  EXPECT_FALSE(cron["spec"]["jobTemplate"].contains("metadata"));
  EXPECT_EQ(pod["spec"]["restartPolicy"], "OnFailure");
  EXPECT_EQ(envOf(*containerNamed(pod, "istio-proxy"), "ISTIO_META_OWNER"),
            "kubernetes://apis/batch/v1/namespaces/default/cronjobs/backup");

  for (const char* kind : {"ReplicaSet", "StatefulSet", "DaemonSet"}) {
    Json d = yaml(kDeployment);
    d["kind"] = kind;
    injectOk(injector, d);
    EXPECT_NE(containerNamed(podOf(d), "istio-proxy"), nullptr) << kind;
  }
  Json dc = yaml(kDeployment);
  dc["kind"] = "DeploymentConfig";
  dc["apiVersion"] = "apps.openshift.io/v1";
  injectOk(injector, dc);
  EXPECT_NE(containerNamed(podOf(dc), "istio-proxy"), nullptr);

  for (const char* other :
       {"{apiVersion: v1, kind: Service, metadata: {name: s}, spec: {ports: [{port: 80}]}}",
        "{apiVersion: example.com/v1, kind: Deployment, metadata: {name: crd}, spec: {}}",
        "{apiVersion: v1, kind: ConfigMap, data: {a: b}}"}) {
    Json o = yaml(other);
    Json before = o;
    auto r = injectOk(injector, o);
    EXPECT_FALSE(r[0].workload);
    EXPECT_EQ(o, before);
  }

  Json list =
      yaml(R"({apiVersion: v1, kind: List, items: [)" + std::string(kDeployment.substr(0, 0)) +
           R"({apiVersion: v1, kind: Service, metadata: {name: s}},
                       {apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: a, image: b}]}}]})");
  reports = injectOk(injector, list);
  ASSERT_EQ(reports.size(), 3u);
  EXPECT_EQ(reports[2].where, "items[1]");
  EXPECT_EQ(list["items"][0], yaml("{apiVersion: v1, kind: Service, metadata: {name: s}}"));
  EXPECT_EQ(namesOf(list["items"][1]["spec"]["containers"]),
            (std::vector<std::string>{"a", "istio-proxy"}));
}

TEST(InjectorTest, MalformedWorkloadsAreErrorsNamingTheField) {
  Injector injector = makeInjector();
  struct Case {
    const char* doc;
    const char* message;
  };
  const Case cases[] = {
      {"{apiVersion: v1, kind: ReplicationController, metadata: {name: rc}, spec: {replicas: 3}}",
       "ReplicationController \"rc\": spec.template is required value"},
      {"{apiVersion: apps/v1, kind: Deployment, metadata: {name: d}, spec: {template: {spec: {}}}}",
       "spec.containers is required value"},
      {"{apiVersion: apps/v1, kind: Deployment, metadata: {name: d}, spec: {template: {spec: "
       "{containers: []}}}}",
       "spec.containers must not be empty"},
      {"{apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{image: x}]}}",
       "spec.containers[0].name is required value"},
      {"{apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: a}, {name: "
       "a}]}}",
       "duplicate container name"},
      {"{apiVersion: v1, kind: Pod, metadata: {name: p, labels: [x]}, spec: {containers: [{name: "
       "a}]}}",
       "metadata.labels must be a mapping"},
      {"{apiVersion: v1, kind: Pod, metadata: {name: p, labels: {a: 1}}, spec: {containers: "
       "[{name: a}]}}",
       "metadata.labels.a must be a string"},
      {"{apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: a, ports: "
       "80}]}}",
       "spec.containers[0].ports must be a list"},
      {"{apiVersion: v1, metadata: {name: x}}", "field kind is missing"},
      {"{apiVersion: v1, kind: List, items: [{kind: Pod, metadata: {name: p}}]}",
       "items[0] (Pod \"p\"): spec is required value"},
      {"{apiVersion: v1, kind: Pod, metadata: {name: p, annotations: {sidecar.istio.io/status: "
       "'{bad'}}, "
       "spec: {containers: [{name: a}]}}",
       "annotation sidecar.istio.io/status"},
      {"{apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: istio-proxy}], "
       "initContainers: [{name: istio-proxy}]}}",
       "a second container named istio-proxy"},
  };
  for (const auto& c : cases) {
    Error e = injectError(injector, yaml(c.doc));
    EXPECT_NE(e.message.find(c.message), std::string::npos) << c.doc << "\n -> " << e.message;
  }
  std::vector<ObjectReport> reports;
  Json scalar = "just a string";
  EXPECT_FALSE(injectObject(injector, scalar, reports));
}

TEST(InjectorTest, SkippedPodsAreUntouched) {
  Injector injector = makeInjector();
  for (const char* variant : {"hostNetwork", "annotation", "label"}) {
    Json d = yaml(kDeployment);
    if (std::string_view(variant) == "hostNetwork") podOf(d)["spec"]["hostNetwork"] = true;
    if (std::string_view(variant) == "annotation") {
      podOf(d)["metadata"]["annotations"] = yaml("{sidecar.istio.io/inject: 'false'}");
    }
    if (std::string_view(variant) == "label")
      podOf(d)["metadata"]["labels"]["sidecar.istio.io/inject"] = "false";
    Json before = d;
    auto reports = injectOk(injector, d);
    EXPECT_EQ(reports[0].result.outcome, Outcome::Skipped) << variant;
    EXPECT_EQ(d, before) << variant;
    EXPECT_FALSE(skipMessage(reports[0]).empty());
  }
  Json host = yaml(kDeployment);
  podOf(host)["spec"]["hostNetwork"] = true;
  auto reports = injectOk(injector, host);
  EXPECT_EQ(skipMessage(reports[0]),
            "Skipping injection because Deployment \"web\" has host networking enabled");
}

TEST(WorkloadFromPodTest, DerivesTheOwnerAsIstioDoes) {
  auto ref = workloadFromPod(
      yaml(R"({metadata: {generateName: web-5d4f8c7b9-, labels: {pod-template-hash: 5d4f8c7b9},
      ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-5d4f8c7b9, controller: true}]}})"),
      "shop");
  EXPECT_EQ(ref.kind, "Deployment");
  EXPECT_EQ(ref.name, "web");
  EXPECT_EQ(ref.namespace_name, "shop");
  EXPECT_FALSE(ref.runs_to_completion);

  ref = workloadFromPod(yaml(R"({metadata: {name: backup-28471230-abcde,
      ownerReferences: [{apiVersion: batch/v1, kind: Job, name: backup-28471230, controller: true}]}})"),
                        "ops");
  EXPECT_EQ(ref.kind, "CronJob");
  EXPECT_EQ(ref.name, "backup");
  EXPECT_TRUE(ref.runs_to_completion);

  ref = workloadFromPod(yaml(R"({metadata: {name: migrate-x,
      ownerReferences: [{apiVersion: batch/v1, kind: Job, name: migrate, controller: true}]}})"),
                        "ops");
  EXPECT_EQ(ref.kind, "Job");
  EXPECT_EQ(ref.name, "migrate");
  EXPECT_TRUE(ref.runs_to_completion);

  ref = workloadFromPod(yaml("{metadata: {generateName: loose-}}"), "ns");
  EXPECT_EQ(ref.kind, "Pod");
  EXPECT_EQ(ref.name, "loose");
  ref = workloadFromPod(
      yaml(
          R"({metadata: {name: db-0, ownerReferences: [{apiVersion: apps/v1, kind: StatefulSet, name: db, controller: true}]}})"),
      "ns");
  EXPECT_EQ(ref.kind, "StatefulSet");
  EXPECT_EQ(ref.name, "db");
}

}  // namespace
}  // namespace remora::inject

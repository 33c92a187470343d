#include "mesh/config.h"

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace remora::mesh {
namespace {

constexpr const char* kExample = R"(
version: 1
mesh:
  trustDomain: example.org
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
  connectTimeout: 1m30s
  drainDuration: 250ms
  requestHeadersTimeout: 3s
  routeTimeout: 2m
  streamIdleTimeout: 45s
proxy:
  workload: productpage-v1
  namespace: bookinfo
  app: productpage
  version: v1
  serviceAccount: pp
  ip: 10.0.0.5
services:
- name: reviews
  namespace: bookinfo
  addresses: [10.96.0.10, "fd00::10"]
  ports:
  - {name: http, port: 9080, protocol: HTTP}
  - {port: 9443, protocol: TLS, targetPort: 8443}
  loadBalancer: ROUND_ROBIN
  endpoints:
  - address: 10.0.1.4
    serviceAccount: reviews
    labels: {app: reviews, version: v1, security.istio.io/tlsMode: istio}
  - address: 10.0.1.5
    ports: {http: 9090}
    workload: reviews-v2
- name: productpage
  namespace: bookinfo
  ports: [{port: 9080, name: http}]
  endpoints: [{address: 10.0.0.5}]
)";

TEST(MeshConfig, ParsesTheDocumentedExample) {
  auto config = parseConfig(kExample);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->mesh.trust_domain, "example.org");
  EXPECT_EQ(config->mesh.outbound_policy, OutboundPolicy::RegistryOnly);
  EXPECT_EQ(config->mesh.connect_timeout, std::chrono::seconds(90));
  EXPECT_EQ(config->mesh.drain_duration, std::chrono::milliseconds(250));
  EXPECT_EQ(config->mesh.request_headers_timeout, std::chrono::seconds(3));
  EXPECT_EQ(config->mesh.route_timeout, std::chrono::minutes(2));
  EXPECT_EQ(config->mesh.stream_idle_timeout, std::chrono::seconds(45));
  EXPECT_EQ(config->proxy.workload.principal, "spiffe://example.org/ns/bookinfo/sa/pp");
  ASSERT_EQ(config->services.size(), 2U);
  const Service& reviews = config->services[0];
  EXPECT_EQ(reviews.hostname, "reviews.bookinfo.svc.cluster.local");
  EXPECT_EQ(reviews.load_balancer, LoadBalancer::RoundRobin);
  ASSERT_EQ(reviews.ports.size(), 2U);
  EXPECT_EQ(reviews.ports[1].name, "port-9443");
  EXPECT_EQ(reviews.ports[1].target_port, 8443);
  ASSERT_EQ(reviews.endpoints.size(), 2U);
  EXPECT_TRUE(reviews.endpoints[0].mtls);
  EXPECT_FALSE(reviews.endpoints[1].mtls);
  EXPECT_EQ(reviews.endpoints[0].workload().workload, "reviews");
  EXPECT_EQ(reviews.endpoints[0].workload().principal,
            "spiffe://example.org/ns/bookinfo/sa/reviews");
  EXPECT_EQ(reviews.endpoints[1].workload().workload, "reviews-v2");
  EXPECT_EQ(reviews.endpoints[1].portFor(reviews.ports[0]), 9090);
  EXPECT_EQ(reviews.endpoints[0].portFor(reviews.ports[0]), 9080);
  EXPECT_EQ(config->services[1].load_balancer, LoadBalancer::LeastRequest);
}

// The endpoints of one workload share one copy of their labels and identity
// (EndpointWorkload); any difference, even in one label, makes its own.
TEST(MeshConfig, EndpointsOfOneWorkloadShareTheirLabelsAndIdentity) {
  auto config = parseConfig(R"(
services:
- name: a
  namespace: ns
  ports: [{port: 80, name: http}]
  endpoints:
  - {address: 10.0.0.1, serviceAccount: sa, labels: {app: a, version: v1}}
  - {address: 10.0.0.2, serviceAccount: sa, labels: {app: a, version: v1}}
  - {address: 10.0.0.3, serviceAccount: sa, labels: {app: a, version: v2}}
  - {address: 10.0.0.4, serviceAccount: other, labels: {app: a, version: v1}}
- name: b
  namespace: ns
  ports: [{port: 80, name: http}]
  endpoints:
  - {address: 10.0.1.1, serviceAccount: sa, labels: {app: a, version: v1}}
  - {address: 10.0.1.2, workload: a, serviceAccount: sa, labels: {app: a, version: v1}}
  - {address: 10.0.1.3, serviceAccount: sa, labels: {app: a, version: v1, x: "y"}}
)");
  ASSERT_TRUE(config) << config.error().message;
  const auto& a = config->services[0].endpoints;
  const auto& b = config->services[1].endpoints;
  EXPECT_EQ(a[0].meta, a[1].meta);
  EXPECT_NE(a[0].meta, a[2].meta);  // another version label
  EXPECT_NE(a[0].meta, a[3].meta);  // another service account
  EXPECT_EQ(a[0].meta, b[0].meta);  // across services too
  EXPECT_EQ(a[0].meta, b[1].meta);  // the workload name given is the one derived
  EXPECT_NE(a[0].meta, b[2].meta);  // one more label
  EXPECT_EQ(a[3].workload().principal, "spiffe://cluster.local/ns/ns/sa/other");
  EXPECT_EQ(b[2].labels().at("x"), "y");
  // An endpoint made without a config has the shared empty one, never null.
  Endpoint bare;
  ASSERT_NE(bare.meta, nullptr);
  EXPECT_TRUE(bare.labels().empty());
  EXPECT_TRUE(bare.workload().workload.empty());
}

TEST(MeshConfig, EmptyFileIsAllowAnyWithNoServices) {
  auto config = parseConfig("");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->mesh.outbound_policy, OutboundPolicy::AllowAny);
  EXPECT_TRUE(config->services.empty());
}

TEST(MeshConfig, RouteTimeoutIsOffUnlessSetAsInIstio) {
  auto defaults = parseConfig("");
  ASSERT_TRUE(defaults) << defaults.error().message;
  EXPECT_EQ(defaults->mesh.route_timeout, std::chrono::milliseconds::zero());
  auto off = parseConfig("mesh: {routeTimeout: 0s}\n");
  ASSERT_TRUE(off) << off.error().message;
  EXPECT_EQ(off->mesh.route_timeout, std::chrono::milliseconds::zero());
  auto set = parseConfig("mesh: {routeTimeout: 1500ms}\n");
  ASSERT_TRUE(set) << set.error().message;
  EXPECT_EQ(set->mesh.route_timeout, std::chrono::milliseconds(1500));
  // Zero stays an error where no "off" exists.
  EXPECT_FALSE(parseConfig("mesh: {connectTimeout: 0s}\n"));
}

TEST(MeshConfig, StreamIdleTimeoutIsFiveMinutesAsInEnvoyAndZeroTurnsItOff) {
  auto defaults = parseConfig("");
  ASSERT_TRUE(defaults) << defaults.error().message;
  EXPECT_EQ(defaults->mesh.stream_idle_timeout, std::chrono::minutes(5));
  for (const char* zero : {"0", "0s", "0ms"}) {
    auto off = parseConfig(std::string("mesh: {streamIdleTimeout: \"") + zero + "\"}\n");
    ASSERT_TRUE(off) << zero << ": " << off.error().message;
    EXPECT_EQ(off->mesh.stream_idle_timeout, std::chrono::milliseconds::zero()) << zero;
  }
  auto set = parseConfig("mesh: {streamIdleTimeout: 1m30s}\n");
  ASSERT_TRUE(set) << set.error().message;
  EXPECT_EQ(set->mesh.stream_idle_timeout, std::chrono::seconds(90));
}

TEST(MeshConfig, AccessLogFileIsStdoutUnlessEmptiedAsInIstio) {
  auto defaults = parseConfig("");
  ASSERT_TRUE(defaults) << defaults.error().message;
  EXPECT_EQ(defaults->mesh.access_log_file, "/dev/stdout");
  EXPECT_TRUE(defaults->mesh.accessLogOn());
  auto off = parseConfig("mesh: {accessLogFile: \"\"}\n");
  ASSERT_TRUE(off) << off.error().message;
  EXPECT_FALSE(off->mesh.accessLogOn());
  auto on = parseConfig("mesh: {accessLogFile: /dev/stdout}\n");
  ASSERT_TRUE(on) << on.error().message;
  EXPECT_TRUE(on->mesh.accessLogOn());
}

TEST(MeshConfig, IdentityFallsBackToTheEnvironmentDefaults) {
  IdentityDefaults d{
      .workload = "pod-1", .namespace_ = "ns", .service_account = "sa", .ip = "10.1.1.1"};
  auto config = parseConfig("proxy: {app: web}\n", d);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->proxy.workload.workload, "pod-1");
  EXPECT_EQ(config->proxy.workload.app, "web");
  EXPECT_EQ(config->proxy.ip, "10.1.1.1");
  EXPECT_EQ(config->proxy.workload.principal, "spiffe://cluster.local/ns/ns/sa/sa");
}

struct BadCase {
  const char* name;
  const char* yaml;
  const char* message;  // a substring of the error
};

class MeshConfigRejects : public ::testing::TestWithParam<BadCase> {};

TEST_P(MeshConfigRejects, WithAnErrorNamingTheField) {
  auto config = parseConfig(GetParam().yaml);
  ASSERT_FALSE(config) << GetParam().name;
  EXPECT_NE(config.error().message.find(GetParam().message), std::string::npos)
      << config.error().message;
}

const BadCase kBad[] = {
    {"not_yaml", "services: [", ""},
    {"top_level_list", "- a\n", "(top level): must be a map"},
    {"unknown_top", "servics: []\n", "servics: unknown field"},
    {"version_2", "version: 2\n", "version: only version 1"},
    {"unknown_mesh", "mesh: {trustdomain: x}\n", "mesh.trustdomain: unknown field"},
    {"bad_policy", "mesh: {outboundTrafficPolicy: {mode: ALLOW}}\n",
     "mesh.outboundTrafficPolicy.mode: \"ALLOW\" is not"},
    {"bad_duration", "mesh: {connectTimeout: 10}\n", "mesh.connectTimeout: must be a duration"},
    {"bad_unit", "mesh: {connectTimeout: 10x}\n", "expected a unit"},
    {"zero_duration", "mesh: {drainDuration: 0s}\n", "must be positive"},
    {"huge_duration", "mesh: {idleTimeout: 99999999999h}\n", "duration too large"},
    {"stream_idle_not_string", "mesh: {streamIdleTimeout: 300}\n",
     "mesh.streamIdleTimeout: must be a duration"},
    {"stream_idle_bad_unit", "mesh: {streamIdleTimeout: 5x}\n",
     "mesh.streamIdleTimeout: \"5x\": expected a unit"},
    {"stream_idle_negative", "mesh: {streamIdleTimeout: -1s}\n",
     "mesh.streamIdleTimeout: \"-1s\": expected a number"},
    {"stream_idle_too_long", "mesh: {streamIdleTimeout: 721h}\n", "longer than 30 days"},
    {"bad_trust_domain", "mesh: {trustDomain: \"a b\"}\n", "is not a DNS name"},
    {"bad_proxy_ip", "proxy: {ip: 10.0.0.256}\n", "proxy.ip: \"10.0.0.256\" is not an IP"},
    {"proxy_ip_zone", "proxy: {ip: \"fe80::1%eth0\"}\n", "is not an IP address"},
    {"services_map", "services: {a: 1}\n", "services: must be a list"},
    {"no_name", "services: [{ports: [{port: 80}]}]\n", "services[0].name: required"},
    {"bad_name", "services: [{name: Web, ports: [{port: 80}]}]\n", "\"Web\" is not a DNS label"},
    {"no_ports", "services: [{name: web}]\n", "services[0].ports: at least one port"},
    {"port_zero", "services: [{name: web, ports: [{port: 0}]}]\n",
     "services[0].ports[0].port: 0 is not a port"},
    {"port_big", "services: [{name: web, ports: [{port: 70000}]}]\n", "70000 is not a port"},
    {"port_string", "services: [{name: web, ports: [{port: \"80\"}]}]\n",
     "must be a port number, not a string"},
    {"bad_protocol", "services: [{name: web, ports: [{port: 80, protocol: HTTP2}]}]\n",
     "\"HTTP2\" is not one of"},
    {"dup_port", "services: [{name: web, ports: [{port: 80}, {port: 80, name: b}]}]\n",
     "80 used twice"},
    {"dup_port_name",
     "services: [{name: web, ports: [{port: 80, name: a}, {port: 81, name: a}]}]\n",
     "\"a\" used twice"},
    {"bad_vip", "services: [{name: web, addresses: [web], ports: [{port: 80}]}]\n",
     "services[0].addresses[0]: \"web\" is not an IP"},
    {"dup_service",
     "services: [{name: web, ports: [{port: 80}]}, {name: web, ports: [{port: 81}]}]\n",
     "defined twice"},
    {"vip_twice",
     "services: [{name: a, addresses: [10.0.0.1], ports: [{port: 80}]},"
     " {name: b, addresses: [10.0.0.1], ports: [{port: 80}]}]\n",
     "10.0.0.1:80 already belongs"},
    {"dup_named_in_file_order",
     "services: [{name: a, ports: [{port: 80}]}, {name: b, ports: [{port: 81}]},"
     " {name: b, ports: [{port: 82}]}, {name: a, ports: [{port: 83}]}]\n",
     "services[2].name: service default/b defined twice"},
    {"vip_named_in_file_order",
     "services: [{name: a, addresses: [10.0.0.2, 10.0.0.1], ports: [{port: 80}, {port: 81}]},"
     " {name: b, addresses: [10.0.0.1], ports: [{port: 81}]},"
     " {name: c, addresses: [10.0.0.2], ports: [{port: 80}]}]\n",
     "services[1]: 10.0.0.1:81 already belongs"},
    {"bad_lb", "services: [{name: web, loadBalancer: RANDOM, ports: [{port: 80}]}]\n",
     "\"RANDOM\" is not ROUND_ROBIN"},
    {"endpoint_no_address", "services: [{name: web, ports: [{port: 80}], endpoints: [{}]}]\n",
     "services[0].endpoints[0].address: required"},
    {"endpoint_unspecified",
     "services: [{name: web, ports: [{port: 80}], endpoints: [{address: 0.0.0.0}]}]\n",
     "0.0.0.0 and :: are not"},
    {"endpoint_unknown_port_name",
     "services: [{name: web, ports: [{port: 80}], endpoints: [{address: 10.0.0.1, ports: {http: "
     "81}}]}]\n",
     "endpoints[0].ports.http: names no port"},
    {"label_not_string",
     "services: [{name: web, ports: [{port: 80}], endpoints: [{address: 10.0.0.1, labels: "
     "{version: 1}}]}]\n",
     "label values are strings"},
    {"endpoint_unknown_field",
     "services: [{name: web, ports: [{port: 80}], endpoints: [{address: 10.0.0.1, weight: 3}]}]\n",
     "endpoints[0].weight: unknown field"},
    {"bad_root_namespace", "mesh: {rootNamespace: Istio_System}\n", "mesh.rootNamespace"},
    {"access_log_to_a_file", "mesh: {accessLogFile: /var/log/access.log}\n",
     "mesh.accessLogFile: \"/var/log/access.log\" is not supported"},
    {"access_log_not_string", "mesh: {accessLogFile: [a]}\n", "mesh.accessLogFile"},
    {"proxy_labels_not_map", "proxy: {labels: [a]}\n", "proxy.labels: must be a map"},
    {"proxy_label_not_string", "proxy: {labels: {version: 2}}\n", "proxy.labels.version"},
    {"policies_not_list", "policies: {a: 1}\n", "policies: must be a list"},
    {"policy_bad_port",
     "policies:\n- apiVersion: security.istio.io/v1\n  kind: AuthorizationPolicy\n"
     "  metadata: {name: p}\n  spec: {rules: [{}, {to: [{operation: {ports: [\"0\"]}}]}]}\n",
     "policies[0].spec.rules[1].to[0].operation.ports[0]: 0 is not a port"},
    {"policy_unknown_kind",
     "policies:\n- {apiVersion: security.istio.io/v1, kind: PeerAuthentication, metadata: "
     "{name: a}, spec: {mtls: {mode: STRICT}}}\n- {apiVersion: security.istio.io/v1, kind: "
     "RequestAuthentication, metadata: {name: a}}\n",
     "policies[1].kind"},
};

INSTANTIATE_TEST_SUITE_P(All, MeshConfigRejects, ::testing::ValuesIn(kBad),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

asio::ip::address ip(const char* s) { return asio::ip::make_address(s); }

TEST(MeshSnapshot, OutboundFindsVipsThenEndpointAddresses) {
  auto config = parseConfig(kExample);
  ASSERT_TRUE(config);
  auto snap = Snapshot::build(std::move(*config), 7);
  EXPECT_EQ(snap->generation(), 7U);
  auto r = snap->outbound(ip("10.96.0.10"), 9080);
  ASSERT_NE(r.service, nullptr);
  EXPECT_EQ(r.service->name, "reviews");
  EXPECT_EQ(r.port->protocol, Protocol::Http);
  EXPECT_EQ(snap->outbound(ip("fd00::10"), 9443).port->protocol, Protocol::Tls);
  // The VIP on a port the service does not have: nothing.
  EXPECT_EQ(snap->outbound(ip("10.96.0.10"), 80).service, nullptr);
  // A pod IP on its target port (headless): found; on the override port too.
  EXPECT_EQ(snap->outbound(ip("10.0.1.4"), 9080).service->name, "reviews");
  EXPECT_EQ(snap->outbound(ip("10.0.1.5"), 9090).service->name, "reviews");
  EXPECT_EQ(snap->outbound(ip("10.0.1.5"), 9080).service, nullptr);
  EXPECT_EQ(snap->outbound(ip("192.0.2.1"), 9080).service, nullptr);
}

TEST(MeshSnapshot, InboundFindsTheServiceThisPodServes) {
  auto config = parseConfig(kExample);
  ASSERT_TRUE(config);
  auto snap = Snapshot::build(std::move(*config));
  auto r = snap->inbound(9080);
  ASSERT_NE(r.service, nullptr);
  EXPECT_EQ(r.service->name, "productpage");
  EXPECT_EQ(snap->inbound(9090).service, nullptr);
}

TEST(PodLabels, DownwardApiFileReadsAsKubeletWritesIt) {
  auto labels = parsePodLabels(
      "app=\"web\"\nsecurity.istio.io/tlsMode=\"istio\"\nnote=\"a \\\"q\\\" \\\\ \\x41\\n\"\n\n");
  ASSERT_TRUE(labels) << labels.error().message;
  EXPECT_EQ(labels->size(), 3U);
  EXPECT_EQ(labels->at("app"), "web");
  EXPECT_EQ(labels->at("security.istio.io/tlsMode"), "istio");
  EXPECT_EQ(labels->at("note"), "a \"q\" \\ A\n");
}

TEST(PodLabels, HostileLinesAreErrorsThatNameTheLine) {
  for (const char* text : {"app=web\n", "=\"x\"\n", "noequals\n", "a=\"x\n", "a=\"x\\\"\n",
                           "a=\"\\q\"\n", "a=\"\\x4\"\n", "a=\"\\xzz\"\n", "a=\"x\"y\"\n"}) {
    auto labels = parsePodLabels(text);
    EXPECT_FALSE(labels) << text;
    if (!labels) {
      EXPECT_NE(labels.error().message.find("line 1"), std::string::npos) << text;
    }
  }
  EXPECT_FALSE(parsePodLabels(std::string(70 * 1024, 'a')));
}

TEST(PodLabels, LabelsFromTheDownwardApiSelectPoliciesUnlessTheConfigGivesItsOwn) {
  auto dir = std::filesystem::temp_directory_path() / "remora-pod-labels-test";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "labels") << "app=\"web\"\nversion=\"v2\"\n";
  IdentityDefaults defaults = IdentityDefaults::fromEnvironment((dir / "labels").string());
  EXPECT_EQ(defaults.labels.at("app"), "web");
  auto config = parseConfig(R"(
proxy: {namespace: shop}
policies:
- apiVersion: security.istio.io/v1
  kind: PeerAuthentication
  metadata: {name: web}
  spec: {selector: {matchLabels: {app: web}}, mtls: {mode: STRICT}}
)",
                            defaults);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->proxy.labels.at("version"), "v2");
  EXPECT_EQ(Snapshot::build(std::move(*config))->security().mtlsMode(80),
            security::MtlsMode::Strict);
  auto own = parseConfig("proxy: {labels: {app: db}}\n", defaults);
  ASSERT_TRUE(own) << own.error().message;
  EXPECT_EQ(own->proxy.labels, (std::map<std::string, std::string>{{"app", "db"}}));
  // No file: no labels, no error.
  EXPECT_TRUE(IdentityDefaults::fromEnvironment((dir / "absent").string()).labels.empty());
  std::filesystem::remove_all(dir);
}

TEST(MeshSnapshot, SecurityPoliciesApplyToThisProxysWorkload) {
  auto config = parseConfig(R"(
mesh: {rootNamespace: mesh-root}
proxy:
  namespace: shop
  labels: {app: web, version: v1}
policies:
- apiVersion: security.istio.io/v1
  kind: PeerAuthentication
  metadata: {name: default, namespace: mesh-root}
  spec: {mtls: {mode: STRICT}}
- apiVersion: security.istio.io/v1
  kind: PeerAuthentication
  metadata: {name: web}
  spec:
    selector: {matchLabels: {app: web}}
    portLevelMtls: {"9090": {mode: PERMISSIVE}}
- apiVersion: security.istio.io/v1
  kind: AuthorizationPolicy
  metadata: {name: no-admin}
  spec:
    action: DENY
    rules: [{to: [{operation: {paths: ["/admin*"]}}]}]
- apiVersion: security.istio.io/v1
  kind: AuthorizationPolicy
  metadata: {name: db-only, namespace: shop}
  spec: {selector: {matchLabels: {app: db}}}
)");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->mesh.root_namespace, "mesh-root");
  EXPECT_EQ(config->proxy.labels.at("app"), "web");
  ASSERT_EQ(config->policies.authorization_policies.size(), 2U);
  // An object without a namespace is in the proxy's.
  EXPECT_EQ(config->policies.authorization_policies[0].namespace_, "shop");
  auto snap = Snapshot::build(std::move(*config));
  const security::WorkloadPolicy& sec = snap->security();
  EXPECT_EQ(sec.mtlsMode(8080), security::MtlsMode::Strict);
  EXPECT_EQ(sec.mtlsMode(9090), security::MtlsMode::Permissive);
  EXPECT_EQ(sec.appliedPolicyNames(), std::vector<std::string>{"shop.no-admin"});
  security::RequestAttributes req;
  req.http = true;
  req.method = "GET";
  req.path = "/%61dmin/x";
  security::Decision d = sec.authorize(req);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.policy, "shop.no-admin");
  req.path = "/index.html";
  EXPECT_TRUE(sec.authorize(req).allowed);
}

TEST(MeshSnapshot, NoPoliciesIsPermissiveWithoutAuthorization) {
  auto config = parseConfig(kExample);
  ASSERT_TRUE(config);
  auto snap = Snapshot::build(std::move(*config));
  EXPECT_EQ(snap->mesh().root_namespace, "istio-system");
  EXPECT_EQ(snap->security().mtlsMode(9080), security::MtlsMode::Permissive);
  EXPECT_FALSE(snap->security().hasAuthorization());
}

TEST(MeshDuration, GoStyle) {
  EXPECT_EQ(*parseDuration("1h2m3s4ms"), std::chrono::milliseconds(3'723'004));
  EXPECT_FALSE(parseDuration(""));
  EXPECT_FALSE(parseDuration("s"));
  EXPECT_FALSE(parseDuration("-1s"));
  EXPECT_FALSE(parseDuration("1.5s"));
  EXPECT_FALSE(parseDuration("31d"));
}

}  // namespace
}  // namespace remora::mesh

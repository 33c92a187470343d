// What the admin endpoint shows of a snapshot: Envoy's /config_dump and
// /clusters shapes, filled from the config (proxy/config_dump.h).
#include "proxy/config_dump.h"

#include <gtest/gtest.h>

#include "core/json.h"

namespace remora::proxy {
namespace {

constexpr const char* kConfig = R"(
mesh:
  trustDomain: example.org
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
  connectTimeout: 250ms
  idleTimeout: 1m
proxy:
  workload: productpage-v1
  namespace: shop
  app: productpage
  serviceAccount: productpage
  ip: 10.0.0.5
  labels: {app: productpage, version: v1}
services:
- name: reviews
  namespace: shop
  addresses: [10.96.0.10]
  ports:
  - {name: http, port: 9080, protocol: HTTP}
  - {name: grpc, port: 9090, targetPort: 19090, protocol: TCP}
  endpoints:
  - address: 10.0.1.4
    workload: reviews-v1
    labels: {app: reviews, version: v1, security.istio.io/tlsMode: istio,
             topology.kubernetes.io/region: eu, topology.kubernetes.io/zone: eu-1a}
  - address: fd00::7
    ports: {http: 9081}
- name: productpage
  namespace: shop
  loadBalancer: ROUND_ROBIN
  ports: [{name: http, port: 80, targetPort: 9080, protocol: HTTP}]
  endpoints: [{address: 10.0.0.5}]
)";

mesh::SnapshotPtr snapshotOf(const char* yaml, std::uint64_t generation = 0) {
  auto config = mesh::parseConfig(yaml);
  EXPECT_TRUE(config.has_value()) << config.error().message;
  return mesh::Snapshot::build(std::move(*config), generation);
}

Json dumpOf(const mesh::Snapshot& snapshot, bool include_eds = false, DumpContext context = {}) {
  auto parsed = parseJson(configDump(snapshot, context, include_eds));
  EXPECT_TRUE(parsed.has_value());
  return parsed.has_value() ? *parsed : Json();
}

const Json& clusterNamed(const Json& dump, std::string_view name) {
  for (const Json& c : dump["configs"][2]["dynamic_active_clusters"]) {
    if (c["cluster"]["name"] == name) return c["cluster"];
  }
  ADD_FAILURE() << "no cluster " << name;
  static const Json none;
  return none;
}

TEST(ConfigDump, EnvoysFourKindsInItsOrderWithTheGenerationAsVersion) {
  auto snap = snapshotOf(kConfig, 7);
  Json dump = dumpOf(*snap, true);
  ASSERT_EQ(dump["configs"].size(), 4u);
  EXPECT_EQ(dump["configs"][0]["@type"], "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump");
  EXPECT_EQ(dump["configs"][1]["@type"], "type.googleapis.com/envoy.admin.v3.ListenersConfigDump");
  EXPECT_EQ(dump["configs"][2]["@type"], "type.googleapis.com/envoy.admin.v3.ClustersConfigDump");
  EXPECT_EQ(dump["configs"][3]["@type"], "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump");
  EXPECT_EQ(dump["configs"][1]["version_info"], "7");
  EXPECT_EQ(dump["configs"][2]["version_info"], "7");
  // Without include_eds, as Envoy: no endpoints.
  EXPECT_EQ(dumpOf(*snap)["configs"].size(), 3u);
}

TEST(ConfigDump, TheNodeIsThePodAsIstioNamesIt) {
  auto snap = snapshotOf(kConfig);
  Json dump = dumpOf(*snap);
  const Json& node = dump["configs"][0]["bootstrap"]["node"];
  EXPECT_EQ(node["id"], "sidecar~10.0.0.5~productpage-v1.shop~shop.svc.cluster.local");
  EXPECT_EQ(node["cluster"], "productpage.shop");
  EXPECT_EQ(node["metadata"]["NAMESPACE"], "shop");
  EXPECT_EQ(node["metadata"]["SERVICE_ACCOUNT"], "productpage");
  EXPECT_EQ(node["metadata"]["INSTANCE_IPS"], "10.0.0.5");
  EXPECT_EQ(node["metadata"]["MESH_ID"], "example.org");
  EXPECT_EQ(node["metadata"]["LABELS"]["version"], "v1");
  DumpContext context;
  context.domain = "shop.svc.corp.local";
  EXPECT_EQ(dumpOf(*snap, false, context)["configs"][0]["bootstrap"]["node"]["id"],
            "sidecar~10.0.0.5~productpage-v1.shop~shop.svc.corp.local");
}

TEST(ConfigDump, TheCaptureListenersAndWhereUnknownDestinationsGo) {
  auto snap = snapshotOf(kConfig);
  DumpContext context;
  context.outbound_port = 25001;
  Json dump = dumpOf(*snap, false, context);
  const Json& listeners = dump["configs"][1]["dynamic_listeners"];
  ASSERT_EQ(listeners.size(), 2u);
  const Json& out = listeners[0]["active_state"]["listener"];
  EXPECT_EQ(out["name"], "virtualOutbound");
  EXPECT_EQ(out["address"]["socket_address"]["port_value"], 25001);
  EXPECT_EQ(out["use_original_dst"], true);
  EXPECT_EQ(out["traffic_direction"], "OUTBOUND");
  EXPECT_EQ(out["default_filter_chain"]["filters"][0]["typed_config"]["cluster"],
            "BlackHoleCluster");  // REGISTRY_ONLY
  EXPECT_EQ(listeners[1]["active_state"]["listener"]["address"]["socket_address"]["port_value"],
            15006);

  auto open = snapshotOf("services: []\n");
  EXPECT_EQ(dumpOf(*open)["configs"][1]["dynamic_listeners"][0]["active_state"]["listener"]
                         ["default_filter_chain"]["filters"][0]["typed_config"]["cluster"],
            "PassthroughCluster");  // ALLOW_ANY
}

TEST(ConfigDump, ClustersPerServicePortInboundPortsAndTheTwoStaticOnes) {
  auto snap = snapshotOf(kConfig);
  Json dump = dumpOf(*snap);
  std::vector<std::string> names;
  for (const Json& c : dump["configs"][2]["dynamic_active_clusters"]) {
    names.push_back(c["cluster"]["name"]);
  }
  EXPECT_EQ(names, (std::vector<std::string>{
                       "outbound|9080||reviews.shop.svc.cluster.local",
                       "outbound|9090||reviews.shop.svc.cluster.local",
                       "outbound|80||productpage.shop.svc.cluster.local",
                       "inbound|9080||",  // this pod (10.0.0.5) serves productpage on 9080
                       "PassthroughCluster", "BlackHoleCluster"}));

  const Json& reviews = clusterNamed(dump, "outbound|9080||reviews.shop.svc.cluster.local");
  EXPECT_EQ(reviews["type"], "EDS");
  EXPECT_EQ(reviews["lb_policy"], "LEAST_REQUEST");
  EXPECT_EQ(reviews["connect_timeout"], "0.250s");
  EXPECT_EQ(reviews["common_http_protocol_options"]["idle_timeout"], "60s");
  EXPECT_EQ(reviews["eds_cluster_config"]["service_name"],
            "outbound|9080||reviews.shop.svc.cluster.local");
  EXPECT_EQ(reviews["metadata"]["filter_metadata"]["istio"]["services"][0]["host"],
            "reviews.shop.svc.cluster.local");
  EXPECT_EQ(reviews["metadata"]["filter_metadata"]["istio"]["default_original_port"], 9080);
  EXPECT_EQ(reviews["transport_socket_matches"][0]["match"]["tlsMode"], "istio");
  EXPECT_EQ(reviews["transport_socket_matches"][0]["transport_socket"]["typed_config"]
                   ["common_tls_context"]["alpn_protocols"][0],
            "istio-http/1.1");
  EXPECT_EQ(clusterNamed(dump, "outbound|9090||reviews.shop.svc.cluster.local")
                ["transport_socket_matches"][0]["transport_socket"]["typed_config"]
                ["common_tls_context"]["alpn_protocols"][0],
            "istio-peer-exchange");
  EXPECT_EQ(clusterNamed(dump, "outbound|80||productpage.shop.svc.cluster.local")["lb_policy"],
            "ROUND_ROBIN");
  const Json& inbound = clusterNamed(dump, "inbound|9080||");
  EXPECT_EQ(inbound["type"], "ORIGINAL_DST");
  EXPECT_EQ(inbound["upstream_bind_config"]["source_address"]["address"], "127.0.0.6");
  EXPECT_EQ(clusterNamed(dump, "PassthroughCluster")["type"], "ORIGINAL_DST");
  EXPECT_EQ(clusterNamed(dump, "BlackHoleCluster")["type"], "STATIC");
}

TEST(ConfigDump, EndpointsWithTheirPortsAndMtlsMatch) {
  auto snap = snapshotOf(kConfig);
  Json dump = dumpOf(*snap, true);
  const Json& eds = dump["configs"][3]["dynamic_endpoint_configs"];
  ASSERT_EQ(eds.size(), 3u);  // the EDS clusters only
  const Json& reviews = eds[0]["endpoint_config"];
  EXPECT_EQ(reviews["cluster_name"], "outbound|9080||reviews.shop.svc.cluster.local");
  const Json& hosts = reviews["endpoints"][0]["lb_endpoints"];
  ASSERT_EQ(hosts.size(), 2u);
  EXPECT_EQ(hosts[0]["endpoint"]["address"]["socket_address"]["address"], "10.0.1.4");
  EXPECT_EQ(hosts[0]["endpoint"]["address"]["socket_address"]["port_value"], 9080);
  EXPECT_EQ(hosts[0]["metadata"]["filter_metadata"]["envoy.transport_socket_match"]["tlsMode"],
            "istio");
  EXPECT_EQ(hosts[0]["metadata"]["filter_metadata"]["istio"]["workload"],
            "reviews-v1;shop;reviews;v1");
  EXPECT_EQ(hosts[0]["health_status"], "HEALTHY");
  // The endpoint's own port for the named port; no tlsMode, no match.
  EXPECT_EQ(hosts[1]["endpoint"]["address"]["socket_address"]["address"], "fd00::7");
  EXPECT_EQ(hosts[1]["endpoint"]["address"]["socket_address"]["port_value"], 9081);
  EXPECT_FALSE(hosts[1]["metadata"]["filter_metadata"].contains("envoy.transport_socket_match"));
  // targetPort applies where the endpoint does not override it.
  EXPECT_EQ(eds[1]["endpoint_config"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
               ["socket_address"]["port_value"],
            19090);
}

TEST(ConfigDump, AServiceWithoutEndpointsHasNone) {
  auto snap = snapshotOf("services: [{name: empty, ports: [{name: http, port: 80}]}]\n");
  Json dump = dumpOf(*snap, true);
  EXPECT_TRUE(
      dump["configs"][3]["dynamic_endpoint_configs"][0]["endpoint_config"]["endpoints"].empty());
  EXPECT_EQ(clustersText(*snap),
            "outbound|80||empty.default.svc.cluster.local::observability_name::"
            "outbound|80||empty.default.svc.cluster.local\n"
            "outbound|80||empty.default.svc.cluster.local::added_via_api::true\n"
            "PassthroughCluster::observability_name::PassthroughCluster\n"
            "PassthroughCluster::added_via_api::true\n"
            "BlackHoleCluster::observability_name::BlackHoleCluster\n"
            "BlackHoleCluster::added_via_api::true\n");
}

TEST(Clusters, EnvoysTextLinesPerHost) {
  auto snap = snapshotOf(kConfig);
  std::string text = clustersText(*snap);
  const std::string host = "outbound|9080||reviews.shop.svc.cluster.local::10.0.1.4:9080::";
  for (const char* field :
       {"hostname::\n", "health_flags::healthy\n", "weight::1\n", "region::eu\n", "zone::eu-1a\n",
        "sub_zone::\n", "canary::false\n", "priority::0\n"}) {
    EXPECT_NE(text.find(host + field), std::string::npos) << field << "\n" << text;
  }
  // IPv6 hosts in brackets, on their own port.
  EXPECT_NE(text.find("outbound|9080||reviews.shop.svc.cluster.local::[fd00::7]:9081::"
                      "health_flags::healthy\n"),
            std::string::npos)
      << text;
  // No counters Remora does not keep.
  EXPECT_EQ(text.find("::rq_total::"), std::string::npos);
  EXPECT_EQ(text.find("::cx_active::"), std::string::npos);
}

TEST(Clusters, JsonStatuses) {
  auto snap = snapshotOf(kConfig);
  auto parsed = parseJson(clustersJson(*snap));
  ASSERT_TRUE(parsed.has_value());
  const Json& first = (*parsed)["cluster_statuses"][0];
  EXPECT_EQ(first["name"], "outbound|9080||reviews.shop.svc.cluster.local");
  EXPECT_EQ(first["host_statuses"].size(), 2u);
  EXPECT_EQ(first["host_statuses"][0]["locality"]["zone"], "eu-1a");
  EXPECT_EQ(first["host_statuses"][0]["health_status"]["eds_health_status"], "HEALTHY");
  EXPECT_EQ(first["host_statuses"][1]["address"]["socket_address"]["address"], "fd00::7");
  EXPECT_FALSE((*parsed)["cluster_statuses"].back().contains("host_statuses"));
}

TEST(ConfigDump, NamesAndLabelsAreEscapedNotTrusted) {
  // Label values are any string the config allows: quotes, backslashes,
  // control characters and invalid UTF-8 must still give valid JSON.
  auto config = mesh::parseConfig(kConfig);
  ASSERT_TRUE(config.has_value());
  config->proxy.labels["evil"] = std::string("a\"b\\c\n\x01\xff", 9);
  auto snap = mesh::Snapshot::build(std::move(*config));
  auto parsed = parseJson(configDump(*snap, {}, true));
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ((*parsed)["configs"][0]["bootstrap"]["node"]["metadata"]["LABELS"]["evil"]
                .get<std::string>()
                .substr(0, 7),
            "a\"b\\c\n\x01");
}

TEST(ConfigDump, Durations) {
  EXPECT_EQ(durationJson(std::chrono::milliseconds(10'000)), "10s");
  EXPECT_EQ(durationJson(std::chrono::milliseconds(250)), "0.250s");
  EXPECT_EQ(durationJson(std::chrono::milliseconds(1'005)), "1.005s");
  EXPECT_EQ(durationJson(std::chrono::milliseconds(0)), "0s");
}

}  // namespace
}  // namespace remora::proxy

#include "proxy/config_dump.h"

#include <optional>
#include <set>
#include <vector>

#include <fmt/format.h>

#include "core/json.h"
#include "proxy/route.h"

namespace remora::proxy {
namespace {

constexpr std::string_view kTypePrefix = "type.googleapis.com/envoy.admin.v3.";
constexpr std::uint32_t kDefaultWeight = 1;

// One upstream cluster as Remora routes to it.
struct ClusterView {
  enum class Type : std::uint8_t { Eds, OriginalDst, Static };
  std::string name;
  Type type = Type::Eds;
  const mesh::Service* service = nullptr;  // Eds, and Inbound when known
  const mesh::ServicePort* port = nullptr;
};

std::string_view typeName(ClusterView::Type t) {
  switch (t) {
    case ClusterView::Type::Eds: return "EDS";
    case ClusterView::Type::OriginalDst: return "ORIGINAL_DST";
    case ClusterView::Type::Static: return "STATIC";
  }
  return "STATIC";
}

// Every cluster of the snapshot, in the order a reader looks for them: the
// services' outbound clusters (the config's order), the inbound clusters of
// the ports this pod serves, then the passthrough and black hole.
std::vector<ClusterView> clustersOf(const mesh::Snapshot& snapshot) {
  std::vector<ClusterView> out;
  for (const mesh::Service& svc : snapshot.config().services) {
    for (const mesh::ServicePort& sp : svc.ports) {
      out.push_back(
          {outboundClusterName(sp.port, svc.hostname), ClusterView::Type::Eds, &svc, &sp});
    }
  }
  std::error_code ec;
  const std::string& ip = snapshot.proxy().ip;
  asio::ip::address self = asio::ip::make_address(ip, ec);
  if (!ip.empty() && !ec) {
    std::set<std::uint16_t> seen;
    for (const mesh::Service& svc : snapshot.config().services) {
      for (const mesh::Endpoint& ep : svc.endpoints) {
        if (ep.address != self) continue;
        for (const mesh::ServicePort& sp : svc.ports) {
          std::uint16_t port = ep.portFor(sp);
          // The first service to claim a port routes it, as Snapshot::inbound().
          if (!seen.insert(port).second) continue;
          out.push_back({inboundClusterName(port), ClusterView::Type::OriginalDst, &svc, &sp});
        }
      }
    }
  }
  out.push_back({"PassthroughCluster", ClusterView::Type::OriginalDst, nullptr, nullptr});
  out.push_back({"BlackHoleCluster", ClusterView::Type::Static, nullptr, nullptr});
  return out;
}

Json socketAddress(std::string_view address, std::uint16_t port) {
  return Json{{"socket_address", {{"address", address}, {"port_value", port}}}};
}

std::string labelOr(const mesh::Endpoint& ep, const char* key) {
  auto it = ep.labels().find(key);
  return it == ep.labels().end() ? std::string() : it->second;
}

// Envoy's locality fields and the endpoint labels Istio fills them from.
constexpr std::pair<const char*, const char*> kLocalityLabels[] = {
    {"region", "topology.kubernetes.io/region"},
    {"zone", "topology.kubernetes.io/zone"},
    {"sub_zone", "topology.istio.io/subzone"}};

Json locality(const mesh::Endpoint& ep) {
  Json out = Json::object();
  for (auto [field, label] : kLocalityLabels) {
    if (std::string v = labelOr(ep, label); !v.empty()) out[field] = v;
  }
  return out;
}

// Istio's filter_metadata.istio.services on a service's clusters.
Json istioMetadata(const mesh::Service& svc, const mesh::ServicePort& sp) {
  return Json{{"filter_metadata",
               {{"istio",
                 {{"services", Json::array({{{"host", svc.hostname},
                                             {"name", svc.name},
                                             {"namespace", svc.namespace_}}})},
                  {"default_original_port", sp.port}}}}}};
}

Json clusterJson(const ClusterView& c, const mesh::Snapshot& snapshot) {
  const mesh::MeshSettings& mesh = snapshot.mesh();
  Json cluster{{"name", c.name}, {"type", typeName(c.type)}};
  cluster["connect_timeout"] = durationJson(mesh.connect_timeout);
  switch (c.type) {
    case ClusterView::Type::Eds: {
      cluster["eds_cluster_config"] = {{"eds_config", {{"ads", Json::object()}}},
                                       {"service_name", c.name}};
      cluster["lb_policy"] = c.service->load_balancer == mesh::LoadBalancer::RoundRobin
                                 ? "ROUND_ROBIN"
                                 : "LEAST_REQUEST";
      cluster["common_http_protocol_options"] = {{"idle_timeout", durationJson(mesh.idle_timeout)}};
      cluster["metadata"] = istioMetadata(*c.service, *c.port);
      // Auto mTLS: endpoints labelled tlsMode=istio are called over Istio's
      // mTLS with its ALPN, the others in plaintext.
      cluster["transport_socket_matches"] = Json::array(
          {{{"name", "tlsMode-istio"},
            {"match", {{"tlsMode", "istio"}}},
            {"transport_socket",
             {{"name", "envoy.transport_sockets.tls"},
              {"typed_config",
               {{"@type",
                 "type.googleapis.com/"
                 "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"},
                {"common_tls_context",
                 {{"alpn_protocols", c.port->protocol == mesh::Protocol::Http
                                         ? Json::array({"istio-http/1.1", "istio"})
                                         : Json::array({"istio-peer-exchange", "istio"})}}}}}}}},
           {{"name", "tlsMode-disabled"},
            {"match", Json::object()},
            {"transport_socket", {{"name", "envoy.transport_sockets.raw_buffer"}}}}});
      break;
    }
    case ClusterView::Type::OriginalDst:
      cluster["lb_policy"] = "CLUSTER_PROVIDED";
      if (c.service != nullptr) {
        // The app is called from Istio's inbound passthrough source.
        cluster["upstream_bind_config"] = {
            {"source_address", {{"address", "127.0.0.6"}, {"port_value", 0}}}};
        cluster["metadata"] = istioMetadata(*c.service, *c.port);
      }
      break;
    case ClusterView::Type::Static: break;  // no endpoints: every connection refused
  }
  return cluster;
}

Json listenerJson(std::string_view name, std::uint16_t port, std::string_view direction,
                  std::string_view version) {
  Json listener{{"name", name},
                {"address", socketAddress("0.0.0.0", port)},
                {"use_original_dst", true},
                {"traffic_direction", direction}};
  return Json{{"name", name},
              {"active_state", {{"version_info", version}, {"listener", std::move(listener)}}}};
}

Json nodeJson(const mesh::Snapshot& snapshot, const DumpContext& context) {
  const mesh::ProxyIdentity& proxy = snapshot.proxy();
  const mesh::WorkloadInfo& w = proxy.workload;
  std::string domain =
      context.domain.empty() ? fmt::format("{}.svc.cluster.local", w.namespace_) : context.domain;
  Json labels = Json::object();
  for (const auto& [k, v] : proxy.labels) labels[k] = v;
  Json metadata{{"NAMESPACE", w.namespace_},
                {"WORKLOAD_NAME", w.workload},
                {"SERVICE_ACCOUNT", w.service_account},
                {"INSTANCE_IPS", proxy.ip},
                {"MESH_ID", snapshot.mesh().trust_domain},
                {"LABELS", std::move(labels)}};
  return Json{
      {"id", fmt::format("sidecar~{}~{}.{}~{}", proxy.ip, w.workload, w.namespace_, domain)},
      {"cluster", fmt::format("{}.{}", w.app.empty() ? w.workload : w.app, w.namespace_)},
      {"metadata", std::move(metadata)}};
}

// The hosts of an EDS cluster, with the port each is dialled on.
template <typename Fn>
void forEachHost(const ClusterView& c, Fn&& fn) {
  if (c.type != ClusterView::Type::Eds) return;
  for (const mesh::Endpoint& ep : c.service->endpoints) fn(ep, ep.portFor(*c.port));
}

std::string hostKey(const mesh::Endpoint& ep, std::uint16_t port) {
  return ep.address.is_v6() ? fmt::format("[{}]:{}", ep.address.to_string(), port)
                            : fmt::format("{}:{}", ep.address.to_string(), port);
}

Json endpointConfigJson(const ClusterView& c) {
  Json lb_endpoints = Json::array();
  forEachHost(c, [&](const mesh::Endpoint& ep, std::uint16_t port) {
    Json istio = Json::object();
    if (!ep.workload().workload.empty()) {
      istio["workload"] =
          fmt::format("{};{};{};{}", ep.workload().workload, ep.workload().namespace_,
                      ep.workload().app, ep.workload().version);
    }
    Json filter{{"istio", std::move(istio)}};
    if (ep.mtls) filter["envoy.transport_socket_match"] = {{"tlsMode", "istio"}};
    lb_endpoints.push_back(
        {{"endpoint", {{"address", socketAddress(ep.address.to_string(), port)}}},
         {"health_status", "HEALTHY"},
         {"metadata", {{"filter_metadata", std::move(filter)}}},
         {"load_balancing_weight", kDefaultWeight}});
  });
  Json endpoints = Json::array();
  if (!lb_endpoints.empty()) endpoints.push_back({{"lb_endpoints", std::move(lb_endpoints)}});
  return Json{{"cluster_name", c.name}, {"endpoints", std::move(endpoints)}};
}

// `value` pretty-printed (two spaces a level) as it prints `depth` levels
// down in an enclosing document: every line, the first included, indented
// by `depth` levels.
void appendIndented(std::string& out, const Json& value, int depth) {
  const std::string pad(static_cast<std::size_t>(depth) * 2, ' ');
  std::string text = dumpJson(value, 2);
  out += pad;
  for (char ch : text) {
    out += ch;
    if (ch == '\n') out += pad;
  }
}

// A JSON array whose "[" the caller has written, `depth` levels down: what
// `make` gives for each view (nullopt: nothing), serialised one entry at a
// time, so that only one entry's tree is ever built, then the "]".
template <typename Make>
void appendArray(std::string& out, const std::vector<ClusterView>& views, int depth, Make&& make) {
  bool first = true;
  for (const ClusterView& c : views) {
    std::optional<Json> made = make(c);
    if (!made) continue;
    out += first ? "\n" : ",\n";
    first = false;
    appendIndented(out, *made, depth + 1);
  }
  if (!first) out += "\n" + std::string(static_cast<std::size_t>(depth) * 2, ' ');
  out += ']';
}

// An object of the "configs" list, two levels down: `head`'s fields, then
// the array `key` of what `make` gives for each view.
template <typename Make>
void appendEntries(std::string& out, const Json& head, std::string_view key,
                   const std::vector<ClusterView>& views, Make&& make) {
  out += "    {\n";
  for (const auto& [field, value] : head.items()) {
    fmt::format_to(std::back_inserter(out), "      {}: {},\n", dumpJson(Json(field)),
                   dumpJson(value));
  }
  fmt::format_to(std::back_inserter(out), "      {}: [", dumpJson(Json(std::string(key))));
  appendArray(out, views, 3, make);
  out += "\n    }";
}

}  // namespace

std::string durationJson(std::chrono::milliseconds d) {
  auto ms = d.count();
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}.{:03}s", ms / 1000, ms % 1000);
}

std::string configDump(const mesh::Snapshot& snapshot, const DumpContext& context,
                       bool include_eds) {
  const std::string version = std::to_string(snapshot.generation());
  auto type = [](std::string_view what) { return fmt::format("{}{}", kTypePrefix, what); };

  Json bootstrap{{"@type", type("BootstrapConfigDump")},
                 {"bootstrap",
                  {{"node", nodeJson(snapshot, context)},
                   {"admin", {{"address", socketAddress("127.0.0.1", context.admin_port)}}}}}};

  Json outbound = listenerJson("virtualOutbound", context.outbound_port, "OUTBOUND", version);
  // What a destination outside the registry gets: Istio's ALLOW_ANY and
  // REGISTRY_ONLY are this default chain's cluster.
  std::string_view fallback = snapshot.mesh().outbound_policy == mesh::OutboundPolicy::RegistryOnly
                                  ? "BlackHoleCluster"
                                  : "PassthroughCluster";
  outbound["active_state"]["listener"]["default_filter_chain"] = {
      {"filters",
       Json::array(
           {{{"name", "envoy.filters.network.tcp_proxy"},
             {"typed_config",
              {{"@type",
                "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"},
               {"stat_prefix", fallback},
               {"cluster", fallback}}}}})}};
  Json listeners{
      {"@type", type("ListenersConfigDump")},
      {"version_info", version},
      {"dynamic_listeners",
       Json::array({std::move(outbound),
                    listenerJson("virtualInbound", context.inbound_port, "INBOUND", version)})}};

  // The clusters and endpoints go out one at a time: a mesh of 1,000
  // services of 10 endpoints is 10 MB of JSON, whose tree would take five
  // times that on the admin thread's heap.
  std::vector<ClusterView> views = clustersOf(snapshot);
  std::string out = "{\n  \"configs\": [\n";
  appendIndented(out, bootstrap, 2);
  out += ",\n";
  appendIndented(out, listeners, 2);
  out += ",\n";
  appendEntries(out, Json{{"@type", type("ClustersConfigDump")}, {"version_info", version}},
                "dynamic_active_clusters", views, [&](const ClusterView& c) -> std::optional<Json> {
                  return Json{{"version_info", version}, {"cluster", clusterJson(c, snapshot)}};
                });
  if (include_eds) {
    out += ",\n";
    appendEntries(
        out, Json{{"@type", type("EndpointsConfigDump")}}, "dynamic_endpoint_configs", views,
        [&](const ClusterView& c) -> std::optional<Json> {
          if (c.type != ClusterView::Type::Eds) return std::nullopt;
          return Json{{"version_info", version}, {"endpoint_config", endpointConfigJson(c)}};
        });
  }
  out += "\n  ]\n}\n";
  return out;
}

std::string clustersText(const mesh::Snapshot& snapshot) {
  std::string out;
  auto line = [&out](std::string_view a, std::string_view b, auto value) {
    fmt::format_to(std::back_inserter(out), "{}::{}::{}\n", a, b, value);
  };
  for (const ClusterView& c : clustersOf(snapshot)) {
    line(c.name, "observability_name", c.name);
    line(c.name, "added_via_api", "true");
    forEachHost(c, [&](const mesh::Endpoint& ep, std::uint16_t port) {
      std::string host = fmt::format("{}::{}", c.name, hostKey(ep, port));
      line(host, "hostname", "");
      line(host, "health_flags", "healthy");
      line(host, "weight", kDefaultWeight);
      for (auto [field, label] : kLocalityLabels) line(host, field, labelOr(ep, label));
      line(host, "canary", "false");
      line(host, "priority", 0);
    });
  }
  return out;
}

std::string clustersJson(const mesh::Snapshot& snapshot) {
  std::string out = "{\n  \"cluster_statuses\": [";
  appendArray(out, clustersOf(snapshot), 1, [](const ClusterView& c) -> std::optional<Json> {
    Json hosts = Json::array();
    forEachHost(c, [&](const mesh::Endpoint& ep, std::uint16_t port) {
      hosts.push_back({{"address", socketAddress(ep.address.to_string(), port)},
                       {"health_status", {{"eds_health_status", "HEALTHY"}}},
                       {"weight", kDefaultWeight},
                       {"locality", locality(ep)}});
    });
    Json status{{"name", c.name}, {"added_via_api", true}, {"observability_name", c.name}};
    if (!hosts.empty()) status["host_statuses"] = std::move(hosts);
    return status;
  });
  out += "\n}\n";
  return out;
}

}  // namespace remora::proxy

#include "mesh/config.h"

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <fmt/format.h>

#include "core/dns_name.h"
#include "core/file.h"
#include "core/json.h"
#include "core/json_fields.h"
#include "core/thread.h"
#include "kube/yaml.h"

namespace remora::mesh {
namespace {

using json_fields::invalid;
using json_fields::listAt;
using json_fields::mapAt;
using json_fields::typeName;

Status checkKeys(const Json& object, const std::string& path,
                 std::initializer_list<std::string_view> allowed) {
  return json_fields::checkKeys(object, path, allowed, "docs/proxy-config.md");
}

// "0", "0s", "0ms", "0m", "0h": the spellings of zero parseDuration refuses.
bool isZeroDuration(std::string_view text) {
  return text == "0" || text == "0s" || text == "0ms" || text == "0m" || text == "0h";
}

// Config files are small; these bounds keep a hostile one cheap to refuse.
constexpr kube::YamlLimits kYamlLimits{
    .max_bytes = 16 * 1024 * 1024, .max_depth = 32, .max_nodes = 2 * 1024 * 1024};

// Reads an optional string field into `out` (left alone when absent).
Status readString(const Json& parent, std::string_view key, const std::string& path,
                  std::string& out) {
  const Json* v = findField(parent, key);
  if (v == nullptr || v->is_null()) return ok();
  if (!v->is_string()) return invalid(path, "must be a string, not " + typeName(*v));
  out = v->get<std::string>();
  return ok();
}

Result<std::uint16_t> portValue(const Json& v, const std::string& path) {
  if (!v.is_number_integer()) return invalid(path, "must be a port number, not " + typeName(v));
  std::int64_t n = v.get<std::int64_t>();
  if (n < 1 || n > 65535) return invalid(path, fmt::format("{} is not a port (1-65535)", n));
  return static_cast<std::uint16_t>(n);
}

Result<asio::ip::address> addressValue(const Json& v, const std::string& path) {
  if (!v.is_string()) return invalid(path, "must be an IP address, not " + typeName(v));
  std::error_code ec;
  auto addr = asio::ip::make_address(v.get<std::string>(), ec);
  if (ec || v.get<std::string>().find('%') != std::string::npos) {
    return invalid(path, fmt::format("\"{}\" is not an IP address", v.get<std::string>()));
  }
  if (addr.is_v6() && addr.to_v6().is_v4_mapped()) {
    addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
  }
  if (addr.is_unspecified()) return invalid(path, "0.0.0.0 and :: are not addresses of a pod");
  return addr;
}

}  // namespace

Result<std::chrono::milliseconds> parseDuration(std::string_view text) {
  // Go's time.ParseDuration subset: <int><unit> repeated, units ms s m h.
  if (text.empty()) return Error{Errc::InvalidArgument, "empty duration"};
  std::uint64_t total_ms = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::uint64_t n = 0;
    std::size_t digits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (++digits > 9) return Error{Errc::InvalidArgument, "duration too large"};
      n = n * 10 + static_cast<std::uint64_t>(text[i] - '0');
      ++i;
    }
    if (digits == 0) return Error{Errc::InvalidArgument, "expected a number"};
    std::uint64_t unit = 0;
    if (text.substr(i, 2) == "ms") {
      unit = 1, i += 2;
    } else if (i < text.size() && text[i] == 's') {
      unit = 1000, i += 1;
    } else if (i < text.size() && text[i] == 'm') {
      unit = 60'000, i += 1;
    } else if (i < text.size() && text[i] == 'h') {
      unit = 3'600'000, i += 1;
    } else {
      return Error{Errc::InvalidArgument, "expected a unit (ms, s, m, h)"};
    }
    total_ms += n * unit;
    if (total_ms > 30ULL * 24 * 3'600'000) {
      return Error{Errc::InvalidArgument, "duration longer than 30 days"};
    }
  }
  if (total_ms == 0) return Error{Errc::InvalidArgument, "duration must be positive"};
  return std::chrono::milliseconds(total_ms);
}

namespace {

// zero_is_off: "0s" is accepted and means "no timeout" (routeTimeout, as
// Istio's VirtualService timeout; streamIdleTimeout, as Envoy's stream
// idle timeout); elsewhere a zero duration is an error.
Status readDuration(const Json& parent, std::string_view key, const std::string& path,
                    std::chrono::milliseconds& out, bool zero_is_off = false) {
  const Json* v = findField(parent, key);
  if (v == nullptr || v->is_null()) return ok();
  if (!v->is_string()) {
    return invalid(path, "must be a duration such as \"10s\", not " + typeName(*v));
  }
  if (zero_is_off && isZeroDuration(v->get<std::string>())) {
    out = std::chrono::milliseconds::zero();
    return ok();
  }
  auto d = parseDuration(v->get<std::string>());
  if (!d) return invalid(path, fmt::format("\"{}\": {}", v->get<std::string>(), d.error().message));
  out = *d;
  return ok();
}

std::string principalOf(const std::string& trust_domain, const std::string& ns,
                        const std::string& sa) {
  if (sa.empty() || ns.empty()) return {};
  return fmt::format("spiffe://{}/ns/{}/sa/{}", trust_domain, ns, sa);
}

Status parseMesh(const Json& m, MeshSettings& out) {
  REMORA_TRY(checkKeys(m, "mesh",
                       {"trustDomain", "outboundTrafficPolicy", "connectTimeout", "drainDuration",
                        "idleTimeout", "protocolDetectionTimeout", "requestHeadersTimeout",
                        "routeTimeout", "streamIdleTimeout", "rootNamespace", "accessLogFile"}));
  REMORA_TRY(readString(m, "trustDomain", "mesh.trustDomain", out.trust_domain));
  if (!isDnsSubdomain(out.trust_domain)) {
    return invalid("mesh.trustDomain", fmt::format("\"{}\" is not a DNS name", out.trust_domain));
  }
  REMORA_TRY(readString(m, "rootNamespace", "mesh.rootNamespace", out.root_namespace));
  REMORA_TRY(readString(m, "accessLogFile", "mesh.accessLogFile", out.access_log_file));
  if (!out.access_log_file.empty() && out.access_log_file != kAccessLogStdout) {
    // A file inside the container is rarely what anyone wants (the runtime
    // collects stdout); say so rather than silently logging elsewhere.
    return invalid("mesh.accessLogFile",
                   fmt::format("\"{}\" is not supported: \"{}\" (on) or \"\" (off)",
                               out.access_log_file, kAccessLogStdout));
  }
  if (!isDnsLabel(out.root_namespace)) {
    return invalid("mesh.rootNamespace",
                   fmt::format("\"{}\" is not a namespace name", out.root_namespace));
  }
  REMORA_ASSIGN_OR_RETURN(const Json* otp,
                          mapAt(m, "outboundTrafficPolicy", "mesh.outboundTrafficPolicy"));
  if (otp != nullptr) {
    REMORA_TRY(checkKeys(*otp, "mesh.outboundTrafficPolicy", {"mode"}));
    std::string mode = "ALLOW_ANY";
    REMORA_TRY(readString(*otp, "mode", "mesh.outboundTrafficPolicy.mode", mode));
    if (mode == "ALLOW_ANY") {
      out.outbound_policy = OutboundPolicy::AllowAny;
    } else if (mode == "REGISTRY_ONLY") {
      out.outbound_policy = OutboundPolicy::RegistryOnly;
    } else {
      return invalid("mesh.outboundTrafficPolicy.mode",
                     fmt::format("\"{}\" is not ALLOW_ANY or REGISTRY_ONLY", mode));
    }
  }
  REMORA_TRY(readDuration(m, "connectTimeout", "mesh.connectTimeout", out.connect_timeout));
  REMORA_TRY(readDuration(m, "drainDuration", "mesh.drainDuration", out.drain_duration));
  REMORA_TRY(readDuration(m, "idleTimeout", "mesh.idleTimeout", out.idle_timeout));
  REMORA_TRY(readDuration(m, "requestHeadersTimeout", "mesh.requestHeadersTimeout",
                          out.request_headers_timeout));
  REMORA_TRY(readDuration(m, "routeTimeout", "mesh.routeTimeout", out.route_timeout,
                          /*zero_is_off=*/true));
  REMORA_TRY(readDuration(m, "streamIdleTimeout", "mesh.streamIdleTimeout", out.stream_idle_timeout,
                          /*zero_is_off=*/true));
  REMORA_TRY(readDuration(m, "protocolDetectionTimeout", "mesh.protocolDetectionTimeout",
                          out.protocol_detection_timeout));
  return ok();
}

Status parseLabels(const Json& parent, const std::string& path,
                   std::map<std::string, std::string>& out);

Status parseProxy(const Json& p, const MeshSettings& mesh, ProxyIdentity& out) {
  REMORA_TRY(checkKeys(
      p, "proxy", {"workload", "namespace", "app", "version", "serviceAccount", "ip", "labels"}));
  if (const Json* given = findField(p, "labels"); given != nullptr && !given->is_null()) {
    out.labels.clear();  // the config's labels replace the downward API's
  }
  REMORA_TRY(parseLabels(p, "proxy.labels", out.labels));
  REMORA_TRY(readString(p, "workload", "proxy.workload", out.workload.workload));
  REMORA_TRY(readString(p, "namespace", "proxy.namespace", out.workload.namespace_));
  REMORA_TRY(readString(p, "app", "proxy.app", out.workload.app));
  REMORA_TRY(readString(p, "version", "proxy.version", out.workload.version));
  REMORA_TRY(readString(p, "serviceAccount", "proxy.serviceAccount", out.workload.service_account));
  if (const Json* ip = findField(p, "ip"); ip != nullptr && !ip->is_null()) {
    REMORA_ASSIGN_OR_RETURN(auto addr, addressValue(*ip, "proxy.ip"));
    out.ip = addr.to_string();
  }
  (void)mesh;
  return ok();
}

Status parseLabels(const Json& parent, const std::string& path,
                   std::map<std::string, std::string>& out) {
  REMORA_ASSIGN_OR_RETURN(const Json* labels, mapAt(parent, "labels", path));
  if (labels == nullptr) return ok();
  for (const auto& [key, value] : labels->items()) {
    if (key.empty() || key.size() > 316) return invalid(path, "label keys are 1-316 characters");
    if (!value.is_string()) {
      return invalid(path + "." + key,
                     "label values are strings (quote it), not " + typeName(value));
    }
    out[key] = value.get<std::string>();
  }
  return ok();
}

Status parsePort(const Json& j, const std::string& path, ServicePort& out) {
  if (!j.is_object()) return invalid(path, "must be a map, not " + typeName(j));
  REMORA_TRY(checkKeys(j, path, {"name", "port", "protocol", "targetPort"}));
  const Json* port = findField(j, "port");
  if (port == nullptr) return invalid(path + ".port", "required");
  REMORA_ASSIGN_OR_RETURN(out.port, portValue(*port, path + ".port"));
  out.target_port = out.port;
  if (const Json* t = findField(j, "targetPort"); t != nullptr && !t->is_null()) {
    REMORA_ASSIGN_OR_RETURN(out.target_port, portValue(*t, path + ".targetPort"));
  }
  out.name = fmt::format("port-{}", out.port);
  REMORA_TRY(readString(j, "name", path + ".name", out.name));
  if (!isDnsLabel(out.name)) {
    return invalid(path + ".name", fmt::format("\"{}\" is not a DNS label", out.name));
  }
  std::string protocol = "AUTO";
  REMORA_TRY(readString(j, "protocol", path + ".protocol", protocol));
  if (protocol == "AUTO") {
    out.protocol = Protocol::Auto;
  } else if (protocol == "HTTP") {
    out.protocol = Protocol::Http;
  } else if (protocol == "TCP") {
    out.protocol = Protocol::Tcp;
  } else if (protocol == "TLS") {
    out.protocol = Protocol::Tls;
  } else {
    return invalid(path + ".protocol",
                   fmt::format("\"{}\" is not one of HTTP, TCP, TLS, AUTO", protocol));
  }
  return ok();
}

// One EndpointWorkload per distinct labels and identity (see config.h).
// One shared EndpointWorkload per distinct content. Looked up by the
// content itself: no key string per endpoint, which would be freed after
// parsing as a hole between the snapshot's long-lived allocations.
class EndpointWorkloads {
 public:
  std::shared_ptr<const EndpointWorkload> intern(EndpointWorkload w) {
    if (auto it = seen_.find(w); it != seen_.end()) return *it;
    return *seen_.insert(std::make_shared<const EndpointWorkload>(std::move(w))).first;
  }

 private:
  static const EndpointWorkload& of(const EndpointWorkload& w) { return w; }
  static const EndpointWorkload& of(const std::shared_ptr<const EndpointWorkload>& w) { return *w; }
  static auto fields(const EndpointWorkload& w) {
    const WorkloadInfo& i = w.workload;
    return std::tie(w.labels, i.workload, i.namespace_, i.app, i.version, i.service_account,
                    i.principal);
  }
  struct Hash {
    using is_transparent = void;
    template <typename T>
    std::size_t operator()(const T& value) const noexcept {
      const EndpointWorkload& w = of(value);
      std::size_t h = 0;
      auto mix = [&h](std::string_view s) {
        h = (h ^ std::hash<std::string_view>()(s)) * 0x9E3779B97F4A7C15ULL;
      };
      for (const auto& [name, label] : w.labels) {
        mix(name);
        mix(label);
      }
      mix(w.workload.workload);
      mix(w.workload.principal);
      return h;
    }
  };
  struct Equal {
    using is_transparent = void;
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const noexcept {
      return fields(of(a)) == fields(of(b));
    }
  };
  std::unordered_set<std::shared_ptr<const EndpointWorkload>, Hash, Equal> seen_;
};

Status parseEndpoint(const Json& j, const std::string& path, const Service& svc,
                     const MeshSettings& mesh, EndpointWorkloads& workloads, Endpoint& out) {
  if (!j.is_object()) return invalid(path, "must be a map, not " + typeName(j));
  REMORA_TRY(checkKeys(j, path,
                       {"address", "ports", "labels", "workload", "namespace", "serviceAccount"}));
  const Json* address = findField(j, "address");
  if (address == nullptr) return invalid(path + ".address", "required");
  REMORA_ASSIGN_OR_RETURN(out.address, addressValue(*address, path + ".address"));
  REMORA_ASSIGN_OR_RETURN(const Json* ports, mapAt(j, "ports", path + ".ports"));
  if (ports != nullptr) {
    for (const auto& [name, value] : ports->items()) {
      bool known = false;
      for (const auto& sp : svc.ports) known = known || sp.name == name;
      if (!known) {
        return invalid(path + ".ports." + name, "names no port of the service");
      }
      REMORA_ASSIGN_OR_RETURN(out.ports[name], portValue(value, path + ".ports." + name));
    }
  }
  EndpointWorkload meta;
  REMORA_TRY(parseLabels(j, path + ".labels", meta.labels));
  WorkloadInfo& w = meta.workload;
  w.namespace_ = svc.namespace_;
  REMORA_TRY(readString(j, "namespace", path + ".namespace", w.namespace_));
  REMORA_TRY(readString(j, "serviceAccount", path + ".serviceAccount", w.service_account));
  if (auto it = meta.labels.find("app"); it != meta.labels.end()) w.app = it->second;
  if (auto it = meta.labels.find("version"); it != meta.labels.end()) w.version = it->second;
  w.workload = w.app.empty() ? svc.name : w.app;
  REMORA_TRY(readString(j, "workload", path + ".workload", w.workload));
  w.principal = principalOf(mesh.trust_domain, w.namespace_, w.service_account);
  auto mode = meta.labels.find("security.istio.io/tlsMode");
  out.mtls = mode != meta.labels.end() && mode->second == "istio";
  out.meta = workloads.intern(std::move(meta));
  return ok();
}

Status parseService(const Json& j, const std::string& path, const MeshSettings& mesh,
                    EndpointWorkloads& workloads, Service& out) {
  if (!j.is_object()) return invalid(path, "must be a map, not " + typeName(j));
  REMORA_TRY(checkKeys(
      j, path,
      {"name", "namespace", "hostname", "addresses", "ports", "loadBalancer", "endpoints"}));
  if (findField(j, "name") == nullptr) return invalid(path + ".name", "required");
  REMORA_TRY(readString(j, "name", path + ".name", out.name));
  if (!isDnsLabel(out.name)) {
    return invalid(path + ".name", fmt::format("\"{}\" is not a DNS label", out.name));
  }
  out.namespace_ = "default";
  REMORA_TRY(readString(j, "namespace", path + ".namespace", out.namespace_));
  if (!isDnsLabel(out.namespace_)) {
    return invalid(path + ".namespace", fmt::format("\"{}\" is not a DNS label", out.namespace_));
  }
  out.hostname = fmt::format("{}.{}.svc.cluster.local", out.name, out.namespace_);
  REMORA_TRY(readString(j, "hostname", path + ".hostname", out.hostname));
  if (!isDnsSubdomain(out.hostname)) {
    return invalid(path + ".hostname", fmt::format("\"{}\" is not a DNS name", out.hostname));
  }
  REMORA_ASSIGN_OR_RETURN(const Json* addresses, listAt(j, "addresses", path + ".addresses"));
  if (addresses != nullptr) {
    for (std::size_t i = 0; i < addresses->size(); ++i) {
      std::string p = fmt::format("{}.addresses[{}]", path, i);
      REMORA_ASSIGN_OR_RETURN(auto addr, addressValue((*addresses)[i], p));
      for (const auto& seen : out.addresses) {
        if (seen == addr) return invalid(p, "listed twice");
      }
      out.addresses.push_back(addr);
    }
  }
  REMORA_ASSIGN_OR_RETURN(const Json* ports, listAt(j, "ports", path + ".ports"));
  if (ports == nullptr || ports->empty()) return invalid(path + ".ports", "at least one port");
  for (std::size_t i = 0; i < ports->size(); ++i) {
    std::string p = fmt::format("{}.ports[{}]", path, i);
    ServicePort sp;
    REMORA_TRY(parsePort((*ports)[i], p, sp));
    for (const auto& seen : out.ports) {
      if (seen.name == sp.name) return invalid(p + ".name", "\"" + sp.name + "\" used twice");
      if (seen.port == sp.port) return invalid(p + ".port", fmt::format("{} used twice", sp.port));
    }
    out.ports.push_back(std::move(sp));
  }
  std::string lb = "LEAST_REQUEST";
  REMORA_TRY(readString(j, "loadBalancer", path + ".loadBalancer", lb));
  if (lb == "ROUND_ROBIN") {
    out.load_balancer = LoadBalancer::RoundRobin;
  } else if (lb == "LEAST_REQUEST") {
    out.load_balancer = LoadBalancer::LeastRequest;
  } else {
    return invalid(path + ".loadBalancer",
                   fmt::format("\"{}\" is not ROUND_ROBIN or LEAST_REQUEST", lb));
  }
  REMORA_ASSIGN_OR_RETURN(const Json* endpoints, listAt(j, "endpoints", path + ".endpoints"));
  if (endpoints != nullptr) {
    out.endpoints.reserve(endpoints->size());
    for (std::size_t i = 0; i < endpoints->size(); ++i) {
      Endpoint ep;
      REMORA_TRY(parseEndpoint((*endpoints)[i], fmt::format("{}.endpoints[{}]", path, i), out, mesh,
                               workloads, ep));
      out.endpoints.push_back(std::move(ep));
    }
  }
  return ok();
}

// No service defined twice (namespace and name), no VIP and port in two
// services. Checked over views into the parsed services, sorted: a set of
// copied keys would leave its freed nodes between the snapshot's
// allocations. The error names the first offender in file order.
Status checkUnique(const std::vector<Service>& services) {
  struct Name {
    std::string_view namespace_, name;
    std::size_t index;
  };
  std::vector<Name> names;
  names.reserve(services.size());
  std::size_t vip_count = 0;
  for (std::size_t i = 0; i < services.size(); ++i) {
    names.push_back({services[i].namespace_, services[i].name, i});
    vip_count += services[i].addresses.size() * services[i].ports.size();
  }
  auto name_key = [](const Name& n) { return std::tie(n.namespace_, n.name, n.index); };
  std::sort(names.begin(), names.end(),
            [&](const Name& a, const Name& b) { return name_key(a) < name_key(b); });
  const Name* dup_name = nullptr;  // of the duplicates, the first in file order
  for (std::size_t k = 1; k < names.size(); ++k) {
    if (names[k].namespace_ == names[k - 1].namespace_ && names[k].name == names[k - 1].name &&
        (dup_name == nullptr || names[k].index < dup_name->index))
      dup_name = &names[k];
  }

  struct Vip {
    const asio::ip::address* address;
    std::uint16_t port;
    std::size_t index;
  };
  std::vector<Vip> vips;
  vips.reserve(vip_count);
  for (std::size_t i = 0; i < services.size(); ++i)
    for (const auto& addr : services[i].addresses)
      for (const auto& sp : services[i].ports) vips.push_back({&addr, sp.port, i});
  auto vip_key = [](const Vip& v) { return std::tie(*v.address, v.port, v.index); };
  std::sort(vips.begin(), vips.end(),
            [&](const Vip& a, const Vip& b) { return vip_key(a) < vip_key(b); });
  const Vip* dup_vip = nullptr;
  for (std::size_t k = 1; k < vips.size(); ++k) {
    if (*vips[k].address == *vips[k - 1].address && vips[k].port == vips[k - 1].port &&
        vips[k].index != vips[k - 1].index &&
        (dup_vip == nullptr || vips[k].index < dup_vip->index))
      dup_vip = &vips[k];
  }

  if (dup_name != nullptr && (dup_vip == nullptr || dup_name->index <= dup_vip->index)) {
    return invalid(
        fmt::format("services[{}].name", dup_name->index),
        fmt::format("service {}/{} defined twice", dup_name->namespace_, dup_name->name));
  }
  if (dup_vip != nullptr) {
    return invalid(fmt::format("services[{}]", dup_vip->index),
                   fmt::format("{}:{} already belongs to another service",
                               dup_vip->address->to_string(), dup_vip->port));
  }
  return ok();
}

std::string envOr(const char* name) {
  const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): read at startup
  return v == nullptr ? std::string() : std::string(v);
}

}  // namespace

std::string_view protocolName(Protocol p) noexcept {
  switch (p) {
    case Protocol::Auto: return "AUTO";
    case Protocol::Http: return "HTTP";
    case Protocol::Tcp: return "TCP";
    case Protocol::Tls: return "TLS";
  }
  return "AUTO";
}

bool Endpoint::mtlsOn(std::uint16_t port) const {
  return mtls &&
         std::find(plaintext_ports.begin(), plaintext_ports.end(), port) == plaintext_ports.end();
}

const std::shared_ptr<const EndpointWorkload>& EndpointWorkload::none() {
  static const std::shared_ptr<const EndpointWorkload> empty =
      std::make_shared<const EndpointWorkload>();
  return empty;
}

std::uint16_t Endpoint::portFor(const ServicePort& sp) const {
  auto it = ports.find(sp.name);
  return it == ports.end() ? sp.target_port : it->second;
}

Result<std::map<std::string, std::string>> parsePodLabels(std::string_view text) {
  constexpr std::size_t kMaxBytes = 64 * 1024;
  constexpr std::size_t kMaxLabels = 1024;
  if (text.size() > kMaxBytes) return Error{Errc::PayloadTooLarge, "pod labels: over 64 KiB"};
  std::map<std::string, std::string> labels;
  std::size_t line_no = 0;
  while (!text.empty()) {
    std::size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    ++line_no;
    if (line.empty()) continue;
    auto bad = [&](std::string_view why) {
      return Error{Errc::ParseError, fmt::format("pod labels line {}: {}", line_no, why)};
    };
    std::size_t eq = line.find('=');
    if (eq == 0 || eq == std::string_view::npos) return bad("not key=\"value\"");
    std::string key(line.substr(0, eq));
    std::string_view quoted = line.substr(eq + 1);
    if (quoted.size() < 2 || quoted.front() != '"' || quoted.back() != '"') {
      return bad("the value is not quoted");
    }
    quoted = quoted.substr(1, quoted.size() - 2);
    std::string value;
    for (std::size_t i = 0; i < quoted.size(); ++i) {
      char c = quoted[i];
      if (c == '"') return bad("an unescaped quote in the value");
      if (c != '\\') {
        value += c;
        continue;
      }
      if (++i == quoted.size()) return bad("a trailing backslash");
      switch (quoted[i]) {
        case '"': value += '"'; break;
        case '\\': value += '\\'; break;
        case 'n': value += '\n'; break;
        case 't': value += '\t'; break;
        case 'r': value += '\r'; break;
        case 'x': {
          if (i + 2 >= quoted.size()) return bad("a truncated \\x escape");
          auto hex = [](char h) -> int {
            if (h >= '0' && h <= '9') return h - '0';
            if (h >= 'a' && h <= 'f') return h - 'a' + 10;
            if (h >= 'A' && h <= 'F') return h - 'A' + 10;
            return -1;
          };
          int hi = hex(quoted[i + 1]);
          int lo = hex(quoted[i + 2]);
          if (hi < 0 || lo < 0) return bad("a bad \\x escape");
          value += static_cast<char>(hi * 16 + lo);
          i += 2;
          break;
        }
        default: return bad(fmt::format("an unknown escape \\{}", quoted[i]));
      }
    }
    if (labels.size() >= kMaxLabels && !labels.contains(key)) return bad("over 1024 labels");
    labels[std::move(key)] = std::move(value);
  }
  return labels;
}

IdentityDefaults IdentityDefaults::fromEnvironment(const std::string& pod_labels_path) {
  IdentityDefaults d;
  if (auto text = readFile(pod_labels_path, 64 * 1024)) {
    if (auto labels = parsePodLabels(*text)) d.labels = std::move(*labels);
  }
  d.workload = envOr("ISTIO_META_WORKLOAD_NAME");
  if (d.workload.empty()) d.workload = envOr("POD_NAME");
  d.namespace_ = envOr("POD_NAMESPACE");
  d.service_account = envOr("SERVICE_ACCOUNT");
  d.ip = envOr("INSTANCE_IP");
  return d;
}

Result<Config> parseConfig(std::string_view yaml, const IdentityDefaults& defaults) {
  // The YAML and JSON trees are built apart from the Config that outlives
  // them (core/thread.h).
  auto parsed = runInScratchArena([&] { return kube::parseYaml(yaml, kYamlLimits); });
  if (!parsed) return Error{Errc::ParseError, parsed.error().message};
  const Json& root = *parsed;
  Config config;
  config.proxy.workload.workload = defaults.workload;
  config.proxy.workload.namespace_ = defaults.namespace_;
  config.proxy.workload.service_account = defaults.service_account;
  config.proxy.labels = defaults.labels;  // proxy.labels, when given, replaces them
  if (!defaults.ip.empty()) {
    std::error_code ec;
    auto addr = asio::ip::make_address(defaults.ip, ec);
    if (!ec) config.proxy.ip = addr.to_string();
  }
  if (root.is_null()) return config;
  if (!root.is_object()) return invalid("(top level)", "must be a map, not " + typeName(root));
  REMORA_TRY(checkKeys(root, "", {"version", "mesh", "proxy", "services", "policies"}));
  if (const Json* v = findField(root, "version"); v != nullptr && !v->is_null()) {
    if (!v->is_number_integer() || v->get<std::int64_t>() != 1) {
      return invalid("version", "only version 1 exists");
    }
  }
  REMORA_ASSIGN_OR_RETURN(const Json* mesh, mapAt(root, "mesh", "mesh"));
  if (mesh != nullptr) REMORA_TRY(parseMesh(*mesh, config.mesh));
  REMORA_ASSIGN_OR_RETURN(const Json* proxy, mapAt(root, "proxy", "proxy"));
  if (proxy != nullptr) REMORA_TRY(parseProxy(*proxy, config.mesh, config.proxy));
  WorkloadInfo& self = config.proxy.workload;
  self.principal = principalOf(config.mesh.trust_domain, self.namespace_, self.service_account);

  REMORA_ASSIGN_OR_RETURN(const Json* services, listAt(root, "services", "services"));
  if (services != nullptr) {
    config.services.reserve(services->size());
    EndpointWorkloads workloads;
    for (std::size_t i = 0; i < services->size(); ++i) {
      Service svc;
      REMORA_TRY(parseService((*services)[i], fmt::format("services[{}]", i), config.mesh,
                              workloads, svc));
      config.services.push_back(std::move(svc));
    }
    REMORA_TRY(checkUnique(config.services));
  }
  REMORA_ASSIGN_OR_RETURN(const Json* policies, listAt(root, "policies", "policies"));
  if (policies != nullptr) {
    // An object without a namespace belongs to the proxy's own, as kubectl
    // would put it in the current namespace.
    std::string ns = self.namespace_.empty() ? "default" : self.namespace_;
    REMORA_ASSIGN_OR_RETURN(config.policies, security::parsePolicies(*policies, "policies", ns));
  }
  return config;
}

std::size_t Snapshot::KeyHash::operator()(const Key& k) const noexcept {
  std::size_t h = std::hash<std::uint16_t>()(k.port);
  if (k.address.is_v4()) {
    h ^= std::hash<std::uint32_t>()(k.address.to_v4().to_uint()) * 0x9E3779B97F4A7C15ULL;
  } else {
    for (auto b : k.address.to_v6().to_bytes()) h = h * 131 + b;
  }
  return h;
}

SnapshotPtr Snapshot::build(Config config, std::uint64_t generation) {
  std::shared_ptr<Snapshot> snap(new Snapshot());
  snap->config_ = std::move(config);
  snap->generation_ = generation;
  const ProxyIdentity& proxy = snap->config_.proxy;
  snap->security_ = security::WorkloadPolicy::build(
      snap->config_.policies,
      security::WorkloadSelectorInfo{proxy.workload.namespace_, proxy.labels},
      snap->config_.mesh.root_namespace);
  // Auto mTLS follows the server's own PeerAuthentication, as istiod's does:
  // an endpoint that is DISABLE on a port is called in plaintext there
  // (mTLS bytes would reach its app). The policies every proxy gets are the
  // mesh's, so each endpoint's mode is computed as its own sidecar would.
  if (!snap->config_.policies.peer_authentications.empty()) {
    for (Service& svc : snap->config_.services) {
      for (Endpoint& ep : svc.endpoints) {
        if (!ep.mtls) continue;
        const std::string& ns =
            ep.workload().namespace_.empty() ? svc.namespace_ : ep.workload().namespace_;
        auto policy = security::WorkloadPolicy::build(
            snap->config_.policies, security::WorkloadSelectorInfo{ns, ep.labels()},
            snap->config_.mesh.root_namespace);
        for (const ServicePort& sp : svc.ports) {
          std::uint16_t port = ep.portFor(sp);
          if (policy.mtlsMode(port) == security::MtlsMode::Disable)
            ep.plaintext_ports.push_back(port);
        }
      }
    }
  }
  std::error_code ec;
  asio::ip::address self = asio::ip::make_address(snap->config_.proxy.ip, ec);
  bool have_self = !snap->config_.proxy.ip.empty() && !ec;
  // Sized once: rehashing as they grow would leave the old bucket arrays
  // as holes between the snapshot's allocations.
  std::size_t vips = 0;
  std::size_t endpoints = 0;
  for (const Service& svc : snap->config_.services) {
    vips += svc.addresses.size() * svc.ports.size();
    endpoints += svc.endpoints.size() * svc.ports.size();
  }
  snap->by_vip_.reserve(vips);
  snap->by_endpoint_.reserve(endpoints);
  for (const Service& svc : snap->config_.services) {
    for (const ServicePort& sp : svc.ports) {
      ServiceRoute route{&svc, &sp};
      for (const auto& addr : svc.addresses) snap->by_vip_.emplace(Key{addr, sp.port}, route);
      for (const Endpoint& ep : svc.endpoints) {
        // First service wins for a shared pod address (deterministic: file order).
        snap->by_endpoint_.emplace(Key{ep.address, ep.portFor(sp)}, route);
        if (have_self && ep.address == self) snap->inbound_.emplace(ep.portFor(sp), route);
      }
    }
  }
  return snap;
}

ServiceRoute Snapshot::outbound(const asio::ip::address& address, std::uint16_t port) const {
  if (auto it = by_vip_.find(Key{address, port}); it != by_vip_.end()) return it->second;
  if (auto it = by_endpoint_.find(Key{address, port}); it != by_endpoint_.end()) {
    return it->second;
  }
  return {};
}

ServiceRoute Snapshot::inbound(std::uint16_t port) const {
  auto it = inbound_.find(port);
  return it == inbound_.end() ? ServiceRoute{} : it->second;
}

}  // namespace remora::mesh

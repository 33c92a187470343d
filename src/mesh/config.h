// The mesh config model: who this proxy is, how the mesh behaves, which
// services exist (docs/proxy-config.md is the user's view of the same file).
//
// parseConfig() turns YAML text into a Config, strictly: unknown fields,
// wrong types, bad addresses, out-of-range ports, duplicate names and a
// VIP:port claimed twice are Errors (Errc::InvalidArgument, or ParseError for
// YAML that does not parse) whose message names the field by path, e.g.
// "services[0].ports[1].port: 70000 is not a port (1-65535)". A typo must
// never silently change the mesh.
//
// Snapshot is the immutable, indexed form the proxy's workers read: built
// once from a Config, then shared as shared_ptr<const Snapshot> across
// threads without locks. Lookups are hash lookups on the hot path.
//
// Threading: parseConfig() is reentrant; a Snapshot is immutable after
// build() and may be read from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <asio/ip/address.hpp>

#include "core/result.h"
#include "security/policy.h"
#include "security/workload_policy.h"

namespace remora::mesh {

enum class OutboundPolicy : std::uint8_t { AllowAny, RegistryOnly };
enum class Protocol : std::uint8_t { Auto, Http, Tcp, Tls };
enum class LoadBalancer : std::uint8_t { RoundRobin, LeastRequest };

std::string_view protocolName(Protocol p) noexcept;

inline constexpr std::string_view kAccessLogStdout = "/dev/stdout";

struct MeshSettings {
  std::string trust_domain = "cluster.local";
  OutboundPolicy outbound_policy = OutboundPolicy::AllowAny;
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds drain_duration{5'000};
  std::chrono::milliseconds idle_timeout{3'600'000};
  // From a downstream connection's open, or a request's first byte, until
  // its head is complete: past it, 408 and close (slowloris). Envoy leaves
  // its request_headers_timeout off; a sidecar facing any client turns it on.
  std::chrono::milliseconds request_headers_timeout{10'000};
  // The route timeout: from the end of the request until the end of the
  // upstream's response; past it, 504 UT (or a reset once the response began).
  // Zero (the default) is no timeout, as Istio's VirtualService has none
  // unless set (Envoy's own default would be 15 s).
  std::chrono::milliseconds route_timeout{0};
  // Envoy's stream_idle_timeout: a stream (a request from its first byte
  // until its response is written) with no bytes moving on either side, to
  // the client or to the upstream, for this long ends: 408 SI before the
  // response began, a reset after. Zero is no timeout.
  std::chrono::milliseconds stream_idle_timeout{300'000};
  std::chrono::milliseconds protocol_detection_timeout{100};
  // Istio's meshConfig.accessLogFile: "/dev/stdout" prints every request and
  // TCP connection as a JSON line (Remora's default, as Istio's demo profile),
  // "" prints none (Istio's default profile). Read per request, so a reload
  // turns it on or off at once.
  std::string access_log_file = std::string(kAccessLogStdout);
  bool accessLogOn() const { return !access_log_file.empty(); }
  // Where mesh-wide security policies live (Istio's meshConfig.rootNamespace).
  std::string root_namespace = std::string(security::kDefaultRootNamespace);
};

// A workload as metrics and logs name it (this proxy's own, or a peer's).
struct WorkloadInfo {
  std::string workload;
  std::string namespace_;
  std::string app;
  std::string version;
  std::string service_account;
  // spiffe://<trust domain>/ns/<namespace>/sa/<service account>, or "" when
  // the service account is unknown.
  std::string principal;
};

struct ProxyIdentity {
  WorkloadInfo workload;
  std::string ip;  // the pod IP, or "" when unknown
  // The pod's labels, which security policies' selectors match.
  std::map<std::string, std::string> labels;
};

struct ServicePort {
  std::string name;
  std::uint16_t port = 0;
  std::uint16_t target_port = 0;
  Protocol protocol = Protocol::Auto;
};

// An endpoint's labels and the workload identity resolved from them. The
// endpoints of one workload (a Deployment's pods) have the same, so
// parseConfig() keeps one copy per distinct workload and the endpoints share
// it: a mesh of 10,000 endpoints in 1,000 workloads holds 1,000, not 10,000
// label maps and identities.
struct EndpointWorkload {
  std::map<std::string, std::string> labels;
  WorkloadInfo workload;  // for metrics and the mTLS peer check

  // The shared empty one, for endpoints built without a config.
  static const std::shared_ptr<const EndpointWorkload>& none();
};

struct Endpoint {
  asio::ip::address address;
  std::map<std::string, std::uint16_t> ports;  // per-port-name override of targetPort
  std::shared_ptr<const EndpointWorkload> meta = EndpointWorkload::none();  // never null
  bool mtls = false;  // labels["security.istio.io/tlsMode"] == "istio"
  // Ports where the endpoint's own PeerAuthentication says DISABLE: auto
  // mTLS calls it in plaintext there (Snapshot::build() fills it).
  std::vector<std::uint16_t> plaintext_ports;

  const std::map<std::string, std::string>& labels() const { return meta->labels; }
  const WorkloadInfo& workload() const { return meta->workload; }

  // The port to dial for `sp` on this endpoint.
  std::uint16_t portFor(const ServicePort& sp) const;
  // Whether a sidecar calls this endpoint's `port` with mTLS (auto mTLS).
  bool mtlsOn(std::uint16_t port) const;
};

struct Service {
  std::string name;
  std::string namespace_;
  std::string hostname;
  std::vector<asio::ip::address> addresses;
  std::vector<ServicePort> ports;
  LoadBalancer load_balancer = LoadBalancer::LeastRequest;
  std::vector<Endpoint> endpoints;
};

struct Config {
  int version = 1;
  MeshSettings mesh;
  ProxyIdentity proxy;
  std::vector<Service> services;
  // `policies:` PeerAuthentication and AuthorizationPolicy objects, verbatim
  // Istio YAML (docs/security.md).
  security::Policies policies;
};

// Values the `proxy` section falls back to when a field is absent (the
// sidecar template's environment: POD_NAME, POD_NAMESPACE, ...).
struct IdentityDefaults {
  std::string workload;
  std::string namespace_;
  std::string service_account;
  std::string ip;
  // The pod's labels (proxy.labels when the config has none).
  std::map<std::string, std::string> labels;
  // From the process environment (ISTIO_META_WORKLOAD_NAME or POD_NAME,
  // POD_NAMESPACE, SERVICE_ACCOUNT, INSTANCE_IP) and the pod's labels from
  // the downward API file the injected container mounts (`pod_labels_path`,
  // /etc/istio/pod/labels; ignored when absent or unreadable).
  static IdentityDefaults fromEnvironment(const std::string& pod_labels_path = kPodLabelsPath);
  static constexpr const char* kPodLabelsPath = "/etc/istio/pod/labels";
};

// The downward API's `labels` file: one `key="value"` per line, the value
// quoted as Go's %q does (\", \\, \n, \t, \xNN ... escapes). A line that
// does not read so is an Error naming it. At most 64 KiB and 1024 labels.
Result<std::map<std::string, std::string>> parsePodLabels(std::string_view text);

// Go-style duration ("250ms", "10s", "1m30s"); positive, at most 30 days.
Result<std::chrono::milliseconds> parseDuration(std::string_view text);

// Parses and validates one config document. An empty text is the empty
// config (ALLOW_ANY, no services).
Result<Config> parseConfig(std::string_view yaml, const IdentityDefaults& defaults = {});

// What a lookup finds: a service and one of its ports.
struct ServiceRoute {
  const Service* service = nullptr;
  const ServicePort* port = nullptr;
};

class Snapshot {
 public:
  // Indexes `config`. Cannot fail: parseConfig() validated it.
  static std::shared_ptr<const Snapshot> build(Config config, std::uint64_t generation = 0);

  const Config& config() const { return config_; }
  const MeshSettings& mesh() const { return config_.mesh; }
  const ProxyIdentity& proxy() const { return config_.proxy; }
  // Increases with every accepted config (0 for the first).
  std::uint64_t generation() const { return generation_; }
  // The security policies as they apply to this proxy's workload
  // (proxy.namespace and proxy.labels), precomputed at build().
  const security::WorkloadPolicy& security() const { return security_; }

  // Outbound: the service a connection to `address:port` is for. VIPs first,
  // then endpoint addresses (pod IPs, headless services). Null service when
  // none.
  ServiceRoute outbound(const asio::ip::address& address, std::uint16_t port) const;
  // Inbound: the service this pod serves on `port` (the endpoint of a
  // service that lists proxy().ip with that target port). Null when none.
  ServiceRoute inbound(std::uint16_t port) const;

 private:
  Snapshot() = default;

  struct Key {
    asio::ip::address address;
    std::uint16_t port;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const noexcept;
  };

  Config config_;
  std::uint64_t generation_ = 0;
  security::WorkloadPolicy security_;
  std::unordered_map<Key, ServiceRoute, KeyHash> by_vip_;
  std::unordered_map<Key, ServiceRoute, KeyHash> by_endpoint_;
  std::unordered_map<std::uint16_t, ServiceRoute> inbound_;
};

using SnapshotPtr = std::shared_ptr<const Snapshot>;

}  // namespace remora::mesh

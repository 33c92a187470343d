// What `remora local up` will run, computed from manifests before anything
// is created: the pods (one per replica, named as their controllers name
// them), their containers with commands and environment resolved as the
// kubelet resolves them, the Services with their virtual IPs and endpoints.
//
//   manifests (Json documents)  --buildPlan()-->  Plan  --runner.h-->  namespaces, processes
//
// Pure: no file, network or process is touched, so every manifest shape is a
// unit test and a fuzz input (fuzz/local_plan_fuzz.cc).
//
// Addressing: one node, one /24 bridge network. Pods get 10.244.0.2 onwards
// in document order, Services 10.96.0.10 onwards (Kubernetes' usual pod and
// service ranges; they live only inside the namespaces `remora local` makes,
// so they never meet the host's routes).
//
// Threading: pure functions on caller-owned values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/json.h"
#include "core/result.h"

namespace remora::local {

inline constexpr std::string_view kPodSubnet = "10.244.0.0/24";
inline constexpr std::string_view kGateway = "10.244.0.1";  // the bridge; the CA listens here
// The bridge's fixed, locally administered MAC (each run has its own node
// namespace, so runs never share it).
inline constexpr std::string_view kBridgeMac = "02:52:4d:00:00:01";
inline constexpr int kPodPrefixLength = 24;
inline constexpr std::string_view kNodeName = "remora-local";
inline constexpr std::size_t kMaxPods = 250;      // a /24 minus gateway and broadcast
inline constexpr std::size_t kMaxServices = 240;  // 10.96.0.10 .. 10.96.0.249
inline constexpr std::uint16_t kCaPort = 15012;

struct VolumeMount {
  std::string name;
  std::string mount_path;
  std::string sub_path;
  bool read_only = false;
};

// What a volume holds locally; everything else is an empty directory.
enum class VolumeKind : std::uint8_t {
  EmptyDir,    // emptyDir and every kind without a local meaning
  Token,       // projected serviceAccountToken: the pod's token for the CA
  RootCert,    // configMap istio-ca-root-cert: the CA's root (root-cert.pem)
  DownwardApi  // downwardAPI labels/annotations files (istio-podinfo)
};

struct Volume {
  std::string name;
  VolumeKind kind = VolumeKind::EmptyDir;
  std::string token_file;  // Token: the projected file name ("istio-token")
  // DownwardApi: (file name, "metadata.labels" | "metadata.annotations")
  std::vector<std::pair<std::string, std::string>> fields;
  std::string note;  // why a volume of an unsupported kind is an empty dir
};

struct Container {
  std::string name;
  std::string image;
  std::vector<std::string> command;  // as written, $(VAR) expanded
  std::vector<std::string> args;     // as written, $(VAR) expanded
  // The container's environment as the kubelet gives it: `env` in order with
  // valueFrom resolved and $(VAR) expanded. Unresolvable entries are left
  // out and reported in `warnings`.
  std::vector<std::pair<std::string, std::string>> env;
  std::vector<std::uint16_t> tcp_ports;  // containerPort of TCP ports, in order
  std::vector<std::string> port_names;   // parallel to tcp_ports ("" when unnamed)
  std::optional<std::uint32_t> run_as_user;
  std::optional<std::uint32_t> run_as_group;
  std::vector<VolumeMount> mounts;
  bool native_sidecar = false;  // an init container with restartPolicy: Always
  std::vector<std::string> warnings;
};

struct Pod {
  std::string name;
  std::string namespace_name;
  std::string service_account = "default";
  Json labels = Json::object();
  Json annotations = Json::object();
  std::string workload_kind;  // Deployment, StatefulSet, ..., or Pod
  std::string workload_name;
  std::string replica_set;  // Deployment pods: the ReplicaSet name "<deploy>-<hash>"
  int replica = 0;          // index among the workload's replicas
  std::string ip;
  std::vector<Container> init_containers;
  std::vector<Container> containers;
  std::vector<Volume> volumes;
  Json object;  // the Pod as `kubectl get pod -o json` would show it

  bool hasContainer(std::string_view name) const;
  bool hasInitContainer(std::string_view name) const;
};

struct ServicePort {
  std::string name;
  std::uint16_t port = 0;
  std::uint16_t target_port = 0;  // 0: resolved per endpoint from target_port_name
  std::string target_port_name;
  std::string protocol = "TCP";
  std::string app_protocol;
};

struct Endpoint {
  std::size_t pod = 0;            // index into Plan::pods
  std::uint16_t target_port = 0;  // per service port, parallel to ServicePort order
};

struct Service {
  std::string name;
  std::string namespace_name;
  std::string vip;  // "" for a headless Service (clusterIP: None)
  std::vector<ServicePort> ports;
  Json selector = Json::object();
  // For each port (same order as `ports`), the endpoints: ready pods the
  // selector matches that expose the target port.
  std::vector<std::vector<Endpoint>> endpoints;
  Json object;  // the Service as written, with spec.clusterIP filled in
};

struct Namespace {
  std::string name;
  Json labels = Json::object();
};

// Something in the manifests that will not run, and why (a CronJob waits for
// its schedule, an unknown kind passes through).
struct Skipped {
  std::string what;  // `CronJob "report"`
  std::string why;
};

struct Plan {
  std::vector<Namespace> namespaces;
  std::vector<Pod> pods;
  std::vector<Service> services;
  std::vector<Skipped> skipped;
  std::vector<Json> workloads;  // Deployments, StatefulSets, ... as written, for the state
  // PeerAuthentication and AuthorizationPolicy objects (security.istio.io),
  // as written with metadata.namespace filled in; every pod's proxy config
  // carries them all (`policies:`), and each proxy selects its own.
  std::vector<Json> policies;

  const Pod* findPod(std::string_view namespace_name, std::string_view name) const;
  const Service* findService(std::string_view namespace_name, std::string_view name) const;
};

struct PlanOptions {
  // Cores reported for resourceFieldRef limits.cpu when no limit is set
  // (the kubelet reports the node's allocatable CPU).
  int node_cpus = 2;
  std::string node_ip = std::string(kGateway);
};

// Builds the plan from manifest documents in order (List items included).
// Namespaces named by objects but not declared are created without labels.
// Errors name the document's object and field; nothing is partially planned.
Result<Plan> buildPlan(const std::vector<Json>& documents, const PlanOptions& options = {});

// Kubernetes' $(VAR) expansion of command, args and env values: $(NAME) is
// replaced when NAME is defined, left as written otherwise; $$ escapes a
// dollar ("$$(X)" gives "$(X)").
std::string expandVars(std::string_view text,
                       const std::vector<std::pair<std::string, std::string>>& env);

// A pod's name from its controller, as Kubernetes spells them: a Deployment's
// pods "web-<10-char hash>-<5 chars>", a StatefulSet's "db-0", a
// DaemonSet's and a Job's "<name>-<5 chars>". Deterministic (from the
// template's content and the replica index) so two `up`s give the same names.
std::string templateHash(const Json& pod_template);
std::string podSuffix(std::string_view seed, int replica);

}  // namespace remora::local

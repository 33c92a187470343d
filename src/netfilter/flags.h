// `remora init`'s flags as text, and the pure function that turns them into a
// validated CaptureConfig. The CLI (src/cli/init_command.cc) fills InitFlags
// from the command line and the environment and HostFacts from the machine;
// tests fill both directly, so every flag combination is testable without a
// kernel (tests/netfilter/golden_test.cc).
//
// Errors name the flag and the variable the bad value came from:
//   -x/--istio-service-exclude-cidr (ISTIO_SERVICE_EXCLUDE_CIDR): "*" is not allowed ...
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "netfilter/config.h"

namespace remora::netfilter {

// Values exactly as the user wrote them (istio-iptables' defaults where it has them).
struct InitFlags {
  std::string envoy_port = "15001";            // -p   ENVOY_PORT
  std::string inbound_capture_port = "15006";  // -z   INBOUND_CAPTURE_PORT
  std::string inbound_tunnel_port = "15008";   // -e   INBOUND_TUNNEL_PORT
  std::string proxy_uid;                       // -u   PROXY_UID (empty: HostFacts)
  std::string proxy_gid;                       // -g   PROXY_GID (empty: the UIDs)
  std::string mode;                            // -m   ISTIO_INBOUND_INTERCEPTION_MODE
  std::string tproxy_mark = "1337";            // -t   ISTIO_INBOUND_TPROXY_MARK
  std::string tproxy_route_table = "133";      // -r   ISTIO_INBOUND_TPROXY_ROUTE_TABLE
  std::string inbound_ports;                   // -b   ISTIO_INBOUND_PORTS
  std::string inbound_ports_exclude;           // -d   ISTIO_LOCAL_EXCLUDE_PORTS
  std::string exclude_interfaces;              // -c   ISTIO_EXCLUDE_INTERFACES
  std::string service_cidr;                    // -i   ISTIO_SERVICE_CIDR
  std::string service_exclude_cidr;            // -x   ISTIO_SERVICE_EXCLUDE_CIDR
  std::string outbound_ports;                  // -q   ISTIO_OUTBOUND_PORTS
  std::string outbound_ports_exclude;          // -o   ISTIO_LOCAL_OUTBOUND_PORTS_EXCLUDE
  std::string kube_virt_interfaces;            // -k   KUBE_VIRT_INTERFACES
  std::string iptables_backend = "auto";       // --iptables-backend REMORA_IPTABLES_BACKEND
  std::string probe_port = "15002";            // --iptables-probe-port IPTABLES_PROBE_PORT
  std::string probe_timeout = "5s";            // --probe-timeout PROBE_TIMEOUT
  bool dry_run = false;                        // -n   DRY_RUN
  bool run_validation = false;                 // --run-validation RUN_VALIDATION
  bool skip_rule_apply = false;                // --skip-rule-apply SKIP_RULE_APPLY
  bool redirect_dns = false;                   // --redirect-dns REDIRECT_DNS
  bool capture_all_dns = false;                // --capture-all-dns CAPTURE_ALL_DNS
  bool drop_invalid = false;                   // --drop-invalid DROP_INVALID
  bool dual_stack = false;                     // --dual-stack DUAL_STACK
  bool native_nftables = false;                // --native-nftables NATIVE_NFTABLES
  bool cleanup_only = false;                   // --cleanup-only CLEANUP_ONLY
  bool restore_format = true;                  // -f (accepted, always true)
};

// What the config depends on besides the flags, read by the caller.
struct HostFacts {
  bool pod_has_ipv6 = false;               // Istio's getLocalIP (see init_command.cc)
  std::string default_proxy_uid = "1337";  // $ENVOY_USER's UID, else 1337
  std::string host_ipv4_loopback_cidr;     // HOST_IPV4_LOOPBACK_CIDR, empty: 127.0.0.1/32
  std::string resolv_conf;                 // /etc/resolv.conf, read when redirecting DNS
};

Result<CaptureConfig> configFromFlags(const InitFlags& flags, const HostFacts& host);

// The `nameserver` addresses of a resolv.conf; anything else is ignored.
Result<std::vector<Cidr>> parseResolvConf(std::string_view text);

}  // namespace remora::netfilter

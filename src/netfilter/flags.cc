#include "netfilter/flags.h"

#include <algorithm>

#include <fmt/format.h>

namespace remora::netfilter {
namespace {

// Prefixes a parser's error with the flag and variable the value came from.
template <typename T>
Result<T> flagValue(Result<T> parsed, std::string_view flag, std::string_view env) {
  if (parsed) return parsed;
  return parsed.error().context(fmt::format("{} ({})", flag, env));
}

}  // namespace

Result<std::vector<Cidr>> parseResolvConf(std::string_view text) {
  std::vector<Cidr> servers;
  while (!text.empty()) {
    auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (!line.starts_with("nameserver")) continue;
    auto rest = line.substr(10);
    auto start = rest.find_first_not_of(" \t");
    if (start == std::string_view::npos || start == 0) continue;  // "nameserverX" is no keyword
    auto end = rest.find_first_of(" \t#\r", start);
    auto addr = rest.substr(start, end == std::string_view::npos ? end : end - start);
    auto cidr = parseCidr(addr);
    if (!cidr || addr.find('/') != std::string_view::npos) {
      return Error{Errc::InvalidArgument,
                   fmt::format("resolv.conf: invalid nameserver \"{}\"", addr.substr(0, 64))};
    }
    if (std::find(servers.begin(), servers.end(), *cidr) == servers.end()) {
      servers.push_back(*cidr);
    }
  }
  return servers;
}

Result<CaptureConfig> configFromFlags(const InitFlags& f, const HostFacts& host) {
  CaptureConfig c;
  REMORA_ASSIGN_OR_RETURN(c.proxy_port,
                          flagValue(parsePort(f.envoy_port), "-p/--envoy-port", "ENVOY_PORT"));
  REMORA_ASSIGN_OR_RETURN(c.inbound_capture_port,
                          flagValue(parsePort(f.inbound_capture_port), "-z/--inbound-capture-port",
                                    "INBOUND_CAPTURE_PORT"));
  REMORA_ASSIGN_OR_RETURN(c.inbound_tunnel_port,
                          flagValue(parsePort(f.inbound_tunnel_port), "-e/--inbound-tunnel-port",
                                    "INBOUND_TUNNEL_PORT"));
  const auto& uid_text = f.proxy_uid.empty() ? host.default_proxy_uid : f.proxy_uid;
  REMORA_ASSIGN_OR_RETURN(c.proxy_uids,
                          flagValue(parseIdList(uid_text), "-u/--proxy-uid", "PROXY_UID"));
  // Istio: the GID defaults to the UID (the proxy runs as 1337:1337).
  const auto& gid_text = f.proxy_gid.empty() ? uid_text : f.proxy_gid;
  REMORA_ASSIGN_OR_RETURN(c.proxy_gids,
                          flagValue(parseIdList(gid_text), "-g/--proxy-gid", "PROXY_GID"));
  REMORA_ASSIGN_OR_RETURN(
      c.mode, flagValue(parseInterceptionMode(f.mode), "-m/--istio-inbound-interception-mode",
                        "ISTIO_INBOUND_INTERCEPTION_MODE"));
  REMORA_ASSIGN_OR_RETURN(c.tproxy_mark,
                          flagValue(parseUint(f.tproxy_mark, 1, 0xffffffffu, "mark"),
                                    "-t/--istio-inbound-tproxy-mark", "ISTIO_INBOUND_TPROXY_MARK"));
  // 253-255 are the kernel's default, main and local tables.
  REMORA_ASSIGN_OR_RETURN(
      c.tproxy_route_table,
      flagValue(parseUint(f.tproxy_route_table, 1, 252, "route table"),
                "-r/--istio-inbound-tproxy-route-table", "ISTIO_INBOUND_TPROXY_ROUTE_TABLE"));
  REMORA_ASSIGN_OR_RETURN(
      c.inbound_ports, flagValue(parsePortList(f.inbound_ports, true), "-b/--istio-inbound-ports",
                                 "ISTIO_INBOUND_PORTS"));
  REMORA_ASSIGN_OR_RETURN(c.inbound_ports_exclude,
                          flagValue(parsePortList(f.inbound_ports_exclude, false),
                                    "-d/--istio-local-exclude-ports", "ISTIO_LOCAL_EXCLUDE_PORTS"));
  REMORA_ASSIGN_OR_RETURN(c.exclude_interfaces,
                          flagValue(parseInterfaceList(f.exclude_interfaces),
                                    "-c/--istio-exclude-interfaces", "ISTIO_EXCLUDE_INTERFACES"));
  REMORA_ASSIGN_OR_RETURN(c.outbound_cidrs,
                          flagValue(parseCidrList(f.service_cidr, true), "-i/--istio-service-cidr",
                                    "ISTIO_SERVICE_CIDR"));
  REMORA_ASSIGN_OR_RETURN(
      c.outbound_cidrs_exclude,
      flagValue(parseCidrList(f.service_exclude_cidr, false), "-x/--istio-service-exclude-cidr",
                "ISTIO_SERVICE_EXCLUDE_CIDR"));
  REMORA_ASSIGN_OR_RETURN(c.outbound_ports,
                          flagValue(parsePortList(f.outbound_ports, false),
                                    "-q/--istio-outbound-ports", "ISTIO_OUTBOUND_PORTS"));
  REMORA_ASSIGN_OR_RETURN(
      c.outbound_ports_exclude,
      flagValue(parsePortList(f.outbound_ports_exclude, false),
                "-o/--istio-local-outbound-ports-exclude", "ISTIO_LOCAL_OUTBOUND_PORTS_EXCLUDE"));
  REMORA_ASSIGN_OR_RETURN(c.kube_virt_interfaces,
                          flagValue(parseInterfaceList(f.kube_virt_interfaces),
                                    "-k/--kube-virt-interfaces", "KUBE_VIRT_INTERFACES"));
  if (!host.host_ipv4_loopback_cidr.empty()) {
    REMORA_ASSIGN_OR_RETURN(c.host_ipv4_loopback,
                            flagValue(parseCidr(host.host_ipv4_loopback_cidr),
                                      "HOST_IPV4_LOOPBACK_CIDR", "environment only"));
  }
  c.redirect_dns = f.redirect_dns;
  c.capture_all_dns = f.capture_all_dns;
  c.drop_invalid = f.drop_invalid;
  c.ipv6 = host.pod_has_ipv6;
  if (c.redirect_dns && !c.capture_all_dns) {
    REMORA_ASSIGN_OR_RETURN(c.dns_servers, parseResolvConf(host.resolv_conf));
    if (!c.ipv6) {
      std::erase_if(c.dns_servers, [](const Cidr& s) { return s.family == Family::V6; });
    }
  }
  REMORA_TRY(c.validate());
  return c;
}

}  // namespace remora::netfilter

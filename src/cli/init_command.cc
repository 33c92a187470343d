// `remora init`: istio-iptables' command line on top of src/netfilter.
//
// Every flag keeps istio-iptables' short and long name and reads the same
// environment variable when absent from the command line, so the init
// container the injector writes (`remora init -p 15001 -z 15006 -u 1337 -m
// REDIRECT -i '*' -x "" -b '*' -d 15090,15021,15020`) means what it means to
// Istio. All values are parsed and checked before anything is applied.
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <pwd.h>

#include "cli/commands.h"
#include "core/log.h"
#include "netfilter/applier.h"
#include "netfilter/capture.h"
#include "netfilter/config.h"
#include "netfilter/flags.h"
#include "netfilter/model.h"
#include "netfilter/validate.h"

namespace remora::cli {
namespace {

using netfilter::Backend;
using netfilter::CaptureConfig;
using netfilter::InitFlags;

// Istio's exit status when --run-validation fails (constants.ValidationErrorCode).
constexpr int kValidationFailed = 126;

bool envTrue(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) return false;
  std::string s(v);
  return s == "1" || s == "true" || s == "True" || s == "TRUE";
}

// The proxy's UID: $ENVOY_USER's (default istio-proxy) if the user exists, else 1337.
std::string defaultProxyUid() {
  const char* user = std::getenv("ENVOY_USER");
  const passwd* pw = ::getpwnam(user != nullptr ? user : "istio-proxy");
  return pw != nullptr ? std::to_string(pw->pw_uid) : "1337";
}

// Istio's getLocalIP: the family of the first global address, or with
// dual-stack whether any global IPv6 address exists.
bool podHasIpv6(bool dual_stack) {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return false;
  bool found = false;
  for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr) continue;
    if (a->ifa_addr->sa_family == AF_INET) {
      auto* sin = reinterpret_cast<sockaddr_in*>(a->ifa_addr);
      auto first = static_cast<unsigned>(ntohl(sin->sin_addr.s_addr) >> 24);
      if (first == 127) continue;
      if (!dual_stack) break;  // the first global address is IPv4
    } else if (a->ifa_addr->sa_family == AF_INET6) {
      auto* sin6 = reinterpret_cast<sockaddr_in6*>(a->ifa_addr);
      if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr) || IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr) ||
          IN6_IS_ADDR_MC_LINKLOCAL(&sin6->sin6_addr)) {
        continue;
      }
      found = true;
      break;
    }
  }
  ::freeifaddrs(list);
  return found;
}

[[noreturn]] void fail(int code, std::string_view message) {
  fmt::print(stderr, "remora init: {}\n", message);
  throw CLI::RuntimeError(code);
}

Result<std::string> readFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error{Errc::NotFound, fmt::format("cannot read {}", path)};
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void runInit(const InitFlags& f) {
  netfilter::HostFacts host;
  host.pod_has_ipv6 = podHasIpv6(f.dual_stack);
  host.default_proxy_uid = defaultProxyUid();
  if (const char* lo = std::getenv("HOST_IPV4_LOOPBACK_CIDR")) host.host_ipv4_loopback_cidr = lo;
  if (f.redirect_dns && !f.capture_all_dns && !f.cleanup_only) {
    const char* path = std::getenv("REMORA_RESOLV_CONF");
    auto text = readFile(path != nullptr ? path : "/etc/resolv.conf");
    if (!text)
      fail(1, fmt::format("--redirect-dns: {}; nothing was applied", text.error().message));
    host.resolv_conf = std::move(*text);
  }
  auto config = netfilter::configFromFlags(f, host);
  if (!config) fail(1, fmt::format("{}; nothing was applied", config.error().message));
  auto requested = netfilter::parseIptablesBackend(f.iptables_backend);
  if (!requested) fail(1, requested.error().message);
  auto probe_port = netfilter::parsePort(f.probe_port);
  if (!probe_port) fail(1, probe_port.error().context("--iptables-probe-port").message);
  auto probe_timeout = netfilter::parseDurationMs(f.probe_timeout);
  if (!probe_timeout) fail(1, probe_timeout.error().context("--probe-timeout").message);

  REMORA_LOG(netfilter, debug,
             "config: proxy port {}, inbound capture port {}, tunnel port {}, uids {}, gids {}, "
             "mode {}, inbound ports \"{}\" excluding \"{}\", outbound cidrs \"{}\" excluding "
             "\"{}\", outbound ports \"{}\" excluding \"{}\", ipv6 {}",
             config->proxy_port, config->inbound_capture_port, config->inbound_tunnel_port,
             netfilter::idListStr(config->proxy_uids), netfilter::idListStr(config->proxy_gids),
             config->mode == netfilter::InterceptionMode::Tproxy ? "TPROXY" : "REDIRECT",
             config->inbound_ports.str(), config->inbound_ports_exclude.str(),
             config->outbound_cidrs.str(), config->outbound_cidrs_exclude.str(),
             config->outbound_ports.str(), config->outbound_ports_exclude.str(), config->ipv6);

  if (!f.dry_run && !netfilter::hasNetAdmin() && !(f.skip_rule_apply && !f.run_validation)) {
    fail(f.run_validation ? kValidationFailed : 1,
         "missing capability NET_ADMIN: cannot change the rules of this network namespace (give "
         "the init container securityContext.capabilities.add: [NET_ADMIN, NET_RAW] and run it "
         "as root)");
  }

  netfilter::ExecApplier exec;
  netfilter::DryRunApplier dry(&exec);
  netfilter::Applier& applier = f.dry_run ? static_cast<netfilter::Applier&>(dry) : exec;
  netfilter::Capture capture(applier);

  Backend backend = Backend::Nftables;
  if (!f.native_nftables) {
    if (f.cleanup_only && *requested == Backend::Auto) {
      backend = Backend::Auto;  // clean every backend where anything of ours is
    } else {
      auto resolved = capture.resolve(*requested);
      if (!resolved) {
        fail(f.run_validation ? kValidationFailed : 1,
             fmt::format("{}; nothing was applied", resolved.error().message));
      }
      backend = *resolved;
    }
  }

  if (f.cleanup_only) {
    auto status = capture.cleanup(backend, {config->tproxy_mark, config->tproxy_route_table});
    if (!status) fail(1, status.error().message);
    if (!f.dry_run) REMORA_LOG(netfilter, info, "removed the redirection rules");
  } else if (!f.skip_rule_apply) {
    auto rules = netfilter::buildRuleset(*config);
    auto status = capture.apply(rules, backend);
    if (!status) fail(1, status.error().message);
    if (!f.dry_run) {
      REMORA_LOG(netfilter, info, "applied the redirection rules with {} ({})",
                 netfilter::backendName(backend), rules.ipv6 ? "IPv4 and IPv6" : "IPv4");
    }
  }
  for (const auto& warning : capture.warnings()) REMORA_LOG(netfilter, warn, "{}", warning);

  if (f.dry_run) {
    std::vector<std::string> seen;
    for (const auto& note : dry.notes()) {
      if (std::find(seen.begin(), seen.end(), note) != seen.end()) continue;
      seen.push_back(note);
      fmt::print(stderr, "remora init: dry run: {}\n", note);
    }
    fmt::print("# remora init --dry-run: backend {}; nothing was applied\n",
               netfilter::backendName(backend));
    fmt::print("{}", dry.transcript());
    if (f.run_validation) {
      fmt::print(stderr, "remora init: dry run: --run-validation skipped\n");
    }
    return;
  }

  if (f.run_validation) {
    netfilter::ValidationOptions options{*probe_port, *probe_timeout};
    Backend checked = backend == Backend::Auto ? Backend::IptablesNft : backend;
    auto result = netfilter::validateCapture(exec, *config, checked, options);
    if (!result) {
      fail(kValidationFailed,
           fmt::format("validation failed: {}; the workload is not ready for the mesh",
                       result.error().message));
    }
    fmt::print("validation passed:\n{}", *result);
  }
}

}  // namespace

void addInitCommand(CLI::App& app) {
  auto flags = std::make_shared<InitFlags>();
  auto* cmd = app.add_subcommand(
      "init", "Install the traffic redirection rules in this pod (istio-init / istio-iptables)");
  auto& f = *flags;
  auto opt = [&](std::string names, std::string& value, std::string env, std::string help) {
    // A repeated flag takes its last value, as istio-iptables' pflag does.
    cmd->add_option(std::move(names), value, std::move(help))
        ->envname(std::move(env))
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  };
  opt("-p,--envoy-port", f.envoy_port, "ENVOY_PORT",
      "Port to which all outbound TCP traffic is redirected (default 15001)");
  opt("-z,--inbound-capture-port", f.inbound_capture_port, "INBOUND_CAPTURE_PORT",
      "Port to which all inbound TCP traffic is redirected (default 15006)");
  opt("-e,--inbound-tunnel-port", f.inbound_tunnel_port, "INBOUND_TUNNEL_PORT",
      "Inbound tunnel port, never captured (default 15008)");
  opt("-u,--proxy-uid", f.proxy_uid, "PROXY_UID",
      "UIDs (comma separated) whose traffic is not captured: the proxy's (default: $ENVOY_USER's "
      "UID, else 1337)");
  opt("-g,--proxy-gid", f.proxy_gid, "PROXY_GID",
      "GIDs (comma separated) whose traffic is not captured (default: the proxy UIDs)");
  opt("-m,--istio-inbound-interception-mode", f.mode, "ISTIO_INBOUND_INTERCEPTION_MODE",
      "How inbound connections reach the proxy: REDIRECT (default) or TPROXY");
  opt("-t,--istio-inbound-tproxy-mark", f.tproxy_mark, "ISTIO_INBOUND_TPROXY_MARK",
      "Packet mark of TPROXY mode (default 1337)");
  opt("-r,--istio-inbound-tproxy-route-table", f.tproxy_route_table,
      "ISTIO_INBOUND_TPROXY_ROUTE_TABLE", "Routing table of TPROXY mode (default 133)");
  opt("-b,--istio-inbound-ports", f.inbound_ports, "ISTIO_INBOUND_PORTS",
      "Inbound ports to capture: \"*\" for all, a comma separated list, or empty for none");
  opt("-d,--istio-local-exclude-ports", f.inbound_ports_exclude, "ISTIO_LOCAL_EXCLUDE_PORTS",
      "Inbound ports never captured (with -b \"*\"), e.g. 15090,15021,15020");
  opt("-c,--istio-exclude-interfaces", f.exclude_interfaces, "ISTIO_EXCLUDE_INTERFACES",
      "Interfaces whose traffic is never captured, comma separated");
  opt("-i,--istio-service-cidr", f.service_cidr, "ISTIO_SERVICE_CIDR",
      "Outbound destinations to capture: \"*\" for all, CIDRs comma separated, or empty for none");
  opt("-x,--istio-service-exclude-cidr", f.service_exclude_cidr, "ISTIO_SERVICE_EXCLUDE_CIDR",
      "Outbound destinations never captured, CIDRs comma separated (not \"*\")");
  opt("-q,--istio-outbound-ports", f.outbound_ports, "ISTIO_OUTBOUND_PORTS",
      "Outbound ports always captured, whatever the destination");
  opt("-o,--istio-local-outbound-ports-exclude", f.outbound_ports_exclude,
      "ISTIO_LOCAL_OUTBOUND_PORTS_EXCLUDE", "Outbound ports never captured");
  opt("-k,--kube-virt-interfaces", f.kube_virt_interfaces, "KUBE_VIRT_INTERFACES",
      "Virtual interfaces (KubeVirt) whose inbound traffic is treated as outbound");
  opt("--iptables-backend", f.iptables_backend, "REMORA_IPTABLES_BACKEND",
      "iptables flavour: auto (the one holding rules, else nft), nft or legacy");
  opt("--iptables-probe-port", f.probe_port, "IPTABLES_PROBE_PORT",
      "Destination port of the --run-validation probe (default 15002)");
  opt("--probe-timeout", f.probe_timeout, "PROBE_TIMEOUT",
      "How long --run-validation waits for its probe (default 5s)");
  auto flag = [&](std::string names, bool& value, std::string env, std::string help) {
    cmd->add_flag(std::move(names), value, std::move(help))->envname(std::move(env));
  };
  // Istio's defaults for these come from other variables when unset.
  f.redirect_dns = envTrue("ISTIO_META_DNS_CAPTURE");
  f.drop_invalid = envTrue("INVALID_DROP");
  f.dual_stack = envTrue("ISTIO_AGENT_DUAL_STACK");
  flag("-n,--dry-run", f.dry_run, "DRY_RUN",
       "Print exactly what would be applied (the restore or nft input), apply nothing");
  flag("--run-validation", f.run_validation, "RUN_VALIDATION",
       "Prove that redirection works here; exit 126 with the reason when it does not");
  flag("--skip-rule-apply", f.skip_rule_apply, "SKIP_RULE_APPLY",
       "Apply nothing (with --run-validation: only validate)");
  flag("--redirect-dns", f.redirect_dns, "REDIRECT_DNS",
       "Capture DNS (port 53) to the agent's DNS proxy on 15053 (default $ISTIO_META_DNS_CAPTURE)");
  flag("--capture-all-dns", f.capture_all_dns, "CAPTURE_ALL_DNS",
       "With --redirect-dns, capture port 53 to any server, not only those of /etc/resolv.conf");
  flag("--drop-invalid", f.drop_invalid, "DROP_INVALID",
       "Drop packets conntrack marks INVALID instead of resetting (default $INVALID_DROP)");
  flag("--dual-stack", f.dual_stack, "DUAL_STACK",
       "Also capture IPv6 when the pod has an IPv6 address (default $ISTIO_AGENT_DUAL_STACK)");
  flag("--native-nftables", f.native_nftables, "NATIVE_NFTABLES",
       "Use nftables tables (nft -f) instead of iptables");
  flag("--cleanup-only", f.cleanup_only, "CLEANUP_ONLY",
       "Remove every rule, chain and route remora init made, and nothing else");
  flag("-f,--restore-format", f.restore_format, "RESTORE_FORMAT",
       "Accepted for istio-iptables compatibility: rules are always applied with *-restore");
  cmd->callback([flags] { runInit(*flags); });
}

}  // namespace remora::cli

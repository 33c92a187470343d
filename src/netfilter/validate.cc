#include "netfilter/validate.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netfilter/iptables_render.h"
#include "netfilter/nft_render.h"

namespace remora::netfilter {
namespace {

constexpr int kSoOriginalDst = 80;  // SO_ORIGINAL_DST and IP6T_SO_ORIGINAL_DST

// Owns one descriptor.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

struct SockAddr {
  sockaddr_storage storage{};
  socklen_t len = 0;
};

SockAddr makeAddr(const Cidr& ip, std::uint16_t port) {
  SockAddr a;
  if (ip.family == Family::V4) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&a.storage);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    std::memcpy(&sin->sin_addr, ip.addr.data(), 4);
    a.len = sizeof(sockaddr_in);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    std::memcpy(&sin6->sin6_addr, ip.addr.data(), 16);
    a.len = sizeof(sockaddr_in6);
  }
  return a;
}

std::string errnoText() { return std::strerror(errno); }

bool sameEndpoint(const sockaddr_storage& a, const Cidr& ip, std::uint16_t port) {
  if (ip.family == Family::V4) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&a);
    return sin->sin_family == AF_INET && ntohs(sin->sin_port) == port &&
           std::memcmp(&sin->sin_addr, ip.addr.data(), 4) == 0;
  }
  const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&a);
  return sin6->sin6_family == AF_INET6 && ntohs(sin6->sin6_port) == port &&
         std::memcmp(&sin6->sin6_addr, ip.addr.data(), 16) == 0;
}

bool excluded(const CaptureConfig& c, const Cidr& ip) {
  for (const auto& x : c.outbound_cidrs_exclude.cidrs) {
    if (x.contains(ip)) return true;
  }
  return ip.isLoopback();
}

// One probe: listener on loopback:proxy_port, connection to target:port.
Result<std::string> probe(const CaptureConfig& c, const Cidr& target, std::uint16_t port,
                          std::uint32_t timeout_ms) {
  bool v4 = target.family == Family::V4;
  auto loopback = *parseCidr(v4 ? "127.0.0.1" : "::1");
  int domain = v4 ? AF_INET : AF_INET6;
  Fd listener(::socket(domain, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (listener.fd < 0) return Error{Errc::Io, fmt::format("socket: {}", errnoText())};
  int one = 1;
  ::setsockopt(listener.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  auto local = makeAddr(loopback, c.proxy_port);
  if (::bind(listener.fd, reinterpret_cast<sockaddr*>(&local.storage), local.len) != 0) {
    return Error{Errc::Unavailable,
                 fmt::format("cannot listen on {}:{} for the probe: {} (run the validation before "
                             "the proxy starts)",
                             loopback.address(), c.proxy_port, errnoText())};
  }
  if (::listen(listener.fd, 8) != 0) return Error{Errc::Io, fmt::format("listen: {}", errnoText())};

  Fd client(::socket(domain, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (client.fd < 0) return Error{Errc::Io, fmt::format("socket: {}", errnoText())};
  auto remote = makeAddr(target, port);
  auto where = v4 ? fmt::format("{}:{}", target.address(), port)
                  : fmt::format("[{}]:{}", target.address(), port);
  if (::connect(client.fd, reinterpret_cast<sockaddr*>(&remote.storage), remote.len) != 0 &&
      errno != EINPROGRESS) {
    // Routing comes before netfilter's OUTPUT hook: without a route the
    // rules are never consulted.
    auto hint = errno == ENETUNREACH ? " (no route to it: the probe needs a default route)" : "";
    return Error{Errc::Unavailable,
                 fmt::format("outbound TCP to {} was not redirected: connect failed: {}{}", where,
                             errnoText(), hint)};
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return Error{Errc::Timeout,
                   fmt::format("outbound TCP to {} was not redirected to port {} within {} ms: the "
                               "rules do not capture this process's traffic",
                               where, c.proxy_port, timeout_ms)};
    }
    pollfd fds[2] = {{listener.fd, POLLIN, 0}, {client.fd, POLLOUT, 0}};
    int ready = ::poll(fds, 2, static_cast<int>(left.count()));
    if (ready < 0 && errno != EINTR) return Error{Errc::Io, fmt::format("poll: {}", errnoText())};
    if (fds[1].revents & (POLLERR | POLLHUP)) {
      int err = 0;
      socklen_t len = sizeof(err);
      ::getsockopt(client.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      return Error{Errc::Unavailable, fmt::format("outbound TCP to {} was not redirected: {}",
                                                  where, std::strerror(err))};
    }
    if (!(fds[0].revents & POLLIN)) continue;
    Fd conn(::accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC));
    if (conn.fd < 0) continue;
    sockaddr_storage orig{};
    socklen_t len = sizeof(orig);
    int level = v4 ? SOL_IP : SOL_IPV6;
    if (::getsockopt(conn.fd, level, kSoOriginalDst, &orig, &len) != 0) {
      return Error{Errc::Unavailable,
                   fmt::format("a connection reached {}:{} but has no original destination ({}): "
                               "something else connected to the capture port",
                               loopback.address(), c.proxy_port, errnoText())};
    }
    if (!sameEndpoint(orig, target, port)) continue;  // someone else's connection
    return fmt::format(
        "outbound TCP to {} was redirected to {}:{} with its original "
        "destination intact",
        where, loopback.address(), c.proxy_port);
  }
}

Status checkRulesPresent(Applier& applier, const CaptureConfig& c, Backend backend) {
  if (backend == Backend::Nftables) {
    auto family = c.ipv6 ? "inet" : "ip";
    auto result =
        applier.run(Command{"nft", {"list", "table", family, "istio-proxy-nat"}, {}, false});
    if (!result || result->exit_code != 0 ||
        result->out.find("chain istio-output") == std::string::npos) {
      return Error{Errc::NotFound,
                   fmt::format("no redirection rules: nftables table {} istio-proxy-nat is missing "
                               "(run `remora init` first, or check which backend applied them)",
                               family)};
    }
    return ok();
  }
  auto tool = backend == Backend::IptablesLegacy ? "iptables-legacy-save" : "iptables-nft-save";
  auto result = applier.run(Command{tool, {"-t", "nat"}, {}, false});
  if (!result || result->exit_code != 0) {
    return Error{Errc::Unavailable, fmt::format("cannot read the rules with {}: {}", tool,
                                                result ? result->err : result.error().message)};
  }
  auto state = parseIptablesSave(result->out);
  if (!state) return state.error();
  const SavedTable* nat = state->find("nat");
  bool jump = false;
  if (nat != nullptr) {
    for (const auto& rule : nat->rules) {
      if (rule.chain == "OUTPUT" && rule.spec.find("ISTIO_OUTPUT") != std::string::npos) {
        jump = true;
      }
    }
  }
  if (!jump) {
    return Error{Errc::NotFound,
                 fmt::format("no redirection rules: {} shows no jump from nat OUTPUT to "
                             "ISTIO_OUTPUT (run `remora init` first, or check the backend)",
                             tool)};
  }
  return ok();
}

}  // namespace

bool hasNetAdmin() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (!line.starts_with("CapEff:")) continue;
    auto hex = line.substr(7);
    std::uint64_t caps = 0;
    for (char ch : hex) {
      if (ch == ' ' || ch == '\t') continue;
      int v = (ch >= '0' && ch <= '9') ? ch - '0' : (ch >= 'a' && ch <= 'f') ? ch - 'a' + 10 : -1;
      if (v < 0) return false;
      caps = (caps << 4) | static_cast<std::uint64_t>(v);
    }
    constexpr int kCapNetAdmin = 12;
    return (caps >> kCapNetAdmin) & 1u;
  }
  return false;
}

Result<Cidr> probeAddress(const CaptureConfig& c, Family family) {
  // TEST-NET-1/2/3 (RFC 5737) and the IPv6 documentation prefix (RFC 3849).
  static const char* const kV4[] = {"192.0.2.1", "198.51.100.1", "203.0.113.1"};
  static const char* const kV6[] = {"2001:db8::1", "2001:db8:1::1"};
  if (c.outbound_cidrs.wildcard || (!c.outbound_ports.empty() && c.outbound_cidrs.empty())) {
    if (family == Family::V4) {
      for (const char* a : kV4) {
        auto ip = *parseCidr(a);
        if (!excluded(c, ip)) return ip;
      }
    } else {
      for (const char* a : kV6) {
        auto ip = *parseCidr(a);
        if (!excluded(c, ip)) return ip;
      }
    }
  }
  for (const auto& cidr : c.outbound_cidrs.of(family)) {
    Cidr ip = cidr;
    ip.prefix = family == Family::V4 ? 32 : 128;
    if (cidr.prefix < ip.prefix) ip.addr[family == Family::V4 ? 3 : 15] |= 1;  // first host
    if (!excluded(c, ip)) return ip;
  }
  return Error{Errc::NotFound, fmt::format("no {} outbound capture to probe",
                                           family == Family::V4 ? "IPv4" : "IPv6")};
}

Result<std::string> validateCapture(Applier& applier, const CaptureConfig& c, Backend backend,
                                    const ValidationOptions& options) {
  if (!hasNetAdmin()) {
    return Error{Errc::PermissionDenied,
                 "missing capability NET_ADMIN: the rules cannot be installed or checked (give "
                 "the init container securityContext.capabilities.add: [NET_ADMIN, NET_RAW] and "
                 "run it as root)"};
  }
  if (backend == Backend::Nftables
          ? !applier.available("nft")
          : !applier.available(backend == Backend::IptablesLegacy ? "iptables-legacy-save"
                                                                  : "iptables-nft-save")) {
    return Error{Errc::NotFound,
                 fmt::format("no {} backend: its tools are not in PATH", backendName(backend))};
  }
  REMORA_TRY(checkRulesPresent(applier, c, backend));
  for (auto uid : c.proxy_uids) {
    if (::geteuid() == uid) {
      return Error{Errc::InvalidArgument,
                   fmt::format("cannot probe as UID {}: the proxy's UID is exempt from capture by "
                               "design; run the validation as another user",
                               uid)};
    }
  }
  for (auto gid : c.proxy_gids) {
    if (::getegid() == gid) {
      return Error{
          Errc::InvalidArgument,
          fmt::format("cannot probe as GID {}: the proxy's GID is exempt from capture", gid)};
    }
  }
  std::string summary;
  std::uint16_t port = options.probe_port;
  if (c.outbound_cidrs.empty() && !c.outbound_ports.empty()) port = c.outbound_ports.ports.front();
  for (auto port_excluded : c.outbound_ports_exclude.ports) {
    if (port_excluded == port) {
      return Error{Errc::InvalidArgument,
                   fmt::format("the probe port {} is excluded from capture: choose another with "
                               "--iptables-probe-port",
                               port)};
    }
  }
  bool probed = false;
  for (Family family : {Family::V4, Family::V6}) {
    if (family == Family::V6 && !c.ipv6) continue;
    auto target = probeAddress(c, family);
    if (!target) continue;
    REMORA_ASSIGN_OR_RETURN(auto line, probe(c, *target, port, options.timeout_ms));
    summary += line + "\n";
    probed = true;
  }
  if (!probed) {
    summary = "rules present; no outbound capture is configured, so there is nothing to probe\n";
  }
  return summary;
}

}  // namespace remora::netfilter

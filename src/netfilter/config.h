// The capture configuration of `remora init`: istio-iptables' settings,
// parsed and validated, plus the parsers for the values users write in flags,
// environment variables and pod annotations (port lists, CIDR lists, ...).
//
// Every parser turns any string into a value or an Error that names the
// offending item; none of them throws or crashes (fuzz/netfilter_values_fuzz.cc).
// A parsed value prints back (str()) to a string that parses to the same value.
//
// Lists follow istio-iptables: items separated by ',', surrounding blanks
// ignored, empty items skipped, so "" is the empty list. Unlike istio-iptables,
// which skips a CIDR it cannot parse "for bug compatibility", a bad item is an
// error here: `remora init` fails before it applies anything.
//
// Threading: plain values, no shared state.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace remora::netfilter {

enum class Family : std::uint8_t { V4, V6 };

// An IP prefix with its host bits cleared: "10.1.2.3/8" parses as 10.0.0.0/8.
// An address without a prefix length is a host prefix (/32 or /128).
struct Cidr {
  Family family = Family::V4;
  std::array<std::uint8_t, 16> addr{};  // network byte order; V4 uses the first 4
  std::uint8_t prefix = 0;

  std::string address() const;  // "10.0.0.0", "fd00::"
  std::string str() const;      // "10.0.0.0/8", "fd00::/64"
  bool isLoopback() const;      // inside 127.0.0.0/8 or ::1/128
  bool contains(const Cidr& other) const;
  friend bool operator==(const Cidr&, const Cidr&) = default;
};

Result<Cidr> parseCidr(std::string_view text);

// A CIDR list for -i / -x: "*" (everything, only where allowed) or prefixes.
struct CidrList {
  bool wildcard = false;
  std::vector<Cidr> cidrs;

  bool empty() const { return !wildcard && cidrs.empty(); }
  std::vector<Cidr> of(Family family) const;
  bool hasLoopback() const;
  std::string str() const;  // "*" or "10.0.0.0/8,fd00::/8"
  friend bool operator==(const CidrList&, const CidrList&) = default;
};

Result<CidrList> parseCidrList(std::string_view text, bool allow_wildcard);

// A port list for -b / -d / -q / -o: "*" (only where allowed) or 1..65535.
// Duplicates are kept once, in first-seen order.
struct PortList {
  bool wildcard = false;
  std::vector<std::uint16_t> ports;

  bool empty() const { return !wildcard && ports.empty(); }
  std::string str() const;  // "*" or "15090,15021"
  friend bool operator==(const PortList&, const PortList&) = default;
};

Result<std::uint16_t> parsePort(std::string_view text);
Result<PortList> parsePortList(std::string_view text, bool allow_wildcard);

// UID or GID lists for -u / -g: decimal numbers 0..4294967294 (names are not
// resolved: an init container's /etc/passwd says nothing about the proxy's).
Result<std::vector<std::uint32_t>> parseIdList(std::string_view text);
std::string idListStr(const std::vector<std::uint32_t>& ids);

// Interface names for -c / -k: 1..15 of [A-Za-z0-9_.@-], optionally ending in
// '+' (iptables' "any interface with this prefix").
Result<std::vector<std::string>> parseInterfaceList(std::string_view text);

// A decimal number in [min, max]; `what` names it in the error.
Result<std::uint32_t> parseUint(std::string_view text, std::uint32_t min, std::uint32_t max,
                                std::string_view what);

// "500ms", "5s", "2m" (Go's duration syntax, the units istio-iptables uses).
Result<std::uint32_t> parseDurationMs(std::string_view text);

// Splits on ',' and trims blanks, dropping empty items.
std::vector<std::string_view> splitList(std::string_view text);

enum class InterceptionMode : std::uint8_t { Redirect, Tproxy };

Result<InterceptionMode> parseInterceptionMode(std::string_view text);

// Everything the rule builder needs, already validated. Defaults are
// istio-iptables' defaults.
struct CaptureConfig {
  std::uint16_t proxy_port = 15001;                    // -p: outbound capture
  std::uint16_t inbound_capture_port = 15006;          // -z
  std::uint16_t inbound_tunnel_port = 15008;           // -e: HBONE, never captured
  std::vector<std::uint32_t> proxy_uids{1337};         // -u
  std::vector<std::uint32_t> proxy_gids{1337};         // -g (defaults to -u)
  InterceptionMode mode = InterceptionMode::Redirect;  // -m
  std::uint32_t tproxy_mark = 1337;                    // -t
  std::uint32_t tproxy_route_table = 133;              // -r
  PortList inbound_ports;                         // -b: "*", a list, or empty (no inbound capture)
  PortList inbound_ports_exclude;                 // -d: only with -b "*"
  PortList outbound_ports;                        // -q: captured whatever the destination
  PortList outbound_ports_exclude;                // -o
  CidrList outbound_cidrs;                        // -i: "*", a list, or empty (no outbound capture)
  CidrList outbound_cidrs_exclude;                // -x: never "*"
  std::vector<std::string> exclude_interfaces;    // -c
  std::vector<std::string> kube_virt_interfaces;  // -k
  bool redirect_dns = false;                      // --redirect-dns
  bool capture_all_dns = false;                   // --capture-all-dns
  std::vector<Cidr> dns_servers;                  // from /etc/resolv.conf when redirecting DNS
  bool drop_invalid = false;                      // --drop-invalid
  bool ipv6 = false;                              // render IPv6 rules (--dual-stack or an IPv6 pod)
  Cidr host_ipv4_loopback{Family::V4, {127, 0, 0, 1}, 32};  // HOST_IPV4_LOOPBACK_CIDR

  // Cross-field checks the single-value parsers cannot make (equal capture
  // ports, no proxy UID, a loopback CIDR outside 127/8). The first problem found.
  Status validate() const;
};

// 15053: istio-agent's DNS proxy, where --redirect-dns sends port 53.
inline constexpr std::uint16_t kAgentDnsPort = 15053;
// 1338: the mark TPROXY mode puts on the proxy's own loopback traffic.
inline constexpr std::uint32_t kOutboundMark = 1338;

}  // namespace remora::netfilter

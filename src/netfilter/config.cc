#include "netfilter/config.h"

#include <algorithm>
#include <cstring>

#include <arpa/inet.h>
#include <fmt/format.h>

namespace remora::netfilter {
namespace {

// Shown in errors: bounded, and with control bytes escaped, so a hostile
// value cannot flood or garble the terminal.
std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text.substr(0, 64)) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  if (text.size() > 64) out += "...";
  return out + "\"";
}

bool isDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::vector<std::string_view> splitList(std::string_view text) {
  std::vector<std::string_view> items;
  while (true) {
    auto comma = text.find(',');
    auto item = trim(text.substr(0, comma));
    if (!item.empty()) items.push_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return items;
}

Result<std::uint32_t> parseUint(std::string_view text, std::uint32_t min, std::uint32_t max,
                                std::string_view what) {
  // Never strtoul: "12abc", "+1", " 1" and "0x10" must fail, 10 digits at most.
  if (!isDigits(text) || text.size() > 10) {
    return Error{Errc::InvalidArgument,
                 fmt::format("invalid {} {}: not a decimal number", what, quoted(text))};
  }
  std::uint64_t value = 0;
  for (char c : text) value = value * 10 + static_cast<std::uint64_t>(c - '0');
  if (value < min || value > max) {
    return Error{Errc::InvalidArgument,
                 fmt::format("invalid {} {}: must be {}-{}", what, quoted(text), min, max)};
  }
  return static_cast<std::uint32_t>(value);
}

Result<std::uint16_t> parsePort(std::string_view text) {
  REMORA_ASSIGN_OR_RETURN(auto port, parseUint(text, 1, 65535, "port"));
  return static_cast<std::uint16_t>(port);
}

Result<PortList> parsePortList(std::string_view text, bool allow_wildcard) {
  PortList list;
  auto items = splitList(text);
  for (auto item : items) {
    if (item == "*") {
      if (!allow_wildcard) {
        return Error{Errc::InvalidArgument, "\"*\" is not allowed in this port list"};
      }
      if (items.size() != 1) {
        return Error{Errc::InvalidArgument, "\"*\" must be the only item of a port list"};
      }
      list.wildcard = true;
      return list;
    }
    REMORA_ASSIGN_OR_RETURN(auto port, parsePort(item));
    if (std::find(list.ports.begin(), list.ports.end(), port) == list.ports.end()) {
      list.ports.push_back(port);
    }
  }
  return list;
}

std::string PortList::str() const {
  if (wildcard) return "*";
  return fmt::format("{}", fmt::join(ports, ","));
}

Result<Cidr> parseCidr(std::string_view text) {
  auto slash = text.find('/');
  auto addr_text = text.substr(0, slash);
  Cidr cidr;
  char buf[INET6_ADDRSTRLEN + 1] = {};
  if (addr_text.empty() || addr_text.size() >= sizeof(buf)) {
    return Error{Errc::InvalidArgument, fmt::format("invalid CIDR {}", quoted(text))};
  }
  std::memcpy(buf, addr_text.data(), addr_text.size());
  unsigned max_prefix = 0;
  if (addr_text.find(':') != std::string_view::npos) {
    if (inet_pton(AF_INET6, buf, cidr.addr.data()) != 1) {
      return Error{Errc::InvalidArgument,
                   fmt::format("invalid CIDR {}: bad IPv6 address", quoted(text))};
    }
    cidr.family = Family::V6;
    max_prefix = 128;
  } else {
    if (inet_pton(AF_INET, buf, cidr.addr.data()) != 1) {
      return Error{Errc::InvalidArgument,
                   fmt::format("invalid CIDR {}: bad IPv4 address", quoted(text))};
    }
    cidr.family = Family::V4;
    max_prefix = 32;
  }
  cidr.prefix = static_cast<std::uint8_t>(max_prefix);
  if (slash != std::string_view::npos) {
    auto len = text.substr(slash + 1);
    if (!isDigits(len) || len.size() > 3) {
      return Error{Errc::InvalidArgument,
                   fmt::format("invalid CIDR {}: bad prefix length", quoted(text))};
    }
    unsigned value = 0;
    for (char c : len) value = value * 10 + static_cast<unsigned>(c - '0');
    if (value > max_prefix) {
      return Error{Errc::InvalidArgument,
                   fmt::format("invalid CIDR {}: prefix length over {}", quoted(text), max_prefix)};
    }
    cidr.prefix = static_cast<std::uint8_t>(value);
  }
  // Clear the host bits, as the kernel does, so equal ranges compare equal.
  for (unsigned bit = cidr.prefix; bit < max_prefix; ++bit) {
    cidr.addr[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
  }
  return cidr;
}

std::string Cidr::address() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == Family::V4 ? AF_INET : AF_INET6, addr.data(), buf, sizeof(buf));
  return buf;
}

std::string Cidr::str() const { return fmt::format("{}/{}", address(), prefix); }

bool Cidr::contains(const Cidr& other) const {
  if (family != other.family || other.prefix < prefix) return false;
  for (unsigned bit = 0; bit < prefix; ++bit) {
    auto mask = static_cast<std::uint8_t>(0x80u >> (bit % 8));
    if ((addr[bit / 8] & mask) != (other.addr[bit / 8] & mask)) return false;
  }
  return true;
}

bool Cidr::isLoopback() const {
  if (family == Family::V4) return addr[0] == 127 && prefix >= 8;
  static const Cidr kLoopback6{Family::V6, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128};
  return *this == kLoopback6;
}

Result<CidrList> parseCidrList(std::string_view text, bool allow_wildcard) {
  CidrList list;
  auto items = splitList(text);
  for (auto item : items) {
    if (item == "*") {
      if (!allow_wildcard) {
        return Error{Errc::InvalidArgument, "\"*\" is not allowed in this CIDR list"};
      }
      if (items.size() != 1) {
        return Error{Errc::InvalidArgument, "\"*\" must be the only item of a CIDR list"};
      }
      list.wildcard = true;
      return list;
    }
    REMORA_ASSIGN_OR_RETURN(auto cidr, parseCidr(item));
    if (std::find(list.cidrs.begin(), list.cidrs.end(), cidr) == list.cidrs.end()) {
      list.cidrs.push_back(cidr);
    }
  }
  return list;
}

std::vector<Cidr> CidrList::of(Family family) const {
  std::vector<Cidr> out;
  for (const auto& c : cidrs) {
    if (c.family == family) out.push_back(c);
  }
  return out;
}

bool CidrList::hasLoopback() const {
  return std::any_of(cidrs.begin(), cidrs.end(), [](const Cidr& c) { return c.isLoopback(); });
}

std::string CidrList::str() const {
  if (wildcard) return "*";
  std::vector<std::string> parts;
  parts.reserve(cidrs.size());
  for (const auto& c : cidrs) parts.push_back(c.str());
  return fmt::format("{}", fmt::join(parts, ","));
}

Result<std::vector<std::uint32_t>> parseIdList(std::string_view text) {
  std::vector<std::uint32_t> ids;
  for (auto item : splitList(text)) {
    // 4294967295 is (uid_t)-1, "no change" to the kernel: never a real owner.
    REMORA_ASSIGN_OR_RETURN(auto id, parseUint(item, 0, 4294967294u, "UID/GID"));
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  }
  return ids;
}

std::string idListStr(const std::vector<std::uint32_t>& ids) {
  return fmt::format("{}", fmt::join(ids, ","));
}

Result<std::vector<std::string>> parseInterfaceList(std::string_view text) {
  std::vector<std::string> names;
  for (auto item : splitList(text)) {
    auto body = item;
    if (body.back() == '+') body.remove_suffix(1);
    bool valid =
        !body.empty() && item.size() <= 15 && std::all_of(body.begin(), body.end(), [](char c) {
          return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '.' || c == '-' || c == '@';
        });
    if (!valid) {
      return Error{Errc::InvalidArgument,
                   fmt::format("invalid interface name {}: use 1-15 of A-Z a-z 0-9 _ . - @, "
                               "optionally ending in +",
                               quoted(item))};
    }
    std::string name(item);
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  return names;
}

Result<std::uint32_t> parseDurationMs(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  auto unit = text.substr(digits);
  std::uint32_t scale = 0;
  if (unit == "ms") {
    scale = 1;
  } else if (unit == "s") {
    scale = 1000;
  } else if (unit == "m") {
    scale = 60'000;
  } else {
    return Error{Errc::InvalidArgument,
                 fmt::format("invalid duration {}: use e.g. 500ms, 5s or 1m", quoted(text))};
  }
  REMORA_ASSIGN_OR_RETURN(auto n,
                          parseUint(text.substr(0, digits), 1, 3'600'000 / scale, "duration"));
  return n * scale;
}

Result<InterceptionMode> parseInterceptionMode(std::string_view text) {
  if (text.empty() || text == "REDIRECT") return InterceptionMode::Redirect;
  if (text == "TPROXY") return InterceptionMode::Tproxy;
  return Error{Errc::InvalidArgument,
               fmt::format("invalid interception mode {}: use REDIRECT or TPROXY", quoted(text))};
}

Status CaptureConfig::validate() const {
  if (outbound_cidrs_exclude.wildcard) {
    return Error{Errc::InvalidArgument, "\"*\" cannot exclude every outbound CIDR"};
  }
  if (proxy_port == inbound_capture_port) {
    return Error{Errc::InvalidArgument,
                 fmt::format("the outbound ({}) and inbound ({}) capture ports must differ",
                             proxy_port, inbound_capture_port)};
  }
  if (proxy_uids.empty()) {
    return Error{Errc::InvalidArgument, "no proxy UID: the proxy's own traffic would loop"};
  }
  if (host_ipv4_loopback.family != Family::V4 || host_ipv4_loopback.addr[0] != 127 ||
      host_ipv4_loopback.prefix < 8) {
    return Error{Errc::InvalidArgument,
                 fmt::format("HOST_IPV4_LOOPBACK_CIDR {} must be inside 127.0.0.0/8",
                             host_ipv4_loopback.str())};
  }
  return ok();
}

}  // namespace remora::netfilter

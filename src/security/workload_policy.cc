#include "security/workload_policy.h"

#include <algorithm>

#include <fmt/format.h>

#include "http/header_map.h"
#include "security/path.h"

namespace remora::security {
namespace {

MtlsMode effective(PeerMode mode, MtlsMode parent) {
  switch (mode) {
    case PeerMode::Unset: return parent;
    case PeerMode::Permissive: return MtlsMode::Permissive;
    case PeerMode::Strict: return MtlsMode::Strict;
    case PeerMode::Disable: return MtlsMode::Disable;
  }
  return parent;
}

bool anyMatch(const std::vector<StringMatch>& patterns, std::string_view text,
              bool ignore_case = false) {
  for (const auto& p : patterns) {
    if (p.matches(text, ignore_case)) return true;
  }
  return false;
}

bool anyCidr(const std::vector<Cidr>& blocks, const asio::ip::address& address) {
  for (const auto& b : blocks) {
    if (b.contains(address)) return true;
  }
  return false;
}

bool anyPort(const std::vector<std::uint16_t>& ports, std::uint16_t port) {
  return std::find(ports.begin(), ports.end(), port) != ports.end();
}

// A list that is empty does not constrain; a not-list matches when no value does.
bool positive(bool present, bool matched) { return !present || matched; }
bool negative(bool present, bool matched) { return !present || !matched; }

// Host patterns compare case-insensitively, with the request's `:port`
// ignored when the pattern names no port (Istio matches "example.com" for a
// request to "example.com:8080").
bool hostMatches(const std::vector<StringMatch>& patterns, std::string_view host) {
  if (anyMatch(patterns, host, /*ignore_case=*/true)) return true;
  std::size_t colon = host.rfind(':');
  if (colon == std::string_view::npos || host.find(']', colon) != std::string_view::npos) {
    return false;
  }
  return anyMatch(patterns, host.substr(0, colon), /*ignore_case=*/true);
}

const asio::ip::address& remoteOf(const RequestAttributes& a) {
  return a.remote_ip.is_unspecified() ? a.source_ip : a.remote_ip;
}

// In a DENY policy on a TCP connection, HTTP-only fields are dropped
// (skip_http = true): they then constrain nothing.
bool sourceMatches(const Source& s, const RequestAttributes& a, bool skip_http) {
  // A principal or namespace needs an authenticated peer: "" matches nothing.
  bool ok = positive(!s.principals.empty(), anyMatch(s.principals, a.principal)) &&
            negative(!s.not_principals.empty(), anyMatch(s.not_principals, a.principal)) &&
            positive(!s.namespaces.empty(), anyMatch(s.namespaces, a.source_namespace)) &&
            negative(!s.not_namespaces.empty(), anyMatch(s.not_namespaces, a.source_namespace)) &&
            positive(!s.ip_blocks.empty(), anyCidr(s.ip_blocks, a.source_ip)) &&
            negative(!s.not_ip_blocks.empty(), anyCidr(s.not_ip_blocks, a.source_ip)) &&
            positive(!s.remote_ip_blocks.empty(), anyCidr(s.remote_ip_blocks, remoteOf(a))) &&
            negative(!s.not_remote_ip_blocks.empty(), anyCidr(s.not_remote_ip_blocks, remoteOf(a)));
  if (!ok) return false;
  if (skip_http) return true;
  // No request carries a request principal (no RequestAuthentication).
  return !s.request_principals;
}

bool operationMatches(const Operation& o, const RequestAttributes& a, std::string_view path,
                      bool skip_http) {
  if (!(positive(!o.ports.empty(), anyPort(o.ports, a.destination_port)) &&
        negative(!o.not_ports.empty(), anyPort(o.not_ports, a.destination_port)))) {
    return false;
  }
  if (skip_http) return true;
  return positive(!o.hosts.empty(), hostMatches(o.hosts, a.host)) &&
         negative(!o.not_hosts.empty(), hostMatches(o.not_hosts, a.host)) &&
         positive(!o.methods.empty(), anyMatch(o.methods, a.method)) &&
         negative(!o.not_methods.empty(), anyMatch(o.not_methods, a.method)) &&
         positive(!o.paths.empty(), anyMatch(o.paths, path)) &&
         negative(!o.not_paths.empty(), anyMatch(o.not_paths, path));
}

// Any value of header `name` matching (Envoy joins repeated fields with ','
// before matching; here each field is tried on its own, which never needs an
// allocation and agrees whenever the header appears once).
bool headerMatches(const std::vector<StringMatch>& patterns, const http::HeaderMap* headers,
                   std::string_view name) {
  if (headers == nullptr) return false;
  bool hit = false;
  headers->forEachValue(name, [&](std::string_view v) { hit = hit || anyMatch(patterns, v); });
  return hit;
}

bool conditionMatches(const Condition& c, const RequestAttributes& a, bool skip_http) {
  switch (c.key) {
    case Condition::Key::SourceIp:
      return positive(!c.ip_values.empty(), anyCidr(c.ip_values, a.source_ip)) &&
             negative(!c.not_ip_values.empty(), anyCidr(c.not_ip_values, a.source_ip));
    case Condition::Key::RemoteIp:
      return positive(!c.ip_values.empty(), anyCidr(c.ip_values, remoteOf(a))) &&
             negative(!c.not_ip_values.empty(), anyCidr(c.not_ip_values, remoteOf(a)));
    case Condition::Key::DestinationPort:
      return positive(!c.port_values.empty(), anyPort(c.port_values, a.destination_port)) &&
             negative(!c.not_ports.empty(), anyPort(c.not_ports, a.destination_port));
    case Condition::Key::SourceNamespace:
      return positive(!c.values.empty(), anyMatch(c.values, a.source_namespace)) &&
             negative(!c.not_values.empty(), anyMatch(c.not_values, a.source_namespace));
    case Condition::Key::SourcePrincipal:
      return positive(!c.values.empty(), anyMatch(c.values, a.principal)) &&
             negative(!c.not_values.empty(), anyMatch(c.not_values, a.principal));
    case Condition::Key::RequestHeader:
      if (skip_http) return true;
      return positive(!c.values.empty(), headerMatches(c.values, a.headers, c.header)) &&
             negative(!c.not_values.empty(), headerMatches(c.not_values, a.headers, c.header));
  }
  return false;
}

bool ruleMatches(const Rule& r, const RequestAttributes& a, std::string_view path, bool deny) {
  bool skip_http = false;
  if (!a.http) {
    if (!deny && r.hasHttpOnlyFields()) return false;  // ALLOW: the rule never matches TCP
    skip_http = deny;
  }
  if (!r.from.empty()) {
    bool any = false;
    for (const auto& s : r.from) any = any || sourceMatches(s, a, skip_http);
    if (!any) return false;
  }
  if (!r.to.empty()) {
    bool any = false;
    for (const auto& o : r.to) any = any || operationMatches(o, a, path, skip_http);
    if (!any) return false;
  }
  for (const auto& c : r.when) {
    if (!conditionMatches(c, a, skip_http)) return false;
  }
  return true;
}

}  // namespace

std::string_view mtlsModeName(MtlsMode mode) noexcept {
  switch (mode) {
    case MtlsMode::Permissive: return "PERMISSIVE";
    case MtlsMode::Strict: return "STRICT";
    case MtlsMode::Disable: return "DISABLE";
  }
  return "PERMISSIVE";
}

WorkloadPolicy WorkloadPolicy::build(const Policies& policies, const WorkloadSelectorInfo& workload,
                                     std::string_view root_namespace) {
  WorkloadPolicy out;
  const PeerAuthentication* mesh_wide = nullptr;
  const PeerAuthentication* namespace_wide = nullptr;
  const PeerAuthentication* selected = nullptr;
  for (const auto& pa : policies.peer_authentications) {
    if (pa.selector.empty()) {
      if (pa.namespace_ == root_namespace && mesh_wide == nullptr) mesh_wide = &pa;
      // In the root namespace a selector-less policy is both mesh-wide and
      // the root namespace's own: the namespace level for its workloads.
      if (pa.namespace_ == workload.namespace_ && namespace_wide == nullptr) namespace_wide = &pa;
    } else if (pa.namespace_ == workload.namespace_ && selected == nullptr &&
               selects(pa.selector, workload.labels)) {
      selected = &pa;
    }
  }
  MtlsMode mode = MtlsMode::Permissive;
  for (const PeerAuthentication* level : {mesh_wide, namespace_wide, selected}) {
    if (level == nullptr) continue;
    mode = effective(level->mode, mode);
    out.peer_name_ = fmt::format("{}.{}", level->namespace_, level->name);
  }
  out.mode_ = mode;
  if (selected != nullptr) {
    for (const auto& [port, pm] : selected->port_modes) {
      out.port_modes_.emplace_back(port, effective(pm, mode));
    }
  }

  for (const auto& ap : policies.authorization_policies) {
    if (ap.action == Action::Audit) continue;
    bool in_scope = ap.namespace_ == root_namespace || ap.namespace_ == workload.namespace_;
    if (!in_scope || !selects(ap.selector, workload.labels)) continue;
    Applied applied{fmt::format("{}.{}", ap.namespace_, ap.name), ap.rules};
    (ap.action == Action::Deny ? out.deny_ : out.allow_).push_back(std::move(applied));
  }
  return out;
}

MtlsMode WorkloadPolicy::mtlsMode(std::uint16_t port) const noexcept {
  for (const auto& [p, m] : port_modes_) {  // a handful at most
    if (p == port) return m;
  }
  return mode_;
}

bool WorkloadPolicy::anyRuleMatches(const Applied& policy, const RequestAttributes& a,
                                    std::string_view path, bool deny) {
  for (const auto& r : policy.rules) {
    if (ruleMatches(r, a, path, deny)) return true;
  }
  return false;
}

Decision WorkloadPolicy::authorize(const RequestAttributes& attributes) const {
  if (!hasAuthorization()) return {};
  std::string_view path;
  std::string scratch;  // allocates only when the path was not normal
  if (attributes.http) {
    if (attributes.path_normalized) {
      path = attributes.path;
    } else {
      auto n = normalizePath(attributes.path, scratch);
      if (!n) return Decision{false, "(invalid path)"};
      path = *n;
    }
    path = pathWithoutQuery(path);
  }
  for (const auto& p : deny_) {
    if (anyRuleMatches(p, attributes, path, /*deny=*/true)) return Decision{false, p.id};
  }
  if (allow_.empty()) return {};
  for (const auto& p : allow_) {
    if (anyRuleMatches(p, attributes, path, /*deny=*/false)) return {};
  }
  return Decision{false, ""};
}

std::vector<std::string> WorkloadPolicy::appliedPolicyNames() const {
  std::vector<std::string> out;
  for (const auto& p : deny_) out.push_back(p.id);
  for (const auto& p : allow_) out.push_back(p.id);
  return out;
}

}  // namespace remora::security

#include "security/policy.h"

#include <initializer_list>
#include <set>
#include <tuple>
#include <utility>

#include <fmt/format.h>

#include "core/dns_name.h"
#include "core/json_fields.h"

namespace remora::security {
namespace {

using json_fields::invalid;
using json_fields::listAt;
using json_fields::mapAt;
using json_fields::typeName;

Status checkKeys(const Json& object, const std::string& path,
                 std::initializer_list<std::string_view> allowed) {
  return json_fields::checkKeys(object, path, allowed, "docs/security.md");
}

Result<std::string> stringAt(const Json& v, const std::string& path) {
  if (!v.is_string()) return invalid(path, "must be a string, not " + typeName(v));
  return v.get<std::string>();
}

Result<std::uint16_t> portOf(const Json& v, const std::string& path) {
  std::int64_t n = 0;
  if (v.is_number_integer()) {
    n = v.get<std::int64_t>();
  } else if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (s.empty() || s.size() > 5) return invalid(path, fmt::format("\"{}\" is not a port", s));
    for (char c : s) {
      if (c < '0' || c > '9') return invalid(path, fmt::format("\"{}\" is not a port", s));
      n = n * 10 + (c - '0');
    }
  } else {
    return invalid(path, "must be a port number, not " + typeName(v));
  }
  if (n < 1 || n > 65535) return invalid(path, fmt::format("{} is not a port (1-65535)", n));
  return static_cast<std::uint16_t>(n);
}

// A list of strings under `key`, each read by `each(text, element_path)`.
template <typename T, typename Fn>
Status readList(const Json& parent, std::string_view key, const std::string& path,
                std::vector<T>& out, Fn&& each) {
  std::string p = path + "." + std::string(key);
  REMORA_ASSIGN_OR_RETURN(const Json* list, listAt(parent, key, p));
  if (list == nullptr) return ok();
  if (list->empty()) return invalid(p, "must not be empty (omit the field instead)");
  for (std::size_t i = 0; i < list->size(); ++i) {
    std::string ep = fmt::format("{}[{}]", p, i);
    REMORA_ASSIGN_OR_RETURN(T value, each((*list)[i], ep));
    out.push_back(std::move(value));
  }
  return ok();
}

Result<StringMatch> matchOf(const Json& v, const std::string& path) {
  REMORA_ASSIGN_OR_RETURN(std::string s, stringAt(v, path));
  auto m = StringMatch::parse(s);
  if (!m) return invalid(path, fmt::format("\"{}\": {}", s, m.error().message));
  return std::move(*m);
}

Result<StringMatch> pathMatchOf(const Json& v, const std::string& path) {
  if (v.is_string() && v.get_ref<const std::string&>().find_first_of("{}") != std::string::npos) {
    return invalid(path, "path templates ({*}, {**}) are not supported");
  }
  return matchOf(v, path);
}

Result<Cidr> cidrOf(const Json& v, const std::string& path) {
  REMORA_ASSIGN_OR_RETURN(std::string s, stringAt(v, path));
  auto c = Cidr::parse(s);
  if (!c) return invalid(path, c.error().message);
  return *c;
}

Status readMatches(const Json& parent, std::string_view key, const std::string& path,
                   std::vector<StringMatch>& out) {
  return readList(parent, key, path, out, matchOf);
}
Status readCidrs(const Json& parent, std::string_view key, const std::string& path,
                 std::vector<Cidr>& out) {
  return readList(parent, key, path, out, cidrOf);
}
Status readPorts(const Json& parent, std::string_view key, const std::string& path,
                 std::vector<std::uint16_t>& out) {
  return readList(parent, key, path, out, portOf);
}

Status readSelector(const Json& spec, const std::string& path, Labels& out) {
  REMORA_ASSIGN_OR_RETURN(const Json* sel, mapAt(spec, "selector", path + ".selector"));
  if (sel == nullptr) return ok();
  REMORA_TRY(checkKeys(*sel, path + ".selector", {"matchLabels"}));
  std::string lp = path + ".selector.matchLabels";
  REMORA_ASSIGN_OR_RETURN(const Json* labels, mapAt(*sel, "matchLabels", lp));
  if (labels == nullptr) return ok();
  for (const auto& [key, value] : labels->items()) {
    if (key.empty() || key.size() > 316) return invalid(lp, "label keys are 1-316 characters");
    if (!value.is_string()) {
      return invalid(lp + "." + key, "label values are strings (quote it), not " + typeName(value));
    }
    out[key] = value.get<std::string>();
  }
  return ok();
}

Result<PeerMode> peerModeOf(const Json& v, const std::string& path) {
  REMORA_ASSIGN_OR_RETURN(std::string s, stringAt(v, path));
  if (s == "UNSET") return PeerMode::Unset;
  if (s == "PERMISSIVE") return PeerMode::Permissive;
  if (s == "STRICT") return PeerMode::Strict;
  if (s == "DISABLE") return PeerMode::Disable;
  return invalid(path, fmt::format("\"{}\" is not UNSET, PERMISSIVE, STRICT or DISABLE", s));
}

// {mode: X} as in spec.mtls and each portLevelMtls value.
Result<PeerMode> mtlsOf(const Json& v, const std::string& path) {
  if (v.is_null()) return PeerMode::Unset;
  if (!v.is_object()) return invalid(path, "must be a map, not " + typeName(v));
  REMORA_TRY(checkKeys(v, path, {"mode"}));
  const Json* mode = findField(v, "mode");
  if (mode == nullptr || mode->is_null()) return PeerMode::Unset;
  return peerModeOf(*mode, path + ".mode");
}

Status parsePeerSpec(const Json& spec, const std::string& path, PeerAuthentication& out) {
  REMORA_TRY(checkKeys(spec, path, {"selector", "mtls", "portLevelMtls"}));
  REMORA_TRY(readSelector(spec, path, out.selector));
  if (const Json* m = findField(spec, "mtls"); m != nullptr) {
    REMORA_ASSIGN_OR_RETURN(out.mode, mtlsOf(*m, path + ".mtls"));
  }
  std::string pp = path + ".portLevelMtls";
  REMORA_ASSIGN_OR_RETURN(const Json* ports, mapAt(spec, "portLevelMtls", pp));
  if (ports != nullptr && !ports->empty()) {
    if (out.selector.empty()) {
      return invalid(pp, "needs a workload selector (Istio applies port-level mTLS per workload)");
    }
    for (const auto& [key, value] : ports->items()) {
      REMORA_ASSIGN_OR_RETURN(std::uint16_t port, portOf(Json(key), pp + "." + key));
      REMORA_ASSIGN_OR_RETURN(PeerMode mode, mtlsOf(value, pp + "." + key));
      if (!out.port_modes.emplace(port, mode).second) {
        return invalid(pp + "." + key, "port listed twice");
      }
    }
  }
  return ok();
}

Status parseSource(const Json& j, const std::string& path, Source& out) {
  if (!j.is_object()) return invalid(path, "must be a map, not " + typeName(j));
  REMORA_TRY(checkKeys(
      j, path,
      {"principals", "notPrincipals", "namespaces", "notNamespaces", "ipBlocks", "notIpBlocks",
       "remoteIpBlocks", "notRemoteIpBlocks", "requestPrincipals", "notRequestPrincipals"}));
  if (j.empty()) return invalid(path, "must not be empty (Istio refuses an empty source)");
  REMORA_TRY(readMatches(j, "principals", path, out.principals));
  REMORA_TRY(readMatches(j, "notPrincipals", path, out.not_principals));
  REMORA_TRY(readMatches(j, "namespaces", path, out.namespaces));
  REMORA_TRY(readMatches(j, "notNamespaces", path, out.not_namespaces));
  REMORA_TRY(readCidrs(j, "ipBlocks", path, out.ip_blocks));
  REMORA_TRY(readCidrs(j, "notIpBlocks", path, out.not_ip_blocks));
  REMORA_TRY(readCidrs(j, "remoteIpBlocks", path, out.remote_ip_blocks));
  REMORA_TRY(readCidrs(j, "notRemoteIpBlocks", path, out.not_remote_ip_blocks));
  std::vector<StringMatch> ignored;
  REMORA_TRY(readMatches(j, "requestPrincipals", path, ignored));
  out.request_principals = !ignored.empty();
  ignored.clear();
  REMORA_TRY(readMatches(j, "notRequestPrincipals", path, ignored));
  out.not_request_principals = !ignored.empty();
  return ok();
}

Status parseOperation(const Json& j, const std::string& path, Operation& out) {
  if (!j.is_object()) return invalid(path, "must be a map, not " + typeName(j));
  REMORA_TRY(checkKeys(
      j, path,
      {"hosts", "notHosts", "ports", "notPorts", "methods", "notMethods", "paths", "notPaths"}));
  if (j.empty()) return invalid(path, "must not be empty (Istio refuses an empty operation)");
  REMORA_TRY(readMatches(j, "hosts", path, out.hosts));
  REMORA_TRY(readMatches(j, "notHosts", path, out.not_hosts));
  REMORA_TRY(readPorts(j, "ports", path, out.ports));
  REMORA_TRY(readPorts(j, "notPorts", path, out.not_ports));
  REMORA_TRY(readMatches(j, "methods", path, out.methods));
  REMORA_TRY(readMatches(j, "notMethods", path, out.not_methods));
  REMORA_TRY(readList(j, "paths", path, out.paths, pathMatchOf));
  REMORA_TRY(readList(j, "notPaths", path, out.not_paths, pathMatchOf));
  return ok();
}

bool isHeaderNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

Status parseCondition(const Json& j, const std::string& path, Condition& out) {
  if (!j.is_object()) return invalid(path, "must be a map, not " + typeName(j));
  REMORA_TRY(checkKeys(j, path, {"key", "values", "notValues"}));
  const Json* key = findField(j, "key");
  if (key == nullptr || key->is_null()) return invalid(path + ".key", "required");
  REMORA_ASSIGN_OR_RETURN(std::string k, stringAt(*key, path + ".key"));
  constexpr std::string_view kHeader = "request.headers[";
  if (k == "source.ip") {
    out.key = Condition::Key::SourceIp;
  } else if (k == "remote.ip") {
    out.key = Condition::Key::RemoteIp;
  } else if (k == "source.namespace") {
    out.key = Condition::Key::SourceNamespace;
  } else if (k == "source.principal") {
    out.key = Condition::Key::SourcePrincipal;
  } else if (k == "destination.port") {
    out.key = Condition::Key::DestinationPort;
  } else if (k.size() > kHeader.size() + 1 && k.starts_with(kHeader) && k.back() == ']') {
    out.key = Condition::Key::RequestHeader;
    out.header = k.substr(kHeader.size(), k.size() - kHeader.size() - 1);
    for (char c : out.header) {
      if (!isHeaderNameChar(c)) {
        return invalid(path + ".key", fmt::format("\"{}\" is not a header name", out.header));
      }
    }
  } else {
    return invalid(path + ".key",
                   fmt::format("\"{}\" is not supported (source.ip, remote.ip, source.namespace, "
                               "source.principal, destination.port, request.headers[NAME])",
                               k));
  }
  switch (out.key) {
    case Condition::Key::SourceIp:
    case Condition::Key::RemoteIp:
      REMORA_TRY(readCidrs(j, "values", path, out.ip_values));
      REMORA_TRY(readCidrs(j, "notValues", path, out.not_ip_values));
      break;
    case Condition::Key::DestinationPort:
      REMORA_TRY(readPorts(j, "values", path, out.port_values));
      REMORA_TRY(readPorts(j, "notValues", path, out.not_ports));
      break;
    default:
      REMORA_TRY(readMatches(j, "values", path, out.values));
      REMORA_TRY(readMatches(j, "notValues", path, out.not_values));
      break;
  }
  if (findField(j, "values") == nullptr && findField(j, "notValues") == nullptr) {
    return invalid(path, "needs values or notValues");
  }
  return ok();
}

Status parseRule(const Json& j, const std::string& path, Rule& out) {
  if (!j.is_object()) return invalid(path, "must be a map, not " + typeName(j));
  REMORA_TRY(checkKeys(j, path, {"from", "to", "when"}));
  REMORA_ASSIGN_OR_RETURN(const Json* from, listAt(j, "from", path + ".from"));
  if (from != nullptr) {
    for (std::size_t i = 0; i < from->size(); ++i) {
      std::string p = fmt::format("{}.from[{}]", path, i);
      const Json& f = (*from)[i];
      if (!f.is_object()) return invalid(p, "must be a map, not " + typeName(f));
      REMORA_TRY(checkKeys(f, p, {"source"}));
      const Json* s = findField(f, "source");
      if (s == nullptr || s->is_null()) return invalid(p + ".source", "required");
      Source src;
      REMORA_TRY(parseSource(*s, p + ".source", src));
      out.from.push_back(std::move(src));
    }
  }
  REMORA_ASSIGN_OR_RETURN(const Json* to, listAt(j, "to", path + ".to"));
  if (to != nullptr) {
    for (std::size_t i = 0; i < to->size(); ++i) {
      std::string p = fmt::format("{}.to[{}]", path, i);
      const Json& t = (*to)[i];
      if (!t.is_object()) return invalid(p, "must be a map, not " + typeName(t));
      REMORA_TRY(checkKeys(t, p, {"operation"}));
      const Json* o = findField(t, "operation");
      if (o == nullptr || o->is_null()) return invalid(p + ".operation", "required");
      Operation op;
      REMORA_TRY(parseOperation(*o, p + ".operation", op));
      out.to.push_back(std::move(op));
    }
  }
  REMORA_ASSIGN_OR_RETURN(const Json* when, listAt(j, "when", path + ".when"));
  if (when != nullptr) {
    for (std::size_t i = 0; i < when->size(); ++i) {
      Condition c;
      REMORA_TRY(parseCondition((*when)[i], fmt::format("{}.when[{}]", path, i), c));
      out.when.push_back(std::move(c));
    }
  }
  return ok();
}

Status parseAuthzSpec(const Json& spec, const std::string& path, AuthorizationPolicy& out) {
  for (std::string_view refused : {"targetRef", "targetRefs"}) {
    if (findField(spec, refused) != nullptr) {
      return invalid(path + "." + std::string(refused),
                     "not supported: Remora selects workloads by `selector` only (targetRef is "
                     "for waypoints and gateways)");
    }
  }
  if (findField(spec, "provider") != nullptr) {
    return invalid(path + ".provider", "not supported: Remora has no external authorizer (CUSTOM)");
  }
  REMORA_TRY(checkKeys(spec, path, {"selector", "action", "rules"}));
  REMORA_TRY(readSelector(spec, path, out.selector));
  if (const Json* a = findField(spec, "action"); a != nullptr && !a->is_null()) {
    REMORA_ASSIGN_OR_RETURN(std::string action, stringAt(*a, path + ".action"));
    if (action == "ALLOW") {
      out.action = Action::Allow;
    } else if (action == "DENY") {
      out.action = Action::Deny;
    } else if (action == "AUDIT") {
      out.action = Action::Audit;
    } else if (action == "CUSTOM") {
      return invalid(path + ".action",
                     "CUSTOM is not supported: Remora has no external authorizer");
    } else {
      return invalid(path + ".action", fmt::format("\"{}\" is not ALLOW, DENY or AUDIT", action));
    }
  }
  REMORA_ASSIGN_OR_RETURN(const Json* rules, listAt(spec, "rules", path + ".rules"));
  if (rules != nullptr) {
    for (std::size_t i = 0; i < rules->size(); ++i) {
      Rule r;
      REMORA_TRY(parseRule((*rules)[i], fmt::format("{}.rules[{}]", path, i), r));
      out.rules.push_back(std::move(r));
    }
  }
  return ok();
}

bool equalsIgnoreCase(char a, char b) {
  auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; };
  return lower(a) == lower(b);
}

bool equalRange(std::string_view a, std::string_view b, bool ignore_case) {
  if (a.size() != b.size()) return false;
  if (!ignore_case) return a == b;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!equalsIgnoreCase(a[i], b[i])) return false;
  }
  return true;
}

}  // namespace

Result<StringMatch> StringMatch::parse(std::string_view pattern) {
  if (pattern.empty()) return Error{Errc::InvalidArgument, "empty value"};
  if (pattern == "*") return StringMatch{Kind::Any, ""};
  std::size_t stars = 0;
  for (char c : pattern) stars += c == '*' ? 1 : 0;
  if (stars == 0) return StringMatch{Kind::Exact, std::string(pattern)};
  if (stars == 1 && pattern.back() == '*') {
    return StringMatch{Kind::Prefix, std::string(pattern.substr(0, pattern.size() - 1))};
  }
  if (stars == 1 && pattern.front() == '*') {
    return StringMatch{Kind::Suffix, std::string(pattern.substr(1))};
  }
  return Error{Errc::InvalidArgument,
               "a `*` may only be the whole value, its first or its last character"};
}

bool StringMatch::matches(std::string_view text, bool ignore_case) const noexcept {
  switch (kind) {
    case Kind::Any: return !text.empty();
    case Kind::Exact: return equalRange(text, value, ignore_case);
    case Kind::Prefix:
      return text.size() >= value.size() &&
             equalRange(text.substr(0, value.size()), value, ignore_case);
    case Kind::Suffix:
      return text.size() >= value.size() &&
             equalRange(text.substr(text.size() - value.size()), value, ignore_case);
  }
  return false;
}

Result<Cidr> Cidr::parse(std::string_view text) {
  std::size_t slash = text.find('/');
  std::string addr(text.substr(0, slash));
  std::error_code ec;
  Cidr out;
  out.network = asio::ip::make_address(addr, ec);
  if (ec || addr.find('%') != std::string::npos) {
    return Error{Errc::InvalidArgument, fmt::format("\"{}\" is not an IP address or CIDR", text)};
  }
  if (out.network.is_v6() && out.network.to_v6().is_v4_mapped()) {
    out.network = asio::ip::make_address_v4(asio::ip::v4_mapped, out.network.to_v6());
  }
  unsigned max = out.network.is_v4() ? 32 : 128;
  out.prefix_len = static_cast<std::uint8_t>(max);
  if (slash != std::string_view::npos) {
    std::string_view len = text.substr(slash + 1);
    if (len.empty() || len.size() > 3) {
      return Error{Errc::InvalidArgument, fmt::format("\"{}\": bad prefix length", text)};
    }
    unsigned n = 0;
    for (char c : len) {
      if (c < '0' || c > '9') {
        return Error{Errc::InvalidArgument, fmt::format("\"{}\": bad prefix length", text)};
      }
      n = n * 10 + static_cast<unsigned>(c - '0');
    }
    if (n > max) {
      return Error{Errc::InvalidArgument, fmt::format("\"{}\": prefix length above {}", text, max)};
    }
    out.prefix_len = static_cast<std::uint8_t>(n);
  }
  return out;
}

bool Cidr::contains(const asio::ip::address& address) const noexcept {
  asio::ip::address a = address;
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  }
  if (a.is_v4() != network.is_v4()) return false;
  if (a.is_v4()) {
    if (prefix_len == 0) return true;
    std::uint32_t mask = prefix_len >= 32 ? 0xFFFFFFFFu : ~(0xFFFFFFFFu >> prefix_len);
    return (a.to_v4().to_uint() & mask) == (network.to_v4().to_uint() & mask);
  }
  auto x = a.to_v6().to_bytes();
  auto y = network.to_v6().to_bytes();
  unsigned bits = prefix_len;
  for (std::size_t i = 0; i < 16 && bits > 0; ++i) {
    unsigned take = bits >= 8 ? 8 : bits;
    auto mask = static_cast<unsigned char>(0xFF << (8 - take));
    if ((x[i] & mask) != (y[i] & mask)) return false;
    bits -= take;
  }
  return true;
}

bool selects(const Labels& match_labels, const Labels& workload_labels) {
  for (const auto& [key, value] : match_labels) {
    auto it = workload_labels.find(key);
    if (it == workload_labels.end() || it->second != value) return false;
  }
  return true;
}

std::string_view peerModeName(PeerMode mode) noexcept {
  switch (mode) {
    case PeerMode::Unset: return "UNSET";
    case PeerMode::Permissive: return "PERMISSIVE";
    case PeerMode::Strict: return "STRICT";
    case PeerMode::Disable: return "DISABLE";
  }
  return "UNSET";
}

bool Rule::hasHttpOnlyFields() const {
  for (const auto& s : from) {
    if (s.hasHttpOnlyFields()) return true;
  }
  for (const auto& o : to) {
    if (o.hasHttpOnlyFields()) return true;
  }
  for (const auto& c : when) {
    if (c.isHttpOnly()) return true;
  }
  return false;
}

bool isSecurityPolicy(const Json& doc) {
  if (!doc.is_object()) return false;
  const Json* api = findField(doc, "apiVersion");
  const Json* kind = findField(doc, "kind");
  if (api == nullptr || kind == nullptr || !api->is_string() || !kind->is_string()) return false;
  const auto& a = api->get_ref<const std::string&>();
  const auto& k = kind->get_ref<const std::string&>();
  return a.starts_with("security.istio.io/") &&
         (k == "PeerAuthentication" || k == "AuthorizationPolicy");
}

Status parsePolicy(const Json& doc, const std::string& path, Policies& out,
                   std::string_view default_namespace) {
  if (!doc.is_object()) return invalid(path, "must be a map, not " + typeName(doc));
  REMORA_TRY(checkKeys(doc, path, {"apiVersion", "kind", "metadata", "spec", "status"}));
  const Json* api = findField(doc, "apiVersion");
  if (api == nullptr) return invalid(path + ".apiVersion", "required");
  REMORA_ASSIGN_OR_RETURN(std::string api_version, stringAt(*api, path + ".apiVersion"));
  if (api_version != "security.istio.io/v1" && api_version != "security.istio.io/v1beta1") {
    return invalid(path + ".apiVersion",
                   fmt::format("\"{}\" is not security.istio.io/v1 or v1beta1", api_version));
  }
  const Json* kind_field = findField(doc, "kind");
  if (kind_field == nullptr) return invalid(path + ".kind", "required");
  REMORA_ASSIGN_OR_RETURN(std::string kind, stringAt(*kind_field, path + ".kind"));
  if (kind != "PeerAuthentication" && kind != "AuthorizationPolicy") {
    return invalid(path + ".kind",
                   fmt::format("\"{}\" is not PeerAuthentication or AuthorizationPolicy", kind));
  }
  std::string mp = path + ".metadata";
  REMORA_ASSIGN_OR_RETURN(const Json* meta, mapAt(doc, "metadata", mp));
  if (meta == nullptr) return invalid(mp, "required");
  REMORA_TRY(checkKeys(*meta, mp,
                       {"name", "namespace", "labels", "annotations", "uid", "resourceVersion",
                        "generation", "creationTimestamp"}));
  const Json* name_field = findField(*meta, "name");
  if (name_field == nullptr) return invalid(mp + ".name", "required");
  REMORA_ASSIGN_OR_RETURN(std::string name, stringAt(*name_field, mp + ".name"));
  if (!isDnsSubdomain(name)) {
    return invalid(mp + ".name", fmt::format("\"{}\" is not a Kubernetes object name", name));
  }
  std::string ns(default_namespace);
  if (const Json* n = findField(*meta, "namespace"); n != nullptr && !n->is_null()) {
    REMORA_ASSIGN_OR_RETURN(ns, stringAt(*n, mp + ".namespace"));
  }
  if (!isDnsLabel(ns)) {
    return invalid(mp + ".namespace", fmt::format("\"{}\" is not a namespace name", ns));
  }
  std::string sp = path + ".spec";
  REMORA_ASSIGN_OR_RETURN(const Json* spec_ptr, mapAt(doc, "spec", sp));
  static const Json kEmpty = Json::object();
  const Json& spec = spec_ptr == nullptr ? kEmpty : *spec_ptr;
  if (kind == "PeerAuthentication") {
    for (const auto& p : out.peer_authentications) {
      if (p.namespace_ == ns && p.name == name) {
        return invalid(mp + ".name", fmt::format("PeerAuthentication {}/{} twice", ns, name));
      }
    }
    PeerAuthentication pa;
    pa.name = std::move(name);
    pa.namespace_ = std::move(ns);
    REMORA_TRY(parsePeerSpec(spec, sp, pa));
    out.peer_authentications.push_back(std::move(pa));
  } else {
    for (const auto& p : out.authorization_policies) {
      if (p.namespace_ == ns && p.name == name) {
        return invalid(mp + ".name", fmt::format("AuthorizationPolicy {}/{} twice", ns, name));
      }
    }
    AuthorizationPolicy ap;
    ap.name = std::move(name);
    ap.namespace_ = std::move(ns);
    REMORA_TRY(parseAuthzSpec(spec, sp, ap));
    out.authorization_policies.push_back(std::move(ap));
  }
  return ok();
}

Result<Policies> parsePolicies(const Json& list, const std::string& path,
                               std::string_view default_namespace) {
  Policies out;
  if (list.is_null()) return out;
  if (!list.is_array()) return invalid(path, "must be a list, not " + typeName(list));
  for (std::size_t i = 0; i < list.size(); ++i) {
    REMORA_TRY(parsePolicy(list[i], fmt::format("{}[{}]", path, i), out, default_namespace));
  }
  return out;
}

}  // namespace remora::security

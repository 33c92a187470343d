// Istio's security objects, `security.istio.io/v1` (and v1beta1):
// PeerAuthentication and AuthorizationPolicy, as a user writes them for
// kubectl (apiVersion, kind, metadata{name, namespace}, spec), parsed into a
// plain model. docs/security.md is the user's view: what is supported, what
// is refused and why.
//
// Parsing is strict, as mesh::parseConfig is: an unknown field, a wrong type,
// a bad mode, port, CIDR or match pattern is an Error (Errc::InvalidArgument)
// whose message names the field by path from the caller's prefix, e.g.
// "policies[1].spec.rules[0].to[0].operation.ports[0]: 70000 is not a port".
// Fields Remora cannot enforce are refused rather than ignored (targetRef(s),
// action CUSTOM, `when` keys it does not know), so a policy never silently
// means less than it says. Two Istio fields are accepted with a documented
// meaning instead: action AUDIT (Istio only logs it: it never changes a
// decision, so Remora drops it) and requestPrincipals (Remora has no
// RequestAuthentication, so no request carries a request principal: a
// requestPrincipals list never matches, a notRequestPrincipals list always does).
//
// String values follow Istio's matching: `abc` exact, `abc*` prefix, `*abc`
// suffix, `*` any non-empty value; a `*` anywhere else is refused. The
// patterns are precomputed here, so matching never allocates.
//
// Threading: pure; the model is a plain value.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <asio/ip/address.hpp>

#include "core/json.h"
#include "core/result.h"

namespace remora::security {

// One Istio string pattern.
struct StringMatch {
  enum class Kind : std::uint8_t { Exact, Prefix, Suffix, Any };
  Kind kind = Kind::Exact;
  std::string value;  // without the `*`

  // Parses "abc", "abc*", "*abc" or "*"; Error on "", "a*b", "**".
  static Result<StringMatch> parse(std::string_view pattern);
  // `Any` matches every non-empty text; the others never match "" unless
  // the pattern's value is empty (which parse() refuses).
  bool matches(std::string_view text, bool ignore_case = false) const noexcept;
};

// An address block: "10.0.0.0/8", "2001:db8::/32", or one address.
struct Cidr {
  asio::ip::address network;
  std::uint8_t prefix_len = 0;

  static Result<Cidr> parse(std::string_view text);
  // False for an address of the other family (v4-mapped v6 counts as v4).
  bool contains(const asio::ip::address& address) const noexcept;
};

// `matchLabels`: every label listed must be present with that value. An
// absent selector, or one with no labels, selects every workload in scope.
using Labels = std::map<std::string, std::string>;
bool selects(const Labels& match_labels, const Labels& workload_labels);

// PeerAuthentication.spec.mtls.mode; Unset inherits from the parent level.
enum class PeerMode : std::uint8_t { Unset, Permissive, Strict, Disable };
std::string_view peerModeName(PeerMode mode) noexcept;

struct PeerAuthentication {
  std::string name;
  std::string namespace_;
  Labels selector;  // empty: namespace-wide (or mesh-wide in the root namespace)
  PeerMode mode = PeerMode::Unset;
  // portLevelMtls: the workload's (container) port -> mode. Only with a selector.
  std::map<std::uint16_t, PeerMode> port_modes;
};

// rules[].from[].source. Each list, when non-empty, must match (AND across
// fields); within a list any value matches (OR); a not-list matches when no
// value matches.
struct Source {
  std::vector<StringMatch> principals, not_principals;
  std::vector<StringMatch> namespaces, not_namespaces;
  std::vector<Cidr> ip_blocks, not_ip_blocks;
  std::vector<Cidr> remote_ip_blocks, not_remote_ip_blocks;
  bool request_principals = false;      // requestPrincipals given: never matches
  bool not_request_principals = false;  // notRequestPrincipals given: always matches
  bool hasHttpOnlyFields() const { return request_principals || not_request_principals; }
};

// rules[].to[].operation. hosts, methods and paths are HTTP-only fields.
struct Operation {
  std::vector<StringMatch> hosts, not_hosts;  // case-insensitive
  std::vector<std::uint16_t> ports, not_ports;
  std::vector<StringMatch> methods, not_methods;
  std::vector<StringMatch> paths, not_paths;  // matched against the normalised path
  bool hasHttpOnlyFields() const {
    return !hosts.empty() || !not_hosts.empty() || !methods.empty() || !not_methods.empty() ||
           !paths.empty() || !not_paths.empty();
  }
};

// rules[].when[]: one attribute with values (any must match) and notValues
// (none may match).
struct Condition {
  enum class Key : std::uint8_t {
    SourceIp,         // source.ip: the peer's address (CIDR values)
    RemoteIp,         // remote.ip: the original client (CIDR values)
    SourceNamespace,  // source.namespace
    SourcePrincipal,  // source.principal
    DestinationPort,  // destination.port
    RequestHeader,    // request.headers[<name>]: HTTP-only
  };
  Key key = Key::SourceIp;
  std::string header;  // RequestHeader's name
  std::vector<StringMatch> values, not_values;
  std::vector<Cidr> ip_values, not_ip_values;         // SourceIp, RemoteIp
  std::vector<std::uint16_t> port_values, not_ports;  // DestinationPort
  bool isHttpOnly() const { return key == Key::RequestHeader; }
};

// A rule matches when every one of its non-empty parts does: some `from`,
// some `to`, and all of `when`. `{}` matches everything.
struct Rule {
  std::vector<Source> from;
  std::vector<Operation> to;
  std::vector<Condition> when;
  bool hasHttpOnlyFields() const;
};

enum class Action : std::uint8_t { Allow, Deny, Audit };

struct AuthorizationPolicy {
  std::string name;
  std::string namespace_;
  Labels selector;
  Action action = Action::Allow;
  // No rules: an ALLOW policy matches nothing (so it denies everything it
  // applies to); a DENY policy denies nothing.
  std::vector<Rule> rules;
};

// Every policy of a config, in the order given (order breaks ties between
// PeerAuthentications of the same level: the first wins, where Istio picks
// the oldest).
struct Policies {
  std::vector<PeerAuthentication> peer_authentications;
  std::vector<AuthorizationPolicy> authorization_policies;
  bool empty() const { return peer_authentications.empty() && authorization_policies.empty(); }
};

// True when `doc` is a PeerAuthentication or AuthorizationPolicy of
// security.istio.io (any version): what `remora local` picks from manifests.
bool isSecurityPolicy(const Json& doc);

// Parses one object (a PeerAuthentication or an AuthorizationPolicy) and
// appends it to `out`. `path` prefixes error messages ("policies[3]").
// metadata.namespace defaults to `default_namespace`. Two objects of the same
// kind, namespace and name are an error.
Status parsePolicy(const Json& doc, const std::string& path, Policies& out,
                   std::string_view default_namespace = "default");

// Parses a list of objects (the config's `policies:`).
Result<Policies> parsePolicies(const Json& list, const std::string& path,
                               std::string_view default_namespace = "default");

}  // namespace remora::security

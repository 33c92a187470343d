#include "security/policy.h"

#include <string>

#include <gtest/gtest.h>

#include "kube/yaml.h"

namespace remora::security {
namespace {

Result<Policies> parseYamlPolicies(const std::string& yaml) {
  auto json = kube::parseYaml(yaml);
  if (!json) return json.error();
  return parsePolicies(*json, "policies");
}

TEST(StringMatch, Patterns) {
  struct Case {
    const char* pattern;
    const char* text;
    bool match;
  } cases[] = {
      {"abc", "abc", true},    {"abc", "abcd", false},        {"abc*", "abcd", true},
      {"abc*", "abc", true},   {"abc*", "xabc", false},       {"*abc", "xabc", true},
      {"*abc", "abcx", false}, {"*", "anything", true},       {"*", "", false},
      {"abc", "", false},      {"/admin*", "/admin/x", true},
  };
  for (const auto& c : cases) {
    auto m = StringMatch::parse(c.pattern);
    ASSERT_TRUE(m) << c.pattern;
    EXPECT_EQ(m->matches(c.text), c.match) << c.pattern << " vs " << c.text;
  }
  for (const char* bad : {"", "a*b", "**", "*a*"}) EXPECT_FALSE(StringMatch::parse(bad)) << bad;
  auto host = StringMatch::parse("*.Example.com");
  ASSERT_TRUE(host);
  EXPECT_TRUE(host->matches("api.example.COM", /*ignore_case=*/true));
  EXPECT_FALSE(host->matches("api.example.COM"));
}

TEST(Cidr, Contains) {
  auto c = Cidr::parse("10.1.0.0/16");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->contains(asio::ip::make_address("10.1.200.3")));
  EXPECT_TRUE(c->contains(asio::ip::make_address("::ffff:10.1.0.1")));
  EXPECT_FALSE(c->contains(asio::ip::make_address("10.2.0.1")));
  EXPECT_FALSE(c->contains(asio::ip::make_address("fd00::1")));
  auto one = Cidr::parse("192.168.0.7");
  ASSERT_TRUE(one);
  EXPECT_TRUE(one->contains(asio::ip::make_address("192.168.0.7")));
  EXPECT_FALSE(one->contains(asio::ip::make_address("192.168.0.8")));
  auto v6 = Cidr::parse("fd00::/8");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->contains(asio::ip::make_address("fd12::1")));
  EXPECT_FALSE(v6->contains(asio::ip::make_address("fe00::1")));
  auto all = Cidr::parse("0.0.0.0/0");
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->contains(asio::ip::make_address("8.8.8.8")));
  for (const char* bad : {"10.0.0.0/33", "10.0.0.0/", "10.0.0/8", "x", "fd00::/129", "1.2.3.4/a"}) {
    EXPECT_FALSE(Cidr::parse(bad)) << bad;
  }
}

TEST(ParsePolicies, PeerAuthentication) {
  auto p = parseYamlPolicies(R"(
- apiVersion: security.istio.io/v1
  kind: PeerAuthentication
  metadata: {name: default, namespace: istio-system}
  spec: {mtls: {mode: STRICT}}
- apiVersion: security.istio.io/v1beta1
  kind: PeerAuthentication
  metadata: {name: web}
  spec:
    selector: {matchLabels: {app: web}}
    mtls: {mode: UNSET}
    portLevelMtls:
      "8080": {mode: DISABLE}
      9090: {mode: PERMISSIVE}
)");
  ASSERT_TRUE(p) << p.error().message;
  ASSERT_EQ(p->peer_authentications.size(), 2U);
  EXPECT_EQ(p->peer_authentications[0].mode, PeerMode::Strict);
  EXPECT_EQ(p->peer_authentications[0].namespace_, "istio-system");
  const auto& web = p->peer_authentications[1];
  EXPECT_EQ(web.namespace_, "default");
  EXPECT_EQ(web.selector.at("app"), "web");
  EXPECT_EQ(web.mode, PeerMode::Unset);
  EXPECT_EQ(web.port_modes.at(8080), PeerMode::Disable);
  EXPECT_EQ(web.port_modes.at(9090), PeerMode::Permissive);
}

TEST(ParsePolicies, AuthorizationPolicy) {
  auto p = parseYamlPolicies(R"(
- apiVersion: security.istio.io/v1
  kind: AuthorizationPolicy
  metadata: {name: web, namespace: shop}
  spec:
    selector: {matchLabels: {app: web}}
    action: DENY
    rules:
    - from:
      - source:
          principals: ["cluster.local/ns/shop/sa/*"]
          notNamespaces: [evil]
          ipBlocks: [10.0.0.0/8]
          notRemoteIpBlocks: ["192.168.0.1"]
      to:
      - operation: {methods: [GET, HEAD], paths: ["/admin*"], ports: ["8080", 9090], notHosts: ["*.internal"]}
      when:
      - {key: "request.headers[X-Debug]", values: ["1"]}
      - {key: destination.port, notValues: ["22"]}
      - {key: source.ip, values: [10.1.0.0/16]}
- apiVersion: security.istio.io/v1
  kind: AuthorizationPolicy
  metadata: {name: deny-all, namespace: shop}
  spec: {}
)");
  ASSERT_TRUE(p) << p.error().message;
  ASSERT_EQ(p->authorization_policies.size(), 2U);
  const auto& ap = p->authorization_policies[0];
  EXPECT_EQ(ap.action, Action::Deny);
  ASSERT_EQ(ap.rules.size(), 1U);
  const Rule& r = ap.rules[0];
  EXPECT_EQ(r.from[0].principals[0].kind, StringMatch::Kind::Prefix);
  EXPECT_EQ(r.to[0].ports.size(), 2U);
  EXPECT_EQ(r.to[0].ports[1], 9090);
  EXPECT_EQ(r.when[0].key, Condition::Key::RequestHeader);
  EXPECT_EQ(r.when[0].header, "X-Debug");
  EXPECT_EQ(r.when[1].not_ports[0], 22);
  EXPECT_TRUE(r.hasHttpOnlyFields());
  EXPECT_EQ(p->authorization_policies[1].action, Action::Allow);
  EXPECT_TRUE(p->authorization_policies[1].rules.empty());
}

struct BadCase {
  const char* name;
  const char* yaml;
  const char* error;  // a substring of the message
};

constexpr const char* kHead = R"(
- apiVersion: security.istio.io/v1
  kind: AuthorizationPolicy
  metadata: {name: p, namespace: ns}
)";
constexpr const char* kPeerHead = R"(
- apiVersion: security.istio.io/v1
  kind: PeerAuthentication
  metadata: {name: p, namespace: ns}
)";

TEST(ParsePolicies, Hostile) {
  const BadCase cases[] = {
      {"not a list", "{a: 1}", "policies: must be a list"},
      {"not a map", "- 3", "policies[0]: must be a map"},
      {"wrong api", "- {apiVersion: v1, kind: PeerAuthentication, metadata: {name: a}}",
       "policies[0].apiVersion"},
      {"wrong kind",
       "- {apiVersion: security.istio.io/v1, kind: RequestAuthentication, metadata: {name: a}}",
       "policies[0].kind"},
      {"no metadata", "- {apiVersion: security.istio.io/v1, kind: PeerAuthentication}",
       "policies[0].metadata: required"},
      {"bad name",
       "- {apiVersion: security.istio.io/v1, kind: PeerAuthentication, metadata: {name: A_B}}",
       "policies[0].metadata.name"},
      {"unknown top field",
       "- {apiVersion: security.istio.io/v1, kind: PeerAuthentication, metadata: {name: a}, "
       "spek: {}}",
       "policies[0].spek: unknown field"},
      {"bad mode", "  spec: {mtls: {mode: strict}}", "policies[0].spec.mtls.mode"},
      {"port level without selector", "  spec: {portLevelMtls: {\"80\": {mode: STRICT}}}",
       "policies[0].spec.portLevelMtls: needs a workload selector"},
      {"bad port level port",
       "  spec: {selector: {matchLabels: {a: b}}, portLevelMtls: {\"0\": {mode: STRICT}}}",
       "policies[0].spec.portLevelMtls.0"},
      {"label not string", "  spec: {selector: {matchLabels: {a: 1}}}",
       "policies[0].spec.selector.matchLabels.a"},
  };
  for (const auto& c : cases) {
    std::string yaml = c.yaml;
    if (yaml.starts_with("  spec")) yaml = std::string(kPeerHead) + yaml;
    auto p = parseYamlPolicies(yaml);
    ASSERT_FALSE(p) << c.name;
    EXPECT_NE(p.error().message.find(c.error), std::string::npos)
        << c.name << ": " << p.error().message;
  }
  const BadCase authz[] = {
      {"targetRef", "  spec: {targetRef: {kind: Gateway, name: g}}",
       "policies[0].spec.targetRef: not supported"},
      {"targetRefs", "  spec: {targetRefs: []}", "policies[0].spec.targetRefs: not supported"},
      {"custom", "  spec: {action: CUSTOM}", "policies[0].spec.action: CUSTOM is not supported"},
      {"bad action", "  spec: {action: allow}", "policies[0].spec.action"},
      {"bad port", "  spec: {rules: [{to: [{operation: {ports: [\"70000\"]}}]}]}",
       "policies[0].spec.rules[0].to[0].operation.ports[0]: 70000 is not a port"},
      {"bad int port", "  spec: {rules: [{to: [{operation: {ports: [70000]}}]}]}",
       "policies[0].spec.rules[0].to[0].operation.ports[0]: 70000 is not a port"},
      {"bad cidr", "  spec: {rules: [{from: [{source: {ipBlocks: [10.0.0.0/40]}}]}]}",
       "policies[0].spec.rules[0].from[0].source.ipBlocks[0]"},
      {"middle star", "  spec: {rules: [{to: [{operation: {paths: [\"/a*b\"]}}]}]}",
       "policies[0].spec.rules[0].to[0].operation.paths[0]"},
      {"path template", "  spec: {rules: [{to: [{operation: {paths: [\"/a/{*}\"]}}]}]}",
       "path templates"},
      {"empty source", "  spec: {rules: [{from: [{source: {}}]}]}",
       "policies[0].spec.rules[0].from[0].source: must not be empty"},
      {"empty operation", "  spec: {rules: [{to: [{operation: {}}]}]}",
       "policies[0].spec.rules[0].to[0].operation: must not be empty"},
      {"unknown source field", "  spec: {rules: [{from: [{source: {principal: [a]}}]}]}",
       "policies[0].spec.rules[0].from[0].source.principal: unknown field"},
      {"string not list", "  spec: {rules: [{from: [{source: {principals: a}}]}]}",
       "policies[0].spec.rules[0].from[0].source.principals: must be a list"},
      {"empty value", "  spec: {rules: [{to: [{operation: {methods: [\"\"]}}]}]}",
       "policies[0].spec.rules[0].to[0].operation.methods[0]"},
      {"unknown when key",
       "  spec: {rules: [{when: [{key: \"request.auth.claims[iss]\", values: [a]}]}]}",
       "policies[0].spec.rules[0].when[0].key"},
      {"when without values", "  spec: {rules: [{when: [{key: source.ip}]}]}",
       "policies[0].spec.rules[0].when[0]: needs values"},
      {"when bad header",
       "  spec: {rules: [{when: [{key: \"request.headers[a b]\", values: [x]}]}]}",
       "policies[0].spec.rules[0].when[0].key"},
      {"when bad port", "  spec: {rules: [{when: [{key: destination.port, values: [http]}]}]}",
       "policies[0].spec.rules[0].when[0].values[0]"},
      {"rule not map", "  spec: {rules: [3]}", "policies[0].spec.rules[0]: must be a map"},
  };
  for (const auto& c : authz) {
    auto p = parseYamlPolicies(std::string(kHead) + c.yaml);
    ASSERT_FALSE(p) << c.name;
    EXPECT_NE(p.error().message.find(c.error), std::string::npos)
        << c.name << ": " << p.error().message;
  }
}

TEST(ParsePolicies, DuplicateNames) {
  std::string two = std::string(kHead) + "  spec: {}\n" + std::string(kHead) + "  spec: {}\n";
  auto p = parseYamlPolicies(two);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("policies[1].metadata.name"), std::string::npos);
  // Same name, other kind: fine.
  auto q = parseYamlPolicies(std::string(kHead) + "  spec: {}\n" + kPeerHead + "  spec: {}\n");
  EXPECT_TRUE(q) << q.error().message;
}

TEST(ParsePolicies, AuditIsAcceptedAndMarked) {
  auto p = parseYamlPolicies(std::string(kHead) + "  spec: {action: AUDIT, rules: [{}]}\n");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->authorization_policies[0].action, Action::Audit);
}

TEST(IsSecurityPolicy, Kinds) {
  auto yes = kube::parseYaml("{apiVersion: security.istio.io/v1, kind: AuthorizationPolicy}");
  auto no = kube::parseYaml("{apiVersion: networking.istio.io/v1, kind: VirtualService}");
  ASSERT_TRUE(yes && no);
  EXPECT_TRUE(isSecurityPolicy(*yes));
  EXPECT_FALSE(isSecurityPolicy(*no));
}

}  // namespace
}  // namespace remora::security

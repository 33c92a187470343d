#include "security/workload_policy.h"

#include <string>

#include <gtest/gtest.h>

#include "http/header_map.h"
#include "kube/yaml.h"

long allocationCount();

namespace remora::security {
namespace {

Policies policiesOf(const std::string& yaml) {
  auto json = kube::parseYaml(yaml);
  EXPECT_TRUE(json) << json.error().message;
  auto p = parsePolicies(*json, "policies");
  EXPECT_TRUE(p) << p.error().message;
  return p ? *p : Policies{};
}

std::string peer(const char* ns, const char* name, const char* spec) {
  return fmt::format(
      "- apiVersion: security.istio.io/v1\n  kind: PeerAuthentication\n"
      "  metadata: {{name: {}, namespace: {}}}\n  spec: {}\n",
      name, ns, spec);
}

std::string authz(const char* ns, const char* name, const char* spec) {
  return fmt::format(
      "- apiVersion: security.istio.io/v1\n  kind: AuthorizationPolicy\n"
      "  metadata: {{name: {}, namespace: {}}}\n  spec: {}\n",
      name, ns, spec);
}

const WorkloadSelectorInfo kWeb{"shop", {{"app", "web"}, {"version", "v1"}}};

TEST(PeerSelection, DefaultIsPermissive) {
  WorkloadPolicy w = WorkloadPolicy::build({}, kWeb);
  EXPECT_EQ(w.mtlsMode(8080), MtlsMode::Permissive);
  EXPECT_FALSE(w.hasAuthorization());
  EXPECT_TRUE(w.authorize({}).allowed);
}

TEST(PeerSelection, NarrowestWins) {
  struct Case {
    const char* name;
    std::string yaml;
    MtlsMode mode;
    MtlsMode port_8080;
  };
  const Case cases[] = {
      {"mesh-wide", peer("istio-system", "default", "{mtls: {mode: STRICT}}"), MtlsMode::Strict,
       MtlsMode::Strict},
      {"mesh-wide in another root", peer("other", "default", "{mtls: {mode: STRICT}}"),
       MtlsMode::Permissive, MtlsMode::Permissive},
      {"namespace beats mesh",
       peer("istio-system", "default", "{mtls: {mode: STRICT}}") +
           peer("shop", "ns", "{mtls: {mode: DISABLE}}"),
       MtlsMode::Disable, MtlsMode::Disable},
      {"other namespace ignored",
       peer("istio-system", "default", "{mtls: {mode: STRICT}}") +
           peer("bank", "ns", "{mtls: {mode: DISABLE}}"),
       MtlsMode::Strict, MtlsMode::Strict},
      {"workload beats namespace",
       peer("shop", "ns", "{mtls: {mode: STRICT}}") +
           peer("shop", "web", "{selector: {matchLabels: {app: web}}, mtls: {mode: PERMISSIVE}}"),
       MtlsMode::Permissive, MtlsMode::Permissive},
      {"selector not matching",
       peer("shop", "ns", "{mtls: {mode: STRICT}}") +
           peer("shop", "db", "{selector: {matchLabels: {app: db}}, mtls: {mode: DISABLE}}"),
       MtlsMode::Strict, MtlsMode::Strict},
      {"unset inherits namespace, port overrides",
       peer("istio-system", "default", "{mtls: {mode: PERMISSIVE}}") +
           peer("shop", "ns", "{mtls: {mode: STRICT}}") +
           peer("shop", "web",
                "{selector: {matchLabels: {app: web}}, mtls: {mode: UNSET}, "
                "portLevelMtls: {\"8080\": {mode: DISABLE}}}"),
       MtlsMode::Strict, MtlsMode::Disable},
      {"port unset inherits workload",
       peer("shop", "web",
            "{selector: {matchLabels: {app: web}}, mtls: {mode: STRICT}, "
            "portLevelMtls: {\"8080\": {mode: UNSET}}}"),
       MtlsMode::Strict, MtlsMode::Strict},
      {"unset namespace inherits mesh",
       peer("istio-system", "default", "{mtls: {mode: STRICT}}") + peer("shop", "ns", "{}"),
       MtlsMode::Strict, MtlsMode::Strict},
      {"first of a level wins",
       peer("shop", "a", "{mtls: {mode: STRICT}}") + peer("shop", "b", "{mtls: {mode: DISABLE}}"),
       MtlsMode::Strict, MtlsMode::Strict},
  };
  for (const auto& c : cases) {
    WorkloadPolicy w = WorkloadPolicy::build(policiesOf(c.yaml), kWeb);
    EXPECT_EQ(w.mtlsMode(9999), c.mode) << c.name;
    EXPECT_EQ(w.mtlsMode(8080), c.port_8080) << c.name;
  }
}

TEST(PeerSelection, ConfigurableRootNamespace) {
  auto p = policiesOf(peer("mesh-root", "default", "{mtls: {mode: STRICT}}"));
  EXPECT_EQ(WorkloadPolicy::build(p, kWeb, "mesh-root").mtlsMode(80), MtlsMode::Strict);
  EXPECT_EQ(WorkloadPolicy::build(p, kWeb).mtlsMode(80), MtlsMode::Permissive);
}

RequestAttributes tcp(std::string_view principal = "", std::uint16_t port = 8080) {
  RequestAttributes a;
  a.principal = principal;
  if (!principal.empty()) a.source_namespace = principal.substr(principal.find("/ns/") + 4);
  if (!a.source_namespace.empty()) {
    a.source_namespace = a.source_namespace.substr(0, a.source_namespace.find('/'));
  }
  a.source_ip = asio::ip::make_address("10.0.0.9");
  a.destination_port = port;
  return a;
}

RequestAttributes httpReq(std::string_view method, std::string_view path,
                          std::string_view principal = "cluster.local/ns/shop/sa/client") {
  RequestAttributes a = tcp(principal);
  a.http = true;
  a.host = "web.shop.svc.cluster.local:8080";
  a.method = method;
  a.path = path;
  return a;
}

TEST(Authorize, EmptyAllowPolicyDeniesAll) {
  WorkloadPolicy w = WorkloadPolicy::build(policiesOf(authz("shop", "deny-all", "{}")), kWeb);
  EXPECT_TRUE(w.hasAuthorization());
  EXPECT_FALSE(w.authorize(httpReq("GET", "/")).allowed);
  EXPECT_FALSE(w.authorize(tcp()).allowed);
}

TEST(Authorize, EmptyRuleAllowsAll) {
  WorkloadPolicy w =
      WorkloadPolicy::build(policiesOf(authz("shop", "allow-all", "{rules: [{}]}")), kWeb);
  EXPECT_TRUE(w.authorize(httpReq("GET", "/")).allowed);
  EXPECT_TRUE(w.authorize(tcp()).allowed);
}

TEST(Authorize, EmptyDenyPolicyDeniesNothing) {
  WorkloadPolicy w = WorkloadPolicy::build(policiesOf(authz("shop", "d", "{action: DENY}")), kWeb);
  EXPECT_TRUE(w.authorize(httpReq("GET", "/")).allowed);
}

TEST(Authorize, DenyBeforeAllow) {
  WorkloadPolicy w = WorkloadPolicy::build(
      policiesOf(authz("shop", "allow-all", "{rules: [{}]}") +
                 authz("shop", "no-admin",
                       "{action: DENY, rules: [{to: [{operation: {paths: [\"/admin*\"]}}]}]}")),
      kWeb);
  EXPECT_TRUE(w.authorize(httpReq("GET", "/")).allowed);
  Decision d = w.authorize(httpReq("GET", "/admin/x"));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.policy, "shop.no-admin");
}

TEST(Authorize, AdminPathVariantsAllDenied) {
  WorkloadPolicy w = WorkloadPolicy::build(
      policiesOf(
          authz("shop", "no-admin",
                "{action: DENY, rules: [{to: [{operation: {paths: [/admin, \"/admin/*\"]}}]}]}")),
      kWeb);
  for (const char* p : {"/admin", "/./admin", "/foo/../admin", "/%61dmin", "/admin/", "/admin?x=1",
                        "\\admin", "/%2e/admin", "/admin/../admin/x"}) {
    EXPECT_FALSE(w.authorize(httpReq("GET", p)).allowed) << p;
  }
  // BASE normalisation: no slash merging, and case matters.
  for (const char* p : {"//admin", "/ADMIN", "/administrator", "/a%2Fdmin"}) {
    EXPECT_TRUE(w.authorize(httpReq("GET", p)).allowed) << p;
  }
  Decision bad = w.authorize(httpReq("GET", "/%2"));
  EXPECT_FALSE(bad.allowed);
  EXPECT_EQ(bad.policy, "(invalid path)");
}

TEST(Authorize, AllowRules) {
  WorkloadPolicy w = WorkloadPolicy::build(policiesOf(authz("shop", "p",
                                                            R"({rules: [
        {from: [{source: {principals: ["cluster.local/ns/shop/sa/client"]}}],
         to: [{operation: {methods: [GET], paths: ["/api/*"], notPaths: ["/api/secret"]}}]},
        {from: [{source: {namespaces: [ops], notPrincipals: ["*/sa/intruder"]}}]},
        {from: [{source: {ipBlocks: [192.168.0.0/16]}}], to: [{operation: {ports: ["9000"]}}]},
        {to: [{operation: {hosts: ["*.example.com"]}}]},
        {when: [{key: "request.headers[X-Token]", values: ["abc*"]}]}
      ]})")),
                                           kWeb);
  EXPECT_TRUE(w.authorize(httpReq("GET", "/api/items")).allowed);
  EXPECT_FALSE(w.authorize(httpReq("POST", "/api/items")).allowed);
  EXPECT_FALSE(w.authorize(httpReq("GET", "/api/secret")).allowed);
  EXPECT_FALSE(w.authorize(httpReq("GET", "/api/items", "cluster.local/ns/shop/sa/other")).allowed);
  EXPECT_FALSE(w.authorize(httpReq("GET", "/api/items", "")).allowed);  // plaintext
  EXPECT_TRUE(w.authorize(httpReq("DELETE", "/x", "cluster.local/ns/ops/sa/bot")).allowed);
  EXPECT_FALSE(w.authorize(httpReq("DELETE", "/x", "cluster.local/ns/ops/sa/intruder")).allowed);
  EXPECT_TRUE(w.authorize(tcp("cluster.local/ns/ops/sa/bot")).allowed);

  RequestAttributes lan = tcp("", 9000);
  lan.source_ip = asio::ip::make_address("192.168.3.4");
  EXPECT_TRUE(w.authorize(lan).allowed);
  lan.destination_port = 9001;
  EXPECT_FALSE(w.authorize(lan).allowed);

  RequestAttributes h = httpReq("PUT", "/z", "");
  h.host = "API.Example.com";
  EXPECT_TRUE(w.authorize(h).allowed);
  h.host = "api.example.com:443";
  EXPECT_TRUE(w.authorize(h).allowed);
  h.host = "example.com";
  EXPECT_FALSE(w.authorize(h).allowed);

  http::HeaderMap headers;
  headers.add("x-token", "abcdef");
  RequestAttributes t = httpReq("PUT", "/z", "");
  t.headers = &headers;
  EXPECT_TRUE(w.authorize(t).allowed);
  headers.set("x-token", "xyz");
  EXPECT_FALSE(w.authorize(t).allowed);
}

TEST(Authorize, TcpAgainstHttpOnlyFields) {
  // ALLOW: a rule with an HTTP-only field never matches a TCP connection.
  WorkloadPolicy allow = WorkloadPolicy::build(
      policiesOf(authz("shop", "a",
                       "{rules: [{from: [{source: {namespaces: [shop]}}], "
                       "to: [{operation: {methods: [GET], ports: [\"8080\"]}}]}]}")),
      kWeb);
  EXPECT_TRUE(allow.authorize(httpReq("GET", "/")).allowed);
  EXPECT_FALSE(allow.authorize(tcp("cluster.local/ns/shop/sa/client")).allowed);

  // DENY: the HTTP-only fields are dropped, so the rule denies more.
  WorkloadPolicy deny = WorkloadPolicy::build(
      policiesOf(authz("shop", "d",
                       "{action: DENY, rules: [{to: [{operation: {methods: [DELETE], "
                       "ports: [\"8080\"]}}]}]}")),
      kWeb);
  EXPECT_TRUE(deny.authorize(httpReq("GET", "/")).allowed);
  EXPECT_FALSE(deny.authorize(httpReq("DELETE", "/")).allowed);
  EXPECT_FALSE(deny.authorize(tcp("cluster.local/ns/shop/sa/client", 8080)).allowed);
  EXPECT_TRUE(deny.authorize(tcp("cluster.local/ns/shop/sa/client", 9090)).allowed);

  WorkloadPolicy deny_header = WorkloadPolicy::build(
      policiesOf(authz("shop", "d",
                       "{action: DENY, rules: [{when: [{key: \"request.headers[x-a]\", "
                       "values: [\"1\"]}]}]}")),
      kWeb);
  EXPECT_FALSE(deny_header.authorize(tcp()).allowed);
  EXPECT_TRUE(deny_header.authorize(httpReq("GET", "/")).allowed);
}

TEST(Authorize, RequestPrincipalsNeverMatch) {
  WorkloadPolicy w = WorkloadPolicy::build(
      policiesOf(authz("shop", "a", "{rules: [{from: [{source: {requestPrincipals: [\"*\"]}}]}]}") +
                 authz("shop", "b",
                       "{rules: [{from: [{source: {notRequestPrincipals: [\"*\"]}}], "
                       "to: [{operation: {paths: [/public]}}]}]}")),
      kWeb);
  EXPECT_FALSE(w.authorize(httpReq("GET", "/private")).allowed);
  EXPECT_TRUE(w.authorize(httpReq("GET", "/public")).allowed);
}

TEST(Authorize, WhenConditions) {
  WorkloadPolicy w = WorkloadPolicy::build(policiesOf(authz("shop", "a",
                                                            R"({rules: [{when: [
        {key: source.namespace, values: [shop]},
        {key: source.principal, notValues: ["*/sa/bad"]},
        {key: destination.port, values: ["8080"]},
        {key: source.ip, notValues: [10.0.0.0/24]},
        {key: remote.ip, values: [10.0.0.0/8]}]}]})")),
                                           kWeb);
  RequestAttributes a = tcp("cluster.local/ns/shop/sa/good");
  a.source_ip = asio::ip::make_address("10.0.1.1");
  EXPECT_TRUE(w.authorize(a).allowed);
  RequestAttributes b = a;
  b.principal = "cluster.local/ns/shop/sa/bad";
  EXPECT_FALSE(w.authorize(b).allowed);
  RequestAttributes c = a;
  c.destination_port = 9090;
  EXPECT_FALSE(w.authorize(c).allowed);
  RequestAttributes d = a;
  d.source_ip = asio::ip::make_address("10.0.0.7");
  EXPECT_FALSE(w.authorize(d).allowed);
  RequestAttributes e = a;
  e.remote_ip = asio::ip::make_address("172.16.0.1");
  EXPECT_FALSE(w.authorize(e).allowed);
  RequestAttributes f = a;
  f.source_namespace = "other";
  EXPECT_FALSE(w.authorize(f).allowed);
}

TEST(AuthorizationSelection, Scopes) {
  auto p = policiesOf(
      authz("istio-system", "mesh",
            "{action: DENY, rules: [{to: [{operation: {paths: [/mesh]}}]}]}") +
      authz("shop", "ns", "{action: DENY, rules: [{to: [{operation: {paths: [/ns]}}]}]}") +
      authz("shop", "web",
            "{selector: {matchLabels: {app: web}}, action: DENY, rules: [{to: [{operation: {paths: "
            "[/web]}}]}]}") +
      authz("shop", "db",
            "{selector: {matchLabels: {app: db}}, action: DENY, rules: [{to: [{operation: {paths: "
            "[/db]}}]}]}") +
      authz("bank", "bank", "{action: DENY, rules: [{to: [{operation: {paths: [/bank]}}]}]}") +
      authz("shop", "audit", "{action: AUDIT, rules: [{}]}"));
  WorkloadPolicy w = WorkloadPolicy::build(p, kWeb);
  EXPECT_FALSE(w.authorize(httpReq("GET", "/mesh")).allowed);
  EXPECT_FALSE(w.authorize(httpReq("GET", "/ns")).allowed);
  EXPECT_FALSE(w.authorize(httpReq("GET", "/web")).allowed);
  EXPECT_TRUE(w.authorize(httpReq("GET", "/db")).allowed);
  EXPECT_TRUE(w.authorize(httpReq("GET", "/bank")).allowed);
  EXPECT_TRUE(w.authorize(httpReq("GET", "/other")).allowed);
  EXPECT_EQ(w.appliedPolicyNames(),
            (std::vector<std::string>{"istio-system.mesh", "shop.ns", "shop.web"}));
}

TEST(Authorize, NoAllocationPerCall) {
  WorkloadPolicy w = WorkloadPolicy::build(
      policiesOf(authz("shop", "no-admin",
                       "{action: DENY, rules: [{to: [{operation: {paths: [\"/admin*\"], "
                       "hosts: [\"*.internal\"]}}]}]}") +
                 authz("shop", "allow",
                       R"({rules: [{from: [{source: {principals: ["cluster.local/ns/shop/*"],
                           ipBlocks: [10.0.0.0/8]}}], to: [{operation: {methods: [GET, POST],
                           paths: ["/api/*", "*.css"], ports: ["8080"]}}],
                           when: [{key: "request.headers[x-tenant]", values: [acme]}]}]})")),
      kWeb);
  http::HeaderMap headers;
  headers.add("x-tenant", "acme");
  RequestAttributes a = httpReq("GET", "/api/items?page=2");
  a.headers = &headers;
  RequestAttributes plain_tcp = tcp("cluster.local/ns/shop/sa/client");
  long before = allocationCount();
  bool allowed = true;
  for (int i = 0; i < 1000; ++i) {
    allowed = allowed && w.authorize(a).allowed;
    allowed = allowed && !w.authorize(plain_tcp).allowed;
  }
  EXPECT_EQ(allocationCount(), before);
  EXPECT_TRUE(allowed);
}

}  // namespace
}  // namespace remora::security

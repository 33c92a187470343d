#include "inject/policy.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace remora::inject {
namespace {

using testing::makeConfig;
using testing::yaml;

struct Case {
  const char* name;
  const char* metadata;
  const char* spec;
  const char* ns;
  const char* ns_labels;  // nullptr: offline
  bool inject;
  Rule rule;
};

TEST(PolicyTest, DecidesAsTheWebhookWould) {
  auto config = makeConfig();
  const Case cases[] = {
      {"offline", "{}", "{}", "", nullptr, true, Rule::NamespaceOffline},
      {"host-network", "{}", "{hostNetwork: true}", "", nullptr, false, Rule::HostNetwork},
      {"host-network-false", "{}", "{hostNetwork: false}", "", nullptr, true,
       Rule::NamespaceOffline},
      {"kube-system", "{labels: {sidecar.istio.io/inject: 'true'}}", "{}", "kube-system", "{}",
       false, Rule::IgnoredNamespace},
      {"kube-public", "{}", "{}", "kube-public", nullptr, false, Rule::IgnoredNamespace},
      {"kube-node-lease", "{}", "{}", "kube-node-lease", nullptr, false, Rule::IgnoredNamespace},
      {"annotation-false", "{annotations: {sidecar.istio.io/inject: 'false'}}", "{}", "", nullptr,
       false, Rule::PodAnnotation},
      {"annotation-garbage", "{annotations: {sidecar.istio.io/inject: 'nah'}}", "{}", "", nullptr,
       false, Rule::PodAnnotation},
      {"label-false", "{labels: {sidecar.istio.io/inject: 'false'}}", "{}", "", nullptr, false,
       Rule::PodLabel},
      {"label-wins-over-annotation",
       "{labels: {sidecar.istio.io/inject: 'true'}, annotations: {sidecar.istio.io/inject: "
       "'false'}}",
       "{}", "ns", "{}", true, Rule::PodLabel},
      {"label-false-wins",
       "{labels: {sidecar.istio.io/inject: 'false'}, annotations: {sidecar.istio.io/inject: "
       "'true'}}",
       "{}", "", nullptr, false, Rule::PodLabel},
      {"annotation-yes", "{annotations: {sidecar.istio.io/inject: 'Yes'}}", "{}", "ns", "{}", true,
       Rule::PodAnnotation},
      {"empty-opinion", "{annotations: {sidecar.istio.io/inject: ''}}", "{}", "", nullptr, true,
       Rule::NamespaceOffline},
      {"ns-enabled", "{}", "{}", "shop", "{istio-injection: enabled}", true, Rule::NamespaceLabel},
      {"ns-disabled", "{}", "{}", "shop", "{istio-injection: disabled}", false,
       Rule::NamespaceLabel},
      {"ns-disabled-beats-pod-opt-in", "{labels: {sidecar.istio.io/inject: 'true'}}", "{}", "shop",
       "{istio-injection: disabled}", false, Rule::NamespaceLabel},
      {"ns-unlabelled", "{}", "{}", "shop", "{}", false, Rule::NamespaceNotEnabled},
      {"ns-unlabelled-pod-opt-in", "{labels: {sidecar.istio.io/inject: 'true'}}", "{}", "shop",
       "{}", true, Rule::PodLabel},
      {"ns-revision-default", "{}", "{}", "shop", "{istio.io/rev: default}", true,
       Rule::NamespaceRevision},
      {"ns-revision-other", "{}", "{}", "shop", "{istio.io/rev: canary}", false,
       Rule::NamespaceRevision},
      {"pod-revision", "{labels: {istio.io/rev: default}}", "{}", "shop", "{}", true,
       Rule::PodRevision},
  };
  for (const auto& c : cases) {
    Json metadata = yaml(c.metadata);
    Json spec = yaml(c.spec);
    Json ns_labels = c.ns_labels ? yaml(c.ns_labels) : Json();
    auto d = decide(PolicyInput{metadata, spec, c.ns, c.ns_labels ? &ns_labels : nullptr}, *config);
    ASSERT_TRUE(d) << c.name << ": " << d.error().message;
    EXPECT_EQ(d->inject, c.inject) << c.name << ": " << d->reason;
    EXPECT_EQ(d->rule, c.rule) << c.name << ": " << ruleName(d->rule) << " " << d->reason;
    EXPECT_FALSE(d->reason.empty()) << c.name;
  }
}

TEST(PolicyTest, NeverAndAlwaysInjectSelectors) {
  auto config = makeConfig(
      "sidecarInjectorWebhook: {neverInjectSelector: [{matchLabels: {role: db}}], "
      "alwaysInjectSelector: [{matchExpressions: [{key: tier, operator: In, values: [edge]}]}]}",
      "neverInjectSelector: [{matchExpressions: [{key: legacy, operator: Exists}]}]");
  Json spec = Json::object();
  Json enabled_ns = yaml("{}");  // not enabled: only alwaysInject can inject
  struct Sel {
    const char* labels;
    bool inject;
    Rule rule;
  };
  const Sel cases[] = {
      {"{role: db}", false, Rule::NeverInjectSelector},
      {"{legacy: 'yes'}", false, Rule::NeverInjectSelector},
      {"{tier: edge}", true, Rule::AlwaysInjectSelector},
      {"{role: db, tier: edge}", false, Rule::NeverInjectSelector},
      {"{tier: core}", false, Rule::NamespaceNotEnabled},
  };
  for (const auto& c : cases) {
    Json metadata = Json{{"labels", yaml(c.labels)}};
    auto d = decide(PolicyInput{metadata, spec, "ns", &enabled_ns}, *config);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->inject, c.inject) << c.labels;
    EXPECT_EQ(d->rule, c.rule) << c.labels;
  }
  // An explicit opinion bypasses the selectors.
  Json opted_out = yaml("{labels: {tier: edge}, annotations: {sidecar.istio.io/inject: 'false'}}");
  auto d = decide(PolicyInput{opted_out, spec, "", nullptr}, *config);
  EXPECT_FALSE(d->inject);
}

TEST(PolicyTest, DisabledPolicyInjectsOnlyOptIns) {
  auto config = makeConfig("sidecarInjectorWebhook: {policy: disabled}");
  Json spec = Json::object();
  Json none = Json::object();
  auto d = decide(PolicyInput{none, spec, "", nullptr}, *config);
  EXPECT_FALSE(d->inject);
  EXPECT_EQ(d->rule, Rule::PolicyDisabled);
  Json opt_in = yaml("{annotations: {sidecar.istio.io/inject: 'true'}}");
  d = decide(PolicyInput{opt_in, spec, "", nullptr}, *config);
  EXPECT_TRUE(d->inject);
}

TEST(PolicyTest, RevisionMustMatch) {
  auto config = makeConfig({}, {}, "canary");
  Json spec = Json::object();
  Json none = Json::object();
  Json labels = yaml("{istio.io/rev: canary}");
  auto d = decide(PolicyInput{none, spec, "shop", &labels}, *config);
  EXPECT_TRUE(d->inject);
  Json legacy = yaml("{istio-injection: enabled}");
  d = decide(PolicyInput{none, spec, "shop", &legacy}, *config);
  EXPECT_FALSE(d->inject);
}

TEST(PolicyTest, RuleNamesAreStable) {
  EXPECT_EQ(ruleName(Rule::HostNetwork), "host-network");
  EXPECT_EQ(ruleName(Rule::AlreadyInjected), "already-injected");
  EXPECT_EQ(ruleName(Rule::NamespaceOffline), "namespace-offline");
}

}  // namespace
}  // namespace remora::inject

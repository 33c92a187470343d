#include "inject/config.h"

#include <gtest/gtest.h>

#include "inject/annotations.h"
#include "inject/template.h"
#include "kube/yaml.h"
#include "test_util.h"

namespace remora::inject {
namespace {

TEST(ConfigTest, BuiltInFilesLoad) {
  auto config = loadConfig();
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->revision, "default");
  EXPECT_EQ(config->version.size(), 16u);
  EXPECT_EQ(*contextValue(config->values, "global.hub"), "ghcr.io/remora-mesh");
  EXPECT_EQ(*contextValue(config->values, "global.proxy.image"), "remora");
  EXPECT_EQ(*contextValue(config->values, "global.proxy.runAsUser"), 1337);
  EXPECT_EQ(*contextValue(config->values, "global.nativeSidecars"), false);
  EXPECT_EQ(*contextValue(config->mesh, "defaultConfig.concurrency"), 2);
  EXPECT_TRUE(config->sidecar_template.contains("proxyContainer"));
  EXPECT_FALSE(defaultValuesYaml().empty());
  EXPECT_FALSE(sidecarTemplateYaml().empty());
}

TEST(ConfigTest, TheImageTagIsTheRemoraVersion) {
  auto config = loadConfig();
  ASSERT_TRUE(config);
  EXPECT_EQ(*contextValue(config->values, "global.tag"), REMORA_VERSION);
}

TEST(ConfigTest, UserFilesMergeKeyByKey) {
  auto config =
      loadConfig("global:\n  proxy:\n    resources:\n      limits: {cpu: '4'}\n  tag: dev\n",
                 "trustDomain: example.org\n");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(*contextValue(config->values, "global.tag"), "dev");
  EXPECT_EQ(*contextValue(config->values, "global.hub"), "ghcr.io/remora-mesh");
  EXPECT_EQ(*contextValue(config->values, "global.proxy.resources.limits.cpu"), "4");
  EXPECT_EQ(*contextValue(config->values, "global.proxy.resources.requests.cpu"), "100m");
  EXPECT_EQ(config->mesh["trustDomain"], "example.org");
  auto defaults = loadConfig();
  EXPECT_NE(config->version, defaults->version);
  EXPECT_EQ(loadConfig()->version, defaults->version);
}

TEST(ConfigTest, BadSettingsAreErrorsNamingTheField) {
  struct Case {
    const char* values;
    const char* mesh;
    const char* revision;
    const char* message;
  };
  const Case cases[] = {
      {"global: {proxy: {statusPort: 70000}}", "", "",
       "values: global.proxy.statusPort must be an integer"},
      {"global: {proxy: {statusPort: '15020'}}", "", "", "global.proxy.statusPort"},
      {"global: {hub: [x]}", "", "", "values: global.hub must be a string"},
      {"global: {nativeSidecars: 'yes please'}", "", "",
       "global.nativeSidecars must be true or false"},
      {"global: {proxy: {resources: {limits: {cpu: lots}}}}", "", "", "global.proxy.resources"},
      {"global: {proxy: {includeIPRanges: bad}}", "", "", "global.proxy.includeIPRanges"},
      {"global: {proxy: {logLevel: shouting}}", "", "", "global.proxy.logLevel"},
      {"sidecarInjectorWebhook: {policy: maybe}", "", "", "sidecarInjectorWebhook.policy"},
      {"sidecarInjectorWebhook: {neverInjectSelector: [{matchExpressions: [{key: a, operator: "
       "Near}]}]}",
       "", "", "neverInjectSelector"},
      {"- a list", "", "", "values: expected a mapping"},
      {"global: [unclosed", "", "", "values: document 1"},
      {"", "defaultConfig: {concurrency: -1}", "", "meshconfig: defaultConfig"},
      {"", "proxyListenPort: 0", "", "meshconfig: proxyListenPort"},
      {"", "defaultConfig: {interceptionMode: MAGIC}", "", "interceptionMode"},
      {"", "", "Bad_Revision", "revision \"Bad_Revision\""},
  };
  for (const auto& c : cases) {
    auto config = loadConfig(c.values, c.mesh, c.revision);
    ASSERT_FALSE(config) << c.values << c.mesh << c.revision;
    EXPECT_NE(config.error().message.find(c.message), std::string::npos)
        << c.values << c.mesh << " -> " << config.error().message;
  }
}

TEST(ConfigTest, MergeValuesIsHelmLike) {
  Json base = testing::yaml("{a: {b: 1, c: [1, 2]}, d: x}");
  Json merged = mergeValues(base, testing::yaml("{a: {c: [3], e: 4}, d: null}"));
  EXPECT_EQ(merged, testing::yaml("{a: {b: 1, c: [3], e: 4}, d: null}"));
}

}  // namespace
}  // namespace remora::inject

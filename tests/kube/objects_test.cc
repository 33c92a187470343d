#include "kube/objects.h"

#include <gtest/gtest.h>

#include "kube/yaml.h"

namespace remora::kube {
namespace {

Json yaml(std::string_view text) {
  auto v = parseYaml(text);
  EXPECT_TRUE(v) << v.error().message;
  return v ? *v : Json();
}

TEST(WorkloadKindTest, RecognisesWorkloadsByKindAndGroup) {
  struct Case {
    const char* doc;
    std::optional<WorkloadKind> want;
  };
  const Case cases[] = {
      {"kind: Pod\napiVersion: v1", WorkloadKind::Pod},
      {"kind: Deployment\napiVersion: apps/v1", WorkloadKind::Deployment},
      {"kind: Deployment\napiVersion: extensions/v1beta1", WorkloadKind::Deployment},
      {"kind: Deployment\napiVersion: example.com/v1", std::nullopt},
      {"kind: ReplicaSet\napiVersion: apps/v1", WorkloadKind::ReplicaSet},
      {"kind: ReplicationController\napiVersion: v1", WorkloadKind::ReplicationController},
      {"kind: StatefulSet\napiVersion: apps/v1", WorkloadKind::StatefulSet},
      {"kind: DaemonSet\napiVersion: apps/v1", WorkloadKind::DaemonSet},
      {"kind: Job\napiVersion: batch/v1", WorkloadKind::Job},
      {"kind: CronJob\napiVersion: batch/v1beta1", WorkloadKind::CronJob},
      {"kind: DeploymentConfig\napiVersion: apps.openshift.io/v1", WorkloadKind::DeploymentConfig},
      {"kind: DeploymentConfig\napiVersion: v1", WorkloadKind::DeploymentConfig},
      {"kind: Service\napiVersion: v1", std::nullopt},
      {"kind: List\napiVersion: v1", std::nullopt},
      {"kind: 3", std::nullopt},
      {"metadata: {}", std::nullopt},
  };
  for (const auto& c : cases) EXPECT_EQ(workloadKind(yaml(c.doc)), c.want) << c.doc;
  EXPECT_TRUE(runsToCompletion(WorkloadKind::Job));
  EXPECT_TRUE(runsToCompletion(WorkloadKind::CronJob));
  EXPECT_FALSE(runsToCompletion(WorkloadKind::Deployment));
}

TEST(PodTemplateTest, FindsTheTemplateOfEveryKind) {
  Json cron = yaml(
      "kind: CronJob\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec: "
      "{containers: []}\n");
  auto t = podTemplate(cron, WorkloadKind::CronJob);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(*t, &cron["spec"]["jobTemplate"]["spec"]["template"]);

  Json pod = yaml("kind: Pod\nspec: {containers: []}\n");
  t = podTemplate(pod, WorkloadKind::Pod);
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, &pod);

  Json deploy = yaml("kind: Deployment\nspec:\n  template:\n    spec: {containers: []}\n");
  t = podTemplate(deploy, WorkloadKind::Deployment);
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, &deploy["spec"]["template"]);
}

TEST(PodTemplateTest, MissingPiecesAreErrorsNamingTheField) {
  struct Case {
    const char* doc;
    WorkloadKind kind;
    const char* message;
  };
  const Case cases[] = {
      {"kind: ReplicationController\nspec: {replicas: 3}", WorkloadKind::ReplicationController,
       "spec.template is required value"},
      {"kind: Deployment", WorkloadKind::Deployment, "spec is required value"},
      {"kind: Deployment\nspec:\n  template: 3", WorkloadKind::Deployment,
       "spec.template must be an object"},
      {"kind: Deployment\nspec:\n  template: {metadata: {}}", WorkloadKind::Deployment,
       "spec.template.spec is required value"},
      {"kind: CronJob\nspec:\n  jobTemplate: {}", WorkloadKind::CronJob,
       "spec.jobTemplate.spec is required value"},
      {"kind: Pod\nmetadata: {name: x}", WorkloadKind::Pod, "spec is required value"},
      {"kind: Pod\nmetadata: []\nspec: {}", WorkloadKind::Pod, "metadata must be an object"},
  };
  for (const auto& c : cases) {
    Json doc = yaml(c.doc);
    auto t = podTemplate(doc, c.kind);
    ASSERT_FALSE(t) << c.doc;
    EXPECT_NE(t.error().message.find(c.message), std::string::npos) << t.error().message;
  }
}

TEST(SelectorTest, MatchesLabelsAndExpressions) {
  Json labels = yaml("app: web\ntier: front\n");
  struct Case {
    const char* selector;
    bool want;
  };
  const Case cases[] = {
      {"{}", true},
      {"matchLabels: {app: web}", true},
      {"matchLabels: {app: db}", false},
      {"matchExpressions: [{key: app, operator: In, values: [web, api]}]", true},
      {"matchExpressions: [{key: app, operator: NotIn, values: [web]}]", false},
      {"matchExpressions: [{key: tier, operator: Exists}]", true},
      {"matchExpressions: [{key: zone, operator: Exists}]", false},
      {"matchExpressions: [{key: zone, operator: DoesNotExist}]", true},
      {"matchLabels: {app: web}\nmatchExpressions: [{key: tier, operator: In, values: [back]}]",
       false},
  };
  for (const auto& c : cases) {
    auto r = selectorMatches(yaml(c.selector), labels);
    ASSERT_TRUE(r) << c.selector << ": " << r.error().message;
    EXPECT_EQ(*r, c.want) << c.selector;
  }
  EXPECT_FALSE(selectorMatches(yaml("matchExpressions: [{key: a, operator: Near}]"), labels));
  EXPECT_FALSE(selectorMatches(yaml("matchExpressions: [{key: a, operator: In}]"), labels));
  EXPECT_TRUE(isEmptySelector(yaml("{}")));
  EXPECT_FALSE(isEmptySelector(yaml("matchLabels: {a: b}")));
}

TEST(QuantityTest, ParsesKubernetesQuantities) {
  struct Case {
    const char* text;
    double want;
  };
  const Case cases[] = {{"100m", 0.1},          {"2", 2},      {"4000m", 4}, {"1Gi", 1073741824.0},
                        {"128Mi", 134217728.0}, {"1e3", 1000}, {"0.5", 0.5}, {"1k", 1000},
                        {"1.5", 1.5},           {".5", 0.5},   {"+1", 1},    {"2E-1", 0.2}};
  for (const auto& c : cases) {
    auto q = parseQuantity(c.text);
    ASSERT_TRUE(q) << c.text;
    EXPECT_DOUBLE_EQ(*q, c.want) << c.text;
  }
  for (const char* bad : {"", "m", "1x", "1 Gi", "abc", "1Gib", "1e", "1.2.3", "--1", "1e1000"}) {
    EXPECT_FALSE(parseQuantity(bad)) << bad;
  }
}

TEST(ObjectsTest, DescribeAndLookups) {
  Json d = yaml("kind: Deployment\nmetadata: {name: web}\n");
  EXPECT_EQ(describe(d), "Deployment \"web\"");
  EXPECT_EQ(describe(yaml("kind: Pod\nmetadata: {generateName: web-}")), "Pod \"web-\"");
  EXPECT_EQ(describe(yaml("a: 1")), "<kind> \"<unnamed>\"");
  EXPECT_NE(lookup(d, {"metadata", "name"}), nullptr);
  EXPECT_EQ(lookup(d, {"metadata", "name", "x"}), nullptr);
  EXPECT_EQ(stringOr(d, "kind", "?"), "Deployment");
  EXPECT_EQ(stringOr(d, "nope", "?"), "?");
  Json obj = yaml("a: null\nb: 3\n");
  EXPECT_TRUE(childObject(obj, "a", "a"));
  EXPECT_TRUE(childObject(obj, "c", "c"));
  EXPECT_FALSE(childObject(obj, "b", "b"));
}

}  // namespace
}  // namespace remora::kube

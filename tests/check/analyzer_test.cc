// Every finding of `remora check`, on the offline fixtures.
#include "check/analyzer.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace remora::check {
namespace {

using testing::analyzeFixture;
using testing::defaultConfig;
using testing::fixture;
using testing::withCode;

TEST(Analyzer, CleanNamespaceHasNoFindings) {
  auto findings = analyzeFixture("clean.yaml");
  EXPECT_TRUE(findings.empty()) << findings.front().code << " " << findings.front().message;
}

TEST(Analyzer, PodWithoutProxyInEnabledNamespaceIsIst0103GroupedByDeployment) {
  auto findings = analyzeFixture("partial.json");
  auto missing = withCode(findings, "IST0103", "web-5d8f6b-bbbbb");
  ASSERT_EQ(missing.size(), 1u);
  const Finding& f = missing[0];
  EXPECT_EQ(f.type, "PodMissingProxy");
  EXPECT_EQ(f.severity, Severity::Error);
  EXPECT_EQ(f.object, (ObjectRef{"Pod", "shop", "web-5d8f6b-bbbbb"}));
  ASSERT_TRUE(f.owner);
  EXPECT_EQ(*f.owner, (ObjectRef{"Deployment", "shop", "web"}));
  EXPECT_EQ(f.fix, "kubectl rollout restart deployment/web -n shop");
  EXPECT_TRUE(f.restart);
  EXPECT_NE(f.message.find("missing the Istio proxy"), std::string::npos) << f.message;
  EXPECT_NE(f.message.find("istio-injection=enabled"), std::string::npos) << f.message;
  // The injected sibling is fine.
  EXPECT_TRUE(withCode(findings, "IST0103", "web-5d8f6b-aaaaa").empty());
}

TEST(Analyzer, WorkloadPartlyInjectedIsTheWorstCase) {
  auto findings = analyzeFixture("partial.json");
  auto mixed = withCode(findings, "RM0002");
  ASSERT_EQ(mixed.size(), 1u);
  EXPECT_EQ(mixed[0].object, (ObjectRef{"Deployment", "shop", "web"}));
  EXPECT_EQ(mixed[0].severity, Severity::Error);
  EXPECT_NE(mixed[0].message.find("1 of 2 pods"), std::string::npos) << mixed[0].message;
  EXPECT_NE(mixed[0].message.find("one-way traffic"), std::string::npos);
  EXPECT_NE(mixed[0].message.find("503"), std::string::npos);
  EXPECT_EQ(mixed[0].fix, "kubectl rollout restart deployment/web -n shop");
}

TEST(Analyzer, OwnersAreFollowedToTheTop) {
  auto findings = analyzeFixture("partial.json");
  auto db = withCode(findings, "IST0103", "db-0");
  ASSERT_EQ(db.size(), 1u);
  EXPECT_EQ(db[0].fix, "kubectl rollout restart statefulset/db -n shop");
  auto job = withCode(findings, "IST0103", "backup-28471230-xk2p9");
  ASSERT_EQ(job.size(), 1u);
  ASSERT_TRUE(job[0].owner);
  EXPECT_EQ(*job[0].owner, (ObjectRef{"CronJob", "shop", "backup"}));
  EXPECT_FALSE(job[0].restart);  // kubectl cannot rollout-restart a CronJob
  EXPECT_NE(job[0].fix.find("kubectl create job --from=cronjob/backup"), std::string::npos);
}

TEST(Analyzer, BarePodIsToldToBeRecreatedNeverRestarted) {
  auto findings = analyzeFixture("partial.json");
  auto debug = withCode(findings, "IST0103", "debug");
  ASSERT_EQ(debug.size(), 1u);
  EXPECT_FALSE(debug[0].owner);
  EXPECT_FALSE(debug[0].restart);
  EXPECT_NE(debug[0].fix.find("delete and recreate"), std::string::npos);
  EXPECT_NE(debug[0].fix.find("kubectl delete pod debug -n shop"), std::string::npos);
}

TEST(Analyzer, OptedOutAndHostNetworkPodsAreIntentional) {
  auto findings = analyzeFixture("partial.json");
  auto batch = withCode(findings, "RM0005", "batch");
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].severity, Severity::Info);
  EXPECT_NE(batch[0].message.find("sidecar.istio.io/inject=\"false\""), std::string::npos);
  auto host = withCode(findings, "RM0006", "node-agent");
  ASSERT_EQ(host.size(), 1u);
  EXPECT_EQ(host[0].severity, Severity::Info);
  for (const auto& f : findings) {
    if (f.object.name == "batch" || f.object.name == "node-agent") {
      EXPECT_EQ(f.severity, Severity::Info) << f.code;
    }
  }
}

TEST(Analyzer, FinishedAndTerminatingPodsAreNotJudged) {
  auto findings = analyzeFixture("partial.json");
  for (const auto& f : findings) {
    EXPECT_NE(f.object.name, "old-done");
    EXPECT_NE(f.object.name, "leaving");
  }
}

TEST(Analyzer, FindingsAreSortedWorstFirst) {
  auto findings = analyzeFixture("partial.json");
  ASSERT_FALSE(findings.empty());
  EXPECT_TRUE(std::is_sorted(findings.begin(), findings.end(), findingLess));
  EXPECT_EQ(findings.front().severity, Severity::Error);
  EXPECT_EQ(findings.back().severity, Severity::Info);
  // 4 pods without proxy + the mixed Deployment.
  int errors = 0;
  for (const auto& f : findings) errors += f.severity == Severity::Error ? 1 : 0;
  EXPECT_EQ(errors, 5);
}

TEST(Analyzer, ProxyWithoutInitIsRm0001UnlessCaptureIsOff) {
  auto findings = analyzeFixture("missing-init.yaml");
  auto half = withCode(findings, "RM0001", "half");
  ASSERT_EQ(half.size(), 1u);
  EXPECT_EQ(half[0].severity, Severity::Error);
  EXPECT_NE(half[0].message.find("no istio-init"), std::string::npos);
  EXPECT_TRUE(withCode(findings, "RM0001", "no-capture").empty());
}

TEST(Analyzer, OutdatedSidecarByVersionAndByRevision) {
  auto findings = analyzeFixture("outdated.yaml");
  auto agent = withCode(findings, "RM0003", "agent-x7k2p");
  ASSERT_EQ(agent.size(), 1u);
  EXPECT_EQ(agent[0].severity, Severity::Warning);
  EXPECT_NE(agent[0].message.find("0000old"), std::string::npos) << agent[0].message;
  EXPECT_EQ(agent[0].fix, "kubectl rollout restart daemonset/agent -n shop");
  auto canary = withCode(findings, "RM0003", "canary");
  ASSERT_EQ(canary.size(), 1u);
  EXPECT_NE(canary[0].message.find("revision canary"), std::string::npos);
}

TEST(Analyzer, CurrentVersionIsNotOutdated) {
  Snapshot s = fixture("outdated.yaml");
  auto config = defaultConfig();
  std::string status =
      R"({"version":")" + config->version +
      R"(","initContainers":["istio-init"],"containers":["istio-proxy"],"revision":"default"})";
  Json pod = *s.find(Kind::Pod, "shop", "agent-x7k2p");
  pod["metadata"]["annotations"]["sidecar.istio.io/status"] = status;
  ASSERT_TRUE(s.add(pod));
  auto findings = Analyzer(config).analyze(s);
  EXPECT_TRUE(withCode(findings, "RM0003", "agent-x7k2p").empty());
}

TEST(Analyzer, SidecarInNamespaceNoLongerEnabled) {
  auto findings = analyzeFixture("disabled-namespace.yaml");
  auto old = withCode(findings, "RM0004", "old");
  ASSERT_EQ(old.size(), 1u);
  EXPECT_EQ(old[0].severity, Severity::Warning);
  EXPECT_NE(old[0].message.find("not enabled"), std::string::npos) << old[0].message;
  auto ns = withCode(findings, "IST0102", "legacy");
  ASSERT_EQ(ns.size(), 1u);
  EXPECT_EQ(ns[0].severity, Severity::Info);
  EXPECT_EQ(ns[0].fix, "kubectl label namespace legacy istio-injection=enabled");
}

TEST(Analyzer, BothInjectionLabelsIsIst0123) {
  auto findings = analyzeFixture("disabled-namespace.yaml");
  auto both = withCode(findings, "IST0123", "both");
  ASSERT_EQ(both.size(), 1u);
  EXPECT_EQ(both[0].type, "NamespaceMultipleInjectionLabels");
  EXPECT_EQ(both[0].severity, Severity::Warning);
  EXPECT_NE(both[0].message.find("both new and legacy injection labels"), std::string::npos);
}

TEST(Analyzer, ExcludedAppPortIsAWarning) {
  auto findings = analyzeFixture("excluded-port.yaml");
  auto port = withCode(findings, "RM0007", "api");
  ASSERT_EQ(port.size(), 1u);
  EXPECT_EQ(port[0].severity, Severity::Warning);
  EXPECT_NE(port[0].message.find("8080 (container api)"), std::string::npos) << port[0].message;
  EXPECT_EQ(port[0].message.find("5353"), std::string::npos);  // UDP is never captured
}

TEST(Analyzer, ImageAutoWithoutInjection) {
  auto findings = analyzeFixture("image-auto.yaml");
  auto tmpl = withCode(findings, "IST0144", "gateway");
  ASSERT_EQ(tmpl.size(), 1u);
  EXPECT_EQ(tmpl[0].severity, Severity::Warning);
  auto pod = withCode(findings, "IST0145", "gateway-pod");
  ASSERT_EQ(pod.size(), 1u);
  EXPECT_EQ(pod[0].severity, Severity::Error);
}

TEST(Analyzer, PodsOfAnUnknownNamespaceAreNotJudged) {
  auto findings = analyzeFixture("unknown-namespace.yaml");
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].code, "RM0008");
  EXPECT_EQ(findings[0].object.name, "elsewhere");
}

TEST(Analyzer, NamespaceScopeLeavesOthersOut) {
  auto findings = analyzeFixture("disabled-namespace.yaml", "both");
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].code, "IST0123");
}

TEST(Analyzer, ReplicaSetMissingFromInputStillNamesTheDeployment) {
  Snapshot s;
  ASSERT_TRUE(s.add(Json::parse(R"({"apiVersion":"v1","kind":"Namespace",
      "metadata":{"name":"a","labels":{"istio-injection":"enabled"}}})")));
  ASSERT_TRUE(s.add(Json::parse(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"api-7f9c-x",
      "namespace":"a","labels":{"pod-template-hash":"7f9c"},
      "ownerReferences":[{"kind":"ReplicaSet","name":"api-7f9c","controller":true}]},
      "spec":{"containers":[{"name":"api","image":"x"}]}})")));
  auto findings = Analyzer(defaultConfig()).analyze(s);
  auto f = withCode(findings, "IST0103");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].fix, "kubectl rollout restart deployment/api -n a");
}

TEST(Analyzer, InspectPodGivesTheSeedsVerification) {
  Analyzer analyzer(defaultConfig());
  Snapshot s = fixture("clean.yaml");
  auto web = analyzer.inspectPod(s, "shop", "web");
  ASSERT_TRUE(web) << web.error().message;
  EXPECT_EQ(web->containers, (std::vector<std::string>{"web", "istio-proxy"}));
  EXPECT_EQ(web->init_containers, (std::vector<std::string>{"istio-init"}));
  EXPECT_EQ(web->verdict, "meshed");
  EXPECT_TRUE(web->findings.empty());
  auto native = analyzer.inspectPod(s, "shop", "native");
  ASSERT_TRUE(native);
  EXPECT_EQ(native->verdict, "meshed (native sidecar)");

  Snapshot p = fixture("partial.json");
  auto bare = analyzer.inspectPod(p, "shop", "web-5d8f6b-bbbbb");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->verdict.rfind("not meshed: istio-proxy is missing", 0), 0u) << bare->verdict;
  ASSERT_EQ(bare->findings.size(), 1u);
  EXPECT_EQ(bare->findings[0].code, "IST0103");
  auto missing = analyzer.inspectPod(p, "shop", "nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::NotFound);
}

TEST(Analyzer, ExplainUsesTheInjectorsPolicy) {
  Analyzer analyzer(defaultConfig());
  auto e = analyzer.explain(fixture("partial.json"), "shop");
  ASSERT_TRUE(e) << e.error().message;
  ASSERT_GE(e->size(), 4u);
  EXPECT_EQ((*e)[0].object.kind, "Namespace");
  EXPECT_TRUE((*e)[0].decision.inject);
  EXPECT_EQ((*e)[0].decision.rule, inject::Rule::NamespaceLabel);
  bool saw_web = false, saw_batch = false;
  for (const auto& x : *e) {
    if (x.object == ObjectRef{"Deployment", "shop", "web"}) {
      saw_web = true;
      EXPECT_TRUE(x.decision.inject);
      EXPECT_EQ(x.now, "1 of 2 running pods have a sidecar");
    }
    if (x.object == ObjectRef{"Pod", "shop", "batch"}) {
      saw_batch = true;
      EXPECT_FALSE(x.decision.inject);
      EXPECT_EQ(x.decision.rule, inject::Rule::PodAnnotation);
    }
    EXPECT_NE(x.object.kind, "ReplicaSet");  // the Deployment speaks for it
  }
  EXPECT_TRUE(saw_web);
  EXPECT_TRUE(saw_batch);
  EXPECT_FALSE(analyzer.explain(fixture("partial.json"), "nope"));
}

TEST(FailOn, ParsesEveryLevel) {
  EXPECT_EQ(*parseFailOn("error"), Severity::Error);
  EXPECT_EQ(*parseFailOn("warning"), Severity::Warning);
  EXPECT_EQ(*parseFailOn("info"), Severity::Info);
  auto none = parseFailOn("none");
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  EXPECT_FALSE(parseFailOn("fatal"));
}

}  // namespace
}  // namespace remora::check

// The live side against a fake API: what is read, what is patched, and that
// a live Snapshot gives the same findings as the file it was dumped to.
#include "check/live.h"

#include <map>

#include <gtest/gtest.h>

#include "check/report.h"
#include "test_util.h"

namespace remora::check {
namespace {

// Serves collections from a Snapshot, as the API would (items without
// kind/apiVersion), and records PATCHes.
class FakeApi : public KubeReader {
 public:
  explicit FakeApi(const Snapshot& s) {
    auto strip = [](Json item) {
      item.erase("kind");
      item.erase("apiVersion");
      return item;
    };
    for (Kind kind : {Kind::Namespace, Kind::Pod, Kind::Deployment, Kind::ReplicaSet,
                      Kind::StatefulSet, Kind::DaemonSet, Kind::Job, Kind::CronJob}) {
      for (const auto& [key, object] : s.objects(kind)) {
        lists_[collectionPath(kind, "")].push_back(strip(object));
        if (kind == Kind::Namespace) {
          objects_["/api/v1/namespaces/" + key.second] = object;
        } else {
          lists_[collectionPath(kind, key.first)].push_back(strip(object));
        }
      }
    }
  }
  Result<Json> get(const std::string& path) override {
    gets.push_back(path);
    auto it = objects_.find(path);
    if (it == objects_.end()) return Error{Errc::NotFound, "404 " + path};
    return it->second;
  }
  Result<std::vector<Json>> list(const std::string& path) override {
    lists.push_back(path);
    if (fail_lists) return Error{Errc::PermissionDenied, "403 Forbidden"};
    auto it = lists_.find(path);
    return it == lists_.end() ? std::vector<Json>{} : it->second;
  }
  Result<Json> patchStrategicMerge(const std::string& path, const Json& body) override {
    patches.emplace_back(path, body);
    if (path.find("statefulsets") != std::string::npos && fail_statefulsets) {
      return Error{Errc::PermissionDenied, "403 Forbidden"};
    }
    return Json::object();
  }

  std::vector<std::string> gets;
  std::vector<std::string> lists;
  std::vector<std::pair<std::string, Json>> patches;
  bool fail_lists = false;
  bool fail_statefulsets = false;

 private:
  std::map<std::string, Json> objects_;
  std::map<std::string, std::vector<Json>> lists_;
};

TEST(Live, Paths) {
  EXPECT_EQ(collectionPath(Kind::Pod, "shop"), "/api/v1/namespaces/shop/pods");
  EXPECT_EQ(collectionPath(Kind::Deployment, ""), "/apis/apps/v1/deployments");
  EXPECT_EQ(collectionPath(Kind::CronJob, "a"), "/apis/batch/v1/namespaces/a/cronjobs");
  EXPECT_EQ(collectionPath(Kind::Namespace, "a"), "/api/v1/namespaces");
  EXPECT_EQ(*workloadPath(ObjectRef{"StatefulSet", "a", "db"}),
            "/apis/apps/v1/namespaces/a/statefulsets/db");
  EXPECT_FALSE(workloadPath(ObjectRef{"CronJob", "a", "b"}));
}

TEST(Live, LiveAndOfflineFindingsAgree) {
  Snapshot file = testing::fixture("partial.json");
  FakeApi api(file);
  Analyzer analyzer(testing::defaultConfig());
  for (std::string ns : {"", "shop"}) {
    auto live = loadSnapshot(api, ns);
    ASSERT_TRUE(live) << live.error().message;
    EXPECT_EQ(dumpJson(findingsToJson(analyzer.analyze(*live, {ns}))),
              dumpJson(findingsToJson(analyzer.analyze(file, {ns}))));
  }
  EXPECT_EQ(api.gets, (std::vector<std::string>{"/api/v1/namespaces/shop"}));
}

TEST(Live, MissingNamespaceAndApiErrors) {
  FakeApi api(testing::fixture("partial.json"));
  auto missing = loadSnapshot(api, "nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::NotFound);
  EXPECT_EQ(missing.error().message, "namespace nope not found");
  api.fail_lists = true;
  auto denied = loadSnapshot(api, "shop");
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().message, "listing pods: 403 Forbidden");
}

TEST(Live, RestartPatchIsKubectls) {
  EXPECT_EQ(dumpJson(restartPatch("2026-12-04T20:00:00Z")),
            R"({"spec":{"template":{"metadata":{"annotations":)"
            R"({"kubectl.kubernetes.io/restartedAt":"2026-12-04T20:00:00Z"}}}}})");
}

TEST(Live, PlanRestartsEachWorkloadOnceAndNeverABarePod) {
  auto findings = testing::analyzeFixture("partial.json");
  RestartPlan plan = planRestarts(findings);
  ASSERT_EQ(plan.restarts.size(), 2u);
  EXPECT_EQ(plan.restarts[0].workload, (ObjectRef{"Deployment", "shop", "web"}));
  EXPECT_EQ(plan.restarts[0].codes, (std::vector<std::string>{"IST0103", "RM0002"}));
  EXPECT_EQ(plan.restarts[1].workload, (ObjectRef{"StatefulSet", "shop", "db"}));
  ASSERT_EQ(plan.manual.size(), 2u);
  EXPECT_EQ(plan.manual[0].object, (ObjectRef{"CronJob", "shop", "backup"}));
  EXPECT_EQ(plan.manual[1].object, (ObjectRef{"Pod", "shop", "debug"}));
}

TEST(Live, PerformRestartsOneAtATimeAndReportsFailures) {
  auto findings = testing::analyzeFixture("partial.json");
  RestartPlan plan = planRestarts(findings);
  FakeApi api(testing::fixture("partial.json"));
  api.fail_statefulsets = true;
  std::vector<std::string> reported;
  auto results = performRestarts(api, plan, "2026-12-04T20:00:00Z", false,
                                 [&](const RestartResult& r, const RestartPlan::Target&) {
                                   reported.push_back(r.workload.name);
                                 });
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results[0].ok);
  EXPECT_FALSE(results[1].ok);
  EXPECT_EQ(results[1].detail, "403 Forbidden");
  EXPECT_EQ(reported, (std::vector<std::string>{"web", "db"}));
  ASSERT_EQ(api.patches.size(), 2u);
  EXPECT_EQ(api.patches[0].first, "/apis/apps/v1/namespaces/shop/deployments/web");
  EXPECT_EQ(api.patches[0].second, restartPatch("2026-12-04T20:00:00Z"));
  // No pod is ever deleted or patched.
  for (const auto& [path, body] : api.patches) EXPECT_EQ(path.find("/pods"), std::string::npos);

  FakeApi dry(testing::fixture("partial.json"));
  auto planned = performRestarts(dry, plan, "t", true);
  EXPECT_EQ(planned.size(), 2u);
  EXPECT_TRUE(dry.patches.empty());
}

}  // namespace
}  // namespace remora::check

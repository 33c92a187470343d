#include "control/root_cert_publisher.h"

#include <thread>

#include <gtest/gtest.h>

namespace remora::control {
namespace {

// An API server's namespaces and ConfigMaps, in memory; a namespace in
// `refuse` fails its writes.
class FakeApi : public ConfigMapApi {
 public:
  std::vector<std::string> namespaces;
  std::map<std::string, std::string> roots;
  std::set<std::string> refuse;
  bool list_fails = false;
  int writes = 0;

  Result<std::vector<std::string>> activeNamespaces() override {
    if (list_fails) return Error{Errc::Unavailable, "connection refused"};
    return namespaces;
  }
  Result<std::map<std::string, std::string>> publishedRoots() override { return roots; }
  Status create(const std::string& ns, const std::string& pem) override {
    return write(ns, pem, /*must_exist=*/false);
  }
  Status update(const std::string& ns, const std::string& pem) override {
    return write(ns, pem, /*must_exist=*/true);
  }

 private:
  Status write(const std::string& ns, const std::string& pem, bool must_exist) {
    ++writes;
    if (refuse.contains(ns)) return Error{Errc::PermissionDenied, "forbidden"};
    if (must_exist != roots.contains(ns)) return Error{Errc::AlreadyExists, "already exists"};
    roots[ns] = pem;
    return {};
  }
};

constexpr const char* kRoot = "-----BEGIN CERTIFICATE-----\nroot\n-----END CERTIFICATE-----\n";

TEST(RootCertPublisher, EveryNamespaceButTheSystemOnesGetsTheRoot) {
  FakeApi api;
  api.namespaces = {"default", "hello", "kube-system", "kube-public", "kube-node-lease"};
  RootCertPublisher publisher(api, kRoot);
  auto report = publisher.reconcile();
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->created, 2U);
  EXPECT_EQ(api.roots, (std::map<std::string, std::string>{{"default", kRoot}, {"hello", kRoot}}));
}

TEST(RootCertPublisher, ASecondPassWritesNothingAndAStaleRootIsReplaced) {
  FakeApi api;
  api.namespaces = {"default", "hello"};
  RootCertPublisher publisher(api, kRoot);
  ASSERT_TRUE(publisher.reconcile());
  int writes = api.writes;
  auto again = publisher.reconcile();
  ASSERT_TRUE(again);
  EXPECT_EQ(api.writes, writes);
  EXPECT_EQ(again->created + again->updated, 0U);
  api.roots["hello"] = "an old root";  // a rotated or hand-edited ConfigMap
  api.namespaces.push_back("new");
  auto third = publisher.reconcile();
  ASSERT_TRUE(third);
  EXPECT_EQ(third->updated, 1U);
  EXPECT_EQ(third->created, 1U);
  EXPECT_EQ(api.roots.at("hello"), kRoot);
  EXPECT_EQ(api.roots.at("new"), kRoot);
}

TEST(RootCertPublisher, OneRefusedNamespaceDoesNotStopTheOthers) {
  FakeApi api;
  api.namespaces = {"a", "locked", "z"};
  api.refuse = {"locked"};
  RootCertPublisher publisher(api, kRoot);
  auto report = publisher.reconcile();
  ASSERT_TRUE(report);
  EXPECT_EQ(report->failed, 1U);
  EXPECT_EQ(report->created, 2U);
  EXPECT_FALSE(api.roots.contains("locked"));
}

TEST(RootCertPublisher, AnUnreachableApiServerIsAnErrorAndRunKeepsTrying) {
  FakeApi api;
  api.namespaces = {"default"};
  api.list_fails = true;
  RootCertPublisher publisher(api, kRoot);
  auto report = publisher.reconcile();
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, Errc::Unavailable);
  std::thread loop([&] { publisher.run(std::chrono::milliseconds(5)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_TRUE(api.roots.empty());
  publisher.stop();
  loop.join();  // stop() ends run() without waiting for the period
}

}  // namespace
}  // namespace remora::control

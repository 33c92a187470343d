#include "check/snapshot.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace remora::check {
namespace {

TEST(Snapshot, ReadsAKubectlListAndKeepsOnlyItsKinds) {
  Snapshot s = testing::fixture("partial.json");
  EXPECT_EQ(s.size(Kind::Namespace), 1u);
  EXPECT_EQ(s.size(Kind::Pod), 9u);
  EXPECT_EQ(s.size(Kind::Deployment), 1u);
  EXPECT_EQ(s.size(Kind::ReplicaSet), 1u);
  EXPECT_EQ(s.size(Kind::StatefulSet), 1u);
  EXPECT_EQ(s.size(Kind::Job), 1u);
  EXPECT_EQ(s.size(Kind::CronJob), 1u);
  EXPECT_EQ(s.ignored(), 1u);  // the Service
  EXPECT_NE(s.find(Kind::Pod, "shop", "debug"), nullptr);
  EXPECT_EQ(s.find(Kind::Pod, "other", "debug"), nullptr);
}

TEST(Snapshot, ReadsAYamlStreamAndTypedLists) {
  Snapshot s;
  ASSERT_TRUE(s.addText(R"(
apiVersion: v1
kind: PodList
items:
- metadata: {name: a, namespace: x}
  kind: Pod
  apiVersion: v1
  spec: {containers: []}
---
apiVersion: v1
kind: Pod
metadata: {name: b}
spec: {containers: []}
)",
                        "stream"));
  EXPECT_NE(s.find(Kind::Pod, "x", "a"), nullptr);
  EXPECT_NE(s.find(Kind::Pod, "default", "b"), nullptr);  // no namespace: default
}

TEST(Snapshot, LaterCopyReplacesEarlier) {
  Snapshot s;
  ASSERT_TRUE(
      s.add(Json::parse(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}})")));
  ASSERT_TRUE(s.add(Json::parse(
      R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a","labels":{"x":"y"}}})")));
  EXPECT_EQ(s.size(Kind::Namespace), 1u);
  EXPECT_EQ((*s.find(Kind::Namespace, "", "a"))["metadata"]["labels"]["x"], "y");
}

TEST(Snapshot, ForeignGroupsAreIgnored) {
  Snapshot s;
  ASSERT_TRUE(s.add(Json::parse(
      R"({"apiVersion":"example.com/v1","kind":"Deployment","metadata":{"name":"a"}})")));
  EXPECT_EQ(s.size(Kind::Deployment), 0u);
  EXPECT_EQ(s.ignored(), 1u);
}

TEST(Snapshot, BadInputIsAnErrorNamingTheDocument) {
  Snapshot s;
  auto bad = s.addText("apiVersion: v1\nkind: Pod\nmetadata: {}\n", "pods.yaml");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("pods.yaml: document 1"), std::string::npos)
      << bad.error().message;
  EXPECT_NE(bad.error().message.find("metadata.name"), std::string::npos);
  EXPECT_FALSE(s.addText("[1, 2", "broken.json"));
  EXPECT_FALSE(s.addText("- just\n- a list\n", "list.yaml"));
  auto items = s.addText("kind: List\nitems: 3\n", "l.yaml");
  ASSERT_FALSE(items);
  EXPECT_NE(items.error().message.find("items must be a sequence"), std::string::npos);
}

TEST(Snapshot, DescribeIsKubectlShaped) {
  EXPECT_EQ(describe(ObjectRef{"Deployment", "shop", "web"}), "deployment/web -n shop");
  EXPECT_EQ(describe(ObjectRef{"Namespace", "", "shop"}), "namespace/shop");
  EXPECT_EQ(kindFromName("CronJob"), Kind::CronJob);
  EXPECT_FALSE(kindFromName("Service"));
}

}  // namespace
}  // namespace remora::check

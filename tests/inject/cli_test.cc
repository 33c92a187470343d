// `remora inject` as a user runs it: the built binary, real files, stdin.
#include <filesystem>
#include <fstream>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "kube/yaml.h"
#include "tests/support/cli_runner.h"

namespace remora::inject {
namespace {

namespace fs = std::filesystem;

class CliTest : public test::CliRunner {
 protected:
  int run(const std::string& args) { return runRemora(args); }
};

constexpr std::string_view kPod =
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: web\n    "
    "image: nginx\n";

TEST_F(CliTest, ReadsStdinAndWritesStdout) {
  file("pod.yaml", kPod);
  ASSERT_EQ(run("inject -f - < pod.yaml"), 0) << err_;
  auto docs = kube::parseDocuments(out_);
  ASSERT_TRUE(docs);
  EXPECT_EQ((*docs)[0].value["spec"]["containers"][1]["name"], "istio-proxy");
  EXPECT_TRUE(err_.empty()) << err_;
}

TEST_F(CliTest, ReadsJsonAndKindList) {
  file("list.json", R"({"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Pod",
      "metadata":{"name":"a"},"spec":{"containers":[{"name":"a","image":"x"}]}},
      {"apiVersion":"v1","kind":"Service","metadata":{"name":"s"}}]})");
  ASSERT_EQ(run("inject -f list.json"), 0) << err_;
  auto docs = kube::parseDocuments(out_);
  ASSERT_TRUE(docs);
  EXPECT_EQ((*docs)[0].value["kind"], "List");
  EXPECT_EQ((*docs)[0].value["items"][0]["spec"]["initContainers"][0]["name"], "istio-init");
  EXPECT_EQ((*docs)[0].value["items"][1],
            Json::parse(R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"s"}})"));
}

TEST_F(CliTest, AnErrorLeavesTheOutputFileAlone) {
  file("existing.yaml", "keep: me\n");
  file("bad.yaml", std::string(kPod) +
                       "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n  annotations:\n"
                       "    traffic.sidecar.istio.io/excludeInboundPorts: '*'\nspec:\n  "
                       "containers: [{name: a}]\n");
  EXPECT_EQ(run("inject -f bad.yaml -o existing.yaml"), 1);
  EXPECT_EQ(read(dir_ / "existing.yaml"), "keep: me\n");
  EXPECT_TRUE(out_.empty());
  EXPECT_EQ(err_,
            "remora inject: error: document 2 (line 9): Pod \"x\": annotation "
            "traffic.sidecar.istio.io/excludeInboundPorts=\"*\": \"*\" is not allowed in an "
            "exclude list\n")
      << "(the document number and the object name the failure)";
  for (const auto& entry : fs::directory_iterator(dir_)) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos)
        << "stray temporary file";
  }
}

TEST_F(CliTest, MalformedYamlIsAnErrorWithTheLine) {
  file("broken.yaml", std::string(kPod) + "---\nkind: [unclosed\n");
  EXPECT_EQ(run("inject -f broken.yaml"), 1);
  EXPECT_TRUE(out_.empty()) << "no partial output on stdout";
  EXPECT_NE(err_.find("remora inject: error: document 2 (line 11, column 1): "), std::string::npos)
      << err_;
}

TEST_F(CliTest, ExplainPrintsTheRulePerWorkload) {
  file("two.yaml",
       std::string(kPod) +
           "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: host\nspec:\n  hostNetwork: true\n"
           "  containers: [{name: a}]\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: s\n");
  ASSERT_EQ(run("inject -f two.yaml --explain -o out.yaml"), 0) << err_;
  EXPECT_EQ(
      err_,
      "document 1: Pod \"web\": injected, classic layout (rule namespace-offline: no namespace "
      "information (offline): the namespace counts as enabled)\n"
      "document 2: Pod \"host\": skipped (rule host-network: the pod has host networking enabled "
      "(hostNetwork: true))\n"
      "document 3: Service \"s\": passed through (not a workload)\n");
  ASSERT_EQ(run("inject -f two.yaml -o out.yaml"), 0);
  EXPECT_EQ(err_, "Skipping injection because Pod \"host\" has host networking enabled\n");
}

TEST_F(CliTest, ValuesMeshConfigAndRevision) {
  file("pod.yaml", kPod);
  file("values.yaml", "global:\n  hub: registry.local\n  tag: dev\n  nativeSidecars: true\n");
  file("mesh.yaml", "trustDomain: corp.example\n");
  ASSERT_EQ(run("inject -f pod.yaml --values values.yaml --meshconfig mesh.yaml --revision canary"),
            0)
      << err_;
  auto docs = kube::parseDocuments(out_);
  ASSERT_TRUE(docs);
  const Json& pod = (*docs)[0].value;
  EXPECT_EQ(pod["spec"]["initContainers"][1]["image"], "registry.local/remora:dev");
  EXPECT_EQ(pod["metadata"]["annotations"]["istio.io/rev"], "canary");
  EXPECT_NE(out_.find("corp.example"), std::string::npos);

  file("bad-values.yaml", "global:\n  proxy:\n    statusPort: many\n");
  EXPECT_EQ(run("inject -f pod.yaml --values bad-values.yaml"), 1);
  EXPECT_NE(err_.find("bad-values.yaml: values: global.proxy.statusPort"), std::string::npos)
      << err_;
  EXPECT_EQ(run("inject -f missing.yaml"), 1);
  EXPECT_NE(err_.find("missing.yaml"), std::string::npos) << err_;
  EXPECT_NE(run("inject"), 0);  // -f is required
}

}  // namespace
}  // namespace remora::inject

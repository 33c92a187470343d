// `remora check` as a user runs it: the built binary on the fixtures.
#include <filesystem>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/json.h"
#include "tests/support/cli_runner.h"

namespace remora::check {
namespace {

namespace fs = std::filesystem;

// `remora check` from the fixtures folder, with no cluster to find.
class CheckCli : public test::CliRunner {
 protected:
  void SetUp() override {
    CliRunner::SetUp();
    fixtures_ = fs::absolute("tests/check/fixtures");
  }
  int run(const std::string& args) {
    return runRemora("check " + args, fixtures_, "KUBECONFIG=/nonexistent");
  }

  fs::path fixtures_;
};

TEST_F(CheckCli, CleanIsZero) {
  EXPECT_EQ(run("-f clean.yaml"), 0) << err_;
  EXPECT_EQ(out_, "No injection findings.\n");
}

TEST_F(CheckCli, PartialInjectionIsOneWithTheRestartCommand) {
  EXPECT_EQ(run("-f partial.json"), 1) << err_;
  EXPECT_NE(out_.find("IST0103"), std::string::npos) << out_;
  EXPECT_NE(out_.find("kubectl rollout restart deployment/web -n shop"), std::string::npos);
  EXPECT_NE(out_.find("kubectl rollout restart statefulset/db -n shop"), std::string::npos);
  EXPECT_TRUE(err_.empty()) << err_;
}

TEST_F(CheckCli, FailOnLevels) {
  EXPECT_EQ(run("-f excluded-port.yaml"), 0);  // a warning only
  EXPECT_EQ(run("-f excluded-port.yaml --fail-on warning"), 1);
  EXPECT_EQ(run("-f disabled-namespace.yaml -n legacy --fail-on warning"), 1);
  EXPECT_EQ(run("-f unknown-namespace.yaml --fail-on warning"), 0);  // info only
  EXPECT_EQ(run("-f unknown-namespace.yaml --fail-on info"), 1);
  EXPECT_EQ(run("-f partial.json --fail-on none"), 0);
}

TEST_F(CheckCli, JsonForMachines) {
  EXPECT_EQ(run("-f partial.json -o json"), 1);
  auto json = parseJson(out_);
  ASSERT_TRUE(json) << out_;
  EXPECT_EQ((*json)["summary"]["error"], 5);
  EXPECT_EQ((*json)["findings"][0]["severity"], "error");
}

TEST_F(CheckCli, StdinAndSeveralFilesAndNamespaceScope) {
  EXPECT_EQ(run("-f - -f clean.yaml < partial.json -n shop -o json"), 1) << err_;
  auto json = parseJson(out_);
  ASSERT_TRUE(json) << out_;
  // clean.yaml's pods join partial.json's in namespace shop.
  EXPECT_EQ((*json)["summary"]["error"], 5);
  EXPECT_EQ(run("-f partial.json -n elsewhere"), 2);  // as the API's 404
  EXPECT_NE(err_.find("namespace elsewhere not found in the input"), std::string::npos) << err_;
}

TEST_F(CheckCli, PodVerdictInOneLine) {
  EXPECT_EQ(run("-f clean.yaml pod web -n shop"), 0) << err_;
  EXPECT_EQ(out_,
            "pod/web -n shop: containers: web istio-proxy; init containers: istio-init; meshed\n");
  EXPECT_EQ(run("-f partial.json pod web-5d8f6b-bbbbb -n shop"), 1);
  EXPECT_NE(out_.find("containers: web; init containers: (none); not meshed: istio-proxy is "
                      "missing"),
            std::string::npos)
      << out_;
  EXPECT_NE(out_.find("fix: kubectl rollout restart deployment/web -n shop"), std::string::npos);
  EXPECT_EQ(run("-f partial.json pod batch -n shop"), 0);
  EXPECT_NE(out_.find("not injected (intentional)"), std::string::npos) << out_;
  EXPECT_EQ(run("-f partial.json pod nope -n shop"), 2);
  EXPECT_NE(err_.find("pod nope not found in namespace shop"), std::string::npos) << err_;
}

TEST_F(CheckCli, ExplainNamespace) {
  EXPECT_EQ(run("-f partial.json --explain -n shop"), 0) << err_;
  EXPECT_NE(out_.find("namespace/shop (a new pod): would be injected (rule namespace-label"),
            std::string::npos)
      << out_;
  EXPECT_NE(out_.find("deployment/web: would be injected"), std::string::npos) << out_;
  EXPECT_NE(out_.find("now: 1 of 2 running pods have a sidecar"), std::string::npos);
  EXPECT_NE(out_.find("pod/batch: would not be injected (rule pod-annotation"), std::string::npos);
  EXPECT_EQ(run("-f partial.json --explain"), 2);
  EXPECT_NE(err_.find("--explain needs a namespace"), std::string::npos);
}

TEST_F(CheckCli, RestartDryRunFromFilesNeverTouchesBarePods) {
  EXPECT_EQ(run("-f partial.json --restart --dry-run"), 0) << err_;
  EXPECT_NE(out_.find("deployment/web -n shop: would restart (dry run): kubectl rollout restart "
                      "deployment/web -n shop"),
            std::string::npos)
      << out_;
  EXPECT_NE(out_.find("pod/debug -n shop: not restarted, by hand: delete and recreate"),
            std::string::npos)
      << out_;
  EXPECT_EQ(run("-f partial.json --restart"), 2);
  EXPECT_NE(err_.find("--restart changes a live cluster"), std::string::npos);
}

TEST_F(CheckCli, ErrorsAreTwo) {
  EXPECT_EQ(run("-f missing.yaml"), 2);
  EXPECT_NE(err_.find("missing.yaml"), std::string::npos) << err_;
  EXPECT_EQ(run("-f partial.json -o yaml"), 2);
  EXPECT_EQ(run("-f partial.json --fail-on fatal"), 2);
  EXPECT_EQ(run("-f partial.json -n a -A"), 2);
  EXPECT_EQ(run("-f partial.json --no-such-flag"), 2);
  EXPECT_EQ(run("-f partial.json --dry-run"), 2);
  std::ofstream(dir_ / "bad.yaml") << "kind: Pod\napiVersion: v1\nmetadata: {}\n";
  EXPECT_EQ(run(fmt::format("-f '{}'", (dir_ / "bad.yaml").string())), 2);
  EXPECT_NE(err_.find("metadata.name"), std::string::npos) << err_;
  // Without -f and without a cluster: a clear error, not a crash.
  EXPECT_EQ(run(""), 2);
  EXPECT_FALSE(err_.empty());
}

TEST_F(CheckCli, HelpNamesTheCommand) {
  EXPECT_EQ(run("--help"), 0);
  EXPECT_NE(out_.find("Usage: remora check"), std::string::npos) << out_;
}

}  // namespace
}  // namespace remora::check

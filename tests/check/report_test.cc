#include "check/report.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace remora::check {
namespace {

TEST(Report, JsonIsStable) {
  auto findings = testing::analyzeFixture("partial.json");
  Json out = findingsToJson(findings);
  ASSERT_TRUE(out["findings"].is_array());
  EXPECT_EQ(out["summary"], (Json{{"error", 5}, {"warning", 0}, {"info", 2}}));
  const Json& first = out["findings"][0];
  std::vector<std::string> keys;
  for (const auto& [k, v] : first.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"code", "type", "severity", "object", "owner",
                                            "message", "fix", "restart"}));
  EXPECT_EQ(first["severity"], "error");
  // The same snapshot gives the same bytes.
  EXPECT_EQ(dumpJson(out), dumpJson(findingsToJson(testing::analyzeFixture("partial.json"))));
}

TEST(Report, TableHasOneRowPerFindingAndTheFixes) {
  auto findings = testing::analyzeFixture("partial.json");
  std::string table = renderTable(findings);
  EXPECT_NE(table.find("SEVERITY"), std::string::npos);
  EXPECT_NE(table.find("IST0103"), std::string::npos);
  EXPECT_NE(table.find("To fix"), std::string::npos);
  // One restart line for the Deployment, though three findings name it.
  std::string cmd = "kubectl rollout restart deployment/web -n shop";
  auto at = table.find(cmd);
  ASSERT_NE(at, std::string::npos);
  EXPECT_EQ(table.find(cmd, at + 1), std::string::npos);
  EXPECT_NE(table.find("5 errors, 0 warnings, 2 info"), std::string::npos) << table;
  // The intentional pods never read as errors.
  std::size_t start = 0;
  while (start < table.size()) {
    std::size_t end = table.find('\n', start);
    std::string line = table.substr(start, end - start);
    if (line.find("batch") != std::string::npos) {
      EXPECT_EQ(line.find("error"), std::string::npos) << line;
    }
    start = end + 1;
  }
  EXPECT_EQ(renderTable({}), "No injection findings.\n");
}

TEST(Report, FailsOnThreshold) {
  auto findings = testing::analyzeFixture("excluded-port.yaml");  // one warning
  EXPECT_FALSE(failsOn(findings, Severity::Error));
  EXPECT_TRUE(failsOn(findings, Severity::Warning));
  EXPECT_TRUE(failsOn(findings, Severity::Info));
  EXPECT_FALSE(failsOn(findings, std::nullopt));
}

TEST(Report, PodLineHasContainersInitContainersAndVerdict) {
  Analyzer analyzer(testing::defaultConfig());
  auto report = analyzer.inspectPod(testing::fixture("clean.yaml"), "shop", "web");
  ASSERT_TRUE(report);
  EXPECT_EQ(renderPod(*report),
            "pod/web -n shop: containers: web istio-proxy; init containers: istio-init; meshed\n");
}

}  // namespace
}  // namespace remora::check

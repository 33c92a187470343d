// Shared helpers of the check tests: fixtures (tests/check/fixtures/, read
// relative to the source root, where ctest runs the tests) and the analyzer.
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "check/analyzer.h"
#include "check/snapshot.h"
#include "core/assert.h"
#include "core/file.h"
#include "inject/config.h"

namespace remora::check::testing {

inline std::string fixturePath(std::string_view name) {
  return "tests/check/fixtures/" + std::string(name);
}

inline Snapshot fixture(std::string_view name) {
  auto text = readFile(fixturePath(name), 1 << 20);
  REMORA_CHECK(text.has_value(), "fixture {}: {}", name, text.error().message);
  Snapshot s;
  auto status = s.addText(*text, name);
  REMORA_CHECK(status.has_value(), "fixture {}: {}", name, status.error().message);
  return s;
}

inline std::shared_ptr<const inject::InjectConfig> defaultConfig() {
  static const auto kConfig = [] {
    auto c = inject::loadConfig();
    REMORA_CHECK(c.has_value(), "config: {}", c.error().message);
    return std::make_shared<const inject::InjectConfig>(std::move(*c));
  }();
  return kConfig;
}

inline std::vector<Finding> analyzeFixture(std::string_view name, std::string_view ns = "") {
  Analyzer analyzer(defaultConfig());
  return analyzer.analyze(fixture(name), AnalyzeOptions{std::string(ns)});
}

// The findings with this code, for this object name ("" for any).
inline std::vector<Finding> withCode(const std::vector<Finding>& all, std::string_view code,
                                     std::string_view name = "") {
  std::vector<Finding> out;
  std::copy_if(all.begin(), all.end(), std::back_inserter(out), [&](const Finding& f) {
    return f.code == code && (name.empty() || f.object.name == name);
  });
  return out;
}

}  // namespace remora::check::testing

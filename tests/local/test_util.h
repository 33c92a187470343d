// Helpers for the local module's tests: manifests from YAML text.
#pragma once

#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "core/json.h"
#include "kube/yaml.h"

namespace remora::local::testing {

inline std::vector<Json> docs(std::string_view yaml) {
  auto parsed = kube::parseDocuments(yaml);
  EXPECT_TRUE(parsed.has_value()) << (parsed ? "" : parsed.error().message);
  std::vector<Json> out;
  if (parsed) {
    for (auto& d : *parsed) out.push_back(std::move(d.value));
  }
  return out;
}

}  // namespace remora::local::testing

// How findings are shown: a table for people, JSON for machines.
//
// The JSON is stable: field names and order never change, and it depends
// only on the findings (no timestamps, no source names), so a live run and an
// offline run on a dump of the same cluster print the same bytes:
//   {"findings":[{"code":"IST0103","type":"PodMissingProxy","severity":"error",
//     "object":{"kind":"Pod","namespace":"shop","name":"web-6d-x"},
//     "owner":{"kind":"Deployment","namespace":"shop","name":"web"},
//     "message":"...","fix":"kubectl rollout restart deployment/web -n shop",
//     "restart":true}, ...],
//    "summary":{"error":1,"warning":0,"info":0}}
// `owner` is null for bare pods and namespaces.
//
// Threading: pure functions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "check/analyzer.h"
#include "core/json.h"

namespace remora::check {

Json findingToJson(const Finding& finding);
Json findingsToJson(const std::vector<Finding>& findings);

// One row per finding (severity, code, object, owner, message), then the
// commands that fix the warnings and errors, one per workload, then a count.
std::string renderTable(const std::vector<Finding>& findings);

// `remora check pod`: one line (containers, init containers, verdict), then
// the pod's findings, if any, indented.
std::string renderPod(const PodReport& report);

// `remora check --explain`.
std::string renderExplanations(const std::vector<Explanation>& explanations);

// True when a finding is at or above `fail_on` (nullopt: never).
bool failsOn(const std::vector<Finding>& findings, std::optional<Severity> fail_on);

}  // namespace remora::check

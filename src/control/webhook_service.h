// WebhookService: the mutating admission webhook's logic, without sockets.
// `remora webhook` (webhook_server.h) serves it over HTTPS; tests, the fuzz
// target and the benchmark call it directly.
//
//   review(revision, body)
//     parse (kube/admission.h) --not a review--> HTTP 400, text
//        |--malformed request--> review: allowed=false, uid echoed, message
//     not CREATE / not a Pod / a subresource --> allowed, no patch (skipped)
//     inject a copy of request.object (inject/injector.h), with the
//     namespace from request.namespace and the workload from the owner
//     references (workloadFromPod)
//        |--policy says no / already injected--> allowed, no patch (skipped)
//        |--the pod cannot be injected (bad annotation)--> allowed=false, message
//     JSONPatch original -> injected (inject/json_patch.h), base64 in the review
//
// Namespace selection is the API server's (the webhook configuration's
// namespaceSelector): the policy runs without namespace labels, so a
// namespace counts as enabled, exactly as for `remora inject`; the ignored
// namespaces (kube-system, kube-public, kube-node-lease), hostNetwork,
// opt-outs and already injected pods are still refused here. So the patch
// applied to a pod gives what `remora inject` makes of the same pod.
// dryRun changes nothing: the webhook has no side effects (sideEffects:
// None), and a dry run must show what a real create would store.
//
// Revisions: review("canary", ...) injects with the revision "canary"
// (/inject/canary), built from the same values and mesh config, on first
// use; at most kMaxRevisions distinct revisions are served.
//
// Every review gives one decision, written as one JSON line to the decision
// sink, and counted in the metrics (Istio's sidecar_injection_* names).
//
// Threading: review() and the metrics may be called from any number of
// threads at once (the injectors are immutable; the revision cache and the
// sink take a lock).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "core/json.h"
#include "core/result.h"
#include "core/time.h"
#include "inject/injector.h"
#include "inject/policy.h"
#include "kube/admission.h"

namespace remora::control {

enum class ReviewOutcome : std::uint8_t {
  Injected,    // allowed, with a patch
  Skipped,     // allowed, no patch
  Denied,      // allowed=false: the pod cannot be injected, or the request is malformed
  BadRequest,  // HTTP 400: not an AdmissionReview with a uid
};
std::string_view reviewOutcomeName(ReviewOutcome outcome);

// What review() answers: the HTTP status and body, and the decision.
struct ReviewAnswer {
  int http_status = 200;
  std::string content_type = "application/json";
  std::string body;
  ReviewOutcome outcome = ReviewOutcome::BadRequest;
  std::string reason;         // metric label: "host-network", "not-create", "bad-request"...
  std::size_t patch_ops = 0;  // operations in the patch
};

// Counters, summed over threads (each review touches them once; relaxed).
class WebhookMetrics {
 public:
  // Histogram buckets (seconds), Prometheus' le values.
  static constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,   0.5,   1.0,  2.5};
  // Fixed label sets, so counting never allocates.
  static constexpr std::size_t kRules = static_cast<std::size_t>(inject::Rule::AlreadyInjected) + 1;
  static constexpr std::size_t kSkipLabels = kRules + 3;  // + not-create, not-pod, subresource
  static constexpr std::size_t kErrorLabels = 3;  // bad-request, invalid-request, injection-failed

  void record(const ReviewAnswer& answer, std::size_t skip_index, std::chrono::nanoseconds took);
  // Server-side facts appended by the server (certificate) go through extra.
  std::string prometheusText(std::string_view extra = {}) const;

  std::uint64_t requests() const { return requests_.load(std::memory_order_relaxed); }
  std::uint64_t injected() const { return injected_.load(std::memory_order_relaxed); }
  std::uint64_t skipped(std::string_view reason) const;
  std::uint64_t errors(std::string_view reason) const;

  static std::string_view skipLabel(std::size_t index);
  static std::string_view errorLabel(std::size_t index);

 private:
  std::atomic<std::uint64_t> requests_{0};
  std::atomic<std::uint64_t> injected_{0};
  std::array<std::atomic<std::uint64_t>, kSkipLabels> skipped_{};
  std::array<std::atomic<std::uint64_t>, kErrorLabels> errors_{};
  std::array<std::atomic<std::uint64_t>, kBuckets.size() + 1> buckets_{};  // last: +Inf
  std::atomic<std::uint64_t> sum_ns_{0};
};

struct WebhookOptions {
  std::string values_text;       // user values (YAML or JSON), merged over the built-in ones
  std::string meshconfig_text;   // user mesh config
  std::string default_revision;  // for /inject; "" = "default"
  // Bounds of the review body once read (the server refuses larger bodies
  // with 413 before this).
  JsonLimits limits{.max_bytes = 4 * 1024 * 1024, .max_depth = 128};
  // One JSON line per decision; default: stdout.
  std::function<void(std::string_view line)> decision_sink;
  const Clock* clock = nullptr;  // for the log's time; default systemClock()
};

class WebhookService {
 public:
  static constexpr std::size_t kMaxRevisions = 32;

  // Loads the default revision's configuration: a bad values or mesh config
  // file is an error here, at start, never at the first review.
  static Result<std::unique_ptr<WebhookService>> create(WebhookOptions options);

  // Answers one POST of `body` to /inject (revision "") or /inject/<revision>.
  ReviewAnswer review(std::string_view revision, std::string_view body);

  const WebhookMetrics& metrics() const { return metrics_; }
  const std::string& defaultRevision() const { return default_revision_; }

 private:
  explicit WebhookService(WebhookOptions options) : options_(std::move(options)) {}
  Result<std::shared_ptr<const inject::Injector>> injectorFor(std::string_view revision);
  ReviewAnswer decide(std::string_view revision, kube::AdmissionRequest& request,
                      std::size_t& skip_index, std::string& rule_reason);
  void writeDecision(const ReviewAnswer& answer, const kube::AdmissionRequest* request,
                     std::string_view revision, std::string_view detail,
                     std::chrono::nanoseconds took);

  WebhookOptions options_;
  std::string default_revision_;
  WebhookMetrics metrics_;
  std::mutex revisions_mutex_;  // guards injectors_
  std::map<std::string, std::shared_ptr<const inject::Injector>, std::less<>> injectors_;
  std::mutex sink_mutex_;  // serialises decision lines
};

}  // namespace remora::control

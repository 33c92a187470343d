#include "control/webhook_service.h"

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>
#include <unistd.h>

#include "core/log.h"
#include "inject/json_patch.h"
#include "kube/objects.h"

namespace remora::control {
namespace {

constexpr std::size_t kNotCreate = WebhookMetrics::kRules;
constexpr std::size_t kNotPod = WebhookMetrics::kRules + 1;
constexpr std::size_t kSubresource = WebhookMetrics::kRules + 2;
constexpr std::size_t kNoSkip = WebhookMetrics::kSkipLabels;

constexpr std::array<std::string_view, WebhookMetrics::kErrorLabels> kErrorNames = {
    "bad-request", "invalid-request", "injection-failed"};

std::size_t errorIndex(std::string_view reason) {
  for (std::size_t i = 0; i < kErrorNames.size(); ++i) {
    if (kErrorNames[i] == reason) return i;
  }
  return 0;
}

// Revision names are label values that also name a path segment: a DNS
// label (istio.io/rev values in practice).
bool validRevision(std::string_view rev) {
  if (rev.empty() || rev.size() > 63) return false;
  for (char c : rev) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return rev.front() != '-' && rev.back() != '-';
}

void writeStdoutLine(std::string_view line) {
  // One write per line, so concurrent lines never interleave.
  while (!line.empty()) {
    ssize_t n = ::write(STDOUT_FILENO, line.data(), line.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // nowhere to log: the review is still answered
    line.remove_prefix(static_cast<std::size_t>(n));
  }
}

ReviewAnswer answerReview(const kube::AdmissionRequest& request, kube::AdmissionResponse response,
                          ReviewOutcome outcome, std::string reason) {
  response.uid = request.uid;
  ReviewAnswer answer;
  answer.outcome = outcome;
  answer.reason = std::move(reason);
  answer.body = kube::admissionReviewResponse(request.version, response);
  return answer;
}

ReviewAnswer skip(const kube::AdmissionRequest& request, std::string reason, std::string message) {
  kube::AdmissionResponse response;
  response.message = std::move(message);
  return answerReview(request, std::move(response), ReviewOutcome::Skipped, std::move(reason));
}

ReviewAnswer deny(const kube::AdmissionRequest& request, std::string reason, std::string message) {
  kube::AdmissionResponse response;
  response.allowed = false;
  response.code = 400;
  response.message = std::move(message);
  return answerReview(request, std::move(response), ReviewOutcome::Denied, std::move(reason));
}

std::string podName(const kube::AdmissionRequest& request) {
  if (!request.name.empty()) return request.name;
  if (const Json* name = kube::lookup(request.object, {"metadata", "name"});
      name != nullptr && name->is_string() && !name->get_ref<const std::string&>().empty()) {
    return name->get<std::string>();
  }
  if (const Json* gen = kube::lookup(request.object, {"metadata", "generateName"});
      gen != nullptr && gen->is_string()) {
    return gen->get<std::string>();  // "web-5d4f8c7b9-": the name is not made yet
  }
  return {};
}

}  // namespace

std::string_view reviewOutcomeName(ReviewOutcome outcome) {
  switch (outcome) {
    case ReviewOutcome::Injected: return "injected";
    case ReviewOutcome::Skipped: return "skipped";
    case ReviewOutcome::Denied: return "denied";
    case ReviewOutcome::BadRequest: return "bad-request";
  }
  return "unknown";
}

// --- metrics -----------------------------------------------------------------

std::string_view WebhookMetrics::skipLabel(std::size_t index) {
  if (index < kRules) return inject::ruleName(static_cast<inject::Rule>(index));
  if (index == kNotCreate) return "not-create";
  if (index == kNotPod) return "not-a-pod";
  return "subresource";
}

std::string_view WebhookMetrics::errorLabel(std::size_t index) { return kErrorNames.at(index); }

void WebhookMetrics::record(const ReviewAnswer& answer, std::size_t skip_index,
                            std::chrono::nanoseconds took) {
  requests_.fetch_add(1, std::memory_order_relaxed);
  switch (answer.outcome) {
    case ReviewOutcome::Injected: injected_.fetch_add(1, std::memory_order_relaxed); break;
    case ReviewOutcome::Skipped:
      if (skip_index < kSkipLabels) skipped_[skip_index].fetch_add(1, std::memory_order_relaxed);
      break;
    case ReviewOutcome::Denied:
    case ReviewOutcome::BadRequest:
      errors_[errorIndex(answer.reason)].fetch_add(1, std::memory_order_relaxed);
      break;
  }
  double seconds = std::chrono::duration<double>(took).count();
  std::size_t bucket = kBuckets.size();
  for (std::size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) {
      bucket = i;
      break;
    }
  }
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<std::uint64_t>(took.count()), std::memory_order_relaxed);
}

std::uint64_t WebhookMetrics::skipped(std::string_view reason) const {
  for (std::size_t i = 0; i < kSkipLabels; ++i) {
    if (skipLabel(i) == reason) return skipped_[i].load(std::memory_order_relaxed);
  }
  return 0;
}

std::uint64_t WebhookMetrics::errors(std::string_view reason) const {
  for (std::size_t i = 0; i < kErrorLabels; ++i) {
    if (kErrorNames[i] == reason) return errors_[i].load(std::memory_order_relaxed);
  }
  return 0;
}

std::string WebhookMetrics::prometheusText(std::string_view extra) const {
  // Istio's names (istiod's sidecar injector), so dashboards carry over;
  // skip and failure counters carry the reason as a label.
  std::string out;
  auto counter = [&](std::string_view name, std::string_view help) {
    fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} counter\n", name, help, name);
  };
  counter("sidecar_injection_requests_total", "Admission reviews received.");
  fmt::format_to(std::back_inserter(out), "sidecar_injection_requests_total {}\n", requests());
  counter("sidecar_injection_success_total", "Reviews answered with a sidecar patch.");
  fmt::format_to(std::back_inserter(out), "sidecar_injection_success_total {}\n", injected());
  counter("sidecar_injection_skip_total", "Reviews answered without a patch, by reason.");
  for (std::size_t i = 0; i < kSkipLabels; ++i) {
    // Rules that only ever inject (always-inject-selector...) still appear: a
    // fixed label set keeps rate() queries simple.
    fmt::format_to(std::back_inserter(out), "sidecar_injection_skip_total{{reason=\"{}\"}} {}\n",
                   skipLabel(i), skipped_[i].load(std::memory_order_relaxed));
  }
  counter("sidecar_injection_failure_total",
          "Requests refused: not a review (HTTP 400), a malformed request or a pod that cannot "
          "be injected (allowed=false), by reason.");
  for (std::size_t i = 0; i < kErrorLabels; ++i) {
    fmt::format_to(std::back_inserter(out), "sidecar_injection_failure_total{{reason=\"{}\"}} {}\n",
                   kErrorNames[i], errors_[i].load(std::memory_order_relaxed));
  }
  out +=
      "# HELP sidecar_injection_time_seconds Time to answer one review.\n"
      "# TYPE sidecar_injection_time_seconds histogram\n";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= kBuckets.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    if (i < kBuckets.size()) {
      fmt::format_to(std::back_inserter(out),
                     "sidecar_injection_time_seconds_bucket{{le=\"{}\"}} {}\n", kBuckets[i],
                     cumulative);
    } else {
      fmt::format_to(std::back_inserter(out),
                     "sidecar_injection_time_seconds_bucket{{le=\"+Inf\"}} {}\n", cumulative);
    }
  }
  fmt::format_to(std::back_inserter(out), "sidecar_injection_time_seconds_sum {:.9f}\n",
                 static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9);
  fmt::format_to(std::back_inserter(out), "sidecar_injection_time_seconds_count {}\n", cumulative);
  out += extra;
  return out;
}

// --- the service ---------------------------------------------------------------

Result<std::unique_ptr<WebhookService>> WebhookService::create(WebhookOptions options) {
  std::unique_ptr<WebhookService> service(new WebhookService(std::move(options)));
  auto& o = service->options_;
  if (!o.decision_sink) o.decision_sink = writeStdoutLine;
  if (o.clock == nullptr) o.clock = &systemClock();
  REMORA_ASSIGN_OR_RETURN(auto config,
                          inject::loadConfig(o.values_text, o.meshconfig_text, o.default_revision));
  service->default_revision_ = config.revision;
  auto injector = std::make_shared<const inject::Injector>(
      std::make_shared<const inject::InjectConfig>(std::move(config)));
  service->injectors_.emplace(service->default_revision_, std::move(injector));
  return service;
}

Result<std::shared_ptr<const inject::Injector>> WebhookService::injectorFor(
    std::string_view revision) {
  if (revision.empty()) revision = default_revision_;
  {
    std::lock_guard lock(revisions_mutex_);
    if (auto it = injectors_.find(revision); it != injectors_.end()) return it->second;
    if (!validRevision(revision)) {
      return Error{Errc::InvalidArgument, "a revision is a DNS label ([a-z0-9-], at most 63)"};
    }
    if (injectors_.size() >= kMaxRevisions) {
      return Error{Errc::InvalidArgument,
                   fmt::format("more than {} revisions requested", kMaxRevisions)};
    }
  }
  // Built outside the lock (it renders nothing yet, but parses three files);
  // two threads racing for a new revision build it twice and keep one.
  REMORA_ASSIGN_OR_RETURN(
      auto config, inject::loadConfig(options_.values_text, options_.meshconfig_text, revision));
  auto injector = std::make_shared<const inject::Injector>(
      std::make_shared<const inject::InjectConfig>(std::move(config)));
  std::lock_guard lock(revisions_mutex_);
  auto [it, inserted] = injectors_.emplace(std::string(revision), std::move(injector));
  if (inserted) REMORA_LOG(webhook, info, "serving revision {}", revision);
  return it->second;
}

ReviewAnswer WebhookService::review(std::string_view revision, std::string_view body) {
  auto started = std::chrono::steady_clock::now();
  std::size_t skip_index = kNoSkip;
  std::string detail;
  auto parsed = kube::parseAdmissionReview(body, options_.limits);
  ReviewAnswer answer;
  if (!parsed) {
    answer.http_status = parsed.error().code == Errc::PayloadTooLarge ? 413 : 400;
    answer.content_type = "text/plain; charset=utf-8";
    answer.body = "not an AdmissionReview: " + parsed.error().message + "\n";
    answer.outcome = ReviewOutcome::BadRequest;
    answer.reason = "bad-request";
    detail = parsed.error().message;
  } else {
    answer = decide(revision, *parsed, skip_index, detail);
  }
  auto took = std::chrono::steady_clock::now() - started;
  metrics_.record(answer, skip_index, took);
  writeDecision(answer, parsed ? &*parsed : nullptr,
                revision.empty() ? default_revision_ : revision, detail, took);
  return answer;
}

ReviewAnswer WebhookService::decide(std::string_view revision, kube::AdmissionRequest& request,
                                    std::size_t& skip_index, std::string& detail) {
  if (request.invalid) {
    detail = request.invalid->message;
    return deny(request, "invalid-request", "remora: malformed admission request: " + detail);
  }
  if (request.operation != "CREATE") {
    skip_index = kNotCreate;
    detail = fmt::format("operation {}: sidecars are injected at CREATE only", request.operation);
    return skip(request, "not-create", detail);
  }
  if (!request.kind_group.empty() || request.kind != "Pod") {
    skip_index = kNotPod;
    std::string group = request.kind_group.empty() ? "" : request.kind_group + "/";
    detail = fmt::format("{}{} is not a Pod: passed through", group, request.kind);
    return skip(request, "not-a-pod", detail);
  }
  if (!request.sub_resource.empty()) {
    skip_index = kSubresource;
    detail = fmt::format("subresource pods/{}: passed through", request.sub_resource);
    return skip(request, "subresource", detail);
  }
  if (request.object.is_null()) {
    detail = "request.object is missing";
    return deny(request, "invalid-request", "remora: malformed admission request: " + detail);
  }
  auto injector = injectorFor(revision);
  if (!injector) {
    detail = fmt::format("revision \"{}\": {}", revision, injector.error().message);
    return deny(request, "invalid-request", "remora: " + detail);
  }

  // The namespace: the API server sends it in request.namespace; the pod's
  // own metadata.namespace is often empty at CREATE.
  std::string ns = request.namespace_name;
  if (ns.empty()) {
    if (const Json* own = kube::lookup(request.object, {"metadata", "namespace"});
        own != nullptr && own->is_string()) {
      ns = own->get<std::string>();
    }
  }
  inject::PodContext context;
  context.workload = inject::workloadFromPod(request.object, ns);
  context.namespace_name = ns;

  Json pod = request.object;  // the original stays for the diff
  auto result = (*injector)->injectPod(pod, context);
  if (!result) {
    detail = result.error().message;
    return deny(request, "injection-failed",
                fmt::format("remora: cannot inject pod {}/{}: {}", ns, podName(request), detail));
  }
  const inject::Decision& decision = result->decision;
  if (result->outcome == inject::Outcome::Skipped) {
    skip_index = static_cast<std::size_t>(decision.rule);
    detail = decision.reason;
    return skip(request, std::string(inject::ruleName(decision.rule)), detail);
  }
  Json patch = inject::createPatch(request.object, pod);
  if (result->outcome == inject::Outcome::Unchanged || patch.empty()) {
    skip_index = static_cast<std::size_t>(inject::Rule::AlreadyInjected);
    detail = "already injected with this configuration";
    return skip(request, std::string(inject::ruleName(inject::Rule::AlreadyInjected)), detail);
  }
  // The API server selected the namespace; "offline" would mislead in logs.
  detail = decision.rule == inject::Rule::NamespaceOffline
               ? "the webhook configuration selected the namespace"
               : decision.reason;
  kube::AdmissionResponse response;
  response.patch_json = dumpJson(patch);
  ReviewAnswer answer = answerReview(request, std::move(response), ReviewOutcome::Injected,
                                     decision.rule == inject::Rule::NamespaceOffline
                                         ? std::string("namespace-selected")
                                         : std::string(inject::ruleName(decision.rule)));
  answer.patch_ops = patch.size();
  return answer;
}

void WebhookService::writeDecision(const ReviewAnswer& answer,
                                   const kube::AdmissionRequest* request, std::string_view revision,
                                   std::string_view detail, std::chrono::nanoseconds took) {
  Json line = Json::object();
  line["time"] = formatRfc3339(options_.clock->now());
  line["msg"] = "admission review";
  line["decision"] = reviewOutcomeName(answer.outcome);
  line["reason"] = answer.reason;
  if (request != nullptr) {
    line["uid"] = request->uid;
    line["apiVersion"] = kube::admissionApiVersion(request->version);
    line["operation"] = request->operation;
    line["kind"] = request->kind;
    line["namespace"] = request->namespace_name;
    line["name"] = podName(*request);
    if (!request->object.is_null() && request->kind == "Pod") {
      auto workload = inject::workloadFromPod(request->object, request->namespace_name);
      line["workload"] = workload.kind + "/" + workload.name;
    }
    line["dryRun"] = request->dry_run;
    if (!request->user.empty()) line["user"] = request->user;
  }
  line["revision"] = revision;
  line["detail"] = detail;
  line["patchOps"] = answer.patch_ops;
  line["latencyUs"] = std::chrono::duration_cast<std::chrono::microseconds>(took).count();
  std::string text = dumpJson(line);
  text += '\n';
  std::lock_guard lock(sink_mutex_);
  options_.decision_sink(text);
}

}  // namespace remora::control

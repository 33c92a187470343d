// AdmissionReview (admission.k8s.io/v1 and v1beta1): what the API server
// sends a mutating webhook, and the review it expects back.
//
//   POST body                       parseAdmissionReview()
//   {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
//    "request": {"uid": "...", "kind": {...}, "resource": {...},
//                "namespace": "shop", "operation": "CREATE",
//                "dryRun": false, "object": {...pod...}, ...}}
//
//   answer                          admissionReviewResponse()
//   {"apiVersion": <the request's>, "kind": "AdmissionReview",
//    "response": {"uid": <echoed>, "allowed": true,
//                 "patchType": "JSONPatch", "patch": <base64 RFC 6902>}}
//
// Two kinds of bad input, answered differently (as the API server expects):
//   - not an AdmissionReview with a request uid (invalid, truncated or too
//     deep JSON, another kind, no uid): parseAdmissionReview() fails and the
//     caller answers HTTP 400, since there is no uid to answer a review for;
//   - a review whose request is malformed in its details (no operation, an
//     object that is not a JSON object, ...): it parses, with `invalid` set,
//     and the caller answers a review with the uid echoed and the message.
// Fields the webhook does not read (userInfo, options, oldObject) are not
// checked. `object` is moved out of the parsed document, never copied.
//
// Threading: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/result.h"

namespace remora::kube {

enum class AdmissionVersion : std::uint8_t { V1, V1beta1 };

// "admission.k8s.io/v1" or "admission.k8s.io/v1beta1".
std::string_view admissionApiVersion(AdmissionVersion version);

// A uid longer than this, or with control characters, is not a review.
inline constexpr std::size_t kMaxAdmissionUidBytes = 256;

struct AdmissionRequest {
  AdmissionVersion version = AdmissionVersion::V1;
  std::string uid;
  // request.kind ({group, version, kind}) and request.resource.
  std::string kind_group;
  std::string kind_version;
  std::string kind;
  std::string resource;  // "pods"
  std::string sub_resource;
  std::string name;            // "" for a pod with generateName only
  std::string namespace_name;  // request.namespace, set even when object's is not
  std::string operation;       // CREATE, UPDATE, DELETE, CONNECT
  bool dry_run = false;
  std::string user;  // userInfo.username, for logs
  Json object;       // request.object; null when absent
  // Set when the envelope is a review (so the uid can be echoed) but the
  // request is malformed: answer with allowed=false and this message.
  std::optional<Error> invalid;
};

// Parses a review. `limits` bound the body before it is parsed (size and
// nesting). Errors (Errc::ParseError / PayloadTooLarge / InvalidArgument)
// mean "answer HTTP 400 (413)".
Result<AdmissionRequest> parseAdmissionReview(std::string_view body, const JsonLimits& limits = {});

struct AdmissionResponse {
  std::string uid;
  bool allowed = true;
  // The RFC 6902 patch (a JSON array) as text; empty: no patch (the answer
  // then has neither patch nor patchType, which the API server reads as
  // "no change").
  std::string patch_json;
  // With allowed=false: status.code and status.message. With allowed=true a
  // non-empty message is sent as status.message too (kubectl ignores it,
  // audit logs keep it).
  int code = 0;
  std::string message;
  std::vector<std::string> warnings;
};

// The AdmissionReview answering a request of `version`.
std::string admissionReviewResponse(AdmissionVersion version, const AdmissionResponse& response);

}  // namespace remora::kube

#include "kube/admission.h"

#include <fmt/format.h>

#include "core/base64.h"

namespace remora::kube {
namespace {

constexpr std::string_view kV1 = "admission.k8s.io/v1";
constexpr std::string_view kV1beta1 = "admission.k8s.io/v1beta1";

Error notAReview(std::string message) { return Error{Errc::InvalidArgument, std::move(message)}; }

bool printable(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

// An optional string member: absent or null is "", another type an error.
Result<std::string> optionalString(const Json& object, std::string_view key,
                                   std::string_view where) {
  const Json* v = findField(object, key);
  if (v == nullptr || v->is_null()) return std::string();
  if (!v->is_string())
    return Error{Errc::InvalidArgument, fmt::format("{}.{} must be a string", where, key)};
  return v->get<std::string>();
}

// Reads the request's details; the first problem found is returned.
Status readDetails(Json& request, AdmissionRequest& out) {
  const Json* kind = findField(request, "kind");
  if (kind == nullptr || !kind->is_object()) {
    return Error{Errc::InvalidArgument, "request.kind must be an object {group, version, kind}"};
  }
  REMORA_ASSIGN_OR_RETURN(out.kind_group, optionalString(*kind, "group", "request.kind"));
  REMORA_ASSIGN_OR_RETURN(out.kind_version, optionalString(*kind, "version", "request.kind"));
  REMORA_ASSIGN_OR_RETURN(out.kind, optionalString(*kind, "kind", "request.kind"));
  if (out.kind.empty()) return Error{Errc::InvalidArgument, "request.kind.kind is missing"};
  if (const Json* resource = findField(request, "resource");
      resource != nullptr && !resource->is_null()) {
    if (!resource->is_object())
      return Error{Errc::InvalidArgument, "request.resource must be an object"};
    REMORA_ASSIGN_OR_RETURN(out.resource,
                            optionalString(*resource, "resource", "request.resource"));
  }
  REMORA_ASSIGN_OR_RETURN(out.sub_resource, optionalString(request, "subResource", "request"));
  REMORA_ASSIGN_OR_RETURN(out.name, optionalString(request, "name", "request"));
  REMORA_ASSIGN_OR_RETURN(out.namespace_name, optionalString(request, "namespace", "request"));
  REMORA_ASSIGN_OR_RETURN(out.operation, optionalString(request, "operation", "request"));
  if (out.operation.empty()) return Error{Errc::InvalidArgument, "request.operation is missing"};
  if (const Json* dry = findField(request, "dryRun"); dry != nullptr && !dry->is_null()) {
    if (!dry->is_boolean()) return Error{Errc::InvalidArgument, "request.dryRun must be a boolean"};
    out.dry_run = dry->get<bool>();
  }
  if (const Json* user = findField(request, "userInfo"); user != nullptr && user->is_object()) {
    if (const Json* name = findField(*user, "username"); name != nullptr && name->is_string()) {
      out.user = name->get<std::string>();
    }
  }
  if (auto it = request.find("object"); it != request.end() && !it->is_null()) {
    if (!it->is_object()) return Error{Errc::InvalidArgument, "request.object must be an object"};
    out.object = std::move(*it);
  }
  return ok();
}

}  // namespace

std::string_view admissionApiVersion(AdmissionVersion version) {
  return version == AdmissionVersion::V1 ? kV1 : kV1beta1;
}

Result<AdmissionRequest> parseAdmissionReview(std::string_view body, const JsonLimits& limits) {
  REMORA_ASSIGN_OR_RETURN(Json review, parseJson(body, limits));
  if (!review.is_object()) return notAReview("the body is not a JSON object");
  AdmissionRequest out;
  const Json* api_version = findField(review, "apiVersion");
  if (api_version != nullptr && *api_version == kV1) {
    out.version = AdmissionVersion::V1;
  } else if (api_version != nullptr && *api_version == kV1beta1) {
    out.version = AdmissionVersion::V1beta1;
  } else {
    return notAReview(fmt::format("apiVersion must be {} or {}", kV1, kV1beta1));
  }
  const Json* kind = findField(review, "kind");
  if (kind == nullptr || *kind != "AdmissionReview")
    return notAReview("kind must be AdmissionReview");
  auto request = review.find("request");
  if (request == review.end() || !request->is_object()) {
    return notAReview("the review has no request object");
  }
  const Json* uid = findField(*request, "uid");
  if (uid == nullptr || !uid->is_string() || uid->get_ref<const std::string&>().empty()) {
    return notAReview("request.uid is missing: there is no review to answer");
  }
  const auto& uid_text = uid->get_ref<const std::string&>();
  if (uid_text.size() > kMaxAdmissionUidBytes || !printable(uid_text)) {
    return notAReview("request.uid is not a valid uid");
  }
  out.uid = uid_text;
  if (Status details = readDetails(*request, out); !details)
    out.invalid = std::move(details).error();
  return out;
}

std::string admissionReviewResponse(AdmissionVersion version, const AdmissionResponse& response) {
  Json r = Json::object();
  r["uid"] = response.uid;
  r["allowed"] = response.allowed;
  if (!response.patch_json.empty()) {
    r["patchType"] = "JSONPatch";
    r["patch"] = encodeBase64(response.patch_json);
  }
  if (!response.allowed || !response.message.empty()) {
    Json status = Json::object();
    if (!response.allowed) {
      status["status"] = "Failure";
      status["code"] = response.code == 0 ? 400 : response.code;
    }
    status["message"] = response.message;
    r["status"] = std::move(status);
  }
  if (!response.warnings.empty()) r["warnings"] = response.warnings;
  Json review = Json::object();
  review["apiVersion"] = admissionApiVersion(version);
  review["kind"] = "AdmissionReview";
  review["response"] = std::move(r);
  return dumpJson(review);
}

}  // namespace remora::kube

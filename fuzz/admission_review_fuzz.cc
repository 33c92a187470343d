// The webhook's whole review path on arbitrary bodies: AdmissionReview
// parsing (kube/admission.h), the decision, injection and the patch
// (control/webhook_service.h). Never a crash; and these oracles:
//   - an answer with HTTP 200 is an AdmissionReview of the request's
//     apiVersion whose response.uid is the request's;
//   - a patch decodes (base64), applies to request.object, and a second
//     review of the patched object answers with no patch (idempotence: the
//     API server's reinvocation must not inject twice).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "control/webhook_service.h"
#include "core/assert.h"
#include "core/base64.h"
#include "core/json.h"
#include "inject/json_patch.h"

namespace {

using remora::Json;

remora::control::WebhookService& service() {
  static std::unique_ptr<remora::control::WebhookService> kService = [] {
    remora::control::WebhookOptions options;
    options.decision_sink = [](std::string_view) {};
    auto created = remora::control::WebhookService::create(std::move(options));
    REMORA_CHECK(created.has_value(), "{}", created.error().message);
    return std::move(*created);
  }();
  return *kService;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto answer = service().review("", body);
  if (answer.http_status != 200) return 0;
  auto request = remora::parseJson(body);
  REMORA_CHECK(request.has_value(), "a 200 answer to a body that is not JSON");
  auto reply = remora::parseJson(answer.body);
  REMORA_CHECK(reply.has_value(), "the answer is not JSON: {}", answer.body);
  REMORA_CHECK((*reply)["apiVersion"] == (*request)["apiVersion"], "apiVersion not echoed");
  const Json& response = (*reply)["response"];
  REMORA_CHECK(response["uid"] == (*request)["request"]["uid"], "uid not echoed");
  if (!response.contains("patch")) return 0;
  REMORA_CHECK(response["patchType"] == "JSONPatch", "patch without patchType");
  auto patch_text = remora::decodeBase64(response["patch"].get<std::string>());
  REMORA_CHECK(patch_text.has_value(), "patch is not base64");
  auto patch = remora::parseJson(*patch_text);
  REMORA_CHECK(patch.has_value() && patch->is_array(), "patch is not a JSON array");
  const Json& object = (*request)["request"]["object"];
  auto patched = remora::inject::applyPatch(object, *patch);
  REMORA_CHECK(patched.has_value(), "patch does not apply: {}", patched.error().message);

  Json again = *request;
  again["request"]["object"] = *patched;
  auto second = service().review("", remora::dumpJson(again));
  REMORA_CHECK(second.http_status == 200, "second review refused: {}", second.body);
  auto second_reply = remora::parseJson(second.body);
  REMORA_CHECK(second_reply.has_value() && !(*second_reply)["response"].contains("patch"),
               "a second review patches again: {}", second.body);
  return 0;
}

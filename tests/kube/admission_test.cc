#include "kube/admission.h"

#include <string>

#include <gtest/gtest.h>

#include "core/base64.h"

namespace remora::kube {
namespace {

constexpr std::string_view kReview = R"({
  "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
  "request": {"uid": "u-1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
              "resource": {"group": "", "version": "v1", "resource": "pods"},
              "namespace": "shop", "operation": "CREATE", "dryRun": true,
              "userInfo": {"username": "alice"},
              "object": {"metadata": {"generateName": "web-"}, "spec": {}}}})";

TEST(Admission, ParsesWhatTheApiServerSends) {
  auto r = parseAdmissionReview(kReview);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->version, AdmissionVersion::V1);
  EXPECT_EQ(r->uid, "u-1");
  EXPECT_EQ(r->kind, "Pod");
  EXPECT_EQ(r->kind_group, "");
  EXPECT_EQ(r->resource, "pods");
  EXPECT_EQ(r->namespace_name, "shop");
  EXPECT_EQ(r->operation, "CREATE");
  EXPECT_TRUE(r->dry_run);
  EXPECT_EQ(r->user, "alice");
  EXPECT_EQ(r->object["metadata"]["generateName"], "web-");
  EXPECT_FALSE(r->invalid);
}

TEST(Admission, EnvelopeErrorsFailDetailErrorsKeepTheUid) {
  struct Case {
    const char* name;
    std::string body;
    bool envelope_ok;
  };
  const Case cases[] = {
      {"not JSON", "{", false},
      {"array", "[]", false},
      {"v2",
       R"({"apiVersion":"admission.k8s.io/v2","kind":"AdmissionReview","request":{"uid":"u"}})",
       false},
      {"no kind", R"({"apiVersion":"admission.k8s.io/v1","request":{"uid":"u"}})", false},
      {"no request", R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"})", false},
      {"no uid", R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}})",
       false},
      {"long uid",
       R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":")" +
           std::string(300, 'u') + "\"}}",
       false},
      {"deep", std::string(1000, '[') + std::string(1000, ']'), false},
      {"no operation",
       R"({"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u","kind":{"kind":"Pod"}}})",
       true},
      {"object a string",
       R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"kind":"Pod"},"operation":"CREATE","object":"x"}})",
       true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto r = parseAdmissionReview(c.body);
    EXPECT_EQ(r.has_value(), c.envelope_ok);
    if (r) {
      EXPECT_EQ(r->uid, "u");
      EXPECT_TRUE(r->invalid);
    }
  }
}

TEST(Admission, ResponseEchoesVersionAndUidAndEncodesThePatch) {
  AdmissionResponse response{.uid = "u-1", .patch_json = R"([{"op":"add","path":"/a","value":1}])"};
  auto text = admissionReviewResponse(AdmissionVersion::V1beta1, response);
  auto json = parseJson(text);
  ASSERT_TRUE(json);
  EXPECT_EQ((*json)["apiVersion"], "admission.k8s.io/v1beta1");
  EXPECT_EQ((*json)["kind"], "AdmissionReview");
  EXPECT_EQ((*json)["response"]["uid"], "u-1");
  EXPECT_EQ((*json)["response"]["allowed"], true);
  EXPECT_EQ((*json)["response"]["patchType"], "JSONPatch");
  EXPECT_EQ(decodeBase64((*json)["response"]["patch"].get<std::string>()).value(),
            response.patch_json);
  EXPECT_FALSE((*json)["response"].contains("status"));

  auto denied = parseJson(admissionReviewResponse(
      AdmissionVersion::V1, {.uid = "u-2", .allowed = false, .message = "no"}));
  ASSERT_TRUE(denied);
  EXPECT_EQ((*denied)["response"]["allowed"], false);
  EXPECT_EQ((*denied)["response"]["status"]["code"], 400);
  EXPECT_EQ((*denied)["response"]["status"]["message"], "no");
  EXPECT_FALSE((*denied)["response"].contains("patch"));
}

}  // namespace
}  // namespace remora::kube

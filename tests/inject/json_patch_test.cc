#include "inject/json_patch.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace remora::inject {
namespace {

using testing::yaml;

void expectPatchWorks(const Json& from, const Json& to) {
  Json patch = createPatch(from, to);
  auto applied = applyPatch(from, patch);
  ASSERT_TRUE(applied) << applied.error().message << "\n" << patch.dump(1);
  EXPECT_TRUE(jsonEquivalent(*applied, to)) << patch.dump(1) << "\n"
                                            << applied->dump() << "\n"
                                            << to.dump();
  for (const Json& op : patch) {
    // Arrays are never replaced whole.
    if (op["op"] == "replace") {
      EXPECT_FALSE(op["value"].is_array()) << op.dump();
    }
  }
}

TEST(JsonPatchTest, CreatesPatchesThatApply) {
  const char* pairs[][2] = {
      {"{a: 1}", "{a: 1}"},
      {"{a: 1}", "{a: 2}"},
      {"{a: 1}", "{b: 1}"},
      {"{a: [1, 2, 3]}", "{a: [0, 1, 2, 3, 4]}"},
      {"{a: [1, 2, 3]}", "{a: [3]}"},
      {"{a: [1, 2, 3]}", "{a: [3, 2, 1]}"},
      {"{a: []}", "{a: [x]}"},
      {"{a: [x]}", "{a: {}}"},
      {"{c: [{name: a, v: 1}, {name: b}]}",
       "{c: [{name: z}, {name: a, v: 2}, {name: b}, {name: p}]}"},
      {"{c: [{name: a}, {name: b}]}", "{c: [{name: b}, {name: a}]}"},
      {"{m: {a/b: 1, c~d: 2}}", "{m: {a/b: 3, e~/f: 4}}"},
      {"{x: null}", "{x: {deep: [1, {y: 2}]}}"},
      {"[1, 2]", "[2, 3]"},
  };
  for (const auto& p : pairs) {
    SCOPED_TRACE(std::string(p[0]) + " -> " + p[1]);
    expectPatchWorks(yaml(p[0]), yaml(p[1]));
  }
  EXPECT_TRUE(createPatch(yaml("{a: [1, {b: 2}]}"), yaml("{a: [1, {b: 2}]}")).empty());
  // A type change is a replace (of a non-array value).
  EXPECT_EQ(createPatch(yaml("{a: 1}"), yaml("[1]")),
            yaml("[{op: replace, path: '', value: [1]}]"));
}

TEST(JsonPatchTest, AppendsAndInsertsWithAddNeverReplacingArrays) {
  Json patch =
      createPatch(yaml("{spec: {containers: [{name: app}], initContainers: [{name: i1}]}}"),
                  yaml("{spec: {containers: [{name: app}, {name: istio-proxy}], "
                       "initContainers: [{name: istio-init}, {name: i1}]}}"));
  EXPECT_EQ(patch, yaml(R"([
    {op: add, path: /spec/containers/-, value: {name: istio-proxy}},
    {op: add, path: /spec/initContainers/0, value: {name: istio-init}}])"));
  patch =
      createPatch(yaml("{metadata: {annotations: {a: b}}}"),
                  yaml("{metadata: {annotations: {a: b, sidecar.istio.io/status: x, t~x: y}}}"));
  EXPECT_EQ(patch[0]["path"], "/metadata/annotations/sidecar.istio.io~1status");
  EXPECT_EQ(patch[1]["path"], "/metadata/annotations/t~0x");
}

TEST(JsonPatchTest, ApplyImplementsEveryOperation) {
  Json doc = yaml("{a: {b: [1, 2]}, c: x}");
  auto r = applyPatch(doc, yaml(R"([
    {op: test, path: /c, value: x},
    {op: copy, from: /a/b, path: /d},
    {op: move, from: /c, path: /a/c},
    {op: add, path: /a/b/1, value: 9},
    {op: replace, path: /a/b/0, value: 0},
    {op: remove, path: /d/0}])"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, yaml("{a: {b: [0, 9, 2], c: x}, d: [2]}"));
}

TEST(JsonPatchTest, ApplyErrorsNameTheOperation) {
  Json doc = yaml("{a: [1], m: {}}");
  struct Case {
    const char* patch;
    const char* message;
  };
  const Case cases[] = {
      {"[{op: remove, path: /nope}]", "patch operation 0 (remove /nope)"},
      {"[{op: add, path: /a/5, value: 1}]", "out of range"},
      {"[{op: add, path: /a/01, value: 1}]", "not an array index"},
      {"[{op: replace, path: /a/-, value: 1}]", "not an array index"},
      {"[{op: test, path: /a/0, value: 2}]", "test failed"},
      {"[{op: move, from: /m, path: /m/x}]", "into itself"},
      {"[{op: add, path: a, value: 1}]", "not a JSON pointer"},
      {"[{op: add, path: '/m/x~2', value: 1}]", "bad escape"},
      {"[{op: frobnicate, path: /a}]", "unknown operation"},
      {"[{op: add, path: /m/x}]", "missing \"value\""},
      {"[{path: /a}]", "missing \"op\""},
      {"[{op: remove, path: ''}]", "whole document"},
      {"[{op: add, path: /a/0/x, value: 1}]", "not a container"},
      {"{}", "must be an array"},
  };
  for (const auto& c : cases) {
    auto r = applyPatch(doc, yaml(c.patch));
    ASSERT_FALSE(r) << c.patch;
    EXPECT_NE(r.error().message.find(c.message), std::string::npos)
        << c.patch << " -> " << r.error().message;
  }
}

TEST(JsonPatchTest, Equivalence) {
  EXPECT_TRUE(
      jsonEquivalent(yaml("{a: 1, b: [1, {c: 2, d: 3}]}"), yaml("{b: [1, {d: 3, c: 2}], a: 1}")));
  EXPECT_FALSE(jsonEquivalent(yaml("{a: [1, 2]}"), yaml("{a: [2, 1]}")));
  EXPECT_FALSE(jsonEquivalent(yaml("{a: 1}"), yaml("{a: 1, b: 2}")));
  EXPECT_EQ(escapePointerToken("a/b~c"), "a~1b~0c");
}

}  // namespace
}  // namespace remora::inject

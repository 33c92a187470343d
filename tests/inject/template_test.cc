#include "inject/template.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace remora::inject {
namespace {

using testing::yaml;

const Json& context() {
  static const Json kContext = yaml(R"(
name: web
port: 8080
enabled: true
disabled: false
empty: ""
none: null
list: [a, b]
nested: {deep: {value: 3}}
obj: {x: 1}
)");
  return kContext;
}

Json render(std::string_view tmpl) {
  auto r = renderTemplate(yaml(tmpl), context());
  EXPECT_TRUE(r) << r.error().message;
  return r ? *r : Json();
}

TEST(TemplateTest, SubstitutesValuesKeepingTheirType) {
  EXPECT_EQ(
      render(
          "{a: '${port}', b: '${name}', c: '${obj}', d: '${nested.deep.value}', e: '${list.1}'}"),
      yaml("{a: 8080, b: web, c: {x: 1}, d: 3, e: b}"));
  EXPECT_EQ(render("{s: 'http://${name}:${port}/x', t: 'on=${enabled}', u: '[${missing?}]'}"),
            yaml("{s: 'http://web:8080/x', t: 'on=true', u: '[]'}"));
  EXPECT_EQ(render("{lit: '$${name}', dollar: 'a$b', plain: 12, flag: true}"),
            yaml("{lit: '${name}', dollar: 'a$b', plain: 12, flag: true}"));
}

TEST(TemplateTest, OptionalValuesDropTheirField) {
  EXPECT_EQ(render("{a: '${missing?}', b: '${none?}', c: '${empty?}', d: 1}"),
            yaml("{c: '', d: 1}"));
  EXPECT_EQ(render("[x, '${missing?}', y]"), yaml("[x, y]"));
}

TEST(TemplateTest, SplicesLists) {
  EXPECT_EQ(render("[start, '${...list}', end, '${...missing}']"), yaml("[start, a, b, end]"));
}

TEST(TemplateTest, ConditionsKeepOrDropObjects) {
  EXPECT_EQ(render("[{$if: enabled, v: 1}, {$if: disabled, v: 2}, {$unless: disabled, v: 3}, {$if: "
                   "empty, v: 4}, "
                   "{$if: missing, v: 5}, {$if: list, v: 6}, {$unless: enabled, v: 7}]"),
            yaml("[{v: 1}, {v: 3}, {v: 6}]"));
}

TEST(TemplateTest, ContainersEmptiedByRenderingAreDropped) {
  EXPECT_EQ(render("{lifecycle: {postStart: {$if: disabled, x: 1}, preStop: {$if: missing, y: 1}}, "
                   "keep: {}, "
                   "args: ['${missing?}'], kept: []}"),
            yaml("{keep: {}, kept: []}"));
}

TEST(TemplateTest, ErrorsNameThePlaceInTheTemplate) {
  struct Case {
    const char* tmpl;
    const char* message;
  };
  const Case cases[] = {
      {"{a: {b: '${missing}'}}", "template /a/b: no value for ${missing}"},
      {"{a: [x, 'in ${missing} text']}", "template /a/1: no value for ${missing}"},
      {"{a: 'x ${obj} y'}", "cannot be part of a string"},
      {"{a: '${...list}'}", "splices only into an array"},
      {"['${...name}']", "is string, not an array"},
      {"{a: 'x ${unterminated'}", "unterminated"},
      {"{a: '${bad path}'}", "bad placeholder"},
      {"{a: {$if: [x]}}", "$if needs a path"},
  };
  for (const auto& c : cases) {
    auto r = renderTemplate(yaml(c.tmpl), context());
    ASSERT_FALSE(r) << c.tmpl;
    EXPECT_NE(r.error().message.find(c.message), std::string::npos)
        << c.tmpl << " -> " << r.error().message;
  }
}

TEST(TemplateTest, Truthiness) {
  Json values = yaml("[0, 1, '', x, [], [1], {}, {a: 1}, null, false, true, 0.0, 0.5]");
  const bool want[] = {false, true,  false, true, false, true, false,
                       true,  false, false, true, false, true};
  for (std::size_t i = 0; i < values.size(); ++i)
    EXPECT_EQ(isTruthy(&values[i]), want[i]) << values[i].dump();
  EXPECT_FALSE(isTruthy(nullptr));
}

}  // namespace
}  // namespace remora::inject

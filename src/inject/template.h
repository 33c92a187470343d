// A small substitution engine for the sidecar template (a Json document read
// from YAML). The template says WHAT is injected; the injector computes a
// context of values per pod and renders the template against it. No loops,
// no functions: the logic lives in the code that builds the context, and the
// template stays a readable document.
//
// Placeholders (in string values only; keys are never rendered):
//
//   key: ${a.b.c}          the value at path a.b.c of the context, of any type
//                          (a number stays a number, an object is copied).
//                          A missing value is an error naming the template path.
//   key: ${a.b?}           optional: when the value is missing or null, the key
//                          (or the array element) is dropped.
//   - ${...a.list}         in an array: the elements of the array at a.list are
//                          spliced in place (missing or null splices nothing).
//   key: "x-${a.b}-y"      inside a longer string: the scalar's text (strings
//                          as they are, numbers in decimal, true/false).
//                          `${a.b?}` inside a string gives "" when missing.
//   key: "$${literal}"     `$${` writes a literal `${`.
//
// Conditions, as keys of an object (removed from the output):
//
//   $if: a.b               keep this object only when a.b is truthy: present,
//                          not null, not false, not 0, not "", not empty.
//   $unless: a.b           keep it only when a.b is not truthy.
//
// An object or array that was non-empty in the template and renders empty
// because every member was dropped is dropped as well (so a `lifecycle:`
// whose hooks are all conditional disappears).
//
// Paths are dot-separated object keys; a segment of digits indexes an array.
// Threading: pure functions.
#pragma once

#include <string_view>
#include <utility>
#include <vector>

#include "core/json.h"
#include "core/result.h"

namespace remora::inject {

// What a template can read: a local context object, plus named roots that
// are looked up in place instead of copied into it (the injector binds
// "values" and "mesh", shared by every pod, this way). A path whose first
// segment names a root resolves inside that root; any other path resolves in
// the local object. The scope only refers to its Json values: they must
// outlive it.
class TemplateScope {
 public:
  explicit TemplateScope(const Json& local) : local_(local) {}
  TemplateScope& bind(std::string_view name, const Json& root) {
    roots_.emplace_back(name, &root);
    return *this;
  }
  const Json* find(std::string_view path) const;

 private:
  const Json& local_;
  std::vector<std::pair<std::string_view, const Json*>> roots_;
};

// Renders `tmpl` with `scope`. Errors read "template <pointer>: <what>".
Result<Json> renderTemplate(const Json& tmpl, const TemplateScope& scope);
inline Result<Json> renderTemplate(const Json& tmpl, const Json& context) {
  return renderTemplate(tmpl, TemplateScope(context));
}

// The value at a dotted path, or nullptr.
const Json* contextValue(const Json& context, std::string_view path);

// Truthiness as $if sees it.
bool isTruthy(const Json* value);

}  // namespace remora::inject

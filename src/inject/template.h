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

#include "core/json.h"
#include "core/result.h"

namespace remora::inject {

// Renders `tmpl` with `context`. Errors read "template <pointer>: <what>".
Result<Json> renderTemplate(const Json& tmpl, const Json& context);

// The value at a dotted path, or nullptr.
const Json* contextValue(const Json& context, std::string_view path);

// Truthiness as $if sees it.
bool isTruthy(const Json* value);

}  // namespace remora::inject

// JSON Patch (RFC 6902) between a pod and its injected form: what the
// webhook returns to the API server, and what tests apply to check it.
//
// createPatch() emits, in an order that applies cleanly from first to last:
//   remove   for members and array elements that disappear (array elements
//            from the highest index down);
//   add      for new members, and for new array elements at their index
//            (`/-` when appended at the end): an array is never overwritten
//            whole, so a concurrent mutation by another webhook survives;
//   replace  only for a scalar whose value or type changed.
// Array elements are matched by `name` when they are objects with a name
// (containers, volumes, env), else by value, keeping their order, so changing
// one container patches that container, not the list.
// Pointer tokens escape `~` as `~0` and `/` as `~1` (RFC 6901), e.g.
//   /metadata/annotations/sidecar.istio.io~1status
//
// applyPatch() implements all six operations (add, remove, replace, move,
// copy, test) with RFC 6902's error cases; used by tests and by callers that
// need to check a patch. Neither function throws.
//
// Threading: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "core/json.h"
#include "core/result.h"

namespace remora::inject {

// The operations that turn `from` into `to` (a JSON array, empty when equal).
// apply(from, createPatch(from, to)) equals `to` as JSON (member order may
// differ: `add` appends members at the end, as the API server would).
Json createPatch(const Json& from, const Json& to);

// Applies `patch` to a copy of `document`. Errors name the operation's index
// and pointer: "patch operation 3 (remove /spec/x): no such member".
Result<Json> applyPatch(const Json& document, const Json& patch);

// RFC 6901 escaping of one reference token.
std::string escapePointerToken(std::string_view token);

// Equality as JSON defines it (objects are unordered), unlike Json's ==,
// which also compares member order.
bool jsonEquivalent(const Json& a, const Json& b);

}  // namespace remora::inject

// Strict reading of configuration documents (YAML or JSON read into Json):
// errors that name the field by its path from the document's root, e.g.
// "policies[1].spec.rules[0].to: must be a list, not a map". Shared by the
// proxy's config (mesh/config.cc) and the security policies
// (security/policy.cc), which refuse unknown fields rather than ignore them.
//
// Threading: pure functions.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

#include "core/json.h"
#include "core/result.h"

namespace remora::json_fields {

// Errc::InvalidArgument, "<path>: <what>".
Error invalid(const std::string& path, std::string_view what);

// "a string", "a boolean", "a number", "a list", "a map" or "null".
std::string typeName(const Json& value);

// Every key of `object` must be one of `allowed`; else "<path>.<key>:
// unknown field (see <doc>)" (just "<key>: ..." at the root, path "").
Status checkKeys(const Json& object, const std::string& path,
                 std::initializer_list<std::string_view> allowed, std::string_view doc);

// The field `key` of `parent` when present and not null, checked to be a
// map (mapAt) or a list (listAt); nullptr when absent or null.
Result<const Json*> mapAt(const Json& parent, std::string_view key, const std::string& path);
Result<const Json*> listAt(const Json& parent, std::string_view key, const std::string& path);

}  // namespace remora::json_fields

#include "core/json_fields.h"

#include <fmt/format.h>

namespace remora::json_fields {

Error invalid(const std::string& path, std::string_view what) {
  return Error{Errc::InvalidArgument, fmt::format("{}: {}", path, what)};
}

std::string typeName(const Json& value) {
  if (value.is_string()) return "a string";
  if (value.is_boolean()) return "a boolean";
  if (value.is_number()) return "a number";
  if (value.is_array()) return "a list";
  if (value.is_object()) return "a map";
  return "null";
}

Status checkKeys(const Json& object, const std::string& path,
                 std::initializer_list<std::string_view> allowed, std::string_view doc) {
  for (const auto& [key, value] : object.items()) {
    bool known = false;
    for (std::string_view a : allowed) known = known || a == key;
    if (!known) {
      return invalid(path.empty() ? key : path + "." + key,
                     fmt::format("unknown field (see {})", doc));
    }
  }
  return ok();
}

Result<const Json*> mapAt(const Json& parent, std::string_view key, const std::string& path) {
  const Json* v = findField(parent, key);
  if (v == nullptr || v->is_null()) return static_cast<const Json*>(nullptr);
  if (!v->is_object()) return invalid(path, "must be a map, not " + typeName(*v));
  return v;
}

Result<const Json*> listAt(const Json& parent, std::string_view key, const std::string& path) {
  const Json* v = findField(parent, key);
  if (v == nullptr || v->is_null()) return static_cast<const Json*>(nullptr);
  if (!v->is_array()) return invalid(path, "must be a list, not " + typeName(*v));
  return v;
}

}  // namespace remora::json_fields

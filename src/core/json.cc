#include "core/json.h"

#include <fmt/format.h>

namespace remora {

std::size_t jsonDepth(std::string_view text, std::size_t limit) {
  std::size_t depth = 0;
  std::size_t deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"': in_string = true; break;
      case '[':
      case '{':
        if (++depth > deepest) {
          deepest = depth;
          if (deepest > limit) return limit + 1;
        }
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default: break;
    }
  }
  return deepest;
}

Result<Json> parseJson(std::string_view text, const JsonLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return Error{Errc::PayloadTooLarge,
                 fmt::format("JSON document of {} bytes exceeds the limit of {} bytes", text.size(),
                             limits.max_bytes)};
  }
  if (jsonDepth(text, limits.max_depth) > limits.max_depth) {
    return Error{Errc::ParseError,
                 fmt::format("JSON nested deeper than {} levels", limits.max_depth)};
  }
  // With allow_exceptions=false nlohmann reports failure as a discarded value;
  // a sax parser would give the offset, so re-run it only on failure.
  Json value = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!value.is_discarded()) return value;

  struct OffsetFinder : nlohmann::json_sax<Json> {
    std::size_t offset = 0;
    std::string what;
    bool null() override { return true; }
    bool boolean(bool) override { return true; }
    bool number_integer(number_integer_t) override { return true; }
    bool number_unsigned(number_unsigned_t) override { return true; }
    bool number_float(number_float_t, const string_t&) override { return true; }
    bool string(string_t&) override { return true; }
    bool binary(binary_t&) override { return true; }
    bool start_object(std::size_t) override { return true; }
    bool key(string_t&) override { return true; }
    bool end_object() override { return true; }
    bool start_array(std::size_t) override { return true; }
    bool end_array() override { return true; }
    bool parse_error(std::size_t position, const std::string&,
                     const nlohmann::detail::exception& ex) override {
      offset = position;
      what = ex.what();
      return false;
    }
  } finder;
  (void)Json::sax_parse(text, &finder, nlohmann::detail::input_format_t::json, /*strict=*/true,
                        /*ignore_comments=*/false);
  // nlohmann's message reads "[json.exception.parse_error.101] parse error at
  // line 1, column 5: syntax error ..."; keep the part after the code.
  std::string detail = finder.what;
  if (auto pos = detail.find("] "); pos != std::string::npos) detail.erase(0, pos + 2);
  if (detail.empty()) detail = "invalid JSON";
  return Error{Errc::ParseError, detail};
}

std::string dumpJson(const Json& value, int indent) {
  return value.dump(indent, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
}

const Json* findField(const Json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

Result<std::string> getString(const Json& object, std::string_view key) {
  const Json* field = findField(object, key);
  if (field == nullptr) return Error{Errc::NotFound, fmt::format("field \"{}\" is missing", key)};
  if (!field->is_string()) {
    return Error{Errc::InvalidArgument,
                 fmt::format("field \"{}\" must be a string, not {}", key, field->type_name())};
  }
  return field->get<std::string>();
}

}  // namespace remora

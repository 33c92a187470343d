#include "inject/template.h"

#include <optional>
#include <string>

#include <fmt/format.h>

namespace remora::inject {
namespace {

// What rendering one node produced: a value, or nothing (dropped).
using Rendered = std::optional<Json>;

struct Placeholder {
  std::string_view path;
  bool optional = false;
  bool splice = false;
};

// Parses the inside of `${...}`.
Result<Placeholder> parsePlaceholder(std::string_view inner) {
  Placeholder p;
  if (inner.substr(0, 3) == "...") {
    p.splice = true;
    inner.remove_prefix(3);
  }
  if (!inner.empty() && inner.back() == '?') {
    p.optional = true;
    inner.remove_suffix(1);
  }
  if (inner.empty()) return Error{Errc::InvalidArgument, "empty placeholder"};
  for (char c : inner) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return Error{Errc::InvalidArgument, fmt::format("bad placeholder path \"{}\"", inner)};
  }
  p.path = inner;
  return p;
}

// Where a node sits in the template, as a chain of parents on the stack:
// the JSON pointer string is only built when an error needs it.
struct Path {
  const Path* parent = nullptr;
  std::string_view key;
  std::size_t index = 0;
  bool is_index = false;
};

void appendPointer(std::string& out, const Path& path) {
  if (path.parent == nullptr) return;
  appendPointer(out, *path.parent);
  out.push_back('/');
  if (path.is_index) {
    out += std::to_string(path.index);
    return;
  }
  for (char c : path.key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out.push_back(c);
    }
  }
}

Error templateError(const Path& path, std::string_view what) {
  std::string pointer;
  appendPointer(pointer, path);
  return Error{Errc::InvalidArgument,
               fmt::format("template {}: {}", pointer.empty() ? "/" : pointer, what)};
}

Result<std::string> scalarText(const Json& value, const Path& pointer, std::string_view path) {
  switch (value.type()) {
    case Json::value_t::string: return value.get<std::string>();
    case Json::value_t::boolean: return std::string(value.get<bool>() ? "true" : "false");
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float: return value.dump();
    default:
      return templateError(pointer, fmt::format("${{{}}} is {} and cannot be part of a string",
                                                path, value.type_name()));
  }
}

// A string value: a whole placeholder, or text with embedded placeholders.
Result<Rendered> renderString(const std::string& text, const TemplateScope& context,
                              const Path& pointer) {
  // The whole string is one placeholder: the value keeps its type.
  if (text.size() > 3 && text.compare(0, 2, "${") == 0 && text.back() == '}' &&
      text.find("${", 2) == std::string::npos && text.find('}') == text.size() - 1) {
    auto parsed = parsePlaceholder(std::string_view(text).substr(2, text.size() - 3));
    if (!parsed) return templateError(pointer, parsed.error().message);
    if (parsed->splice) return templateError(pointer, "${...} splices only into an array");
    const Json* value = context.find(parsed->path);
    if (value == nullptr || value->is_null()) {
      if (parsed->optional) return Rendered();
      return templateError(pointer, fmt::format("no value for ${{{}}}", parsed->path));
    }
    return Rendered(*value);
  }
  if (text.find('$') == std::string::npos) return Rendered(Json(text));
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, 3, "$${") == 0) {
      out += "${";
      i += 3;
      continue;
    }
    if (text.compare(i, 2, "${") != 0) {
      out.push_back(text[i++]);
      continue;
    }
    std::size_t close = text.find('}', i + 2);
    if (close == std::string::npos) return templateError(pointer, "unterminated ${");
    auto parsed = parsePlaceholder(std::string_view(text).substr(i + 2, close - i - 2));
    if (!parsed) return templateError(pointer, parsed.error().message);
    if (parsed->splice) return templateError(pointer, "${...} splices only into an array");
    const Json* value = context.find(parsed->path);
    if (value == nullptr || value->is_null()) {
      if (!parsed->optional) {
        return templateError(pointer, fmt::format("no value for ${{{}}}", parsed->path));
      }
    } else {
      REMORA_ASSIGN_OR_RETURN(std::string piece, scalarText(*value, pointer, parsed->path));
      out += piece;
    }
    i = close + 1;
  }
  return Rendered(Json(std::move(out)));
}

Result<Rendered> renderNode(const Json& node, const TemplateScope& context, const Path& pointer);

Result<Rendered> renderObject(const Json& node, const TemplateScope& context, const Path& pointer) {
  if (const Json* cond = findField(node, "$if")) {
    if (!cond->is_string()) return templateError(pointer, "$if needs a path");
    if (!isTruthy(context.find(cond->get<std::string>()))) return Rendered();
  }
  if (const Json* cond = findField(node, "$unless")) {
    if (!cond->is_string()) return templateError(pointer, "$unless needs a path");
    if (isTruthy(context.find(cond->get<std::string>()))) return Rendered();
  }
  Json out = Json::object();
  out.get_ref<Json::object_t&>().reserve(
      node.size());  // no growth: members are moved, never copied
  bool had_members = false;
  for (const auto& [key, value] : node.items()) {
    if (key == "$if" || key == "$unless") continue;
    had_members = true;
    REMORA_ASSIGN_OR_RETURN(Rendered child, renderNode(value, context, Path{&pointer, key}));
    // Keys of a parsed template are unique: append without a lookup.
    if (child) out.get_ref<Json::object_t&>().emplace_back(key, std::move(*child));
  }
  if (had_members && out.empty()) return Rendered();
  return Rendered(std::move(out));
}

Result<Rendered> renderArray(const Json& node, const TemplateScope& context, const Path& pointer) {
  Json out = Json::array();
  std::size_t index = 0;
  for (const Json& element : node) {
    Path child_pointer{&pointer, {}, index++, true};
    if (element.is_string()) {
      const auto& text = element.get_ref<const std::string&>();
      if (text.compare(0, 5, "${...") == 0 && text.size() > 6 && text.back() == '}') {
        auto parsed = parsePlaceholder(std::string_view(text).substr(2, text.size() - 3));
        if (!parsed) return templateError(child_pointer, parsed.error().message);
        const Json* value = context.find(parsed->path);
        if (value == nullptr || value->is_null()) continue;
        if (!value->is_array()) {
          return templateError(child_pointer, fmt::format("${{...{}}} is {}, not an array",
                                                          parsed->path, value->type_name()));
        }
        for (const Json& item : *value) out.push_back(item);
        continue;
      }
    }
    REMORA_ASSIGN_OR_RETURN(Rendered child, renderNode(element, context, child_pointer));
    if (child) out.push_back(std::move(*child));
  }
  if (!node.empty() && out.empty()) return Rendered();
  return Rendered(std::move(out));
}

Result<Rendered> renderNode(const Json& node, const TemplateScope& context, const Path& pointer) {
  switch (node.type()) {
    case Json::value_t::object: return renderObject(node, context, pointer);
    case Json::value_t::array: return renderArray(node, context, pointer);
    case Json::value_t::string:
      return renderString(node.get_ref<const std::string&>(), context, pointer);
    default: return Rendered(node);
  }
}

}  // namespace

const Json* contextValue(const Json& context, std::string_view path) {
  const Json* current = &context;
  while (!path.empty()) {
    std::size_t dot = path.find('.');
    std::string_view segment = path.substr(0, dot);
    path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
    if (current->is_object()) {
      current = findField(*current, segment);
    } else if (current->is_array() && !segment.empty() &&
               segment.find_first_not_of("0123456789") == std::string_view::npos &&
               segment.size() < 10) {
      std::size_t index = std::stoul(std::string(segment));
      current = index < current->size() ? &(*current)[index] : nullptr;
    } else {
      return nullptr;
    }
    if (current == nullptr) return nullptr;
  }
  return current;
}

bool isTruthy(const Json* value) {
  if (value == nullptr) return false;
  switch (value->type()) {
    case Json::value_t::null: return false;
    case Json::value_t::boolean: return value->get<bool>();
    case Json::value_t::number_integer: return value->get<std::int64_t>() != 0;
    case Json::value_t::number_unsigned: return value->get<std::uint64_t>() != 0;
    case Json::value_t::number_float: return value->get<double>() != 0.0;
    case Json::value_t::string: return !value->get_ref<const std::string&>().empty();
    case Json::value_t::object:
    case Json::value_t::array: return !value->empty();
    default: return false;
  }
}

const Json* TemplateScope::find(std::string_view path) const {
  std::string_view head = path.substr(0, path.find('.'));
  for (const auto& [name, root] : roots_) {
    if (name != head) continue;
    return head.size() == path.size() ? root : contextValue(*root, path.substr(head.size() + 1));
  }
  return contextValue(local_, path);
}

Result<Json> renderTemplate(const Json& tmpl, const TemplateScope& context) {
  REMORA_ASSIGN_OR_RETURN(Rendered out, renderNode(tmpl, context, Path{}));
  if (!out) return Json::object();
  return std::move(*out);
}

}  // namespace remora::inject

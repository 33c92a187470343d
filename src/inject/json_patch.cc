#include "inject/json_patch.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include <fmt/format.h>

namespace remora::inject {
namespace {

// Arrays larger than this (elements of one times the other) are aligned by
// their common prefix and suffix only, bounding the LCS table.
constexpr std::size_t kMaxLcsCells = 4 * 1024 * 1024;

void pushOp(Json& ops, std::string_view op, const std::string& path, const Json* value) {
  Json o = Json::object();
  o["op"] = op;
  o["path"] = path;
  if (value != nullptr) o["value"] = *value;
  ops.push_back(std::move(o));
}

std::string elementKey(const Json& v) {
  if (v.is_object()) {
    auto it = v.find("name");
    if (it != v.end() && it->is_string()) return "n:" + it->get<std::string>();
  }
  return "v:" + v.dump();
}

// Pairs (i, j): a[i] is b[j], in increasing order of both.
std::vector<std::pair<std::size_t, std::size_t>> align(const Json& a, const Json& b) {
  std::vector<std::string> ka;
  std::vector<std::string> kb;
  ka.reserve(a.size());
  kb.reserve(b.size());
  for (const Json& v : a) ka.push_back(elementKey(v));
  for (const Json& v : b) kb.push_back(elementKey(v));
  std::size_t n = ka.size();
  std::size_t m = kb.size();
  std::vector<std::pair<std::size_t, std::size_t>> pairs;
  if (n * m > kMaxLcsCells) {
    std::size_t prefix = 0;
    while (prefix < n && prefix < m && ka[prefix] == kb[prefix]) ++prefix;
    std::size_t suffix = 0;
    while (suffix < n - prefix && suffix < m - prefix && ka[n - 1 - suffix] == kb[m - 1 - suffix]) {
      ++suffix;
    }
    for (std::size_t i = 0; i < prefix; ++i) pairs.emplace_back(i, i);
    for (std::size_t s = suffix; s > 0; --s) pairs.emplace_back(n - s, m - s);
    return pairs;
  }
  // Longest common subsequence, table of suffix lengths.
  std::vector<std::uint32_t> table((n + 1) * (m + 1), 0);
  auto at = [&](std::size_t i, std::size_t j) -> std::uint32_t& { return table[i * (m + 1) + j]; };
  for (std::size_t i = n; i-- > 0;) {
    for (std::size_t j = m; j-- > 0;) {
      at(i, j) = ka[i] == kb[j] ? at(i + 1, j + 1) + 1 : std::max(at(i + 1, j), at(i, j + 1));
    }
  }
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < n && j < m) {
    if (ka[i] == kb[j]) {
      pairs.emplace_back(i++, j++);
    } else if (at(i + 1, j) >= at(i, j + 1)) {
      ++i;
    } else {
      ++j;
    }
  }
  return pairs;
}

void diff(const Json& a, const Json& b, const std::string& path, Json& ops);

void diffArray(const Json& a, const Json& b, const std::string& path, Json& ops) {
  auto pairs = align(a, b);
  std::vector<bool> a_matched(a.size(), false);
  std::vector<std::ptrdiff_t> b_match(b.size(), -1);
  for (auto [i, j] : pairs) {
    a_matched[i] = true;
    b_match[j] = static_cast<std::ptrdiff_t>(i);
  }
  for (std::size_t i = a.size(); i-- > 0;) {
    if (!a_matched[i]) pushOp(ops, "remove", fmt::format("{}/{}", path, i), nullptr);
  }
  std::size_t length = pairs.size();  // elements present after the removals
  for (std::size_t j = 0; j < b.size(); ++j) {
    if (b_match[j] >= 0) {
      diff(a[static_cast<std::size_t>(b_match[j])], b[j], fmt::format("{}/{}", path, j), ops);
    } else {
      std::string where = j == length ? path + "/-" : fmt::format("{}/{}", path, j);
      pushOp(ops, "add", where, &b[j]);
      ++length;
    }
  }
}

void diff(const Json& a, const Json& b, const std::string& path, Json& ops) {
  if (a == b) return;
  if (a.is_object() && b.is_object()) {
    for (const auto& [key, value] : a.items()) {
      if (!b.contains(key)) pushOp(ops, "remove", path + "/" + escapePointerToken(key), nullptr);
    }
    for (const auto& [key, value] : b.items()) {
      std::string child = path + "/" + escapePointerToken(key);
      auto it = a.find(key);
      if (it == a.end()) {
        pushOp(ops, "add", child, &value);
      } else {
        diff(*it, value, child, ops);
      }
    }
    return;
  }
  if (a.is_array() && b.is_array()) {
    diffArray(a, b, path, ops);
    return;
  }
  pushOp(ops, "replace", path, &b);
}

// ------------------------------------------------------------------ apply

Result<std::vector<std::string>> parsePointer(const std::string& pointer) {
  std::vector<std::string> tokens;
  if (pointer.empty()) return tokens;
  if (pointer.front() != '/') {
    return Error{Errc::InvalidArgument, fmt::format("\"{}\" is not a JSON pointer", pointer)};
  }
  std::string token;
  for (std::size_t i = 1; i <= pointer.size(); ++i) {
    if (i == pointer.size() || pointer[i] == '/') {
      tokens.push_back(std::move(token));
      token.clear();
      continue;
    }
    if (pointer[i] == '~') {
      if (i + 1 < pointer.size() && (pointer[i + 1] == '0' || pointer[i + 1] == '1')) {
        token.push_back(pointer[i + 1] == '0' ? '~' : '/');
        ++i;
        continue;
      }
      return Error{Errc::InvalidArgument, fmt::format("bad escape in pointer \"{}\"", pointer)};
    }
    token.push_back(pointer[i]);
  }
  return tokens;
}

Result<std::size_t> arrayIndex(const std::string& token, std::size_t size, bool allow_end) {
  if (allow_end && token == "-") return size;
  bool digits = !token.empty() && token.size() < 10 &&
                token.find_first_not_of("0123456789") == std::string::npos &&
                (token == "0" || token.front() != '0');
  if (!digits)
    return Error{Errc::InvalidArgument, fmt::format("\"{}\" is not an array index", token)};
  std::size_t index = std::stoul(token);
  if (index > size || (!allow_end && index == size)) {
    return Error{Errc::InvalidArgument, fmt::format("index {} is out of range", index)};
  }
  return index;
}

// The container holding the last token of `tokens`.
Result<Json*> parentOf(Json& doc, const std::vector<std::string>& tokens) {
  Json* current = &doc;
  for (std::size_t k = 0; k + 1 < tokens.size(); ++k) {
    const std::string& t = tokens[k];
    if (current->is_object()) {
      auto it = current->find(t);
      if (it == current->end()) return Error{Errc::NotFound, fmt::format("no member \"{}\"", t)};
      current = &*it;
    } else if (current->is_array()) {
      REMORA_ASSIGN_OR_RETURN(std::size_t index, arrayIndex(t, current->size(), false));
      current = &(*current)[index];
    } else {
      return Error{Errc::NotFound, fmt::format("\"{}\" is inside a {}", t, current->type_name())};
    }
  }
  return current;
}

Result<Json*> locate(Json& doc, const std::vector<std::string>& tokens) {
  if (tokens.empty()) return &doc;
  REMORA_ASSIGN_OR_RETURN(Json * parent, parentOf(doc, tokens));
  const std::string& last = tokens.back();
  if (parent->is_object()) {
    auto it = parent->find(last);
    if (it == parent->end()) return Error{Errc::NotFound, fmt::format("no member \"{}\"", last)};
    return &*it;
  }
  if (parent->is_array()) {
    REMORA_ASSIGN_OR_RETURN(std::size_t index, arrayIndex(last, parent->size(), false));
    return &(*parent)[index];
  }
  return Error{Errc::NotFound, "the target's parent is not a container"};
}

Status addAt(Json& doc, const std::vector<std::string>& tokens, Json value) {
  if (tokens.empty()) {
    doc = std::move(value);
    return ok();
  }
  REMORA_ASSIGN_OR_RETURN(Json * parent, parentOf(doc, tokens));
  const std::string& last = tokens.back();
  if (parent->is_object()) {
    (*parent)[last] = std::move(value);
    return ok();
  }
  if (parent->is_array()) {
    REMORA_ASSIGN_OR_RETURN(std::size_t index, arrayIndex(last, parent->size(), true));
    parent->insert(parent->begin() + static_cast<std::ptrdiff_t>(index), std::move(value));
    return ok();
  }
  return Error{Errc::NotFound, "the target's parent is not a container"};
}

Result<Json> removeAt(Json& doc, const std::vector<std::string>& tokens) {
  if (tokens.empty()) return Error{Errc::InvalidArgument, "cannot remove the whole document"};
  REMORA_ASSIGN_OR_RETURN(Json * parent, parentOf(doc, tokens));
  const std::string& last = tokens.back();
  if (parent->is_object()) {
    auto it = parent->find(last);
    if (it == parent->end()) return Error{Errc::NotFound, fmt::format("no member \"{}\"", last)};
    Json removed = std::move(*it);
    parent->erase(it);
    return removed;
  }
  if (parent->is_array()) {
    REMORA_ASSIGN_OR_RETURN(std::size_t index, arrayIndex(last, parent->size(), false));
    Json removed = std::move((*parent)[index]);
    parent->erase(parent->begin() + static_cast<std::ptrdiff_t>(index));
    return removed;
  }
  return Error{Errc::NotFound, "the target's parent is not a container"};
}

Status applyOne(Json& doc, const Json& op) {
  if (!op.is_object()) return Error{Errc::InvalidArgument, "an operation must be an object"};
  auto name = findField(op, "op");
  auto path = findField(op, "path");
  if (name == nullptr || !name->is_string()) return Error{Errc::InvalidArgument, "missing \"op\""};
  if (path == nullptr || !path->is_string())
    return Error{Errc::InvalidArgument, "missing \"path\""};
  REMORA_ASSIGN_OR_RETURN(auto tokens, parsePointer(path->get<std::string>()));
  const std::string& kind = name->get_ref<const std::string&>();
  const Json* value = findField(op, "value");
  auto needValue = [&]() -> Status {
    if (value == nullptr) return Error{Errc::InvalidArgument, "missing \"value\""};
    return ok();
  };
  if (kind == "add") {
    REMORA_TRY(needValue());
    return addAt(doc, tokens, *value);
  }
  if (kind == "remove") {
    REMORA_TRY(removeAt(doc, tokens));
    return ok();
  }
  if (kind == "replace") {
    REMORA_TRY(needValue());
    REMORA_ASSIGN_OR_RETURN(Json * target, locate(doc, tokens));
    *target = *value;
    return ok();
  }
  if (kind == "test") {
    REMORA_TRY(needValue());
    REMORA_ASSIGN_OR_RETURN(Json * target, locate(doc, tokens));
    if (!jsonEquivalent(*target, *value)) return Error{Errc::InvalidArgument, "test failed"};
    return ok();
  }
  if (kind == "move" || kind == "copy") {
    auto from = findField(op, "from");
    if (from == nullptr || !from->is_string())
      return Error{Errc::InvalidArgument, "missing \"from\""};
    const std::string& from_text = from->get_ref<const std::string&>();
    REMORA_ASSIGN_OR_RETURN(auto from_tokens, parsePointer(from_text));
    if (kind == "move") {
      const std::string& to_text = path->get_ref<const std::string&>();
      if (to_text.size() > from_text.size() &&
          to_text.compare(0, from_text.size(), from_text) == 0 &&
          to_text[from_text.size()] == '/') {
        return Error{Errc::InvalidArgument, "cannot move a value into itself"};
      }
      REMORA_ASSIGN_OR_RETURN(Json moved, removeAt(doc, from_tokens));
      return addAt(doc, tokens, std::move(moved));
    }
    REMORA_ASSIGN_OR_RETURN(Json * source, locate(doc, from_tokens));
    Json copy = *source;
    return addAt(doc, tokens, std::move(copy));
  }
  return Error{Errc::InvalidArgument, fmt::format("unknown operation \"{}\"", kind)};
}

}  // namespace

std::string escapePointerToken(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Json createPatch(const Json& from, const Json& to) {
  Json ops = Json::array();
  diff(from, to, "", ops);
  return ops;
}

Result<Json> applyPatch(const Json& document, const Json& patch) {
  if (!patch.is_array()) return Error{Errc::InvalidArgument, "a JSON patch must be an array"};
  Json doc = document;
  for (std::size_t i = 0; i < patch.size(); ++i) {
    Status s = applyOne(doc, patch[i]);
    if (!s) {
      const Json* op = findField(patch[i], "op");
      const Json* path = findField(patch[i], "path");
      return Error{
          s.error().code,
          fmt::format("patch operation {} ({} {}): {}", i,
                      op != nullptr && op->is_string() ? op->get<std::string>() : "?",
                      path != nullptr && path->is_string() ? path->get<std::string>() : "?",
                      s.error().message)};
    }
  }
  return doc;
}

bool jsonEquivalent(const Json& a, const Json& b) {
  if (a.is_object() && b.is_object()) {
    if (a.size() != b.size()) return false;
    for (const auto& [key, value] : a.items()) {
      auto it = b.find(key);
      if (it == b.end() || !jsonEquivalent(value, *it)) return false;
    }
    return true;
  }
  if (a.is_array() && b.is_array()) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (!jsonEquivalent(a[i], b[i])) return false;
    }
    return true;
  }
  return a == b;
}

}  // namespace remora::inject

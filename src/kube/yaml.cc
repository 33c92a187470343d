#include "kube/yaml.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <istream>
#include <iterator>
#include <limits>
#include <memory>
#include <mutex>
#include <streambuf>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

namespace remora::kube {
namespace {

// ---------------------------------------------------------------- reading --

// An istream over caller-owned bytes, so yaml-cpp reads the text in place.
class ViewBuf : public std::streambuf {
 public:
  explicit ViewBuf(std::string_view text) {
    char* begin = const_cast<char*>(text.data());  // read-only: no put area
    setg(begin, begin, begin + text.size());
  }
};

std::size_t utf8Sequence(std::string_view s, std::size_t i, std::uint32_t& cp);

bool isValidUtf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    std::uint32_t cp = 0;
    std::size_t len = utf8Sequence(s, i, cp);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

// Raised inside the event handler to stop yaml-cpp; caught with yaml-cpp's
// own exceptions in forEachDocument(), and never escapes this file.
struct BuildFailure {
  std::string message;
  YAML::Mark mark;
};

// Builds one Json value per document from yaml-cpp's parse events.
//
// A mapping's members are collected in a plain vector and turned into the
// Json object when the mapping ends: Json's object is a vector of
// pair<const string, Json>, which cannot be moved, so growing it member by
// member would deep-copy every earlier member at each reallocation.
class JsonBuilder final : public YAML::EventHandler {
 public:
  explicit JsonBuilder(const YamlLimits& limits) : limits_(limits) {}

  // Resets for the next document.
  void reset() {
    stack_.clear();
    anchors_.clear();
    root_ = Json();
    has_root_ = false;
    nodes_ = 0;
  }
  bool hasRoot() const { return has_root_; }
  Json takeRoot() { return std::move(root_); }
  int documentLine() const { return document_line_; }
  const YAML::Mark& documentMark() const { return document_mark_; }

  void OnDocumentStart(const YAML::Mark& mark) override {
    document_line_ = mark.line + 1;
    document_mark_ = mark;
  }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (awaitingKey()) {
      setKey(mark, "null", false);
      return;
    }
    count(mark, 1);
    complete(mark, Json(nullptr), anchor, 1);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) throw BuildFailure{"unknown alias", mark};
    if (awaitingKey()) {
      if (!it->second.value.is_string()) {
        throw BuildFailure{"an alias used as a key must be a string", mark};
      }
      setKey(mark, it->second.value.get<std::string>(), false);
      return;
    }
    count(mark, it->second.nodes);
    complete(mark, Json(it->second.value), 0, it->second.nodes);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    // Kubernetes objects are JSON, which is UTF-8: say so here rather than
    // carry bytes that no JSON encoder can write back.
    if (!isValidUtf8(value)) throw BuildFailure{"invalid UTF-8 in a scalar", mark};
    if (awaitingKey()) {
      // Keys keep their text as written: `80: x` has the key "80".
      setKey(mark, value, tag == "?" && value == "<<");
      return;
    }
    count(mark, 1);
    Json scalar;
    if (tag == "!" || tag == "tag:yaml.org,2002:str" || tag == "tag:yaml.org,2002:binary") {
      scalar = value;  // quoted, block or explicitly a string
    } else {
      scalar = resolvePlainScalar(value);
    }
    complete(mark, std::move(scalar), anchor, 1);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(mark, false, anchor);
  }
  void OnSequenceEnd() override { close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(mark, true, anchor);
  }
  void OnMapEnd() override { close(); }

 private:
  using Members = std::vector<std::pair<std::string, Json>>;
  struct Frame {
    bool is_map = false;
    Json array;       // sequences
    Members members;  // mappings
    YAML::Mark mark;
    YAML::anchor_t anchor = 0;
    std::size_t nodes_at_open = 0;
    // Mappings only: the key whose value comes next. Duplicates are found by
    // scanning the members while the mapping is small, then with a hash set,
    // so a hostile 100,000-key mapping stays linear.
    bool has_key = false;
    bool key_is_merge = false;
    std::string key;
    std::unique_ptr<std::unordered_set<std::string>> keys;
    std::vector<std::string> merged_keys;  // from `<<`; explicit keys may override them
  };
  struct Anchored {
    Json value;
    std::size_t nodes = 0;
  };
  static constexpr std::size_t kLinearKeys = 16;

  static bool hasKey(const Frame& frame, const std::string& key) {
    if (frame.keys) return frame.keys->count(key) != 0;
    for (const auto& member : frame.members) {
      if (member.first == key) return true;
    }
    return false;
  }
  static void addMember(Frame& frame, std::string key, Json value) {
    if (frame.keys) {
      frame.keys->insert(key);
    } else if (frame.members.size() + 1 > kLinearKeys) {
      frame.keys = std::make_unique<std::unordered_set<std::string>>();
      for (const auto& member : frame.members) frame.keys->insert(member.first);
      frame.keys->insert(key);
    }
    frame.members.emplace_back(std::move(key), std::move(value));
  }
  static bool isMerged(const Frame& frame, const std::string& key) {
    for (const auto& k : frame.merged_keys) {
      if (k == key) return true;
    }
    return false;
  }

  bool awaitingKey() const {
    return !stack_.empty() && stack_.back().is_map && !stack_.back().has_key;
  }

  void setKey(const YAML::Mark& mark, std::string key, bool is_merge) {
    Frame& top = stack_.back();
    if (!is_merge && hasKey(top, key) && !isMerged(top, key)) {
      throw BuildFailure{fmt::format("duplicate key \"{}\"", key), mark};
    }
    top.key = std::move(key);
    top.key_is_merge = is_merge;
    top.has_key = true;
  }

  void count(const YAML::Mark& mark, std::size_t n) {
    nodes_ += n;
    if (nodes_ > limits_.max_nodes) {
      throw BuildFailure{fmt::format("document has more than {} nodes (after expanding aliases)",
                                     limits_.max_nodes),
                         mark};
    }
  }

  void open(const YAML::Mark& mark, bool is_map, YAML::anchor_t anchor) {
    if (awaitingKey()) throw BuildFailure{"a mapping or sequence cannot be a key", mark};
    if (stack_.size() >= limits_.max_depth) {
      throw BuildFailure{fmt::format("nested deeper than {} levels", limits_.max_depth), mark};
    }
    count(mark, 1);
    Frame frame;
    frame.is_map = is_map;
    if (!is_map) frame.array = Json::array();
    frame.mark = mark;
    frame.anchor = anchor;
    frame.nodes_at_open = nodes_ - 1;
    stack_.push_back(std::move(frame));
  }

  void close() {
    Frame frame = std::move(stack_.back());
    stack_.pop_back();
    Json value;
    if (frame.is_map) {
      value = Json::object();
      // One allocation, members moved in (see the class comment).
      value.get_ref<Json::object_t&>() =
          Json::object_t(std::make_move_iterator(frame.members.begin()),
                         std::make_move_iterator(frame.members.end()));
    } else {
      value = std::move(frame.array);
    }
    complete(frame.mark, std::move(value), frame.anchor, nodes_ - frame.nodes_at_open);
  }

  // A finished node goes into its parent, or becomes the document's root.
  void complete(const YAML::Mark& mark, Json value, YAML::anchor_t anchor, std::size_t nodes) {
    if (anchor != 0) anchors_[anchor] = Anchored{value, nodes};
    if (stack_.empty()) {
      root_ = std::move(value);
      has_root_ = !root_.is_null();
      return;
    }
    Frame& top = stack_.back();
    if (!top.is_map) {
      top.array.push_back(std::move(value));
      return;
    }
    if (top.key_is_merge) {
      merge(mark, top, value);
    } else if (isMerged(top, top.key)) {
      // An explicit key overrides the value a merge brought in, once.
      std::erase(top.merged_keys, top.key);
      for (auto& [k, v] : top.members) {
        if (k == top.key) v = std::move(value);
      }
    } else {
      addMember(top, std::move(top.key), std::move(value));
    }
    top.has_key = false;
    top.key_is_merge = false;
  }

  // `<<: *base` or `<<: [*a, *b]`: keys not already present are copied in,
  // the first source winning; explicit keys given later still override.
  void merge(const YAML::Mark& mark, Frame& top, const Json& source) {
    auto mergeOne = [&](const Json& map) {
      if (!map.is_object()) throw BuildFailure{"a merge key (<<) needs a mapping", mark};
      for (const auto& [k, v] : map.items()) {
        if (hasKey(top, k)) continue;
        top.merged_keys.push_back(k);
        addMember(top, k, v);
      }
    };
    if (source.is_array()) {
      for (const auto& item : source) mergeOne(item);
    } else {
      mergeOne(source);
    }
  }

  const YamlLimits& limits_;
  std::vector<Frame> stack_;
  std::unordered_map<YAML::anchor_t, Anchored> anchors_;
  Json root_;
  bool has_root_ = false;
  std::size_t nodes_ = 0;
  int document_line_ = 1;
  YAML::Mark document_mark_ = YAML::Mark::null_mark();
};

std::string_view skipBomAndSpace(std::string_view text) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  std::size_t i = 0;
  while (i < text.size() &&
         (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) {
    ++i;
  }
  return text.substr(i);
}

Error documentError(int index, int line, int column, std::string_view what) {
  if (line > 0) {
    return Error{Errc::ParseError,
                 fmt::format("document {} (line {}, column {}): {}", index, line, column, what)};
  }
  return Error{Errc::ParseError, fmt::format("document {}: {}", index, what)};
}

Status parseYamlStream(std::string_view text, const DocumentSink& sink, const YamlLimits& limits) {
  ViewBuf buf(text);
  std::istream in(&buf);
  JsonBuilder builder(limits);
  int index = 0;
  try {
    YAML::Parser parser(in);
    int last_start = -1;
    while (true) {
      builder.reset();
      if (!parser.HandleNextDocument(builder)) break;
      // yaml-cpp 0.7 does not consume a stray flow indicator (a document
      // that is just ",", or "]" after a block) and returns the same empty
      // document for ever: every real document starts past the last one.
      const YAML::Mark& start = builder.documentMark();
      if (start.pos <= last_start) {
        return documentError(index + 1, start.line + 1, start.column + 1,
                             "unexpected flow indicator (',', ']' or '}')");
      }
      last_start = start.pos;
      if (!builder.hasRoot()) continue;  // an empty document
      Document doc{builder.takeRoot(), ++index, builder.documentLine()};
      REMORA_TRY(sink(std::move(doc)));
    }
  } catch (const BuildFailure& f) {
    return documentError(index + 1, f.mark.line + 1, f.mark.column + 1, f.message);
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) return documentError(index + 1, 0, 0, e.msg);
    return documentError(index + 1, e.mark.line + 1, e.mark.column + 1, e.msg);
  } catch (const std::exception& e) {
    // yaml-cpp may surface std::bad_alloc and friends; never a crash.
    return documentError(index + 1, 0, 0, e.what());
  }
  return ok();
}

// Parses the digits of an integer in `base`, with an optional sign already
// removed. Returns false on overflow or a bad digit.
bool parseMagnitude(std::string_view digits, int base, std::uint64_t& out) {
  if (digits.empty()) return false;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out, base);
  return ec == std::errc() && ptr == digits.data() + digits.size();
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// go-yaml v2's float syntax: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool isYamlFloat(std::string_view s) {
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  std::size_t int_digits = 0;
  while (i < s.size() && isDigit(s[i])) ++i, ++int_digits;
  std::size_t frac_digits = 0;
  bool dot = false;
  if (i < s.size() && s[i] == '.') {
    dot = true;
    ++i;
    while (i < s.size() && isDigit(s[i])) ++i, ++frac_digits;
  }
  if (int_digits == 0 && !(dot && frac_digits > 0)) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    std::size_t exp_digits = 0;
    while (i < s.size() && isDigit(s[i])) ++i, ++exp_digits;
    if (exp_digits == 0) return false;
  }
  return i == s.size();
}

std::optional<Json> resolveNumber(std::string_view in) {
  std::string plain;
  plain.reserve(in.size());
  for (char c : in) {
    if (c != '_') plain.push_back(c);
  }
  std::string_view s = plain;
  bool negative = false;
  std::string_view body = s;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  // Integers as Go's strconv.ParseInt(s, 0, 64) reads them: 0x, 0o, 0b and a
  // leading 0 for octal (so `defaultMode: 0644` is 420, as kubectl reads it).
  int base = 10;
  std::string_view digits = body;
  if (body.size() > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X')) {
    base = 16;
    digits = body.substr(2);
  } else if (body.size() > 2 && body[0] == '0' && (body[1] == 'o' || body[1] == 'O')) {
    base = 8;
    digits = body.substr(2);
  } else if (body.size() > 2 && body[0] == '0' && (body[1] == 'b' || body[1] == 'B')) {
    base = 2;
    digits = body.substr(2);
  } else if (body.size() > 1 && body[0] == '0') {
    base = 8;
    digits = body.substr(1);
  }
  std::uint64_t magnitude = 0;
  if (parseMagnitude(digits, base, magnitude)) {
    if (!negative) {
      if (magnitude <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return Json(static_cast<std::int64_t>(magnitude));
      }
      return Json(magnitude);
    }
    if (magnitude <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + 1) {
      return Json(static_cast<std::int64_t>(0 - magnitude));
    }
  }
  if (isYamlFloat(s)) {
    errno = 0;
    double value = std::strtod(plain.c_str(), nullptr);
    return Json(value);
  }
  return std::nullopt;
}

// ---------------------------------------------------------------- writing --

// Length of the UTF-8 sequence at s[i], or 0 when it is invalid. `cp` gets the
// code point.
std::size_t utf8Sequence(std::string_view s, std::size_t i, std::uint32_t& cp) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  std::size_t len = 0;
  std::uint32_t min = 0;
  if (c < 0x80) {
    cp = c;
    return 1;
  } else if ((c & 0xE0) == 0xC0) {
    len = 2, cp = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, cp = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, cp = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

// Code points a YAML reader may treat as line breaks or strip (NEL, LS, PS,
// BOM): never written raw.
bool isSpecialCodePoint(std::uint32_t cp) {
  return cp == 0x85 || cp == 0x2028 || cp == 0x2029 || cp == 0xFEFF;
}

// True when every character is printable (valid UTF-8, no control characters
// other than those allowed, no special line breaks).
bool isPrintable(std::string_view s, bool allow_newline) {
  for (std::size_t i = 0; i < s.size();) {
    std::uint32_t cp = 0;
    std::size_t len = utf8Sequence(s, i, cp);
    if (len == 0) return false;
    if (cp < 0x20 && !(allow_newline && cp == '\n')) return false;
    if (cp == 0x7F || (cp >= 0x80 && cp < 0xA0) || isSpecialCodePoint(cp)) return false;
    i += len;
  }
  return true;
}

void appendDoubleQuoted(std::string& out, std::string_view s) {
  out.push_back('"');
  for (std::size_t i = 0; i < s.size();) {
    std::uint32_t cp = 0;
    std::size_t len = utf8Sequence(s, i, cp);
    if (len == 0) {
      out += "\\uFFFD";  // invalid UTF-8 cannot be represented; as dumpJson does
      ++i;
      continue;
    }
    switch (cp) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0) || isSpecialCodePoint(cp)) {
          out += fmt::format("\\u{:04X}", cp);
        } else {
          out.append(s.substr(i, len));
        }
    }
    i += len;
  }
  out.push_back('"');
}

void appendSingleQuoted(std::string& out, std::string_view s) {
  out.push_back('\'');
  for (char c : s) {
    if (c == '\'') out.push_back('\'');
    out.push_back(c);
  }
  out.push_back('\'');
}

// A multi-line string that a literal block (`|`) reproduces exactly.
bool isLiteralSafe(std::string_view s) {
  if (s.find('\n') == std::string_view::npos) return false;
  if (!isPrintable(s, /*allow_newline=*/true)) return false;
  bool seen_content = false;
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t end = s.find('\n', start);
    if (end == std::string_view::npos) end = s.size();
    std::string_view line = s.substr(start, end - start);
    if (!line.empty()) {
      if (line.back() == ' ') return false;
      // The first non-empty line sets the indentation, so it cannot start
      // with a space (that would need an indentation indicator).
      if (!seen_content && line.front() == ' ') return false;
      seen_content = true;
    }
    start = end + 1;
  }
  return seen_content;
}

void appendIndent(std::string& out, int indent) {
  out.append(static_cast<std::size_t>(indent), ' ');
}

void appendLiteral(std::string& out, std::string_view s, int indent) {
  std::size_t trailing = 0;
  while (trailing < s.size() && s[s.size() - 1 - trailing] == '\n') ++trailing;
  out += trailing == 0 ? "|-" : (trailing == 1 ? "|" : "|+");
  out.push_back('\n');
  std::string_view body = s.substr(0, s.size() - trailing);
  std::size_t start = 0;
  while (true) {
    std::size_t end = body.find('\n', start);
    std::string_view line = body.substr(start, end == std::string_view::npos ? end : end - start);
    if (!line.empty()) {
      appendIndent(out, indent);
      out.append(line);
    }
    out.push_back('\n');
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  // Keep-chomping: the extra trailing newlines are empty lines of content.
  for (std::size_t k = 1; k < trailing; ++k) out.push_back('\n');
}

void appendString(std::string& out, std::string_view s, int indent, bool newline_after) {
  if (isPlainSafe(s)) {
    out.append(s);
  } else if (isLiteralSafe(s)) {
    appendLiteral(out, s, indent);
    return;  // a literal block ends with its own newline
  } else if (isPrintable(s, false) && s.find_first_of("\"\\") == std::string_view::npos) {
    out.push_back('"');  // nothing to escape
    out.append(s);
    out.push_back('"');
  } else if (isPrintable(s, false)) {
    appendSingleQuoted(out, s);  // JSON in a value reads better without escapes
  } else {
    appendDoubleQuoted(out, s);
  }
  if (newline_after) out.push_back('\n');
}

void appendFloat(std::string& out, double d) {
  if (std::isnan(d)) {
    out += ".nan";
  } else if (std::isinf(d)) {
    out += d > 0 ? ".inf" : "-.inf";
  } else {
    out += Json(d).dump();  // shortest form that reads back as the same double
  }
}

// Writes a scalar or an empty container, then a newline.
void appendScalarLine(std::string& out, const Json& v, int indent) {
  switch (v.type()) {
    case Json::value_t::null: out += "null\n"; return;
    case Json::value_t::boolean: out += v.get<bool>() ? "true\n" : "false\n"; return;
    case Json::value_t::number_integer: out += std::to_string(v.get<std::int64_t>()); break;
    case Json::value_t::number_unsigned: out += std::to_string(v.get<std::uint64_t>()); break;
    case Json::value_t::number_float: appendFloat(out, v.get<double>()); break;
    case Json::value_t::string:
      appendString(out, v.get_ref<const std::string&>(), indent, /*newline_after=*/true);
      return;
    case Json::value_t::object: out += "{}"; break;
    case Json::value_t::array: out += "[]"; break;
    default: out += "null"; break;  // binary and discarded never come from our readers
  }
  out.push_back('\n');
}

bool isNonEmptyContainer(const Json& v) { return (v.is_object() || v.is_array()) && !v.empty(); }

void appendSequence(std::string& out, const Json& seq, int indent, bool inline_first);

void appendKey(std::string& out, const std::string& key) {
  // Keys never span lines: appendString() would write a literal block.
  if (key.find('\n') != std::string::npos) {
    appendDoubleQuoted(out, key);
  } else {
    appendString(out, key, 0, /*newline_after=*/false);
  }
}

// A mapping at `indent`. With inline_first, the first key continues the
// current line (after "- ").
void appendMapping(std::string& out, const Json& map, int indent, bool inline_first) {
  bool first = true;
  for (const auto& [key, value] : map.items()) {
    if (!(first && inline_first)) appendIndent(out, indent);
    first = false;
    // YAML limits implicit keys to 1024 characters, as written: escapes
    // count (a control character is six, \u000B). A longer one becomes an
    // explicit entry.
    const std::size_t key_at = out.size();
    appendKey(out, key);
    if (out.size() - key_at > 1000) {
      out.resize(key_at);
      out += "? ";
      appendDoubleQuoted(out, key);
      out.push_back('\n');
      appendIndent(out, indent);
    }
    out.push_back(':');
    if (value.is_object() && !value.empty()) {
      out.push_back('\n');
      appendMapping(out, value, indent + 2, false);
    } else if (value.is_array() && !value.empty()) {
      out.push_back('\n');
      appendSequence(out, value, indent, false);  // kubectl's layout: no extra indent
    } else {
      out.push_back(' ');
      appendScalarLine(out, value, indent + 2);
    }
  }
}

void appendSequence(std::string& out, const Json& seq, int indent, bool inline_first) {
  bool first = true;
  for (const auto& item : seq) {
    if (!(first && inline_first)) appendIndent(out, indent);
    first = false;
    out += "- ";
    if (isNonEmptyContainer(item)) {
      if (item.is_object()) {
        appendMapping(out, item, indent + 2, true);
      } else {
        appendSequence(out, item, indent + 2, true);
      }
    } else {
      appendScalarLine(out, item, indent + 2);
    }
  }
}

}  // namespace

namespace {

bool isBoolWord(std::string_view s, bool& value) {
  for (std::string_view t :
       {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"}) {
    if (s == t) return value = true, true;
  }
  for (std::string_view f :
       {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"}) {
    if (s == f) return value = false, true;
  }
  return false;
}

// True when a plain scalar with this text reads as a string (the emitter's
// question, asked for every string written, so it must not allocate).
bool resolvesToString(std::string_view s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return false;
  bool b = false;
  switch (s.front()) {
    case 'y':
    case 'Y':
    case 'n':
    case 'N':
    case 't':
    case 'T':
    case 'f':
    case 'F':
    case 'o':
    case 'O': return !isBoolWord(s, b);
    case '.':
    case '+':
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9': return resolvePlainScalar(s).is_string();
    default: return true;
  }
}

}  // namespace

Json resolvePlainScalar(std::string_view s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return Json(nullptr);
  switch (s.front()) {
    case 'y':
    case 'Y':
    case 'n':
    case 'N':
    case 't':
    case 'T':
    case 'f':
    case 'F':
    case 'o':
    case 'O':
      for (std::string_view t :
           {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"}) {
        if (s == t) return Json(true);
      }
      for (std::string_view f :
           {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"}) {
        if (s == f) return Json(false);
      }
      return Json(std::string(s));
    case '.':
    case '+':
    case '-':
      for (std::string_view nan : {".nan", ".NaN", ".NAN"}) {
        if (s == nan) return Json(std::numeric_limits<double>::quiet_NaN());
      }
      for (std::string_view inf : {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"}) {
        if (s == inf) return Json(std::numeric_limits<double>::infinity());
      }
      for (std::string_view inf : {"-.inf", "-.Inf", "-.INF"}) {
        if (s == inf) return Json(-std::numeric_limits<double>::infinity());
      }
      [[fallthrough]];
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
      if (auto number = resolveNumber(s)) return *number;
      return Json(std::string(s));
    default: return Json(std::string(s));
  }
}

bool isPlainSafe(std::string_view s) {
  if (s.empty()) return false;
  if (!resolvesToString(s)) return false;
  char first = s.front();
  // Strings that start like a number, a date or a time read back as one in
  // some YAML dialect (1.1 sexagesimals, timestamps): quote them, except
  // quantities such as 100m or 1.5Gi (digits, dots and letters only).
  if (isDigit(first)) {
    bool letter = false;
    for (char c : s) {
      bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
      if (!alpha && !isDigit(c) && c != '.') return false;
      letter = letter || (alpha && c != 'e' && c != 'E');
    }
    return letter;
  }
  if ((first == '-' || first == '+' || first == '.') && s.size() > 1 &&
      (isDigit(s[1]) || s[1] == '.')) {
    return false;
  }
  switch (first) {
    case '-':
      // "-p" and "--flag" are plain; "-", "- x" and "---" are not.
      if (s.size() == 1 || s[1] == ' ' || s.substr(0, 3) == "---") return false;
      break;
    case '?':
    case ':':
    case ',':
    case '[':
    case ']':
    case '{':
    case '}':
    case '#':
    case '&':
    case '*':
    case '!':
    case '|':
    case '>':
    case '\'':
    case '"':
    case '%':
    case '@':
    case '`':
    case ' ': return false;
    default: break;
  }
  if (s.back() == ' ' || s.back() == ':') return false;
  if (s == "<<" || s == "=") return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == ':' && i + 1 < s.size() && s[i + 1] == ' ') return false;
    if (c == '#' && i > 0 && s[i - 1] == ' ') return false;
  }
  return isPrintable(s, /*allow_newline=*/false);
}

Status forEachDocument(std::string_view text, const DocumentSink& sink, const YamlLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return Error{Errc::PayloadTooLarge,
                 fmt::format("input of {} bytes exceeds the limit of {} bytes", text.size(),
                             limits.max_bytes)};
  }
  std::string_view body = skipBomAndSpace(text);
  if (!body.empty() && body.front() == '{') {
    // JSON: nlohmann is much faster than a YAML parser on it, and its errors
    // point at the byte. A `{` document that is YAML flow style, or JSON
    // documents separated by `---`, fall back to the YAML reader.
    auto json = parseJson(body, {.max_bytes = limits.max_bytes, .max_depth = limits.max_depth});
    if (json) {
      if (json->is_object() && json->empty()) return ok();
      return sink(Document{std::move(*json), 1, 1});
    }
    Error json_error = std::move(json).error();
    Status yaml = parseYamlStream(text, sink, limits);
    if (yaml) return yaml;
    return Error{json_error.code, "document 1: invalid JSON: " + json_error.message};
  }
  return parseYamlStream(text, sink, limits);
}

Status forEachDocumentPipelined(std::string_view text, const DocumentSink& sink,
                                const YamlLimits& limits, std::size_t queue_depth) {
  // A bounded queue between the parsing thread (producer) and the caller
  // (consumer). The mutex guards queue, done, parse_status and stop.
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<Document> queue;
  bool done = false;
  bool stop = false;
  Status parse_status;
  const Error stopped{Errc::Internal, "stopped by the consumer"};

  std::thread parser([&] {
    Status s = forEachDocument(
        text,
        [&](Document&& doc) -> Status {
          std::unique_lock lock(mutex);
          changed.wait(lock, [&] { return stop || queue.size() < queue_depth; });
          if (stop) return stopped;
          queue.push_back(std::move(doc));
          changed.notify_all();
          return ok();
        },
        limits);
    std::lock_guard lock(mutex);
    parse_status = std::move(s);
    done = true;
    changed.notify_all();
  });

  Status result;
  while (true) {
    Document doc;
    {
      std::unique_lock lock(mutex);
      changed.wait(lock, [&] { return done || !queue.empty(); });
      if (queue.empty()) {
        result = std::move(parse_status);  // done: the parser's own verdict
        break;
      }
      doc = std::move(queue.front());
      queue.pop_front();
      changed.notify_all();
    }
    Status s = sink(std::move(doc));
    if (!s) {
      result = std::move(s);
      std::lock_guard lock(mutex);
      stop = true;
      changed.notify_all();
      break;
    }
  }
  parser.join();
  return result;
}

Result<std::vector<Document>> parseDocuments(std::string_view text, const YamlLimits& limits) {
  std::vector<Document> docs;
  REMORA_TRY(forEachDocument(
      text,
      [&](Document&& doc) -> Status {
        docs.push_back(std::move(doc));
        return ok();
      },
      limits));
  return docs;
}

Result<Json> parseYaml(std::string_view text, const YamlLimits& limits) {
  Json result = Json::object();
  int count = 0;
  REMORA_TRY(forEachDocument(
      text,
      [&](Document&& doc) -> Status {
        if (++count > 1) {
          return Error{Errc::ParseError,
                       fmt::format("document {} (line {}): expected a single document", doc.index,
                                   doc.line)};
        }
        result = std::move(doc.value);
        return ok();
      },
      limits));
  return result;
}

void appendYaml(std::string& out, const Json& value) {
  if (value.is_object() && !value.empty()) {
    appendMapping(out, value, 0, false);
  } else if (value.is_array() && !value.empty()) {
    appendSequence(out, value, 0, false);
  } else {
    appendScalarLine(out, value, 2);
  }
}

std::string toYaml(const Json& value) {
  std::string out;
  appendYaml(out, value);
  return out;
}

}  // namespace remora::kube

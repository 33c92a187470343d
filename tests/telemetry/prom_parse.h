// A strict parser of Prometheus text exposition format 0.0.4 for tests: it
// checks what a scraper relies on (HELP/TYPE before samples, one TYPE per
// family, label syntax and escapes, histogram series shape) and returns the
// samples so a test can assert values by name and labels.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace remora::telemetry::test {

struct Sample {
  std::string name;                           // with _bucket/_sum/_count
  std::map<std::string, std::string> labels;  // unescaped values
  double value = 0;
};

struct Exposition {
  std::map<std::string, std::string> types;  // family -> counter/histogram/...
  std::map<std::string, std::string> helps;
  std::vector<Sample> samples;
  std::string error;  // empty when valid

  // Samples named `name` whose labels include every pair of `match`.
  std::vector<const Sample*> find(const std::string& name,
                                  const std::map<std::string, std::string>& match = {}) const {
    std::vector<const Sample*> out;
    for (const auto& s : samples) {
      if (s.name != name) continue;
      bool ok = true;
      for (const auto& [k, v] : match) {
        auto it = s.labels.find(k);
        if (it == s.labels.end() || it->second != v) ok = false;
      }
      if (ok) out.push_back(&s);
    }
    return out;
  }
  std::optional<double> value(const std::string& name,
                              const std::map<std::string, std::string>& match = {}) const {
    auto found = find(name, match);
    if (found.size() != 1) return std::nullopt;
    return found[0]->value;
  }
};

inline bool isNameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
inline bool isNameChar(char c) { return isNameStart(c) || (c >= '0' && c <= '9'); }

inline Exposition parseExposition(std::string_view text) {
  Exposition ex;
  auto fail = [&](std::string why, std::string_view line) {
    if (ex.error.empty()) ex.error = why + " in line: " + std::string(line);
  };
  if (!text.empty() && text.back() != '\n') fail("no final newline", text.substr(text.size() - 1));
  std::set<std::string> families_with_samples;
  std::string last_family;
  std::size_t pos = 0;
  while (pos < text.size() && ex.error.empty()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) continue;
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      const bool type = line[2] == 'T';
      std::string_view rest = line.substr(7);
      const auto sp = rest.find(' ');
      if (sp == std::string_view::npos) return fail("no text after name", line), ex;
      std::string name(rest.substr(0, sp));
      std::string_view what = rest.substr(sp + 1);
      if (name.empty() || !isNameStart(name[0])) return fail("bad metric name", line), ex;
      for (char c : name) {
        if (!isNameChar(c)) return fail("bad metric name", line), ex;
      }
      if (type) {
        if (ex.types.count(name)) return fail("second TYPE", line), ex;
        if (families_with_samples.count(name)) return fail("TYPE after samples", line), ex;
        if (what != "counter" && what != "gauge" && what != "histogram" && what != "summary" &&
            what != "untyped") {
          return fail("unknown type", line), ex;
        }
        ex.types[name] = std::string(what);
      } else {
        for (std::size_t i = 0; i < what.size(); ++i) {
          if (what[i] == '\\' &&
              (i + 1 >= what.size() || (what[i + 1] != '\\' && what[i + 1] != 'n'))) {
            return fail("bad escape in HELP", line), ex;
          }
          if (what[i] == '\\') ++i;
        }
        ex.helps[name] = std::string(what);
      }
      continue;
    }
    if (line[0] == '#') continue;  // a comment
    Sample s;
    std::size_t i = 0;
    if (!isNameStart(line[0])) return fail("bad sample name", line), ex;
    while (i < line.size() && isNameChar(line[i])) ++i;
    s.name = std::string(line.substr(0, i));
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        std::size_t ns = i;
        if (!isNameStart(line[i])) return fail("bad label name", line), ex;
        while (i < line.size() && isNameChar(line[i])) ++i;
        std::string lname(line.substr(ns, i - ns));
        if (i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') {
          return fail("label without =\"", line), ex;
        }
        i += 2;
        std::string value;
        for (;;) {
          if (i >= line.size()) return fail("unterminated label value", line), ex;
          char c = line[i++];
          if (c == '"') break;
          if (c == '\\') {
            if (i >= line.size()) return fail("dangling escape", line), ex;
            char e = line[i++];
            if (e == '\\')
              value.push_back('\\');
            else if (e == '"')
              value.push_back('"');
            else if (e == 'n')
              value.push_back('\n');
            else
              return fail("bad escape", line), ex;
          } else {
            value.push_back(c);
          }
        }
        if (s.labels.count(lname)) return fail("duplicate label", line), ex;
        s.labels[lname] = value;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size()) return fail("unterminated labels", line), ex;
      ++i;  // '}'
    }
    if (i >= line.size() || line[i] != ' ') return fail("no space before value", line), ex;
    std::string value(line.substr(i + 1));
    if (value == "+Inf")
      s.value = 1e308 * 10;
    else {
      char* end = nullptr;
      s.value = std::strtod(value.c_str(), &end);
      if (value.empty() || end == nullptr || *end != '\0') return fail("bad value", line), ex;
    }
    // The family: the name itself, or without a histogram suffix.
    std::string family = s.name;
    for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
      if (family.size() > suffix.size() && family.ends_with(suffix)) {
        std::string base = family.substr(0, family.size() - suffix.size());
        if (ex.types.count(base) && ex.types[base] == "histogram") family = base;
      }
    }
    if (!ex.types.count(family)) return fail("sample before its TYPE", line), ex;
    if (ex.types[family] == "histogram" && family == s.name) {
      return fail("histogram sample without suffix", line), ex;
    }
    if (s.name.ends_with("_bucket") && family != s.name && !s.labels.count("le")) {
      return fail("bucket without le", line), ex;
    }
    if (family != last_family && families_with_samples.count(family)) {
      return fail("family samples not contiguous", line), ex;
    }
    last_family = family;
    families_with_samples.insert(family);
    ex.samples.push_back(std::move(s));
  }
  return ex;
}

}  // namespace remora::telemetry::test

#include "security/path.h"

#include <cstddef>
#include <cstdint>

namespace remora::security {
namespace {

constexpr std::size_t kMaxPathBytes = 64 * 1024;

int hexValue(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool isUnreserved(unsigned char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// Bytes Chromium's path canonicaliser escapes rather than passes through.
bool mustEscape(unsigned char c) noexcept {
  return c <= 0x20 || c >= 0x7F || c == '"' || c == '<' || c == '>' || c == '`' || c == '{' ||
         c == '}';
}

// True when the path part needs no change: the fast path, no allocation.
bool isNormal(std::string_view p) noexcept {
  // Look for anything pass 1 would rewrite, and for dot segments.
  for (std::size_t i = 0; i < p.size(); ++i) {
    auto c = static_cast<unsigned char>(p[i]);
    if (c == '\\' || c == '%' || mustEscape(c)) return false;
    if (c == '.' && p[i - 1] == '/') {  // p[0] is '/', so i >= 1 here
      std::size_t n = (i + 1 < p.size() && p[i + 1] == '.') ? 2 : 1;
      if (i + n == p.size() || p[i + n] == '/') return false;
    }
  }
  return true;
}

// Every check and rewrite; normalizePath() calls it when its fast test
// does not pass. Out of line so that the common path (a plain path, as
// nearly every request has) is a few lines of code.
[[gnu::noinline]] Result<std::string_view> normalizeInFull(std::string_view path,
                                                           std::string& scratch) {
  if (path.size() > kMaxPathBytes) return Error{Errc::UriTooLong, "path longer than 64 KiB"};
  if (path == "*") return path;
  if (path.empty() || (path[0] != '/' && path[0] != '\\')) {
    return Error{Errc::BadRequest, "path does not start with /"};
  }
  std::size_t q = path.find('?');
  std::string_view p = path.substr(0, q);
  if (p.find('#') != std::string_view::npos) {
    return Error{Errc::BadRequest, "path holds a fragment (#)"};
  }
  // Validate every escape even on the fast path.
  bool has_percent = false;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] != '%') continue;
    has_percent = true;
    if (i + 2 >= p.size()) {
      return Error{Errc::BadRequest, "truncated percent-escape in path"};
    }
    if (hexValue(p[i + 1]) < 0 || hexValue(p[i + 2]) < 0) {
      return Error{Errc::BadRequest, "invalid percent-escape in path"};
    }
  }
  if (!has_percent && path[0] == '/' && isNormal(p)) return path;

  // Pass 1: backslashes, unreserved escapes decoded, raw bytes escaped.
  std::string decoded;
  decoded.reserve(p.size() + 8);
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (std::size_t i = 0; i < p.size(); ++i) {
    auto c = static_cast<unsigned char>(p[i]);
    if (c == '\\') {
      decoded.push_back('/');
    } else if (c == '%') {
      auto v = static_cast<unsigned char>(hexValue(p[i + 1]) * 16 + hexValue(p[i + 2]));
      if (isUnreserved(v)) {
        decoded.push_back(static_cast<char>(v));
      } else {
        decoded.append(p.substr(i, 3));
      }
      i += 2;
    } else if (mustEscape(c)) {
      decoded.push_back('%');
      decoded.push_back(kHex[c >> 4]);
      decoded.push_back(kHex[c & 0xF]);
    } else {
      decoded.push_back(static_cast<char>(c));
    }
  }

  // Pass 2: RFC 3986 §5.2.4 remove_dot_segments, on segments between '/'.
  // `decoded` starts with '/'; empty segments (//) are kept.
  scratch.clear();
  scratch.reserve(decoded.size() + (q == std::string_view::npos ? 0 : path.size() - q));
  std::size_t i = 1;
  scratch.push_back('/');
  // Invariant: scratch ends with '/' at the start of each segment.
  while (i <= decoded.size()) {
    std::size_t end = decoded.find('/', i);
    if (end == std::string::npos) end = decoded.size();
    std::string_view seg(decoded.data() + i, end - i);
    bool last = end == decoded.size();
    if (seg == ".") {
      // drop it; scratch already ends with '/'
    } else if (seg == "..") {
      // Remove the last output segment and its '/', keep the leading '/'.
      if (scratch.size() > 1) {
        scratch.pop_back();  // the trailing '/'
        std::size_t slash = scratch.rfind('/');
        scratch.resize(slash + 1);
      }
    } else {
      scratch.append(seg);
      if (!last) scratch.push_back('/');
    }
    i = end + 1;
  }
  if (q != std::string_view::npos) scratch.append(path.substr(q));
  if (scratch == path) return path;
  return std::string_view(scratch);
}

}  // namespace

Result<std::string_view> normalizePath(std::string_view path, std::string& scratch) {
  // Already normal: starts with '/', within the limit, no fragment, and
  // nothing pass 1 or 2 of normalizeInFull() would change (isNormal() also
  // refuses '%', so there is no escape to validate).
  if (!path.empty() && path[0] == '/' && path.size() <= kMaxPathBytes) {
    std::string_view p = path.substr(0, path.find('?'));
    if (p.find('#') == std::string_view::npos && isNormal(p)) return path;
  }
  return normalizeInFull(path, scratch);
}

Result<std::string> normalizePath(std::string_view path) {
  std::string scratch;
  auto r = normalizePath(path, scratch);
  if (!r) return r.error();
  return std::string(*r);
}

}  // namespace remora::security

// Character classes of RFC 9110/9112, as 256-entry tables (one load per
// byte on the parser's hot loops). Internal to src/http.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace remora::http {

namespace detail {

enum CharClass : std::uint8_t {
  kTchar = 1 << 0,       // token: ALPHA DIGIT !#$%&'*+-.^_`|~
  kFieldValue = 1 << 1,  // field-vchar / SP / HTAB: VCHAR, obs-text 0x80-0xff, SP, HTAB
  kTarget = 1 << 2,      // request-target octets we accept: VCHAR except '#'
  kHex = 1 << 3,
  kReason = 1 << 4,   // reason-phrase: HTAB, SP, VCHAR, obs-text
  kRegName = 1 << 5,  // reg-name's (and IPv4address's) single characters: unreserved, sub-delims
};

constexpr std::array<std::uint8_t, 256> makeCharTable() {
  std::array<std::uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    std::uint8_t v = 0;
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    bool digit = c >= '0' && c <= '9';
    bool vchar = c >= 0x21 && c <= 0x7e;
    bool obs = c >= 0x80;
    if (alpha || digit) v |= kTchar;
    switch (c) {
      case '!':
      case '#':
      case '$':
      case '%':
      case '&':
      case '\'':
      case '*':
      case '+':
      case '-':
      case '.':
      case '^':
      case '_':
      case '`':
      case '|':
      case '~': v |= kTchar; break;
      default: break;
    }
    if (vchar || obs || c == ' ' || c == '\t') v |= kFieldValue | kReason;
    if (vchar && c != '#') v |= kTarget;
    if (digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) v |= kHex;
    if (alpha || digit) v |= kRegName;
    switch (c) {
      case '-':
      case '.':
      case '_':
      case '~':  // unreserved
      case '!':
      case '$':
      case '&':
      case '\'':
      case '(':
      case ')':  // sub-delims
      case '*':
      case '+':
      case ',':
      case ';':
      case '=': v |= kRegName; break;
      default: break;
    }
    t[static_cast<std::size_t>(c)] = v;
  }
  return t;
}

inline constexpr std::array<std::uint8_t, 256> kCharTable = makeCharTable();

inline bool hasClass(char c, std::uint8_t cls) {
  return (kCharTable[static_cast<unsigned char>(c)] & cls) != 0;
}

}  // namespace detail

inline bool isTchar(char c) { return detail::hasClass(c, detail::kTchar); }
inline bool isFieldValueChar(char c) { return detail::hasClass(c, detail::kFieldValue); }
inline bool isTargetChar(char c) { return detail::hasClass(c, detail::kTarget); }
inline bool isHexDigit(char c) { return detail::hasClass(c, detail::kHex); }
inline bool isReasonChar(char c) { return detail::hasClass(c, detail::kReason); }
inline bool isRegNameChar(char c) { return detail::hasClass(c, detail::kRegName); }
inline bool isDigit(char c) { return c >= '0' && c <= '9'; }
inline bool isOws(char c) { return c == ' ' || c == '\t'; }
inline char toLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// True when every byte of `value` may be in a field value (isFieldValueChar).
// Eight bytes at a time: a word with no byte below 0x20 and none equal to
// 0x7f is valid whole (the only other invalid bytes); a word with either is
// judged byte by byte, since HTAB (0x09) is valid. The two tests are
// Hacker's Delight's "has a byte less than n" and "has a zero byte": exact
// for whether such a byte exists (they may also flag a valid byte above an
// invalid one, which the byte-by-byte pass then clears).
inline bool isFieldValue(std::string_view value) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHighBits = 0x8080808080808080ULL;
  const char* p = value.data();
  std::size_t n = value.size();
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w = 0;
    std::memcpy(&w, p + i, 8);
    std::uint64_t below_space = (w - kOnes * 0x20) & ~w & kHighBits;
    std::uint64_t del = w ^ (kOnes * 0x7f);
    del = (del - kOnes) & ~del & kHighBits;
    if ((below_space | del) != 0) {
      for (std::size_t k = i; k < i + 8; ++k) {
        if (!isFieldValueChar(p[k])) return false;
      }
    }
  }
  for (; i < n; ++i) {
    if (!isFieldValueChar(p[i])) return false;
  }
  return true;
}

inline int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace remora::http

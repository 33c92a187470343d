// Character classes of RFC 9110/9112, as 256-entry tables (one load per
// byte on the parser's hot loops). Internal to src/http.
#pragma once

#include <array>
#include <cstdint>

namespace remora::http {

namespace detail {

enum CharClass : std::uint8_t {
  kTchar = 1 << 0,       // token: ALPHA DIGIT !#$%&'*+-.^_`|~
  kFieldValue = 1 << 1,  // field-vchar / SP / HTAB: VCHAR, obs-text 0x80-0xff, SP, HTAB
  kTarget = 1 << 2,      // request-target octets we accept: VCHAR except '#'
  kHex = 1 << 3,
  kReason = 1 << 4,    // reason-phrase: HTAB, SP, VCHAR, obs-text
  kHostChar = 1 << 5,  // reg-name / IPv4 / IP-literal chars: unreserved sub-delims pct ':' '[' ']'
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
    if (alpha || digit) v |= kHostChar;
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
      case '=':
      case '%':
      case ':':
      case '[':
      case ']': v |= kHostChar; break;
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
inline bool isHostChar(char c) { return detail::hasClass(c, detail::kHostChar); }
inline bool isDigit(char c) { return c >= '0' && c <= '9'; }
inline bool isOws(char c) { return c == ' ' || c == '\t'; }
inline char toLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

inline int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace remora::http

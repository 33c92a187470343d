// Lower-case hex digits written from a register, with no table: on the
// proxy's request path (x-request-id) a table of digit pairs is read at
// random places, and when requests come one at a time every line of it is
// a likely cache miss (docs/performance.md, "What a request finds cold").
//
// Threading: pure functions.
#pragma once

#include <cstdint>
#include <cstring>

namespace remora {

// The eight hex digits of v's low 32 bits, most significant first, into
// out[0..8). No terminator.
inline void writeHex32(std::uint64_t v, char* out) noexcept {
  std::uint64_t x = v & 0xFFFFFFFFULL;
  // Nibble i (counting from the least significant) into byte i.
  x = (x | (x << 16)) & 0x0000FFFF0000FFFFULL;
  x = (x | (x << 8)) & 0x00FF00FF00FF00FFULL;
  x = (x | (x << 4)) & 0x0F0F0F0F0F0F0F0FULL;
  // 1 in each byte whose nibble is 10 or more (adding 6 carries into bit 4
  // only then, and never into the next byte); 'a' is '0' + 10 + 39.
  const std::uint64_t letters = ((x + 0x0606060606060606ULL) >> 4) & 0x0101010101010101ULL;
  x += 0x3030303030303030ULL + letters * 39;
  // Byte i holds digit i from the right: reversed, the most significant
  // digit goes to the lowest address on a little-endian machine.
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__);
  x = __builtin_bswap64(x);
  std::memcpy(out, &x, sizeof x);
}

}  // namespace remora

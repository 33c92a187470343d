#include "core/hex.h"

#include <cstdio>
#include <random>
#include <string>

#include <gtest/gtest.h>

namespace remora {
namespace {

std::string hex32(std::uint64_t v) {
  char out[8];
  writeHex32(v, out);
  return {out, sizeof out};
}

std::string printfHex32(std::uint64_t v) {
  char expected[9];
  std::snprintf(expected, sizeof expected, "%08x", static_cast<unsigned>(v & 0xFFFFFFFFULL));
  return expected;
}

TEST(Hex, EveryDigitInEveryPosition) {
  for (int position = 0; position < 8; ++position) {
    for (std::uint64_t digit = 0; digit < 16; ++digit) {
      const std::uint64_t v = digit << (4 * position);
      EXPECT_EQ(hex32(v), printfHex32(v)) << std::hex << v;
    }
  }
  EXPECT_EQ(hex32(0), "00000000");
  EXPECT_EQ(hex32(0xFFFFFFFF), "ffffffff");
  EXPECT_EQ(hex32(0x0123ABCD), "0123abcd");
}

TEST(Hex, OnlyTheLow32BitsAndTheyMatchPrintf) {
  EXPECT_EQ(hex32(0xDEADBEEF'89ABCDEFULL), "89abcdef");
  std::mt19937_64 rng(7);
  for (int i = 0; i < 100000; ++i) {
    const std::uint64_t v = rng();
    ASSERT_EQ(hex32(v), printfHex32(v)) << std::hex << v;
  }
}

TEST(Hex, WritesEightBytesAndNoMore) {
  char out[10];
  std::memset(out, '#', sizeof out);
  writeHex32(0x9F, out + 1);
  EXPECT_EQ(std::string(out, sizeof out), "#0000009f#");
}

}  // namespace
}  // namespace remora

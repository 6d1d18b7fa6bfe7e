#include "wmeta/schema/utf8.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace wmeta {
namespace {

constexpr char kReplacement[] = "\xef\xbf\xbd";

// The shortest encoding of `code_point`, whatever it is (surrogates too), by
// the bit layout alone: what the validator's ranges must agree with.
std::string Encode(uint32_t code_point) {
  std::string out;
  auto add = [&out](uint32_t byte) { out.push_back(static_cast<char>(byte)); };
  if (code_point < 0x80) {
    add(code_point);
  } else if (code_point < 0x800) {
    add(0xc0 | (code_point >> 6));
    add(0x80 | (code_point & 0x3f));
  } else if (code_point < 0x10000) {
    add(0xe0 | (code_point >> 12));
    add(0x80 | ((code_point >> 6) & 0x3f));
    add(0x80 | (code_point & 0x3f));
  } else {
    add(0xf0 | (code_point >> 18));
    add(0x80 | ((code_point >> 12) & 0x3f));
    add(0x80 | ((code_point >> 6) & 0x3f));
    add(0x80 | (code_point & 0x3f));
  }
  return out;
}

TEST(Utf8Test, EveryScalarValueIsValidAndNoSurrogateIs) {
  for (uint32_t c = 0; c <= 0x10ffff; ++c) {
    bool surrogate = c >= 0xd800 && c <= 0xdfff;
    ASSERT_EQ(IsValidUtf8(Encode(c)), !surrogate) << std::hex << c;
  }
}

TEST(Utf8Test, RejectsIllFormedSequences) {
  const char* cases[] = {
      "\xff",              // never in UTF-8
      "\x80",              // a lone continuation byte
      "\xc0\x80",          // overlong NUL
      "\xc1\xbf",          // overlong U+007F
      "\xe0\x9f\xbf",      // overlong U+07FF
      "\xf0\x8f\xbf\xbf",  // overlong U+FFFF
      "\xed\xa0\x80",      // U+D800, a surrogate
      "\xed\xbf\xbf",      // U+DFFF
      "\xf4\x90\x80\x80",  // U+110000
      "\xf5\x80\x80\x80",  // a lead byte past U+10FFFF
      "\xe6\x97",          // truncated at the end
      "\xe6\x97x",         // truncated before ASCII
      "\xc3\xa9\xc3",      // a valid character, then a truncated one
  };
  for (const char* c : cases) {
    EXPECT_FALSE(IsValidUtf8(c)) << c;
  }
  EXPECT_FALSE(IsValidUtf8(std::string("ok\0\xff", 4)));
}

TEST(Utf8Test, ValidTextIsKeptAsIs) {
  for (std::string text :
       {std::string(), std::string("nginx -g daemon off;"),
        std::string("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x90\xb3"),
        std::string("\xf4\x8f\xbf\xbf"), std::string("a\0b", 3)}) {
    EXPECT_TRUE(IsValidUtf8(text)) << text;
    EXPECT_EQ(SanitizeUtf8(text), text);
  }
}

TEST(Utf8Test, ReplacesEachMaximalSubpart) {
  const std::string r = kReplacement;
  struct Case {
    std::string in;
    std::string want;
  };
  const Case cases[] = {
      {"a\xff"
       "b",
       "a" + r + "b"},
      // A comm cut by the kernel in the middle of a character: one U+FFFD.
      {"prog-\xe6\x97\xa5\xe6\x9c", "prog-\xe6\x97\xa5" + r},
      {"\xe6\x97x", r + "x"},
      {"\xf0\x9f\x90", r},
      // Bytes that cannot start a character are replaced one by one.
      {"\xc0\x80", r + r},
      {"\xed\xa0\x80", r + r + r},
      {"\xf4\x90\x80\x80", r + r + r + r},
      {"\x80\x80", r + r},
  };
  for (const auto& c : cases) {
    std::string out = SanitizeUtf8(c.in);
    EXPECT_EQ(out, c.want) << c.in;
    EXPECT_TRUE(IsValidUtf8(out)) << c.in;
  }
}

TEST(Utf8Test, SanitizedTextIsAlwaysValid) {
  // Every one- and two-byte string, and each after a valid prefix: all lead,
  // continuation and stray byte combinations.
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      std::string text = {static_cast<char>(a), static_cast<char>(b)};
      ASSERT_TRUE(IsValidUtf8(SanitizeUtf8(text))) << a << " " << b;
      ASSERT_TRUE(IsValidUtf8(SanitizeUtf8("\xe6" + text))) << a << " " << b;
      ASSERT_TRUE(IsValidUtf8(SanitizeUtf8("\xf0\x9f" + text)))
          << a << " " << b;
    }
  }
}

}  // namespace
}  // namespace wmeta

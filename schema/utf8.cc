#include "wmeta/schema/utf8.h"

namespace wmeta {
namespace {

struct Sequence {
  // Bytes the sequence takes; when ill-formed, its maximal subpart (at least
  // one byte), which one U+FFFD replaces.
  size_t length;
  bool valid;
};

// The sequence at the start of non-empty `text`. The ranges of the second
// byte after E0, ED, F0 and F4 are what exclude overlong encodings,
// surrogates and code points above U+10FFFF.
Sequence NextSequence(std::string_view text) {
  auto byte = [&text](size_t i) { return static_cast<unsigned char>(text[i]); };
  unsigned char lead = byte(0);
  if (lead < 0x80) return {1, true};
  size_t length = 0;
  unsigned char low = 0x80, high = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead == 0xe0) low = 0xa0;
    if (lead == 0xed) high = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    if (lead == 0xf0) low = 0x90;
    if (lead == 0xf4) high = 0x8f;
  } else {
    return {1, false};
  }
  for (size_t i = 1; i < length; ++i) {
    if (i == text.size() || byte(i) < low || byte(i) > high) return {i, false};
    low = 0x80;
    high = 0xbf;
  }
  return {length, true};
}

}  // namespace

bool IsValidUtf8(std::string_view text) {
  while (!text.empty()) {
    Sequence sequence = NextSequence(text);
    if (!sequence.valid) return false;
    text.remove_prefix(sequence.length);
  }
  return true;
}

std::string SanitizeUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    Sequence sequence = NextSequence(text);
    if (sequence.valid) {
      out.append(text.substr(0, sequence.length));
    } else {
      out.append("\xef\xbf\xbd");
    }
    text.remove_prefix(sequence.length);
  }
  return out;
}

}  // namespace wmeta

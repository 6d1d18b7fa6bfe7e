// UTF-8 checks and repair for text wmeta does not control: what collectors
// read from the system (process names, command lines, paths) may hold any
// bytes, and records must hold valid UTF-8 to be shown as JSON.
//
// Valid means well-formed as Unicode defines it (Table 3-7): no overlong
// encodings, no surrogates (U+D800 to U+DFFF), nothing above U+10FFFF.
//
// Thread-safety: pure functions.

#pragma once

#include <string>
#include <string_view>

namespace wmeta {

bool IsValidUtf8(std::string_view text);

// `text` with each ill-formed sequence replaced by U+FFFD, one per maximal
// subpart (the W3C/WHATWG decoders' choice: a character truncated at the end,
// as the kernel cuts a 15-byte comm, becomes a single U+FFFD). Valid text is
// returned unchanged.
std::string SanitizeUtf8(std::string_view text);

}  // namespace wmeta

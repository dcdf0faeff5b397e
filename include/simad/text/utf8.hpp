// simad/text/utf8.hpp: UTF-8 decoding, validation, repair and normalisation.
//
// Text from users (ad copy, JSONL rows, stdin) may hold invalid bytes. Nothing here crashes on them
// and nothing is dropped silently: decode() turns each maximal ill-formed subsequence into one
// U+FFFD (the Unicode Standard's "substitution of maximal subparts", ch. 3.9, which is also what
// Python's bytes.decode(errors="replace") does) and counts the replacements.
//
// normalize() is a separate step from segmentation: NFKC (full-width letters, digits and
// punctuation become their ASCII forms, compatibility ligatures are expanded) plus Unicode case
// folding (on by default; it lowercases Latin, Greek and Cyrillic and leaves Han untouched),
// through utf8proc. Segmentation compatible with jieba runs on the RAW text (jieba does not
// normalise); the model tokens path (text/tokenizer.hpp) normalises first.
#pragma once

#include <utf8proc.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "simad/core/error.hpp"

namespace simad::text {

inline constexpr char32_t kReplacementChar = 0xFFFD;

// Appends the UTF-8 encoding of cp (a scalar value: <= 0x10FFFF, not a surrogate) to out.
inline void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(char(cp));
  } else if (cp < 0x800) {
    out.push_back(char(0xC0 | (cp >> 6)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(char(0xE0 | (cp >> 12)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(char(0xF0 | (cp >> 18)));
    out.push_back(char(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  }
}

// Decodes one code point starting at s[i]. Returns the number of bytes consumed (>= 1) and sets cp;
// on an ill-formed sequence sets cp = U+FFFD and consumes its maximal subpart (the longest prefix
// that could still begin a well-formed sequence, at least one byte): Unicode Table 3-7.
inline size_t decode_one(std::string_view s, size_t i, char32_t& cp) {
  const auto b0 = uint8_t(s[i]);
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  int need;
  char32_t value;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte (Table 3-7)
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1, value = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2, value = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;  // no overlong 3-byte forms
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3, value = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;  // no overlong 4-byte forms
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    cp = kReplacementChar;  // a continuation byte or C0, C1, F5..FF: never valid as a lead
    return 1;
  }
  size_t n = 1;
  for (int k = 0; k < need; ++k, ++n) {
    if (i + n >= s.size()) {
      cp = kReplacementChar;
      return n;
    }
    const auto b = uint8_t(s[i + n]);
    const uint8_t min = k == 0 ? lo : 0x80, max = k == 0 ? hi : 0xBF;
    if (b < min || b > max) {
      cp = kReplacementChar;
      return n;
    }
    value = (value << 6) | (b & 0x3F);
  }
  cp = value;
  return n;
}

// Position of the first ill-formed byte sequence in s, or s.size() when s is valid UTF-8.
inline size_t find_invalid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (uint8_t(s[i]) < 0x80) {
      ++i;
      continue;
    }
    char32_t cp;
    const size_t n = decode_one(s, i, cp);
    // A genuine U+FFFD in the input is encoded EF BF BD (3 bytes); a replacement is 1-3 bytes of
    // something else.
    if (cp == kReplacementChar && !(n == 3 && uint8_t(s[i]) == 0xEF && uint8_t(s[i + 1]) == 0xBF &&
                                    uint8_t(s[i + 2]) == 0xBD))
      return i;
    i += n;
  }
  return s.size();
}

inline bool is_valid_utf8(std::string_view s) { return find_invalid_utf8(s) == s.size(); }

// Decoded text: the code points, and the number of ill-formed sequences replaced by U+FFFD.
struct Decoded {
  std::u32string chars;
  size_t replaced = 0;
};

inline Decoded decode(std::string_view s) {
  Decoded d;
  d.chars.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    char32_t cp;
    const size_t n = decode_one(s, i, cp);
    if (cp == kReplacementChar &&
        !(n == 3 && uint8_t(s[i]) == 0xEF && uint8_t(s[i + 1]) == 0xBF && uint8_t(s[i + 2]) == 0xBD))
      ++d.replaced;
    d.chars.push_back(cp);
    i += n;
  }
  return d;
}

inline std::string encode(std::u32string_view chars) {
  std::string out;
  out.reserve(chars.size());
  for (char32_t c : chars) append_utf8(out, c);
  return out;
}

// s with every ill-formed sequence replaced by U+FFFD; *replaced (if given) receives their count.
// Valid input is returned unchanged (one copy, no re-encoding).
inline std::string repair_utf8(std::string_view s, size_t* replaced = nullptr) {
  const size_t bad = find_invalid_utf8(s);
  if (bad == s.size()) {
    if (replaced) *replaced = 0;
    return std::string(s);
  }
  std::string out(s.substr(0, bad));
  size_t count = 0, i = bad;
  while (i < s.size()) {
    char32_t cp;
    const size_t n = decode_one(s, i, cp);
    if (cp == kReplacementChar &&
        !(n == 3 && uint8_t(s[i]) == 0xEF && uint8_t(s[i + 1]) == 0xBF && uint8_t(s[i + 2]) == 0xBD))
      ++count;
    append_utf8(out, cp);
    i += n;
  }
  if (replaced) *replaced = count;
  return out;
}

struct NormalizeOptions {
  bool nfkc = true;       // compatibility decomposition + canonical composition
  bool casefold = true;   // Unicode case folding (Latin "Nike" -> "nike"; Han unchanged)
};

// NFKC (+ case folding) of s through utf8proc. Invalid UTF-8 is repaired first (U+FFFD, counted in
// *replaced), so this never fails on user text.
inline std::string normalize(std::string_view s, const NormalizeOptions& options = {},
                             size_t* replaced = nullptr) {
  const std::string valid = repair_utf8(s, replaced);
  if (!options.nfkc && !options.casefold) return valid;
  int flags = UTF8PROC_STABLE;
  if (options.nfkc) flags |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
  if (options.casefold) flags |= UTF8PROC_CASEFOLD;
  if (!options.nfkc) flags |= UTF8PROC_COMPOSE;  // case folding alone still returns composed text
  utf8proc_uint8_t* mapped = nullptr;
  const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(valid.data()),
                                          utf8proc_ssize_t(valid.size()), &mapped,
                                          utf8proc_option_t(flags));
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owner(mapped, &std::free);
  if (n < 0) fail("text::normalize: utf8proc failed: ", utf8proc_errmsg(n));
  return std::string(reinterpret_cast<const char*>(mapped), size_t(n));
}

// Python's str.isspace() (what jieba's regex \s matches): Unicode White_Space minus U+180E, plus the
// information separators U+001C..U+001F.
inline bool is_python_space(char32_t c) {
  if (c <= 0x20) return c == 0x20 || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
  if (c < 0x85) return false;
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

}  // namespace simad::text

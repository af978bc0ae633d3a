// unescape_for_testing: the inverse of to_ascii(), for tests and the fuzzer
// only (testonly target). It proves the mapping unambiguous: for every input
// whose output was not truncated, unescape(to_ascii(x)) == x.

#ifndef COORDKIT_LOG_INTERNAL_UNESCAPE_FOR_TESTING_H_
#define COORDKIT_LOG_INTERNAL_UNESCAPE_FOR_TESTING_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace coordkit::log::internal {

inline std::optional<int> hex_digit(char c, bool upper) {
  if (c >= '0' && c <= '9') return c - '0';
  if (upper && c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (!upper && c >= 'a' && c <= 'f') return c - 'a' + 10;
  return std::nullopt;
}

inline void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// unescape_for_testing: decodes to_ascii() output strictly. Returns nullopt
// for anything to_ascii() never produces: a byte outside 0x20..0x7E, an
// unknown escape, `\xNN` for a byte that has a form of its own (printable
// ASCII, LF, CR, TAB), or a `\u{...}` that is not the shortest uppercase
// form of a Unicode scalar value above 0x7F. Whether a run of `\xNN` could
// have been well-formed UTF-8 is left to the round trip the caller checks:
// to_ascii(unescape_for_testing(s)) == s.
inline std::optional<std::string> unescape_for_testing(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    const char c = s[i];
    if (c < 0x20 || c > 0x7E) return std::nullopt;
    if (c != '\\') {
      out.push_back(c);
      ++i;
      continue;
    }
    if (i + 1 >= s.size()) return std::nullopt;
    const char e = s[i + 1];
    if (e == '\\' || e == 'n' || e == 'r' || e == 't') {
      out.push_back(e == '\\' ? '\\' : e == 'n' ? '\n' : e == 'r' ? '\r' : '\t');
      i += 2;
    } else if (e == 'x') {
      if (i + 3 >= s.size()) return std::nullopt;
      const auto hi = hex_digit(s[i + 2], false);
      const auto lo = hex_digit(s[i + 3], false);
      if (!hi || !lo) return std::nullopt;
      const int byte = *hi * 16 + *lo;
      if (byte >= 0x20 && byte <= 0x7E) return std::nullopt;  // would be itself
      if (byte == '\n' || byte == '\r' || byte == '\t') return std::nullopt;
      out.push_back(static_cast<char>(byte));
      i += 4;
    } else if (e == 'u') {
      if (i + 2 >= s.size() || s[i + 2] != '{') return std::nullopt;
      std::size_t j = i + 3;
      std::uint32_t cp = 0;
      int digits = 0;
      for (; j < s.size() && s[j] != '}'; ++j) {
        const auto d = hex_digit(s[j], true);
        if (!d || digits == 6 || (digits == 0 && *d == 0)) return std::nullopt;
        cp = cp * 16 + static_cast<std::uint32_t>(*d);
        ++digits;
      }
      if (j >= s.size() || digits == 0) return std::nullopt;
      if (cp < 0x80 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
      append_utf8(out, cp);
      i = j + 1;
    } else {
      return std::nullopt;
    }
  }
  return out;
}

}  // namespace coordkit::log::internal

#endif  // COORDKIT_LOG_INTERNAL_UNESCAPE_FOR_TESTING_H_

#include "coordkit/log/to_ascii.h"

#include <algorithm>
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/generators/catch_generators_range.hpp>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "coordkit/log/internal/ascii_encoder.h"
#include "coordkit/log/internal/unescape_for_testing.h"

namespace {

using coordkit::log::kToAsciiDefaultMaxBytes;
using coordkit::log::kToAsciiMinBytes;
using coordkit::log::to_ascii;
using coordkit::log::to_ascii_into;
using coordkit::log::internal::unescape_for_testing;

// Concatenation keeps hex escapes from swallowing the letters after them.
std::string bytes(std::initializer_list<std::string_view> parts) {
  std::string s;
  for (std::string_view p : parts) s += p;
  return s;
}

bool printable_ascii_only(std::string_view s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7E) return false;
  }
  return true;
}

struct Case {
  const char* what;
  std::string input;
  std::string expected;
};

// Mixed bytes with a fixed seed: ASCII, controls, UTF-8 and garbage.
std::string random_bytes(std::mt19937_64& rng, std::size_t n) {
  static constexpr std::string_view kPieces[] = {"log line ",
                                                 "\n",
                                                 "\r\n",
                                                 "\t",
                                                 "\\",
                                                 std::string_view("\0", 1),
                                                 "\x1b[0m",
                                                 "\x7f",
                                                 "\xC3\xA9",
                                                 "\xE4\xB8\xAD",
                                                 "\xF0\x9F\x9A\x80",
                                                 "\xC2\x85",
                                                 "\xED\xA0\x80",
                                                 "\xC0\xAF",
                                                 "\xF4\x90\x80\x80",
                                                 "\xFE",
                                                 "\xFF",
                                                 "\x80",
                                                 "\xF0\x9F\x9A",
                                                 "\xE4\xB8"};
  std::string s;
  while (s.size() < n) {
    const std::uint64_t r = rng();
    if (r % 3 == 0) {
      s.push_back(static_cast<char>(r >> 8));  // any byte
    } else {
      s += kPieces[(r >> 8) % std::size(kPieces)];
    }
  }
  s.resize(n);
  return s;
}

}  // namespace

TEST_CASE("to_ascii maps each kind of input to its documented form", "[log]") {
  const Case c = GENERATE(values<Case>({
      {"empty", "", ""},
      {"plain text", "hello, world 42 ~!@#$%^&*()_+{}|:\"<>?",
       "hello, world 42 ~!@#$%^&*()_+{}|:\"<>?"},
      {"backslash", "a\\b", "a\\\\b"},
      {"escape-looking text", "\\u{41}\\x41", "\\\\u{41}\\\\x41"},
      {"LF", "a\nb", "a\\nb"},
      {"CR", "a\rb", "a\\rb"},
      {"CRLF", "line\r\n", "line\\r\\n"},
      {"TAB", "\t", "\\t"},
      {"NUL", std::string("a\0b", 3), "a\\x00b"},
      {"ESC sequence", "\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"},
      {"DEL", "\x7f", "\\x7f"},
      {"emoji",
       "launch "
       "\xF0\x9F\x9A\x80",
       "launch \\u{1F680}"},
      {"CJK", "\xE4\xB8\xAD\xE6\x96\x87", "\\u{4E2D}\\u{6587}"},
      {"Latin-1 letter", "caf\xC3\xA9", "caf\\u{E9}"},
      {"combining mark", "e\xCC\x81", "e\\u{301}"},
      {"C1 control NEL", "\xC2\x85", "\\u{85}"},
      {"C1 control CSI",
       "\xC2\x9B"
       "2J",
       "\\u{9B}2J"},
      {"line separator", "\xE2\x80\xA8", "\\u{2028}"},
      {"BOM", "\xEF\xBB\xBF", "\\u{FEFF}"},
      {"largest code point", "\xF4\x8F\xBF\xBF", "\\u{10FFFF}"},
      {"overlong slash", "\xC0\xAF", "\\xc0\\xaf"},
      {"overlong NUL", "\xC0\x80", "\\xc0\\x80"},
      {"overlong 3-byte", "\xE0\x80\xAF", "\\xe0\\x80\\xaf"},
      {"overlong 4-byte", "\xF0\x80\x80\xAF", "\\xf0\\x80\\x80\\xaf"},
      {"high surrogate", "\xED\xA0\x80", "\\xed\\xa0\\x80"},
      {"low surrogate", "\xED\xBF\xBF", "\\xed\\xbf\\xbf"},
      {"above U+10FFFF", "\xF4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"},
      {"F5 lead", "\xF5\x80\x80\x80", "\\xf5\\x80\\x80\\x80"},
      {"truncated 4-byte", bytes({"\xF0\x9F\x9A", "x"}), "\\xf0\\x9f\\x9ax"},
      {"truncated 3-byte at end", "\xE4\xB8", "\\xe4\\xb8"},
      {"lone lead byte", "\xC3", "\\xc3"},
      {"stray continuation", bytes({"a\x80", "b"}), "a\\x80b"},
      {"stray continuation run", "\xBF\xBF", "\\xbf\\xbf"},
      {"0xFE and 0xFF", "\xFE\xFF", "\\xfe\\xff"},
      {"valid after invalid", bytes({"\xFF", "\xC3\xA9"}), "\\xff\\u{E9}"},
  }));
  INFO(c.what);
  const std::string out = to_ascii(c.input);
  CHECK(out == c.expected);
  CHECK(printable_ascii_only(out));
  const auto back = unescape_for_testing(out);
  REQUIRE(back.has_value());
  CHECK(*back == c.input);
}

TEST_CASE("to_ascii escapes every C0 control and DEL as one short token", "[log]") {
  const int byte = GENERATE(range(0, 0x20), 0x7F);
  const std::string out = to_ascii(std::string(1, static_cast<char>(byte)));
  INFO("byte " << byte << " -> " << out);
  CHECK(printable_ascii_only(out));
  if (byte == '\n' || byte == '\r' || byte == '\t') {
    CHECK(out.size() == 2);
  } else {
    constexpr char kHex[] = "0123456789abcdef";
    CHECK(out == std::string{'\\', 'x', kHex[byte >> 4], kHex[byte & 15]});
  }
}

TEST_CASE("to_ascii turns every single byte into printable ASCII", "[log]") {
  for (int byte = 0; byte < 256; ++byte) {
    const std::string in(1, static_cast<char>(byte));
    const std::string out = to_ascii(in);
    INFO("byte " << byte);
    CHECK(printable_ascii_only(out));
    CHECK(out.size() <= 4);
    CHECK(unescape_for_testing(out) == in);
  }
}

TEST_CASE("to_ascii keeps one input line on one output line", "[log]") {
  std::mt19937_64 rng(20240501);
  for (int i = 0; i < 200; ++i) {
    const std::string in = random_bytes(rng, 1 + rng() % 300);
    const std::string out = to_ascii(in);
    CHECK(out.find('\n') == std::string::npos);
    CHECK(out.find('\r') == std::string::npos);
    CHECK(printable_ascii_only(out));
  }
}

TEST_CASE("to_ascii is deterministic and its output decodes back to the input", "[log]") {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 500; ++i) {
    const std::string in = random_bytes(rng, rng() % 200);
    const std::string out = to_ascii(in, 1 << 20);
    CHECK(out == to_ascii(in, 1 << 20));
    CHECK(out.size() <= 4 * in.size());
    const auto back = unescape_for_testing(out);
    REQUIRE(back.has_value());
    CHECK(*back == in);
  }
}

TEST_CASE("to_ascii bounds a 1 MiB input and marks the cut", "[log]") {
  std::mt19937_64 rng(1);
  const std::string in = random_bytes(rng, 1 << 20);
  const std::string out = to_ascii(in);
  CHECK(out.size() <= kToAsciiDefaultMaxBytes);
  CHECK(out.size() > kToAsciiDefaultMaxBytes - 64);
  CHECK(printable_ascii_only(out));
  CHECK(out == to_ascii(in));

  // The output is a whole-token prefix of the full escaping, then the marker
  // with the number of input bytes it stands for.
  const std::size_t marker = out.rfind("...[truncated ");
  REQUIRE(marker != std::string::npos);
  REQUIRE(out.ends_with(" bytes]"));
  const std::string dropped_text = out.substr(marker + 14, out.size() - 7 - (marker + 14));
  const std::size_t dropped = std::stoull(dropped_text);
  const auto kept = unescape_for_testing(std::string_view(out).substr(0, marker));
  REQUIRE(kept.has_value());
  CHECK(kept->size() + dropped == in.size());
  CHECK(in.starts_with(*kept));
}

TEST_CASE("to_ascii cuts only between tokens", "[log]") {
  std::string emojis;
  for (int i = 0; i < 100; ++i) emojis += "\xF0\x9F\x9A\x80";  // \u{1F680}: 9 bytes each
  const std::size_t max = GENERATE(64, 65, 70, 100, 128, 500);
  const std::string out = to_ascii(emojis, max);
  INFO("max " << max << ": " << out);
  CHECK(out.size() <= max);
  const std::size_t marker = out.find("...[truncated ");
  REQUIRE(marker != std::string::npos);
  CHECK(marker % 9 == 0);
  const auto kept = unescape_for_testing(std::string_view(out).substr(0, marker));
  REQUIRE(kept.has_value());
  CHECK(out.substr(marker) ==
        "...[truncated " + std::to_string(emojis.size() - kept->size()) + " bytes]");
}

TEST_CASE("to_ascii leaves an input that fits exactly uncut", "[log]") {
  const std::string in(100, 'a');
  CHECK(to_ascii(in, 100) == in);
  const std::string cut = to_ascii(in, 99);
  CHECK(cut.size() <= 99);
  CHECK(cut.ends_with("...[truncated " + std::to_string(100 - cut.find('.')) + " bytes]"));
}

TEST_CASE("to_ascii raises a tiny limit to the marker's size", "[log]") {
  const std::string in(1000, 'x');
  const std::string out = to_ascii(in, 1);
  CHECK(out.size() <= kToAsciiMinBytes);
  CHECK(out.find("...[truncated ") != std::string::npos);
  CHECK(to_ascii("ok", 0) == "ok");
}

TEST_CASE("to_ascii_into writes within capacity and never allocates", "[log]") {
  static_assert(noexcept(to_ascii("x")));
  static_assert(noexcept(to_ascii_into("x", nullptr, 0)));

  char buf[256];
  std::fill(std::begin(buf), std::end(buf), '#');
  const std::size_t n = to_ascii_into("caf\xC3\xA9\n", buf, 100);
  CHECK(std::string_view(buf, n) == "caf\\u{E9}\\n");
  CHECK(buf[100] == '#');

  SECTION("a capacity below kToAsciiMinBytes takes only inputs that fit") {
    CHECK(to_ascii_into("abc", buf, 3) == 3);
    CHECK(to_ascii_into(std::string(50, 'a'), buf, 10) == 0);
    CHECK(to_ascii_into("", nullptr, 0) == 0);
    CHECK(to_ascii_into("a", nullptr, 0) == 0);
  }
  SECTION("the cut output fills at most the capacity") {
    const std::string in(1000, '\x01');
    for (std::size_t cap = kToAsciiMinBytes; cap < 200; ++cap) {
      std::fill(std::begin(buf), std::end(buf), '#');
      const std::size_t m = to_ascii_into(in, buf, cap);
      CHECK(m <= cap);
      CHECK(buf[cap] == '#');
      CHECK(std::string_view(buf, m).ends_with(" bytes]"));
    }
  }
}

TEST_CASE("to_ascii's fast paths agree with the byte-by-byte scan", "[log]") {
  namespace in = coordkit::log::internal;
  std::mt19937_64 rng(99);
  std::vector<unsigned char> data(64);
  char out_a[64];
  char out_b[64];
  char out_c[64];
  for (int round = 0; round < 2000; ++round) {
    // Mostly plain bytes with one or two specials at random places.
    for (auto& b : data) b = static_cast<unsigned char>('a' + rng() % 26);
    const int specials = static_cast<int>(rng() % 3);
    for (int k = 0; k < specials; ++k)
      data[rng() % data.size()] = static_cast<unsigned char>(rng());
    const std::size_t n = rng() % data.size();
    const std::size_t room = rng() % 70;
    const std::size_t a = in::copy_plain_scalar(data.data(), n, out_a, room);
    const std::size_t b = in::copy_plain_swar(data.data(), n, out_b, room);
    const std::size_t c = in::copy_plain(data.data(), n, out_c, room);
    REQUIRE(a == b);
    REQUIRE(a == c);
    CHECK(std::string_view(out_a, a) == std::string_view(out_b, b));
    CHECK(std::string_view(out_a, a) == std::string_view(out_c, c));
  }
}

TEST_CASE("the SWAR test flags exactly the special bytes", "[log]") {
  namespace in = coordkit::log::internal;
  for (int byte = 0; byte < 256; ++byte) {
    for (int pos = 0; pos < 8; ++pos) {
      unsigned char word[8];
      std::fill(std::begin(word), std::end(word), 'q');
      word[pos] = static_cast<unsigned char>(byte);
      std::uint64_t w;
      std::memcpy(&w, word, 8);
      const std::uint64_t mask = in::special_bytes_swar(w);
      unsigned char flags[8];
      std::memcpy(flags, &mask, 8);
      for (int k = 0; k < 8; ++k) {
        const bool special = k == pos && !in::is_plain(static_cast<unsigned char>(byte));
        CHECK(flags[k] == (special ? 0x80 : 0));
      }
    }
  }
}

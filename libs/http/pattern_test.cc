#include "coordkit/http/internal/pattern.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <cstddef>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "coordkit/http/error.h"
#include "coordkit/http/route.h"
#include "coordkit/testing/error_matchers.h"

namespace {

using coordkit::http::internal::CompiledPattern;

// strings_for: strings of every length up to past the counts, from the
// bytes the pattern names (and their neighbours) and from any byte at all,
// and edits of `seed` (a string the pattern matches: a byte changed,
// added, removed or repeated), so that both answers come up often.
std::vector<std::string> strings_for(const std::string& re, const std::string& seed,
                                     std::mt19937& rng) {
  std::string near = "aAzZ09_-.~+ []\\\n";
  for (char c : re) {
    near += c;
    near += static_cast<char>(c + 1);
    near += static_cast<char>(c - 1);
  }
  std::vector<std::string> out = {"",    "a",   "0",         "-", "\n", std::string(1, '\0'),
                                  "a\n", "\na", seed + "\n", seed};
  std::uniform_int_distribution<std::size_t> length(0, 70);
  auto byte = [&](int i) {
    if (i % 5 == 4 && rng() % 8 == 0)
      return static_cast<char>(rng() % 256);  // controls, UTF-8, 0xFF
    return near[rng() % near.size()];
  };
  for (int i = 0; i < 4000; ++i) {
    std::string s;
    if (i % 2 == 0 && !seed.empty()) {
      s = seed;
      for (std::size_t edits = rng() % 3; edits > 0; --edits) {
        const std::size_t at = rng() % (s.size() + 1);
        switch (rng() % 4) {
          case 0:
            if (at < s.size()) s[at] = byte(i);
            break;
          case 1:
            s.insert(at, 1, byte(i));
            break;
          case 2:
            if (at < s.size()) s.erase(at, 1);
            break;
          default:
            if (at < s.size()) s.insert(at, rng() % 70, s[at]);
            break;
        }
      }
    } else {
      const std::size_t n = i % 10 == 1 ? length(rng) * 2 : length(rng) % (i % 3 == 0 ? 70 : 12);
      for (std::size_t k = 0; k < n; ++k) s += byte(i);
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

TEST_CASE("the compiled pattern answers as std::regex_search for every shape it accepts",
          "[http]") {
  const auto [re, seed] = GENERATE(table<std::string, std::string>({
      // the gateway's and the example API's
      {"^[a-z0-9_-]+$", "my_coll-1"},
      {"^[A-Za-z0-9._~-]+$", "Rec.1~x-y_z"},
      {"^[a-z][a-z0-9_-]*$", "name_2-x"},
      {"^[A-Za-z0-9._-]{1,64}$", "req-0123.abc_DEF"},
      // counts
      {"^[0-9]{4}$", "2026"},
      {"^[a-c]{2,}$", "abcabc"},
      {"^[ab]?$", "a"},
      {"^[a-z]{0,3}$", "ab"},
      {"^a{0}$", ""},
      {"^$", ""},
      {"^ab?$", "ab"},
      {"^[A-Z]{3}[0-9]{0,3}$", "ABC12"},
      {"^[a-f0-9]{8}-[a-f0-9]{4}$", "0badf00d-cafe"},
      // classes and escapes
      {"^\\d{2,5}$", "1234"},
      {"^\\w+$", "word_9"},
      {"^[\\w.-]{0,8}$", "a.b-c_"},
      {"^[\\d]*$", "007"},
      {"^v[0-9]+$", "v12"},
      {"^[-a]{2,}$", "a-a"},
      {"^[a-]{1,3}$", "a-"},
      {"^\\.\\-[x]*$", ".-xx"},
      {"^[\\]\\[]+$", "[]]["},
      {"^[ -~]{1,10}$", "any text!"},
      {"^[+--]*$", "+,-"},
      {"^[\\\\/]+$", "\\/\\"},
      {"^[a-z\\-]+$", "a-b"},
      {"^key=[0-9]+$", "key=42"},
      {"^[ABC][abc][123]$", "Bc3"},
      {"^x*$", "xxx"},
      {"^[.]+$", ".."},
      {"^[$^]+$", "$^"},
  }));
  INFO("pattern " << re);
  const auto fast = CompiledPattern::compile(re);
  REQUIRE(fast.has_value());
  const std::regex slow(re, std::regex::ECMAScript);
  std::mt19937 rng(20261201);
  std::size_t matched = 0;
  std::size_t refused = 0;
  for (const std::string& s : strings_for(re, seed, rng)) {
    const bool want = std::regex_search(s.begin(), s.end(), slow);
    INFO("string of " << s.size() << " bytes: " << s);
    REQUIRE(fast->matches(s) == want);
    (want ? matched : refused) += 1;
  }
  // Both answers were given, so the comparison could have failed.
  CHECK(refused > 0);
  CHECK(matched > 1);
}

TEST_CASE("other patterns are left to std::regex", "[http]") {
  const std::string re =
      GENERATE(as<std::string>{}, "[a-z]+", "^[a-z]+", "[a-z]+$", "^[^a]+$", "^a.b$", "^(a|b)$",
               "^a|b$", "^[a-z]*[0-9]$", "^[a-z]+?$", "^[[:alpha:]]+$", "^[\\d-z]+$",
               "^caf\xC3\xA9$", "^a\\$", "^[]a]$", "^\\s+$", "^[a-z]{2}{3}$", "^\\bword$");
  INFO("pattern " << re);
  CHECK_FALSE(CompiledPattern::compile(re).has_value());
}

TEST_CASE("a parameter's pattern refuses and admits the same values either way", "[http]") {
  using coordkit::http::Param;
  const std::string re = GENERATE(as<std::string>{}, "^[a-z][a-z0-9_-]*$", "^(ab|cd)+$");
  const Param p = Param::path("id").max_length(8).pattern(re);
  CHECK(p.pattern_text() == re);
  CHECK(p.schema_json()["pattern"] == re);
  CHECK(p.parse("abab") == "abab");
  for (const char* bad : {"", "9ab", "ab!", "a b"}) {
    INFO("value '" << bad << "'");
    CHECK_THROWS_MATCHES(p.parse(bad), coordkit::http::Error,
                         coordkit::testing::has_code(coordkit::http::ErrorCode::kInvalidParameter));
  }
}

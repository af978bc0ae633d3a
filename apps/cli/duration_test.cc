#include "coordkit/cli/duration.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <string>

using coordkit::cli::parse_duration;
using std::chrono::seconds;

TEST_CASE("parse_duration reads seconds, minutes, hours, days and their sums", "[cli]") {
  auto [text, expected] = GENERATE(table<std::string, long>({
      {"90", 90},
      {"90s", 90},
      {"15m", 900},
      {"2h", 7200},
      {"1d", 86400},
      {"1h30m", 5400},
      {"1m30s", 90},
  }));
  CAPTURE(text);
  REQUIRE(parse_duration(text).has_value());
  CHECK(parse_duration(text)->count() == expected);
}

TEST_CASE("parse_duration refuses what is not a duration", "[cli]") {
  auto text = GENERATE(as<std::string>{}, "", "0", "0s", "m", "5x", "-5", "1h30", "1.5h",
                       "99999999999", "400d");
  CAPTURE(text);
  CHECK_FALSE(parse_duration(text).has_value());
}

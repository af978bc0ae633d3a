// is_plain_json_object: the gateway's quick check of a stored record body
// before it is spliced into a response. What it accepts, nlohmann accepts
// too, and it accepts the bodies records::Body stores.
#include "coordkit/gateway/internal/json_object.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/generators/catch_generators_range.hpp>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

using coordkit::gateway::internal::is_plain_json_object;

namespace {

bool nlohmann_object(const std::string& text) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  return !j.is_discarded() && j.is_object();
}

const std::vector<std::string> kObjects = {
    "{}",
    R"({"n":1})",
    R"({"n":1,"pad":"0123456789"})",
    R"( {"a" : [1, -2, 0.5, -0.25, true, false, null, "s", {}, []], "b":{"c":{"d":[[]]}}} )",
    "{\"esc\":\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0041 \\u001f \\u0000\"}",
    R"({"":"","k":123456789012345,"d":1234567.89012345})",
    "\t\r\n{\"x\":\"\x7f\"}\n",
};

}  // namespace

TEST_CASE("is_plain_json_object accepts the objects a records body holds", "[gateway]") {
  const std::string& text = GENERATE(from_range(kObjects));
  CAPTURE(text);
  REQUIRE(nlohmann_object(text));
  CHECK(is_plain_json_object(text));
  // And any body as records::Body stores it (nlohmann's compact dump of it).
  CHECK(is_plain_json_object(nlohmann::json::parse(text).dump()));
}

TEST_CASE("is_plain_json_object accepts \\u escapes beyond ASCII but surrogates", "[gateway]") {
  const std::string text = R"({"e":"\u00e9\uFFFF\uD7FF\uE000"})";
  REQUIRE(nlohmann_object(text));
  CHECK(is_plain_json_object(text));
}

TEST_CASE("is_plain_json_object leaves what is not one plain JSON object to nlohmann",
          "[gateway]") {
  const std::string text = GENERATE(
      std::string(""), std::string(" "), std::string("[]"), std::string("1"), std::string("\"s\""),
      std::string("null"), std::string("{"), std::string("}"), std::string("{} {}"),
      std::string("{}}"), std::string("{,}"), std::string(R"({"a"})"), std::string(R"({"a":})"),
      std::string(R"({"a":1,})"), std::string(R"({"a":[1,]})"), std::string(R"({"a":[,1]})"),
      std::string(R"({a:1})"), std::string(R"({"a":01})"), std::string(R"({"a":-})"),
      std::string(R"({"a":1.})"), std::string(R"({"a":.5})"), std::string(R"({"a":+1})"),
      std::string(R"({"a":1e5})"), std::string(R"({"a":1E-5})"),
      std::string(R"({"a":1234567890123456})"), std::string(R"({"a":tru})"),
      std::string(R"({"a":truex})"), std::string(R"({"a":nul})"), std::string("{\"a\":\"\x01\"}"),
      std::string("{\"a\":\"\xc3\xa9\"}"), std::string(R"({"a":"\x"})"),
      std::string(R"({"a":"\u12"})"), std::string(R"({"a":"\ud83d\ude80"})"),
      std::string(R"({"a":"\uDC00"})"), std::string(R"({"a":"unterminated})"),
      std::string(R"({"a":1)"), std::string(R"({"a":[1})"), std::string(R"({"a":{]})"),
      std::string("{\"a\":1}\v"), std::string("\xef\xbb\xbf{}"),
      std::string(65, '[') + std::string(65, ']'));
  CAPTURE(text);
  CHECK_FALSE(is_plain_json_object(text));
}

TEST_CASE("is_plain_json_object nests as deep as 64 levels", "[gateway]") {
  std::string deep = "{\"a\":";
  for (int i = 0; i < 62; ++i) deep += "[";
  deep += "1";
  for (int i = 0; i < 62; ++i) deep += "]";
  deep += "}";
  CHECK(is_plain_json_object(deep));                            // 63 levels
  CHECK_FALSE(is_plain_json_object("{\"b\":[" + deep + "]}"));  // 65
}

TEST_CASE("Whatever is_plain_json_object accepts, nlohmann accepts as an object", "[gateway]") {
  // Each text of kObjects with bytes changed, dropped or inserted: a fixed
  // seed, so a failure is repeated by the next run.
  std::mt19937 rng(12);
  const std::string alphabet = "{}[]:,\"\\ 0123456789-.eEtrufalsn/bu\x7f\x01\xc3";
  int accepted = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string text = kObjects[rng() % kObjects.size()];
    for (int edits = 1 + static_cast<int>(rng() % 3); edits > 0 && !text.empty(); --edits) {
      const std::size_t at = rng() % text.size();
      const char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 3) {
        case 0:
          text[at] = c;
          break;
        case 1:
          text.erase(at, 1);
          break;
        default:
          text.insert(at, 1, c);
      }
    }
    if (!is_plain_json_object(text)) continue;
    ++accepted;
    INFO(text);
    REQUIRE(nlohmann_object(text));
  }
  CHECK(accepted > 100);  // the edits left many texts valid: the check above was exercised
}

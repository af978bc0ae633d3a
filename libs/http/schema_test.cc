#include "coordkit/http/schema.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>

using coordkit::http::Schema;
using Json = nlohmann::json;

namespace {

Schema record_schema() {
  return Schema::object({{"id", Schema::string().min_length(1).max_length(4)},
                         {"n", Schema::integer().minimum(0).maximum(10)},
                         {"ratio", Schema::number().maximum(1.5)},
                         {"kind", Schema::enumeration({"a", "b"})},
                         {"note", Schema::string().nullable()},
                         {"tags", Schema::array(Schema::string().max_length(2)).max_items(2)},
                         {"meta", Schema::object({{"ok", Schema::boolean()}}, {"ok"})}},
                        {"id", "n"})
      .additional_properties(false);
}

}  // namespace

TEST_CASE("Schema accepts a value that conforms", "[http][schema]") {
  const Json ok = {{"id", "ab"},
                   {"n", 3},
                   {"ratio", 1.0},
                   {"kind", "b"},
                   {"note", nullptr},
                   {"tags", {"x", "yz"}},
                   {"meta", {{"ok", true}}}};
  CHECK_FALSE(record_schema().validate(ok).has_value());
  CHECK_FALSE(record_schema().validate(Json{{"id", "a"}, {"n", 2.0}}).has_value());
}

TEST_CASE("Schema names the pointer and the rule of the first violation", "[http][schema]") {
  struct Case {
    Json value;
    const char* pointer;
    const char* rule;
  };
  auto c = GENERATE(values<Case>({
      {Json::array(), "", "type"},
      {{{"n", 1}}, "/id", "required"},
      {{{"id", ""}, {"n", 1}}, "/id", "minLength"},
      {{{"id", "abcde"}, {"n", 1}}, "/id", "maxLength"},
      {{{"id", "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"}, {"n", 1}}, "", ""},  // 4 code points: fine
      {{{"id", "a"}, {"n", 1.5}}, "/n", "type"},
      {{{"id", "a"}, {"n", -1}}, "/n", "minimum"},
      {{{"id", "a"}, {"n", 11}}, "/n", "maximum"},
      {{{"id", "a"}, {"n", 1}, {"ratio", 2}}, "/ratio", "maximum"},
      {{{"id", "a"}, {"n", 1}, {"kind", "c"}}, "/kind", "enum"},
      {{{"id", "a"}, {"n", 1}, {"note", 5}}, "/note", "type"},
      {{{"id", "a"}, {"n", 1}, {"tags", {"a", "b", "c"}}}, "/tags", "maxItems"},
      {{{"id", "a"}, {"n", 1}, {"tags", {"a", "abc"}}}, "/tags/1", "maxLength"},
      {{{"id", "a"}, {"n", 1}, {"meta", Json::object()}}, "/meta/ok", "required"},
      {{{"id", "a"}, {"n", 1}, {"a/b~c", 1}}, "/a~1b~0c", "additionalProperties"},
  }));
  CAPTURE(c.value.dump());
  auto v = record_schema().validate(c.value);
  if (std::string(c.rule).empty()) {
    CHECK_FALSE(v.has_value());
  } else {
    REQUIRE(v.has_value());
    CHECK(v->pointer == c.pointer);
    CHECK(v->rule == c.rule);
  }
}

TEST_CASE("Schema writes JSON Schema 2020-12 keywords", "[http][schema]") {
  const Json j = Schema::string().max_length(3).nullable().json();
  CHECK(j == Json{{"type", {"string", "null"}}, {"maxLength", 3}});
  CHECK(Schema::integer().minimum(1).maximum(100).json() ==
        Json{{"type", "integer"}, {"minimum", 1}, {"maximum", 100}});
  CHECK(Schema::any().json() == Json::object());
  CHECK_FALSE(Schema::any().validate(Json::array({1, "x"})).has_value());
}

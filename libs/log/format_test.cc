#include "coordkit/log/format.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "coordkit/log/record.h"
#include "coordkit/log/to_ascii.h"

namespace {

namespace ck = coordkit::log;
using namespace std::chrono_literals;

// 2025-01-02T03:04:05.123456Z
std::chrono::system_clock::time_point fixed_time() {
  using namespace std::chrono;
  return sys_days{year{2025} / January / 2} + 3h + 4min + 5s + 123456us;
}

std::string format(const ck::Record& r, ck::Format f) {
  std::string out;
  ck::format_line(r, f, out);
  return out;
}

bool printable_ascii_line(std::string_view line) {
  if (line.empty() || line.back() != '\n') return false;
  line.remove_suffix(1);
  for (char c : line) {
    if (c < 0x20 || c > 0x7E) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("a text line has time, level, component, message and fields", "[log]") {
  const ck::Field fields[] = {{"port", 8080},
                              {"addr", "127.0.0.1"},
                              {"ok", true},
                              {"ratio", 0.5},
                              {"big", std::uint64_t{18446744073709551615u}}};
  const ck::Record r{fixed_time(), ck::Level::kInfo, "gateway", "listening", fields};
  CHECK(format(r, ck::Format::kText) ==
        "2025-01-02T03:04:05.123456Z INFO  gateway: listening port=8080 addr=127.0.0.1 "
        "ok=true ratio=0.5 big=18446744073709551615\n");
}

TEST_CASE("text lines pad the level to five columns", "[log]") {
  const auto [level, text] = GENERATE(table<ck::Level, std::string_view>({
      {ck::Level::kTrace, "TRACE"},
      {ck::Level::kDebug, "DEBUG"},
      {ck::Level::kInfo, "INFO "},
      {ck::Level::kWarn, "WARN "},
      {ck::Level::kError, "ERROR"},
  }));
  const ck::Record r{fixed_time(), level, "c", "m", {}};
  CHECK(format(r, ck::Format::kText).substr(28, 6) == std::string(text) + " ");
}

TEST_CASE("text values are escaped and quoted only when needed", "[log]") {
  const auto [value, written] = GENERATE(table<std::string, std::string>({
      {"plain", "plain"},
      {"two words", "\"two words\""},
      {"", "\"\""},
      {"a=b", "\"a=b\""},
      {"say \"hi\"", "\"say \\\"hi\\\"\""},
      {"back\\slash", "back\\\\slash"},
      {"line\nbreak", "line\\nbreak"},
      {"rocket \xF0\x9F\x9A\x80", "\"rocket \\u{1F680}\""},
      {"\xFF", "\\xff"},
  }));
  const ck::Field fields[] = {{"v", value}};
  const ck::Record r{fixed_time(), ck::Level::kInfo, "c", "m", fields};
  const std::string line = format(r, ck::Format::kText);
  INFO(line);
  CHECK(line.ends_with(" m v=" + written + "\n"));
  CHECK(printable_ascii_line(line));
}

TEST_CASE("names keep to one token", "[log]") {
  const ck::Field fields[] = {{"a b=c\"d", 1}, {"", 2}, {"caf\xC3\xA9", 3}};
  const ck::Record r{fixed_time(), ck::Level::kWarn, "my comp\xF0\x9F\x9A\x80", "m", fields};
  const std::string line = format(r, ck::Format::kText);
  CHECK(line.substr(28) == "WARN  my_comp\\u{1F680}: m a_b_c_d=1 _=2 caf\\u{E9}=3\n");
}

TEST_CASE("the message stays on one line whatever it holds", "[log]") {
  const ck::Record r{fixed_time(),
                     ck::Level::kError,
                     "c",
                     "first\nsecond\r\n\x1b[2J\xE2\x80\xA8"
                     "end",
                     {}};
  const std::string line = format(r, ck::Format::kText);
  CHECK(line.substr(28) == "ERROR c: first\\nsecond\\r\\n\\x1b[2J\\u{2028}end\n");
  CHECK(printable_ascii_line(line));
}

TEST_CASE("non-finite doubles and extreme integers are written", "[log]") {
  const ck::Field fields[] = {{"nan", std::nan("")},
                              {"inf", std::numeric_limits<double>::infinity()},
                              {"ninf", -std::numeric_limits<double>::infinity()},
                              {"min", std::numeric_limits<std::int64_t>::min()},
                              {"tiny", 5e-324}};
  const ck::Record r{fixed_time(), ck::Level::kInfo, "c", "m", fields};
  CHECK(format(r, ck::Format::kText)
            .ends_with(" m nan=nan inf=inf ninf=-inf min=-9223372036854775808 tiny=5e-324\n"));
  const auto j = nlohmann::json::parse(format(r, ck::Format::kJson));
  CHECK(j["fields"]["nan"] == "nan");
  CHECK(j["fields"]["inf"] == "inf");
  CHECK(j["fields"]["ninf"] == "-inf");
  CHECK(j["fields"]["min"] == std::numeric_limits<std::int64_t>::min());
  CHECK(j["fields"]["tiny"].get<double>() == 5e-324);
}

TEST_CASE("a JSON line parses and carries exactly the five members", "[log]") {
  const std::string user = "jos\xC3\xA9 \"the\" \\ admin\n";
  const ck::Field fields[] = {{"user", user}, {"n", -3},       {"u", 7u},
                              {"ok", false},  {"ratio", 0.25}, {"key \"q\"", "v"}};
  const ck::Record r{fixed_time(), ck::Level::kWarn, "db", "retry \xF0\x9F\x9A\x80\n", fields};
  const std::string line = format(r, ck::Format::kJson);
  INFO(line);
  REQUIRE(printable_ascii_line(line));
  CHECK(line.find('\n') == line.size() - 1);

  const auto j = nlohmann::json::parse(line);
  REQUIRE(j.is_object());
  CHECK(j.size() == 5);
  CHECK(j["time"] == "2025-01-02T03:04:05.123456Z");
  CHECK(j["level"] == "warn");
  CHECK(j["component"] == "db");
  CHECK(j["message"] == ck::to_ascii("retry \xF0\x9F\x9A\x80\n"));
  CHECK(j["message"] == "retry \\u{1F680}\\n");
  REQUIRE(j["fields"].is_object());
  CHECK(j["fields"]["user"] == ck::to_ascii(user));
  CHECK(j["fields"]["n"] == -3);
  CHECK(j["fields"]["n"].is_number_integer());
  CHECK(j["fields"]["u"] == 7);
  CHECK(j["fields"]["ok"] == false);
  CHECK(j["fields"]["ratio"] == 0.25);
  CHECK(j["fields"]["key__q_"] == "v");
}

TEST_CASE("a JSON line with no fields has an empty fields object", "[log]") {
  const ck::Record r{fixed_time(), ck::Level::kTrace, "", "", {}};
  const auto j = nlohmann::json::parse(format(r, ck::Format::kJson));
  CHECK(j["component"] == "_");
  CHECK(j["message"] == "");
  CHECK(j["level"] == "trace");
  CHECK(j["fields"] == nlohmann::json::object());
}

TEST_CASE("times are UTC with microseconds across the whole range", "[log]") {
  using namespace std::chrono;
  const auto [time, text] = GENERATE(table<system_clock::time_point, std::string>({
      {system_clock::time_point{}, "1970-01-01T00:00:00.000000Z"},
      {system_clock::time_point{} - 1us, "1969-12-31T23:59:59.999999Z"},
      {sys_days{year{2024} / February / 29} + 23h + 59min + 59s + 999999us,
       "2024-02-29T23:59:59.999999Z"},
      {sys_days{year{2000} / March / 1} + 1us, "2000-03-01T00:00:00.000001Z"},
      {sys_days{year{2100} / December / 31}, "2100-12-31T00:00:00.000000Z"},
      {sys_days{year{1900} / January / 1}, "1900-01-01T00:00:00.000000Z"},
  }));
  const ck::Record r{time, ck::Level::kInfo, "c", "m", {}};
  CHECK(format(r, ck::Format::kText).substr(0, 27) == text);
  // The cached seconds part must follow the clock back and forth.
  const ck::Record other{fixed_time(), ck::Level::kInfo, "c", "m", {}};
  CHECK(format(other, ck::Format::kText).substr(0, 27) == "2025-01-02T03:04:05.123456Z");
  CHECK(format(r, ck::Format::kJson).substr(9, 27) == text);
}

TEST_CASE("a huge message or value is cut with a marker and the line stays bounded", "[log]") {
  const std::string huge(1 << 20, '\x01');  // 4 bytes each once escaped
  const ck::Field fields[] = {{"a", huge}, {"b", huge}};
  const ck::Record r{fixed_time(), ck::Level::kInfo, huge, huge, fields};
  const ck::Format format_kind = GENERATE(ck::Format::kText, ck::Format::kJson);
  const std::string line = format(r, format_kind);
  CHECK(printable_ascii_line(line));
  // JSON escaping at most doubles a piece; plus fixed framing.
  CHECK(line.size() <=
        2 * (ck::kMaxNameBytes * 3 + ck::kMaxMessageBytes + 2 * ck::kMaxFieldValueBytes) + 200);
  CHECK(line.find("...[truncated ") != std::string::npos);
  if (format_kind == ck::Format::kJson) {
    const auto j = nlohmann::json::parse(line);
    CHECK(j["message"].get<std::string>().size() <= ck::kMaxMessageBytes);
    CHECK(j["fields"]["a"].get<std::string>().ends_with(" bytes]"));
  }
}

TEST_CASE("level names parse back, in any case, and nothing else does", "[log]") {
  for (ck::Level level : {ck::Level::kTrace, ck::Level::kDebug, ck::Level::kInfo, ck::Level::kWarn,
                          ck::Level::kError}) {
    CHECK(ck::parse_level(ck::level_name(level)) == level);
  }
  CHECK(ck::parse_level("WARNING") == ck::Level::kWarn);
  CHECK(ck::parse_level("Error") == ck::Level::kError);
  CHECK_FALSE(ck::parse_level("").has_value());
  CHECK_FALSE(ck::parse_level("fatal").has_value());
  CHECK_FALSE(ck::parse_level("info ").has_value());
  static_assert(ck::Level::kTrace < ck::Level::kDebug && ck::Level::kWarn < ck::Level::kError);
}

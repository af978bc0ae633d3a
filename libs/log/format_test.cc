#include "coordkit/log/format.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "coordkit/log/internal/line_buffer.h"
#include "coordkit/log/internal/line_format.h"
#include "coordkit/log/internal/line_format_reference.h"
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

namespace {

// tricky_string: a string built from pieces that reach every rule of the
// line formats: plain runs of every length around the 8-byte steps,
// quotes, backslashes, spaces and '=' (names), controls, DEL, valid and
// broken UTF-8; sometimes a run just at, under or over a piece's limit.
std::string tricky_string(std::mt19937& rng) {
  static const std::vector<std::string> kPieces = {"a",
                                                   "GET",
                                                   "/v1/collections/{collection}/records/{id}",
                                                   "0123456",
                                                   "01234567",
                                                   "012345678",
                                                   "\"",
                                                   "\\",
                                                   " ",
                                                   "=",
                                                   "_-.~",
                                                   "\n",
                                                   "\r\t",
                                                   "\x01",
                                                   "\x7f",
                                                   "\x1b[2J",
                                                   "caf\xC3\xA9",
                                                   "\xF0\x9F\x9A\x80",
                                                   "\xE2\x80\xA8",
                                                   "\xC0\xAF",
                                                   "\xED\xA0\x80",
                                                   "\xFF",
                                                   "\xE2\x82",
                                                   "\x80",
                                                   "{}[]:,",
                                                   "\\u{41}",
                                                   std::string(1, '\0')};
  std::uniform_int_distribution<int> shape(0, 19);
  const int kind = shape(rng);
  if (kind == 0) return "";
  if (kind <= 3) {
    // A plain run near a limit: names 128, values 4 KiB, messages 16 KiB.
    static const std::size_t kSizes[] = {ck::kMaxNameBytes, ck::kMaxFieldValueBytes,
                                         ck::kMaxMessageBytes};
    std::uniform_int_distribution<int> delta(-2, 2);
    const std::size_t n = kSizes[kind - 1] + static_cast<std::size_t>(delta(rng));
    std::string s(n, 'x');
    if (rng() % 2 == 0) s[rng() % n] = (rng() % 2 == 0) ? '"' : '\xC3';
    return s;
  }
  std::uniform_int_distribution<std::size_t> count(1, 12);
  std::uniform_int_distribution<std::size_t> pick(0, kPieces.size() - 1);
  std::string s;
  for (std::size_t i = count(rng); i > 0; --i) s += kPieces[pick(rng)];
  return s;
}

ck::Field tricky_field(std::mt19937& rng, const std::string& key, const std::string& text) {
  switch (rng() % 8) {
    case 0:
      return {key, static_cast<std::int64_t>(rng()) - (std::int64_t{1} << 31)};
    case 1:
      return {key, static_cast<std::uint64_t>(rng()) << 20};
    case 2:
      return {key, static_cast<double>(rng()) / 1e3};
    case 3: {
      static const double kOdd[] = {std::nan(""),
                                    std::numeric_limits<double>::infinity(),
                                    -std::numeric_limits<double>::infinity(),
                                    0.0,
                                    -0.0,
                                    5e-324};
      return {key, kOdd[rng() % 6]};
    }
    case 4:
      return {key, rng() % 2 == 0};
    default:
      return {key, text};
  }
}

}  // namespace

TEST_CASE(
    "lines are byte for byte those of the formatter before unchanged strings were copied whole",
    "[log]") {
  namespace in = ck::internal;
  std::mt19937 rng(20261201);
  in::LineBuffer now;
  in::LineBuffer before;
  const ck::Format format_kind = GENERATE(ck::Format::kText, ck::Format::kJson);
  for (int i = 0; i < 4000; ++i) {
    const std::string component = tricky_string(rng);
    const std::string message = tricky_string(rng);
    std::vector<std::string> texts;
    const std::size_t n = rng() % 7;
    for (std::size_t k = 0; k < 2 * n; ++k) texts.push_back(tricky_string(rng));
    std::vector<ck::Field> fields;
    for (std::size_t k = 0; k < n; ++k)
      fields.push_back(tricky_field(rng, texts[2 * k], texts[2 * k + 1]));
    const auto level = static_cast<ck::Level>(rng() % 5);
    const ck::Record r{fixed_time() + std::chrono::microseconds(rng() % 5000000), level, component,
                       message, fields};
    in::format_record(r, format_kind, now);
    before.clear();
    if (format_kind == ck::Format::kJson) {
      in::reference::format_json_before(r, before);
    } else {
      in::reference::format_text_before(r, before);
    }
    INFO("case " << i);
    REQUIRE(now.view() == before.view());
  }
}

TEST_CASE("an access-log line is the same bytes as before", "[log]") {
  namespace in = ck::internal;
  const ck::Field fields[] = {{"method", "GET"},        {"route", "/bench"},
                              {"status", 200u},         {"bytes", std::size_t{16}},
                              {"duration_ms", 0.01736}, {"request_id", "5f1c0a2b3d4e5f60"}};
  const ck::Record r{fixed_time(), ck::Level::kInfo, "access", "request", fields};
  in::LineBuffer now;
  in::LineBuffer before;
  in::format_record(r, ck::Format::kJson, now);
  in::reference::format_json_before(r, before);
  CHECK(now.view() == before.view());
  CHECK(
      now.view() ==
      "{\"time\":\"2025-01-02T03:04:05.123456Z\",\"level\":\"info\",\"component\":\"access\","
      "\"message\":\"request\",\"fields\":{\"method\":\"GET\",\"route\":\"/bench\",\"status\":200,"
      "\"bytes\":16,\"duration_ms\":0.01736,\"request_id\":\"5f1c0a2b3d4e5f60\"}}\n");
}

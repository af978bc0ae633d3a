// coordkit/log/record.h: what one log line is made of.
//
// A Record is a time, a Level, the name of the component that logged it, a
// message and key=value Fields. Records are built by Logger (see log.h) and
// handed to Sinks; they borrow every string they point to, so they are only
// valid during the call that receives them.
//
// Example:
//
//   #include "coordkit/log/record.h"
//
//   using coordkit::log::Field;
//   using coordkit::log::Level;
//
//   std::string path = "/v1/records";
//   Field fields[] = {{"path", path}, {"status", 200}, {"ms", 1.25}, {"cached", false}};
//   coordkit::log::Record record{std::chrono::system_clock::now(), Level::kInfo,
//                                "gateway", "request done", fields};
//   std::optional<Level> level = coordkit::log::parse_level("warn");  // Level::kWarn

#ifndef COORDKIT_LOG_RECORD_H_
#define COORDKIT_LOG_RECORD_H_

#include <chrono>
#include <concepts>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace coordkit::log {

// Level: how important a record is, from least to most. A logger or sink set
// to a level passes records at that level and above.
enum class Level : std::uint8_t { kTrace, kDebug, kInfo, kWarn, kError };

// level_name: "trace", "debug", "info", "warn", "error" (the JSON form).
constexpr std::string_view level_name(Level level) noexcept {
  switch (level) {
    case Level::kTrace:
      return "trace";
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "unknown";
}

// parse_level: the Level named by `text`, for command-line flags and
// environment variables. Accepts the names level_name() returns in any
// letter case, and "warning". Returns nullopt for anything else.
constexpr std::optional<Level> parse_level(std::string_view text) noexcept {
  auto equals = [text](std::string_view name) {
    if (text.size() != name.size()) return false;
    for (std::size_t i = 0; i < text.size(); ++i) {
      char c = text[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != name[i]) return false;
    }
    return true;
  };
  for (Level level : {Level::kTrace, Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    if (equals(level_name(level))) return level;
  }
  if (equals("warning")) return Level::kWarn;
  return std::nullopt;
}

// Field: one key=value pair attached to a record. The value is a string, a
// signed or unsigned integer, a double or a bool; it keeps its type in JSON
// lines.
//
// Ownership: a Field borrows its key and string value (it stores
// string_views). Build fields in the logging call itself, as in
// `log.info("saved", {{"name", name}})`; temporaries then live long enough.
// Never keep a Field that points into a temporary past that statement.
// Keys are meant to be identifiers: when written, a key goes through
// to_ascii() and then ' ', '=' and '"' become '_' (an empty key becomes "_").
class Field {
 public:
  enum class Kind : std::uint8_t { kString, kInt, kUint, kDouble, kBool };

  constexpr Field(std::string_view key, std::string_view value) noexcept
      : key_(key), kind_(Kind::kString), string_(value) {}
  // A null `value` is written as the empty string.
  constexpr Field(std::string_view key, const char* value) noexcept
      : key_(key), kind_(Kind::kString), string_(value != nullptr ? value : "") {}
  Field(std::string_view key, const std::string& value) noexcept
      : key_(key), kind_(Kind::kString), string_(value) {}
  constexpr Field(std::string_view key, bool value) noexcept
      : key_(key), kind_(Kind::kBool), bool_(value) {}
  constexpr Field(std::string_view key, double value) noexcept
      : key_(key), kind_(Kind::kDouble), double_(value) {}
  constexpr Field(std::string_view key, float value) noexcept
      : Field(key, static_cast<double>(value)) {}
  template <std::signed_integral T>
  requires(!std::same_as<T, char>) constexpr Field(std::string_view key, T value) noexcept
      : key_(key), kind_(Kind::kInt), int_(value) {}
  template <std::unsigned_integral T>
  requires(!std::same_as<T, bool> && !std::same_as<T, char>) constexpr Field(std::string_view key,
                                                                             T value) noexcept
      : key_(key), kind_(Kind::kUint), uint_(value) {}
  // A single char would be an integer by accident; write a string instead.
  Field(std::string_view key, char value) = delete;

  constexpr std::string_view key() const noexcept { return key_; }
  constexpr Kind kind() const noexcept { return kind_; }
  // The value accessors need the matching kind().
  constexpr std::string_view string_value() const noexcept { return string_; }
  constexpr std::int64_t int_value() const noexcept { return int_; }
  constexpr std::uint64_t uint_value() const noexcept { return uint_; }
  constexpr double double_value() const noexcept { return double_; }
  constexpr bool bool_value() const noexcept { return bool_; }

 private:
  std::string_view key_;
  Kind kind_;
  union {
    std::string_view string_;
    std::int64_t int_;
    std::uint64_t uint_;
    double double_;
    bool bool_;
  };
};

// Record: one log line before formatting. Borrows component, message and
// fields; valid only during the Sink::write() call that receives it.
struct Record {
  std::chrono::system_clock::time_point time;
  Level level = Level::kInfo;
  std::string_view component;
  std::string_view message;
  std::span<const Field> fields;
};

}  // namespace coordkit::log

#endif  // COORDKIT_LOG_RECORD_H_

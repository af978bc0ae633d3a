// The line formatter as it was before it copied unchanged strings in one
// piece: the reference the formatter's tests compare it with, byte for byte,
// over inputs chosen to reach every escape, quote, name rule and limit. Not
// API, test only; keep it as it is (it is the old behaviour, not a second
// implementation to maintain). The functions that take a LineBuffer end in
// `_before`, since argument-dependent lookup also sees the formatter's own.

#ifndef COORDKIT_LOG_INTERNAL_LINE_FORMAT_REFERENCE_H_
#define COORDKIT_LOG_INTERNAL_LINE_FORMAT_REFERENCE_H_

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "coordkit/log/internal/line_buffer.h"
#include "coordkit/log/record.h"
#include "coordkit/log/to_ascii.h"

namespace coordkit::log::internal::reference {

// Output limits per piece of a line (bytes of to_ascii() output, before JSON
// escaping, which can at most double them). format.h documents them.
inline constexpr std::size_t kMaxMessageBytes = std::size_t{16} << 10;    // 16 KiB
inline constexpr std::size_t kMaxFieldValueBytes = std::size_t{4} << 10;  // 4 KiB
inline constexpr std::size_t kMaxNameBytes = 128;

// "YYYY-MM-DDTHH:MM:SS.uuuuuuZ"
inline constexpr std::size_t kTimeBytes = 27;

// civil_from_days: proleptic Gregorian date of day `z` since 1970-01-01
// (Howard Hinnant's algorithm; exact for every day in the range used here).
constexpr void civil_from_days(std::int64_t z, std::int64_t& year, unsigned& month,
                               unsigned& day) noexcept {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  day = doy - (153 * mp + 2) / 5 + 1;
  month = mp < 10 ? mp + 3 : mp - 9;
  year = static_cast<std::int64_t>(yoe) + era * 400 + (month <= 2 ? 1 : 0);
}

inline void write_digits(char* out, std::uint64_t value, int width) noexcept {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
}

// format_seconds: "YYYY-MM-DDTHH:MM:SS" (19 bytes) for `seconds` since the
// epoch, clamped to years 0000..9999 so the width never changes.
inline void format_seconds(std::int64_t seconds, char* out) noexcept {
  constexpr std::int64_t kMin = -62167219200;  // 0000-01-01T00:00:00Z
  constexpr std::int64_t kMax = 253402300799;  // 9999-12-31T23:59:59Z
  if (seconds < kMin) seconds = kMin;
  if (seconds > kMax) seconds = kMax;
  std::int64_t days = seconds / 86400;
  std::int64_t rem = seconds % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  std::int64_t year = 0;
  unsigned month = 0;
  unsigned day = 0;
  civil_from_days(days, year, month, day);
  write_digits(out, static_cast<std::uint64_t>(year), 4);
  out[4] = '-';
  write_digits(out + 5, month, 2);
  out[7] = '-';
  write_digits(out + 8, day, 2);
  out[10] = 'T';
  write_digits(out + 11, static_cast<std::uint64_t>(rem / 3600), 2);
  out[13] = ':';
  write_digits(out + 14, static_cast<std::uint64_t>(rem / 60 % 60), 2);
  out[16] = ':';
  write_digits(out + 17, static_cast<std::uint64_t>(rem % 60), 2);
}

// format_time: "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" (kTimeBytes) in UTC. The
// seconds part is cached per thread: it changes once a second.
inline void format_time(std::chrono::system_clock::time_point time, char* out) noexcept {
  struct Cache {
    std::int64_t seconds = INT64_MIN;
    char text[19] = {};
  };
  static thread_local Cache cache;
  const auto since_epoch = time.time_since_epoch();
  const auto seconds = std::chrono::floor<std::chrono::seconds>(since_epoch);
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(since_epoch - seconds).count();
  if (seconds.count() != cache.seconds) {
    format_seconds(seconds.count(), cache.text);
    cache.seconds = seconds.count();
  }
  std::memcpy(out, cache.text, 19);
  out[19] = '.';
  write_digits(out + 20, static_cast<std::uint64_t>(micros), 6);
  out[26] = 'Z';
}

// append_ascii: appends to_ascii(s) with an output limit of max_bytes
// (>= kToAsciiMinBytes); returns the bytes appended.
inline std::size_t append_ascii_before(LineBuffer& b, std::string_view s, std::size_t max_bytes) {
  const std::size_t room = to_ascii_max_size(s.size(), max_bytes);
  const std::size_t n = to_ascii_into(s, b.room(room), room);
  b.commit(n);
  return n;
}

// escape_tail: in b[start, size()), puts a backslash before every '"' and,
// if `backslashes`, before every '\\'. Works in place from the back.
inline void escape_tail_before(LineBuffer& b, std::size_t start, bool backslashes) {
  const std::size_t end = b.size();
  std::size_t extra = 0;
  for (std::size_t i = start; i < end; ++i) {
    const char c = b.data()[i];
    extra += (c == '"' || (backslashes && c == '\\')) ? 1 : 0;
  }
  if (extra == 0) return;
  b.room(extra);
  char* d = b.data();
  std::size_t to = end + extra;
  for (std::size_t from = end; from > start;) {
    const char c = d[--from];
    d[--to] = c;
    if (c == '"' || (backslashes && c == '\\')) d[--to] = '\\';
  }
  b.commit(extra);
}

// append_name: a component name or field key: to_ascii() of it, then ' ',
// '=' and '"' replaced by '_' so it stays one token; "_" if empty.
inline void append_name_before(LineBuffer& b, std::string_view name) {
  const std::size_t start = b.size();
  append_ascii_before(b, name, kMaxNameBytes);
  char* d = b.data();
  for (std::size_t i = start; i < b.size(); ++i) {
    if (d[i] == ' ' || d[i] == '=' || d[i] == '"') d[i] = '_';
  }
  if (b.size() == start) b.push_back('_');
}

// append_json_string: a JSON string whose content is to_ascii(s) (so the
// parsed value equals to_ascii(s) and the file stays pure ASCII).
inline void append_json_string_before(LineBuffer& b, std::string_view s, std::size_t max_bytes) {
  b.push_back('"');
  const std::size_t start = b.size();
  append_ascii_before(b, s, max_bytes);
  escape_tail_before(b, start, /*backslashes=*/true);
  b.push_back('"');
}

inline void append_json_name_before(LineBuffer& b, std::string_view name) {
  b.push_back('"');
  const std::size_t start = b.size();
  append_name_before(b, name);
  escape_tail_before(b, start, /*backslashes=*/true);
  b.push_back('"');
}

// append_number: integers and finite doubles in their shortest exact form.
// Returns false (and appends nothing) for a non-finite double.
inline bool append_number_before(LineBuffer& b, const Field& f) {
  char* p = b.room(32);
  std::to_chars_result r{};
  switch (f.kind()) {
    case Field::Kind::kInt:
      r = std::to_chars(p, p + 32, f.int_value());
      break;
    case Field::Kind::kUint:
      r = std::to_chars(p, p + 32, f.uint_value());
      break;
    case Field::Kind::kDouble:
      if (!std::isfinite(f.double_value())) return false;
      r = std::to_chars(p, p + 32, f.double_value());
      break;
    default:
      return false;
  }
  b.commit(static_cast<std::size_t>(r.ptr - p));
  return true;
}

inline std::string_view non_finite_name(double v) noexcept {
  if (std::isnan(v)) return "nan";
  return v < 0 ? "-inf" : "inf";
}

// append_text_value: the value of key=value in a text line. Strings are
// to_ascii(); one that is empty or holds ' ', '"' or '=' is quoted, with '"'
// escaped as \" (to_ascii never emits \" itself, so this stays unambiguous).
inline void append_text_value_before(LineBuffer& b, const Field& f) {
  switch (f.kind()) {
    case Field::Kind::kString: {
      const std::size_t start = b.size();
      append_ascii_before(b, f.string_value(), kMaxFieldValueBytes);
      bool quote = b.size() == start;
      for (std::size_t i = start; i < b.size() && !quote; ++i) {
        const char c = b.data()[i];
        quote = c == ' ' || c == '"' || c == '=';
      }
      if (!quote) return;
      escape_tail_before(b, start, /*backslashes=*/false);
      b.room(1);
      char* d = b.data();
      std::memmove(d + start + 1, d + start, b.size() - start);
      d[start] = '"';
      b.commit(1);
      b.push_back('"');
      return;
    }
    case Field::Kind::kBool:
      b.append(f.bool_value() ? "true" : "false");
      return;
    case Field::Kind::kDouble:
      if (!append_number_before(b, f)) b.append(non_finite_name(f.double_value()));
      return;
    case Field::Kind::kInt:
    case Field::Kind::kUint:
      append_number_before(b, f);
      return;
  }
}

inline void append_json_value_before(LineBuffer& b, const Field& f) {
  switch (f.kind()) {
    case Field::Kind::kString:
      append_json_string_before(b, f.string_value(), kMaxFieldValueBytes);
      return;
    case Field::Kind::kBool:
      b.append(f.bool_value() ? "true" : "false");
      return;
    case Field::Kind::kDouble:
      // JSON has no NaN or infinity: those become strings.
      if (!append_number_before(b, f)) {
        b.push_back('"');
        b.append(non_finite_name(f.double_value()));
        b.push_back('"');
      }
      return;
    case Field::Kind::kInt:
    case Field::Kind::kUint:
      append_number_before(b, f);
      return;
  }
}

// text_level: the level in a text line, padded to 5 columns.
constexpr std::string_view text_level(Level level) noexcept {
  switch (level) {
    case Level::kTrace:
      return "TRACE";
    case Level::kDebug:
      return "DEBUG";
    case Level::kInfo:
      return "INFO ";
    case Level::kWarn:
      return "WARN ";
    case Level::kError:
      return "ERROR";
  }
  return "?????";
}

// format_text: appends
//   2025-01-02T03:04:05.123456Z INFO  component: message key=value key2="a b"\n
inline void format_text_before(const Record& r, LineBuffer& b) {
  char* p = b.room(kTimeBytes + 7);
  format_time(r.time, p);
  p[kTimeBytes] = ' ';
  std::memcpy(p + kTimeBytes + 1, text_level(r.level).data(), 5);
  p[kTimeBytes + 6] = ' ';
  b.commit(kTimeBytes + 7);
  append_name_before(b, r.component);
  b.append(": ");
  append_ascii_before(b, r.message, kMaxMessageBytes);
  for (const Field& f : r.fields) {
    b.push_back(' ');
    append_name_before(b, f.key());
    b.push_back('=');
    append_text_value_before(b, f);
  }
  b.push_back('\n');
}

// format_json: appends
//   {"time":"...Z","level":"info","component":"...","message":"...","fields":{...}}\n
inline void format_json_before(const Record& r, LineBuffer& b) {
  constexpr std::string_view kTimeKey = "{\"time\":\"";
  char* p = b.room(kTimeKey.size() + kTimeBytes);
  std::memcpy(p, kTimeKey.data(), kTimeKey.size());
  format_time(r.time, p + kTimeKey.size());
  b.commit(kTimeKey.size() + kTimeBytes);
  b.append("\",\"level\":\"");
  b.append(level_name(r.level));
  b.append("\",\"component\":");
  append_json_name_before(b, r.component);
  b.append(",\"message\":");
  append_json_string_before(b, r.message, kMaxMessageBytes);
  b.append(",\"fields\":{");
  bool first = true;
  for (const Field& f : r.fields) {
    if (!first) b.push_back(',');
    first = false;
    append_json_name_before(b, f.key());
    b.push_back(':');
    append_json_value_before(b, f);
  }
  b.append("}}\n");
}

}  // namespace coordkit::log::internal::reference

#endif  // COORDKIT_LOG_INTERNAL_LINE_FORMAT_REFERENCE_H_

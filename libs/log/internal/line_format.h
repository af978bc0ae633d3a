// Formatting of one Record as a text line or a JSON line. Not API: the public
// entry point and the line layouts are documented in format.h.
//
// Every string taken from a record goes through to_ascii_into() straight into
// the line buffer; JSON escaping and text quoting are then applied in place
// to that ASCII. A string that to_ascii() and the escaping would leave as it
// is (printable ASCII without '\\' or '"', within its limit: a method, a
// route, a request id) is copied in one piece instead, which writes the same
// bytes. Times are formatted with a per-thread cache of the
// "YYYY-MM-DDTHH:MM:SS" part, so a line costs one clock read and six digits.

#ifndef COORDKIT_LOG_INTERNAL_LINE_FORMAT_H_
#define COORDKIT_LOG_INTERNAL_LINE_FORMAT_H_

#include <array>
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

namespace coordkit::log::internal {

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
inline std::size_t append_ascii(LineBuffer& b, std::string_view s, std::size_t max_bytes) {
  const std::size_t room = to_ascii_max_size(s.size(), max_bytes);
  const std::size_t n = to_ascii_into(s, b.room(room), room);
  b.commit(n);
  return n;
}

// escape_tail: in b[start, size()), puts a backslash before every '"' and,
// if `backslashes`, before every '\\'. Works in place from the back.
inline void escape_tail(LineBuffer& b, std::size_t start, bool backslashes) {
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

// changed_bytes_swar: for the 8 bytes of `w`, sets bit 7 of every byte that
// to_ascii() or JSON escaping would change (not printable ASCII, '\\', '"')
// and, with `names`, of every ' ' and '=' too; clears all other bits. Exact
// per byte, as special_bytes_swar.
constexpr std::uint64_t changed_bytes_swar(std::uint64_t w, bool names) noexcept {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
  constexpr std::uint64_t kLow7 = 0x7F7F7F7F7F7F7F7FULL;
  auto equal = [&](unsigned char c) {
    const std::uint64_t x = w ^ (kOnes * c);      // zero byte iff c
    return ~(((x & kLow7) + kLow7) | x) & kHigh;  // bit 7 iff x == 0
  };
  std::uint64_t changed = special_bytes_swar(w) | equal('"');
  if (names) changed |= equal(' ') | equal('=');
  return changed;
}

// kKept: per byte value, bit 0 set when a JSON string keeps the byte as it
// is (printable ASCII except '\\' and '"'), bit 1 when a name keeps it too
// (not ' ' or '=' either).
inline constexpr auto kKept = [] {
  std::array<unsigned char, 256> t{};
  for (unsigned c = 0; c < 256; ++c) {
    const bool json = is_plain(static_cast<unsigned char>(c)) && c != '"';
    t[c] = static_cast<unsigned char>((json ? 1 : 0) | (json && c != ' ' && c != '=' ? 2 : 0));
  }
  return t;
}();

// unchanged: whether every byte of `s` is one the line keeps as it is:
// printable ASCII except '\\' and '"' (and, for `kNames`, ' ' and '=').
// Short strings byte by byte through kKept, longer ones 8 bytes at a time
// (the last 8 again for the rest).
template <bool kNames>
inline bool unchanged(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  if (n < 8) {
    constexpr unsigned char kBit = kNames ? 2 : 1;
    for (std::size_t i = 0; i < n; ++i) {
      if ((kKept[p[i]] & kBit) == 0) return false;
    }
    return true;
  }
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    if (changed_bytes_swar(w, kNames) != 0) return false;
  }
  if (i < n) {
    std::uint64_t w;
    std::memcpy(&w, p + n - 8, 8);
    if (changed_bytes_swar(w, kNames) != 0) return false;
  }
  return true;
}

// append_unchanged: appends `s` between quotes (`quoted`) or bare, for a
// string unchanged() accepted.
inline void append_unchanged(LineBuffer& b, std::string_view s, bool quoted) {
  char* p = b.room(s.size() + 2);
  const std::size_t q = quoted ? 1 : 0;
  p[0] = '"';
  std::memcpy(p + q, s.data(), s.size());
  p[q + s.size()] = '"';
  b.commit(s.size() + 2 * q);
}

// append_name: a component name or field key: to_ascii() of it, then ' ',
// '=' and '"' replaced by '_' so it stays one token; "_" if empty.
inline void append_name(LineBuffer& b, std::string_view name) {
  if (!name.empty() && name.size() <= kMaxNameBytes && unchanged</*kNames=*/true>(name)) {
    append_unchanged(b, name, /*quoted=*/false);
    return;
  }
  const std::size_t start = b.size();
  append_ascii(b, name, kMaxNameBytes);
  char* d = b.data();
  for (std::size_t i = start; i < b.size(); ++i) {
    if (d[i] == ' ' || d[i] == '=' || d[i] == '"') d[i] = '_';
  }
  if (b.size() == start) b.push_back('_');
}

// append_json_string: a JSON string whose content is to_ascii(s) (so the
// parsed value equals to_ascii(s) and the file stays pure ASCII).
inline void append_json_string(LineBuffer& b, std::string_view s, std::size_t max_bytes) {
  if (s.size() <= max_bytes && unchanged</*kNames=*/false>(s)) {
    append_unchanged(b, s, /*quoted=*/true);
    return;
  }
  b.push_back('"');
  const std::size_t start = b.size();
  append_ascii(b, s, max_bytes);
  escape_tail(b, start, /*backslashes=*/true);
  b.push_back('"');
}

inline void append_json_name(LineBuffer& b, std::string_view name) {
  if (!name.empty() && name.size() <= kMaxNameBytes && unchanged</*kNames=*/true>(name)) {
    append_unchanged(b, name, /*quoted=*/true);
    return;
  }
  b.push_back('"');
  const std::size_t start = b.size();
  append_name(b, name);
  escape_tail(b, start, /*backslashes=*/true);
  b.push_back('"');
}

// append_number: integers and finite doubles in their shortest exact form.
// Returns false (and appends nothing) for a non-finite double.
inline bool append_number(LineBuffer& b, const Field& f) {
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
inline void append_text_value(LineBuffer& b, const Field& f) {
  switch (f.kind()) {
    case Field::Kind::kString: {
      const std::size_t start = b.size();
      append_ascii(b, f.string_value(), kMaxFieldValueBytes);
      bool quote = b.size() == start;
      for (std::size_t i = start; i < b.size() && !quote; ++i) {
        const char c = b.data()[i];
        quote = c == ' ' || c == '"' || c == '=';
      }
      if (!quote) return;
      escape_tail(b, start, /*backslashes=*/false);
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
      if (!append_number(b, f)) b.append(non_finite_name(f.double_value()));
      return;
    case Field::Kind::kInt:
    case Field::Kind::kUint:
      append_number(b, f);
      return;
  }
}

inline void append_json_value(LineBuffer& b, const Field& f) {
  switch (f.kind()) {
    case Field::Kind::kString:
      append_json_string(b, f.string_value(), kMaxFieldValueBytes);
      return;
    case Field::Kind::kBool:
      b.append(f.bool_value() ? "true" : "false");
      return;
    case Field::Kind::kDouble:
      // JSON has no NaN or infinity: those become strings.
      if (!append_number(b, f)) {
        b.push_back('"');
        b.append(non_finite_name(f.double_value()));
        b.push_back('"');
      }
      return;
    case Field::Kind::kInt:
    case Field::Kind::kUint:
      append_number(b, f);
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
inline void format_text(const Record& r, LineBuffer& b) {
  char* p = b.room(kTimeBytes + 7);
  format_time(r.time, p);
  p[kTimeBytes] = ' ';
  std::memcpy(p + kTimeBytes + 1, text_level(r.level).data(), 5);
  p[kTimeBytes + 6] = ' ';
  b.commit(kTimeBytes + 7);
  append_name(b, r.component);
  b.append(": ");
  append_ascii(b, r.message, kMaxMessageBytes);
  for (const Field& f : r.fields) {
    b.push_back(' ');
    append_name(b, f.key());
    b.push_back('=');
    append_text_value(b, f);
  }
  b.push_back('\n');
}

// format_json: appends
//   {"time":"...Z","level":"info","component":"...","message":"...","fields":{...}}\n
inline void format_json(const Record& r, LineBuffer& b) {
  constexpr std::string_view kTimeKey = "{\"time\":\"";
  char* p = b.room(kTimeKey.size() + kTimeBytes);
  std::memcpy(p, kTimeKey.data(), kTimeKey.size());
  format_time(r.time, p + kTimeKey.size());
  b.commit(kTimeKey.size() + kTimeBytes);
  b.append("\",\"level\":\"");
  b.append(level_name(r.level));
  b.append("\",\"component\":");
  append_json_name(b, r.component);
  b.append(",\"message\":");
  append_json_string(b, r.message, kMaxMessageBytes);
  b.append(",\"fields\":{");
  bool first = true;
  for (const Field& f : r.fields) {
    if (!first) b.push_back(',');
    first = false;
    append_json_name(b, f.key());
    b.push_back(':');
    append_json_value(b, f);
  }
  b.append("}}\n");
}

// thread_line_buffer: this thread's reusable formatting buffer. A sink
// formats into it and finishes with it before it returns; no sink calls back
// into logging, so one buffer per thread suffices.
inline LineBuffer& thread_line_buffer() {
  static thread_local LineBuffer buffer;
  return buffer;
}

}  // namespace coordkit::log::internal

#endif  // COORDKIT_LOG_INTERNAL_LINE_FORMAT_H_

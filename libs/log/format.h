// coordkit/log/format.h: how a Record becomes one line of text or JSON.
//
// Both sinks format with this; a custom Sink can too. A formatted line is
// always printable ASCII plus its final '\n', whatever the record holds:
// component, message, keys and string values all go through to_ascii().
//
// Text (Format::kText), for people:
//
//   2025-01-02T03:04:05.123456Z INFO  gateway: listening addr=127.0.0.1 port=8080
//   2025-01-02T03:04:05.123789Z WARN  db: retry class=busy note="took 3 tries"
//
// Time is UTC with microseconds; the level is padded to 5 columns; a string
// value that is empty or holds ' ', '"' or '=' is quoted, with '"' written as
// \" (to_ascii's own escapes are kept as they are).
//
// JSON lines (Format::kJson), for programs: one object per line with exactly
// the members time, level, component, message and fields:
//
//   {"time":"2025-01-02T03:04:05.123456Z","level":"info","component":"gateway",
//    "message":"listening","fields":{"addr":"127.0.0.1","port":8080}}
//
// (one line in the file). Every string value, once parsed, equals to_ascii()
// of the original; numbers and bools keep their JSON type; a NaN or infinite
// double becomes the string "nan", "inf" or "-inf".
//
// Example:
//
//   #include "coordkit/log/format.h"
//
//   coordkit::log::Field fields[] = {{"port", 8080}};
//   coordkit::log::Record record{std::chrono::system_clock::now(),
//                                coordkit::log::Level::kInfo, "gateway", "listening", fields};
//   std::string line;
//   coordkit::log::format_line(record, coordkit::log::Format::kJson, line);

#ifndef COORDKIT_LOG_FORMAT_H_
#define COORDKIT_LOG_FORMAT_H_

#include <cstddef>
#include <string>

#include "coordkit/log/internal/line_format.h"
#include "coordkit/log/record.h"

namespace coordkit::log {

// Format: the layout of a sink's lines.
enum class Format { kText, kJson };

// Limits on one line, in bytes of to_ascii() output: a longer message, value
// or name is cut with to_ascii's `...[truncated N bytes]` marker. JSON
// escaping can at most double a piece. Together they bound every line.
inline constexpr std::size_t kMaxMessageBytes = internal::kMaxMessageBytes;
inline constexpr std::size_t kMaxFieldValueBytes = internal::kMaxFieldValueBytes;
// Component names and field keys.
inline constexpr std::size_t kMaxNameBytes = internal::kMaxNameBytes;

// format_line: appends the line for `record` in `format`, '\n' included, to
// `out`. Throws std::bad_alloc if `out` cannot grow; otherwise never throws.
// Thread-safe (uses only a per-thread scratch buffer).
namespace internal {

// format_record: the sinks' entry point; clears `out`, then formats.
inline void format_record(const Record& record, Format format, LineBuffer& out) {
  out.clear();
  if (format == Format::kJson) {
    format_json(record, out);
  } else {
    format_text(record, out);
  }
}

}  // namespace internal

inline void format_line(const Record& record, Format format, std::string& out) {
  // A scratch buffer of its own, apart from the one the built-in sinks use.
  static thread_local internal::LineBuffer buffer;
  internal::format_record(record, format, buffer);
  out.append(buffer.data(), buffer.size());
}
}  // namespace coordkit::log

#endif  // COORDKIT_LOG_FORMAT_H_

// The log lines of the Windows console test: the same records, written by
// the same sink code, on Linux (linux_lines.cc, built and run on the build
// machine) and on Windows under Wine (console_sink_test.cc, log_lines.cc).
// Emoji, text only some code pages can show (CP1252's euro sign, OEM 437's
// box drawing), control characters, a ZWJ sequence, a BOM and invalid
// UTF-8; every one must come out as the same ASCII bytes everywhere.
#ifndef COORDKIT_TESTS_WINDOWS_LOG_LINES_H_
#define COORDKIT_TESTS_WINDOWS_LOG_LINES_H_

#include <chrono>
#include <cstddef>

#include "coordkit/log/format.h"
#include "coordkit/log/record.h"
#include "coordkit/log/sink.h"

namespace coordkit::windows_test {

// kLineCount: how many lines write_lines() writes to one sink.
inline constexpr std::size_t kLineCount = 6;

// write_lines: writes the kLineCount records to `sink`, with a fixed time.
inline void write_lines(coordkit::log::Sink& sink) {
  namespace lg = coordkit::log;
  const auto time = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::microseconds(1767225600123456)));
  const lg::Field start[] = {{"addr", "127.0.0.1"}, {"port", 8080}, {"ok", true}};
  sink.write({time, lg::Level::kInfo, "gateway", "starting \xf0\x9f\x9a\x80 server", start});
  const lg::Field cafe[] = {{"name", "caf\xc3\xa9 \xe2\x82\xac 5"}, {"ratio", 0.25}};
  sink.write({time, lg::Level::kWarn, "db", "box \xe2\x94\x80\xe2\x94\x82 and \xc3\xa9", cafe});
  const lg::Field ctrl[] = {{"raw", "a\tb\rc\x1b[31mred\x1b[0m\x7f"}, {"n", -42}};
  sink.write({time, lg::Level::kError, "spawn", "line one\nline two", ctrl});
  const lg::Field zwj[] = {{"who", "\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb"}};
  sink.write({time, lg::Level::kDebug, "ipc",
              "\xef\xbb\xbf"
              "bom and \xe4\xb8\xad\xe6\x96\x87",
              zwj});
  const lg::Field bad[] = {{"bytes", "\xff\xfe\xc3("}, {"empty", ""}};
  sink.write({time, lg::Level::kTrace, "log", "invalid \xc0\xaf utf-8", bad});
  sink.write({time, lg::Level::kInfo, "gateway", "\xe2\x9c\x93 ready \xe2\x9c\xa8", {}});
}

}  // namespace coordkit::windows_test

#endif  // COORDKIT_TESTS_WINDOWS_LOG_LINES_H_

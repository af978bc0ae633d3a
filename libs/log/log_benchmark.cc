// log_benchmark: coordkit's file sink against spdlog's synchronous file sink,
// and to_ascii's throughput. Run it with tools/bench/log (builds -c opt).
//
// Both loggers write the same 1M messages ("user logged in" with the fields
// user=alice and id=<n>) to a file in a temporary directory, each with its
// usual line prefix (time, level, logger name). The flush policy is the same
// for both: no flush per line; lines are buffered in user space (coordkit:
// its 64 KiB buffer; spdlog: the FILE* buffer of basic_file_sink_mt) and
// flushed once at the end, inside the timed region; no error-level records
// are logged, and coordkit's background flusher (once per second) stays on
// as in production. coordkit does strictly more per line: every string goes
// through to_ascii(), and it checks the file's identity per buffer written.
// Each logger runs 3 rounds, alternating; the best round counts.
//
// to_ascii is measured on mixed log-like lines (mostly ASCII, some UTF-8,
// controls and invalid bytes) with to_ascii_into(), the form the sinks use,
// and with the allocating to_ascii().
//
// Last line: {"bench":"log","coordkit_lines_per_s":...,"spdlog_lines_per_s":...,
//             "ratio_vs_spdlog":...,"to_ascii_mb_per_s":...}

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "coordkit/log/log.h"
#include "coordkit/log/to_ascii.h"

namespace {

namespace ck = coordkit::log;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::uint64_t count_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::uint64_t lines = 0;
  char buf[1 << 16];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    lines += static_cast<std::uint64_t>(std::count(buf, buf + in.gcount(), '\n'));
  }
  return lines;
}

double run_coordkit(const std::string& path, int messages) {
  std::filesystem::remove(path);
  auto file = std::make_shared<ck::FileSink>(ck::FileSinkOptions{.path = path, .max_bytes = 0});
  const ck::Logger log("bench", {file});
  const auto start = Clock::now();
  for (int i = 0; i < messages; ++i) {
    log.info("user logged in", {{"user", "alice"}, {"id", i}});
  }
  log.flush();
  const double s = seconds_since(start);
  if (file->stats().failed_writes != 0 ||
      count_lines(path) != static_cast<std::uint64_t>(messages)) {
    std::fprintf(stderr, "log_benchmark: coordkit wrote a wrong number of lines\n");
    std::exit(1);
  }
  return messages / s;
}

double run_spdlog(const std::string& path, int messages) {
  std::filesystem::remove(path);
  auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, true);
  spdlog::logger log("bench", sink);
  log.set_level(spdlog::level::info);
  const auto start = Clock::now();
  for (int i = 0; i < messages; ++i) {
    log.info("user logged in user={} id={}", "alice", i);
  }
  log.flush();
  const double s = seconds_since(start);
  if (count_lines(path) != static_cast<std::uint64_t>(messages)) {
    std::fprintf(stderr, "log_benchmark: spdlog wrote a wrong number of lines\n");
    std::exit(1);
  }
  return messages / s;
}

// Mixed input: log-like lines, mostly ASCII, with UTF-8 text, emoji, tabs,
// newlines, an ANSI escape and the odd invalid byte, as a server might see
// in user-supplied values.
std::vector<std::string> mixed_lines() {
  const std::vector<std::string> pieces = {
      "GET /v1/records/42?collection=orders HTTP/1.1 200 1532 bytes in 1.25 ms ",
      "user=alice@example.com agent=\"Mozilla/5.0 (X11; Linux x86_64)\" ",
      // Split so that \xAD does not swallow the 'a' as a hex digit.
      "name=Jos\xC3\xA9 Garc\xC3\xAD"  // NOLINT(bugprone-suspicious-missing-comma)
      "a city=M\xC3\xBCnchen ",
      "note=\xE4\xB8\xAD\xE6\x96\x87\xE6\xB5\x8B\xE8\xAF\x95 ",
      "status=\xF0\x9F\x9A\x80 ok ",
      "path=C:\\Users\\alice\\data.db ",
      "raw=\x1b[31mred\x1b[0m\t",
      "multi\nline\r\n",
      "bad=\xC0\xAF\xFF ",
  };
  std::vector<std::string> lines;
  std::uint64_t x = 88172645463325252ULL;  // xorshift64, fixed seed
  for (int i = 0; i < 256; ++i) {
    std::string line;
    while (line.size() < 160) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      // Half the picks are the two plain ASCII pieces, half any of the others.
      const std::size_t k = x % 16;
      line += pieces[k < 8 ? k % 2 : k - 7];
    }
    lines.push_back(line);
  }
  return lines;
}

struct AsciiResult {
  double into_mb_per_s;
  double string_mb_per_s;
  double non_ascii_share;
};

AsciiResult run_to_ascii() {
  const std::vector<std::string> lines = mixed_lines();
  std::size_t bytes_per_pass = 0;
  std::size_t non_ascii = 0;
  for (const std::string& l : lines) {
    bytes_per_pass += l.size();
    for (char c : l) non_ascii += (static_cast<unsigned char>(c) >= 0x80) ? 1 : 0;
  }
  constexpr std::size_t kTarget = 256u << 20;  // 256 MB of input per measurement
  const std::size_t passes = kTarget / bytes_per_pass;
  std::vector<char> out(ck::to_ascii_max_size(4096, ck::kToAsciiDefaultMaxBytes));
  std::size_t sink = 0;

  double best_into = 0;
  double best_string = 0;
  for (int round = 0; round < 3; ++round) {
    auto start = Clock::now();
    for (std::size_t p = 0; p < passes; ++p) {
      for (const std::string& l : lines) sink += ck::to_ascii_into(l, out.data(), out.size());
    }
    best_into = std::max(best_into,
                         static_cast<double>(passes * bytes_per_pass) / 1e6 / seconds_since(start));
    start = Clock::now();
    const std::size_t string_passes = passes / 4;  // slower: a quarter of the work
    for (std::size_t p = 0; p < string_passes; ++p) {
      for (const std::string& l : lines) sink += ck::to_ascii(l).size();
    }
    best_string = std::max(best_string, static_cast<double>(string_passes * bytes_per_pass) / 1e6 /
                                            seconds_since(start));
  }
  if (sink == 0) std::printf("(nothing)\n");
  return {best_into, best_string,
          static_cast<double>(non_ascii) / static_cast<double>(bytes_per_pass)};
}

}  // namespace

int main(int argc, char** argv) {
  int messages = 1000000;
  if (argc > 1) messages = std::max(1, std::atoi(argv[1]));

  std::string tmpl = (std::getenv("TMPDIR") != nullptr ? std::getenv("TMPDIR") : "/tmp");
  tmpl += "/coordkit-log-bench.XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string dir = tmpl;
  const std::string coordkit_path = dir + "/coordkit.log";
  const std::string spdlog_path = dir + "/spdlog.log";

  double coordkit_best = 0;
  double spdlog_best = 0;
  for (int round = 0; round < 3; ++round) {
    coordkit_best = std::max(coordkit_best, run_coordkit(coordkit_path, messages));
    spdlog_best = std::max(spdlog_best, run_spdlog(spdlog_path, messages));
  }
  const auto coordkit_bytes = std::filesystem::file_size(coordkit_path);
  const auto spdlog_bytes = std::filesystem::file_size(spdlog_path);
  std::filesystem::remove_all(dir);

  const AsciiResult ascii = run_to_ascii();
  const double ratio = coordkit_best / spdlog_best;

  std::printf("messages per run:          %d (best of 3 runs each, same process)\n", messages);
  std::printf("coordkit FileSink:         %.0f lines/s (%.1f bytes/line)\n", coordkit_best,
              static_cast<double>(coordkit_bytes) / messages);
  std::printf("spdlog basic_file_sink_mt: %.0f lines/s (%.1f bytes/line)\n", spdlog_best,
              static_cast<double>(spdlog_bytes) / messages);
  std::printf("ratio coordkit/spdlog:     %.2f\n", ratio);
  std::printf("to_ascii_into, mixed input (%.1f%% non-ASCII bytes): %.0f MB/s\n",
              100 * ascii.non_ascii_share, ascii.into_mb_per_s);
  std::printf("to_ascii (allocating std::string), same input:    %.0f MB/s\n",
              ascii.string_mb_per_s);
  std::printf(
      "{\"bench\":\"log\",\"coordkit_lines_per_s\":%.0f,\"spdlog_lines_per_s\":%.0f,"
      "\"ratio_vs_spdlog\":%.2f,\"to_ascii_mb_per_s\":%.0f}\n",
      coordkit_best, spdlog_best, ratio, ascii.into_mb_per_s);
  return 0;
}

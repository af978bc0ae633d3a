#include "coordkit/log/file_sink.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "coordkit/base/unique_fd.h"
#include "coordkit/log/internal/test_process.h"
#include "coordkit/log/log.h"

namespace {

namespace ck = coordkit::log;
namespace fs = std::filesystem;
using ck::internal::read_file;

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    if (end == std::string::npos) {
      lines.push_back(text.substr(start));
      break;
    }
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// seq_of: the value of the seq=N field of a text line, or -1.
long seq_of(const std::string& line) {
  const auto at = line.find(" seq=");
  if (at == std::string::npos) return -1;
  return std::stol(line.substr(at + 5));
}

// A Logger with one FileSink, the options a test gives, and no background
// flusher unless asked, so what reaches the file is up to the test.
struct FileLog {
  std::shared_ptr<ck::FileSink> sink;
  ck::Logger log;

  explicit FileLog(ck::FileSinkOptions options) {
    sink = std::make_shared<ck::FileSink>(std::move(options));
    log = ck::Logger("test", {sink}, ck::Level::kTrace);
  }
};

ck::FileSinkOptions quiet_options(std::string path) {
  ck::FileSinkOptions o;
  o.path = std::move(path);
  o.flush_interval = std::chrono::milliseconds(0);
  return o;
}

}  // namespace

TEST_CASE("a file sink appends escaped text lines", "[log]") {
  const std::string path = ck::internal::test_tmpdir("text") + "/app.log";
  {
    FileLog f(quiet_options(path));
    f.log.info("hello \xF0\x9F\x9A\x80", {{"n", 1}});
    f.log.warn("second\nline");
  }
  const auto lines = split_lines(read_file(path));
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].substr(28) == "INFO  test: hello \\u{1F680} n=1");
  CHECK(lines[1].substr(28) == "WARN  test: second\\nline");

  SECTION("and appends to an existing file") {
    {
      FileLog f(quiet_options(path));
      f.log.info("third");
    }
    CHECK(split_lines(read_file(path)).size() == 3);
  }
}

TEST_CASE("a new log file is private to its owner", "[log]") {
  const std::string path = ck::internal::test_tmpdir("mode") + "/app.log";
  FileLog f(quiet_options(path));
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 077) == 0);
}

TEST_CASE("a file sink rotates by size and keeps max_files files", "[log]") {
  const std::string dir = ck::internal::test_tmpdir("rotate");
  const std::string path = dir + "/app.log";
  const std::size_t buffer_bytes = GENERATE(0u, 300u, 65536u);
  constexpr std::uint64_t kMaxBytes = 1000;
  constexpr int kLines = 300;
  {
    ck::FileSinkOptions o = quiet_options(path);
    o.max_bytes = kMaxBytes;
    o.max_files = 3;
    o.buffer_bytes = buffer_bytes;
    FileLog f(std::move(o));
    for (int i = 0; i < kLines; ++i) f.log.info("rotating", {{"seq", i}});
  }
  INFO("buffer_bytes " << buffer_bytes);
  CHECK_FALSE(exists(path + ".3"));
  // Oldest to newest, every line whole, seq numbers consecutive up to the
  // last one logged, no file above the limit.
  std::vector<std::string> all;
  for (const std::string& file : {path + ".2", path + ".1", path}) {
    REQUIRE(exists(file));
    const std::string text = read_file(file);
    CHECK(text.size() <= kMaxBytes);
    CHECK(text.back() == '\n');
    for (const std::string& line : split_lines(text)) all.push_back(line);
  }
  REQUIRE(all.size() > 10);
  for (std::size_t k = 0; k < all.size(); ++k) {
    CHECK(seq_of(all[k]) == kLines - static_cast<long>(all.size() - k));
    CHECK(all[k].find(" INFO  test: rotating seq=") == 27);
  }
}

TEST_CASE("a rotation that cannot move the file keeps every line in it, without retrying forever",
          "[log]") {
  const std::string dir = ck::internal::test_tmpdir("rotate-refused");
  const std::string path = dir + "/app.log";
  // app.log.1 is a directory with a file in it: neither removed nor a
  // rename's target, so every rotation leaves app.log where it is.
  fs::create_directory(path + ".1");
  { std::ofstream(path + ".1/keep") << "x"; }
  const std::size_t buffer_bytes = GENERATE(0u, 300u, 65536u);
  const bool background = GENERATE(false, true);
  constexpr int kLines = 100;
  {
    ck::FileSinkOptions o = quiet_options(path);
    o.max_bytes = 400;
    o.max_files = 2;
    o.buffer_bytes = buffer_bytes;
    if (background) o.flush_interval = std::chrono::milliseconds(5);
    FileLog f(std::move(o));
    for (int i = 0; i < kLines; ++i) f.log.info("rotating", {{"seq", i}});
  }
  INFO("buffer_bytes " << buffer_bytes << " background " << background);
  CHECK(exists(path + ".1/keep"));
  const std::vector<std::string> lines = split_lines(read_file(path));
  REQUIRE(lines.size() == std::size_t{kLines});
  for (int i = 0; i < kLines; ++i) CHECK(seq_of(lines[static_cast<std::size_t>(i)]) == i);
}

TEST_CASE("with max_files = 1, rotation starts the file afresh", "[log]") {
  const std::string path = ck::internal::test_tmpdir("one") + "/app.log";
  {
    ck::FileSinkOptions o = quiet_options(path);
    o.max_bytes = 500;
    o.max_files = 1;
    FileLog f(std::move(o));
    for (int i = 0; i < 100; ++i) f.log.info("line", {{"seq", i}});
  }
  CHECK_FALSE(exists(path + ".1"));
  const auto lines = split_lines(read_file(path));
  REQUIRE_FALSE(lines.empty());
  CHECK(seq_of(lines.back()) == 99);
  CHECK(read_file(path).size() <= 500);
}

TEST_CASE("a line longer than max_bytes gets a file of its own", "[log]") {
  const std::string path = ck::internal::test_tmpdir("long") + "/app.log";
  {
    ck::FileSinkOptions o = quiet_options(path);
    o.max_bytes = 200;
    o.max_files = 4;
    FileLog f(std::move(o));
    f.log.info("short", {{"seq", 0}});
    f.log.info(std::string(500, 'x'), {{"seq", 1}});
    f.log.info("short", {{"seq", 2}});
  }
  CHECK(seq_of(read_file(path + ".2")) == 0);
  CHECK(seq_of(read_file(path + ".1")) == 1);
  CHECK(read_file(path + ".1").size() > 500);
  CHECK(seq_of(read_file(path)) == 2);
}

TEST_CASE("an existing file already at the limit is rotated before the first line", "[log]") {
  const std::string path = ck::internal::test_tmpdir("full") + "/app.log";
  {
    FileLog f(quiet_options(path));
    f.log.info(std::string(300, 'o'));
  }
  ck::FileSinkOptions o = quiet_options(path);
  o.max_bytes = 300;
  {
    FileLog f(std::move(o));
    f.log.info("fresh");
  }
  CHECK(read_file(path + ".1").find("ooo") != std::string::npos);
  CHECK(split_lines(read_file(path)).size() == 1);
}

TEST_CASE("a file sink reopens its file after it was removed or replaced", "[log]") {
  const std::string dir = ck::internal::test_tmpdir("reopen");
  const std::string path = dir + "/app.log";
  FileLog f(quiet_options(path));
  f.log.info("before");
  f.log.flush();
  REQUIRE(split_lines(read_file(path)).size() == 1);

  SECTION("removed") {
    REQUIRE(::unlink(path.c_str()) == 0);
    f.log.info("after");
    f.log.flush();
    const auto lines = split_lines(read_file(path));
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].ends_with("test: after"));
  }
  SECTION("moved away, as logrotate does") {
    REQUIRE(::rename(path.c_str(), (dir + "/app.log.old").c_str()) == 0);
    f.log.info("after");
    f.log.flush();
    CHECK(split_lines(read_file(path)).size() == 1);
    CHECK(split_lines(read_file(dir + "/app.log.old")).size() == 1);
  }
  SECTION("its directory removed and made again") {
    const std::string sub = dir + "/sub";
    REQUIRE(::mkdir(sub.c_str(), 0700) == 0);
    FileLog g(quiet_options(sub + "/app.log"));
    REQUIRE(::unlink((sub + "/app.log").c_str()) == 0);
    REQUIRE(::rmdir(sub.c_str()) == 0);
    g.log.info("lost");
    g.log.flush();
    CHECK(g.sink->stats().failed_writes == 1);
    CHECK(g.sink->stats().lines_dropped == 1);
    CHECK(g.sink->stats().last_os_error == ENOENT);
    REQUIRE(::mkdir(sub.c_str(), 0700) == 0);
    g.log.info("found");
    g.log.flush();
    const auto lines = split_lines(read_file(sub + "/app.log"));
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].ends_with("test: found"));
  }
  CHECK(f.sink->stats().failed_writes == 0);
}

TEST_CASE("every JSON line parses and carries time, level, component, message, fields", "[log]") {
  const std::string path = ck::internal::test_tmpdir("json") + "/app.jsonl";
  {
    ck::FileSinkOptions o = quiet_options(path);
    o.format = ck::Format::kJson;
    o.max_bytes = 2000;
    o.max_files = 100;
    FileLog f(std::move(o));
    const ck::Logger db = f.log.with_component("db \xE2\x9C\x93");
    for (int i = 0; i < 50; ++i) {
      f.log.info("caf\xC3\xA9 \"quoted\" \\ tab\t", {{"seq", i}, {"ok", i % 2 == 0}});
      db.warn("\xF0\x9F\x9A\x80\xFF", {{"seq", i}, {"ratio", 0.5}, {"who", "\x1b[31m"}});
    }
  }
  int count = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(path).parent_path())) {
    const std::string text = read_file(entry.path().string());
    for (char c : text) REQUIRE(((c >= 0x20 && c <= 0x7E) || c == '\n'));
    for (const std::string& line : split_lines(text)) {
      const auto j = nlohmann::json::parse(line);
      REQUIRE(j.is_object());
      CHECK(j.size() == 5);
      CHECK(j["time"].is_string());
      CHECK(j["time"].get<std::string>().size() == 27);
      CHECK(j["level"].is_string());
      CHECK(j["component"].is_string());
      CHECK(j["message"].is_string());
      REQUIRE(j["fields"].is_object());
      CHECK(j["fields"]["seq"].is_number_integer());
      if (j["level"] == "warn") {
        CHECK(j["component"] == "db_\\u{2713}");
        CHECK(j["message"] == "\\u{1F680}\\xff");
        CHECK(j["fields"]["who"] == "\\x1b[31m");
      } else {
        CHECK(j["component"] == "test");
        CHECK(j["message"] == ck::to_ascii("caf\xC3\xA9 \"quoted\" \\ tab\t"));
        CHECK(j["fields"]["ok"].is_boolean());
      }
      ++count;
    }
  }
  CHECK(count == 100);
}

TEST_CASE("an error-level record is written through at once", "[log]") {
  const std::string path = ck::internal::test_tmpdir("error") + "/app.log";
  ck::FileSinkOptions o = quiet_options(path);
  o.buffer_bytes = 1 << 20;
  FileLog f(std::move(o));
  f.log.info("buffered");
  f.log.warn("buffered too");
  CHECK(read_file(path).empty());  // precondition: the sink buffers
  f.log.error("failed");
  const auto lines = split_lines(read_file(path));
  REQUIRE(lines.size() == 3);
  CHECK(lines[2].find("ERROR test: failed") != std::string::npos);
}

TEST_CASE("buffered lines reach the file within flush_interval", "[log]") {
  const std::string path = ck::internal::test_tmpdir("interval") + "/app.log";
  ck::FileSinkOptions o;
  o.path = path;
  o.flush_interval = std::chrono::milliseconds(20);
  FileLog f(std::move(o));
  f.log.info("quiet server's last words");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (read_file(path).empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(split_lines(read_file(path)).size() == 1);
}

TEST_CASE("buffered lines are flushed when the process calls exit()", "[log]") {
  const std::string path = ck::internal::test_tmpdir("exit") + "/app.log";
  ck::internal::ChildProcess child({ck::internal::runfile("libs/log/log_test_child"), "file-exit",
                                    "--file=" + path, "--lines=500"},
                                   {});
  const auto exit = child.wait();
  CHECK(exit.exited);
  CHECK(exit.code == 0);
  const auto lines = split_lines(read_file(path));
  REQUIRE(lines.size() == 500);
  CHECK(lines.back().ends_with("before exit i=499"));
}

TEST_CASE("an error line is on disk even if the process dies right after", "[log]") {
  const std::string path = ck::internal::test_tmpdir("die") + "/app.log";
  ck::internal::ChildProcess child(
      {ck::internal::runfile("libs/log/log_test_child"), "file-error-then-die", "--file=" + path},
      {});
  const auto exit = child.wait();
  CHECK(exit.exited);
  const auto lines = split_lines(read_file(path));
  // The 5 lines before the error and the error itself; the 5 after were
  // still buffered when _exit() skipped every flush.
  REQUIRE(lines.size() == 6);
  CHECK(lines[5].find("ERROR child: the error") != std::string::npos);
}

TEST_CASE("8 threads x 10000 lines: every line intact, none interleaved", "[log]") {
  const std::string path = ck::internal::test_tmpdir("threads") + "/app.log";
  constexpr int kThreads = 8;
  constexpr int kLines = 10000;
  {
    ck::FileSinkOptions o;
    o.path = path;
    o.max_bytes = 0;
    FileLog f(std::move(o));
    std::vector<std::thread> threads;
    threads.reserve(kThreads);
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&f, t] {
        for (int i = 0; i < kLines; ++i) {
          f.log.info("payload-0123456789-abcdefghijklmnopqrstuvwxyz", {{"t", t}, {"seq", i}});
        }
      });
    }
    for (auto& th : threads) th.join();
    CHECK(f.sink->stats().failed_writes == 0);
  }
  const std::string text = read_file(path);
  const auto lines = split_lines(text);
  REQUIRE(lines.size() == std::size_t{kThreads} * kLines);
  std::vector<long> next(kThreads, 0);
  for (const std::string& line : lines) {
    // time(27) + " INFO  test: payload... t=T seq=N"
    constexpr std::string_view kBody = " INFO  test: payload-0123456789-abcdefghijklmnopqrstuvwxyz";
    REQUIRE(line.size() > 27 + kBody.size());
    REQUIRE(line.compare(27, kBody.size(), kBody) == 0);
    const auto t_at = line.find(" t=", 27 + kBody.size());
    REQUIRE(t_at == 27 + kBody.size());
    const int t = std::stoi(line.substr(t_at + 3));
    REQUIRE(t >= 0);
    REQUIRE(t < kThreads);
    const long seq = seq_of(line);
    REQUIRE(seq == next[t]);
    next[t] = seq + 1;
    REQUIRE(line.size() == line.find(" seq=") + 5 + std::to_string(seq).size());
  }
}

TEST_CASE("4 threads rotating through small buffers: every line kept, in order", "[log]") {
  // Small buffers and files make the background thread write handed-off
  // buffers while lines go on into the other one, and rotate often.
  const std::string path = ck::internal::test_tmpdir("handoff") + "/app.log";
  constexpr int kThreads = 4;
  constexpr int kLines = 5000;
  constexpr std::uint64_t kMaxBytes = std::uint64_t{32} * 1024;
  constexpr int kMaxFiles = 200;
  {
    ck::FileSinkOptions o;
    o.path = path;
    o.max_bytes = kMaxBytes;
    o.max_files = kMaxFiles;
    o.buffer_bytes = 4096;
    o.flush_interval = std::chrono::milliseconds(5);
    FileLog f(std::move(o));
    std::vector<std::thread> threads;
    threads.reserve(kThreads);
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&f, t] {
        for (int i = 0; i < kLines; ++i) f.log.info("handoff", {{"t", t}, {"seq", i}});
      });
    }
    for (auto& th : threads) th.join();
    CHECK(f.sink->stats().failed_writes == 0);
  }
  CHECK_FALSE(exists(path + "." + std::to_string(kMaxFiles - 1)));
  std::vector<long> next(kThreads, 0);
  std::size_t total = 0;
  for (int k = kMaxFiles - 2; k >= 0; --k) {
    const std::string file = k == 0 ? path : path + "." + std::to_string(k);
    if (!exists(file)) continue;
    const std::string text = read_file(file);
    CHECK(text.size() <= kMaxBytes);
    REQUIRE(text.back() == '\n');
    for (const std::string& line : split_lines(text)) {
      const auto t_at = line.find(" t=");
      REQUIRE(t_at != std::string::npos);
      const int t = std::stoi(line.substr(t_at + 3));
      REQUIRE(t >= 0);
      REQUIRE(t < kThreads);
      REQUIRE(seq_of(line) == next[t]);
      ++next[t];
      ++total;
    }
  }
  CHECK(total == std::size_t{kThreads} * kLines);
}

TEST_CASE("rotation while a reader holds the oldest file: its name goes, newer files move up",
          "[log]") {
  // A reader holding the oldest file sees it unlinked (no name left), and
  // the names that remain are the newer files.
  const std::string path = ck::internal::test_tmpdir("retire") + "/app.log";
  const auto flush_interval = GENERATE(0, 1000);
  ck::FileSinkOptions o = quiet_options(path);
  o.max_bytes = 100;
  o.max_files = 2;
  o.flush_interval = std::chrono::milliseconds(flush_interval);
  FileLog f(std::move(o));
  f.log.info(std::string(80, 'a'), {{"seq", 0}});
  f.log.info(std::string(80, 'b'), {{"seq", 1}});
  f.sink->flush();
  REQUIRE(seq_of(read_file(path + ".1")) == 0);
  const coordkit::UniqueFd held(::open((path + ".1").c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(held);
  f.log.info(std::string(80, 'c'), {{"seq", 2}});
  f.sink->flush();
  struct stat st {};
  REQUIRE(::fstat(held.get(), &st) == 0);
  CHECK(st.st_nlink == 0);
  CHECK(seq_of(read_file(path + ".1")) == 1);
  CHECK(seq_of(read_file(path)) == 2);
}

TEST_CASE("a full disk is counted, never thrown", "[log]") {
  ck::FileSinkOptions o = quiet_options("/dev/full");
  o.buffer_bytes = GENERATE(0u, 4096u);
  FileLog f(std::move(o));
  for (int i = 0; i < 3; ++i) f.log.info("no room");
  f.log.flush();
  const ck::SinkStats s = f.sink->stats();
  CHECK(s.failed_writes >= 1);
  CHECK(s.lines_dropped == 3);
  CHECK(s.lines_written == 0);
  CHECK(s.last_os_error == ENOSPC);
}

TEST_CASE("a file sink refuses bad options and unopenable paths with codes", "[log]") {
  const std::string dir = ck::internal::test_tmpdir("bad");
  auto code_of = [](ck::FileSinkOptions o) {
    try {
      ck::FileSink sink(std::move(o));
    } catch (const ck::Error& e) {
      return std::pair{e.code(), e.os_error()};
    }
    return std::pair{ck::ErrorCode{0}, 0};
  };
  CHECK(code_of(quiet_options("")) == std::pair{ck::ErrorCode::kInvalidArgument, 0});
  ck::FileSinkOptions zero = quiet_options(dir + "/a.log");
  zero.max_files = 0;
  CHECK(code_of(zero) == std::pair{ck::ErrorCode::kInvalidArgument, 0});
  CHECK(code_of(quiet_options(dir + "/missing/a.log")) ==
        std::pair{ck::ErrorCode::kOpenFailed, ENOENT});
  CHECK(code_of(quiet_options(dir)) == std::pair{ck::ErrorCode::kOpenFailed, EISDIR});
}

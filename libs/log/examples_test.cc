// The `// Example:` blocks of libs/log's public headers, compiled and run, so
// they cannot rot. Paths under /var/log become paths under TEST_TMPDIR;
// everything else is as in the headers.

#include <catch2/catch_test_macros.hpp>
#include <cerrno>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "coordkit/log/format.h"
#include "coordkit/log/log.h"
#include "coordkit/log/record.h"
#include "coordkit/log/sink.h"
#include "coordkit/log/to_ascii.h"
#include "coordkit/testing/scratch_dir.h"

namespace {

// tmp: `name` in a fresh scratch directory.
std::string tmp(const std::string& name) {
  return (coordkit::testing::scratch_dir("log-examples") / name).string();
}

// sink.h
class MemorySink final : public coordkit::log::Sink {
 public:
  void write(const coordkit::log::Record& record) noexcept override {
    std::lock_guard lock(mutex_);
    try {
      coordkit::log::format_line(record, coordkit::log::Format::kText, text_);
      count_lines_written(1);
    } catch (...) {
      count_failed_write(1, ENOMEM);
    }
  }
  void flush() noexcept override {}

 private:
  std::mutex mutex_;
  std::string text_;
};

}  // namespace

TEST_CASE("the to_ascii.h example holds", "[log]") {
  std::string shown = coordkit::log::to_ascii("launch \xF0\x9F\x9A\x80\n");
  CHECK(shown == "launch \\u{1F680}\\n");
  CHECK(shown.size() == 18);

  char buf[256];
  std::size_t n = coordkit::log::to_ascii_into("caf\xC3\xA9", buf, sizeof buf);
  CHECK(std::string_view(buf, n) == "caf\\u{E9}");
}

TEST_CASE("the record.h example holds", "[log]") {
  using coordkit::log::Field;
  using coordkit::log::Level;

  std::string path = "/v1/records";
  Field fields[] = {{"path", path}, {"status", 200}, {"ms", 1.25}, {"cached", false}};
  coordkit::log::Record record{std::chrono::system_clock::now(), Level::kInfo, "gateway",
                               "request done", fields};
  std::optional<Level> level = coordkit::log::parse_level("warn");  // Level::kWarn
  CHECK(level == Level::kWarn);
  CHECK(record.fields.size() == 4);
  CHECK(record.fields[1].kind() == Field::Kind::kInt);
  CHECK(record.fields[2].kind() == Field::Kind::kDouble);
  CHECK(record.fields[3].kind() == Field::Kind::kBool);
}

TEST_CASE("the format.h example holds", "[log]") {
  coordkit::log::Field fields[] = {{"port", 8080}};
  coordkit::log::Record record{std::chrono::system_clock::now(), coordkit::log::Level::kInfo,
                               "gateway", "listening", fields};
  std::string line;
  coordkit::log::format_line(record, coordkit::log::Format::kJson, line);
  CHECK(line.ends_with(
      R"(,"level":"info","component":"gateway","message":"listening","fields":{"port":8080}})"
      "\n"));
}

TEST_CASE("the sink.h example holds", "[log]") {
  auto sink = std::make_shared<MemorySink>();
  coordkit::log::Logger log("mem", {sink});
  log.info("kept");
  CHECK(sink->stats().lines_written == 1);
}

TEST_CASE("the error.h example holds", "[log]") {
  bool refused = false;
  try {
    auto file = std::make_shared<coordkit::log::FileSink>(
        coordkit::log::FileSinkOptions{.path = tmp("no/such/dir/app.log")});
  } catch (const coordkit::log::Error& e) {
    if (e.code() == coordkit::log::ErrorCode::kOpenFailed) {
      refused = true;
    }
  }
  CHECK(refused);
  CHECK(coordkit::log::code_name(coordkit::log::ErrorCode::kOpenFailed) == "open_failed");
}

TEST_CASE("the file_sink.h example holds", "[log]") {
  auto file = std::make_shared<coordkit::log::FileSink>(coordkit::log::FileSinkOptions{
      .path = tmp("gateway.jsonl"),
      .format = coordkit::log::Format::kJson,
      .max_bytes = 10'000'000,
      .max_files = 5,
  });
  coordkit::log::Logger log("gateway", {file});
  log.error("database unreadable", {{"code", 26}});  // written at once
  CHECK(file->stats().lines_written == 1);
}

TEST_CASE("the console_sink.h example holds", "[log]") {
  coordkit::log::reserve_standard_fds();  // first thing: before any open()
  auto console = std::make_shared<coordkit::log::ConsoleSink>();
  coordkit::log::Logger log("gateway", {console});
  log.info("starting");
  CHECK(console->stats().lines_written + console->stats().failed_writes == 1);
}

TEST_CASE("the log.h example holds", "[log]") {
  namespace ck = coordkit::log;

  ck::reserve_standard_fds();  // servers: first thing, before any open()
  auto console = std::make_shared<ck::ConsoleSink>();
  console->set_level(ck::Level::kWarn);  // the console shows warnings and errors
  auto file = std::make_shared<ck::FileSink>(ck::FileSinkOptions{.path = tmp("gateway.log")});
  ck::Logger log("gateway", {console, file}, ck::Level::kDebug);

  log.info("listening", {{"addr", "127.0.0.1"}, {"port", 8080}});
  ck::Logger db_log = log.with_component("db");
  db_log.warn("retrying", {{"class", "busy"}, {"attempt", 2}});
  log.error("cannot open database");  // also flushes the file at once

  CHECK(file->stats().lines_written == 3);
  CHECK(console->stats().lines_written + console->stats().failed_writes == 2);
}

#include "coordkit/log/log.h"

#include <errno.h>

#include <atomic>
#include <catch2/catch_test_macros.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace ck = coordkit::log;

// MemorySink: the custom sink of sink.h's example, keeping text lines.
class MemorySink final : public ck::Sink {
 public:
  void write(const ck::Record& record) noexcept override {
    const std::lock_guard lock(mutex_);
    try {
      ck::format_line(record, ck::Format::kText, text_);
      count_lines_written(1);
    } catch (...) {
      count_failed_write(1, ENOMEM);
    }
  }
  void flush() noexcept override { ++flushes_; }

  std::vector<std::string> lines() {
    const std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < text_.size()) {
      const std::size_t end = text_.find('\n', start);
      out.push_back(text_.substr(start + 28, end - start - 28));  // without the time
      start = end + 1;
    }
    return out;
  }
  int flushes() const { return flushes_; }

 private:
  std::mutex mutex_;
  std::string text_;
  std::atomic<int> flushes_{0};
};

}  // namespace

TEST_CASE("a logger passes records at or above its level", "[log]") {
  auto sink = std::make_shared<MemorySink>();
  ck::Logger log("app", {sink}, ck::Level::kInfo);
  log.trace("t");
  log.debug("d");
  log.info("i");
  log.warn("w");
  log.error("e");
  log.log(ck::Level::kWarn, "l");
  CHECK(sink->lines() ==
        std::vector<std::string>{"INFO  app: i", "WARN  app: w", "ERROR app: e", "WARN  app: l"});
  CHECK_FALSE(log.enabled(ck::Level::kDebug));
  CHECK(log.enabled(ck::Level::kInfo));

  log.set_level(ck::Level::kTrace);
  log.trace("now");
  CHECK(sink->lines().back() == "TRACE app: now");
}

TEST_CASE("each sink filters by its own level too", "[log]") {
  auto all = std::make_shared<MemorySink>();
  auto warnings = std::make_shared<MemorySink>();
  warnings->set_level(ck::Level::kWarn);
  const ck::Logger log("app", {all, warnings}, ck::Level::kDebug);
  log.debug("detail");
  log.warn("careful");
  CHECK(all->lines().size() == 2);
  CHECK(warnings->lines() == std::vector<std::string>{"WARN  app: careful"});

  warnings->set_level(ck::Level::kError);
  all->set_level(ck::Level::kError);
  CHECK_FALSE(log.enabled(ck::Level::kWarn));
  CHECK(log.enabled(ck::Level::kError));
}

TEST_CASE("components share the sinks and have their own name and level", "[log]") {
  auto sink = std::make_shared<MemorySink>();
  const ck::Logger root("gateway", {sink}, ck::Level::kInfo);
  ck::Logger db = root.with_component("db");
  ck::Logger http = root.with_component("http");
  CHECK(db.component() == "db");
  CHECK(db.level() == ck::Level::kInfo);
  db.set_level(ck::Level::kDebug);
  db.debug("query", {{"ms", 3}});
  http.debug("hidden");
  root.debug("hidden too");
  http.info("request", {{"path", "/v1/records"}, {"status", 200}});
  CHECK(sink->lines() ==
        std::vector<std::string>{"DEBUG db: query ms=3",
                                 "INFO  http: request path=/v1/records status=200"});
  CHECK(root.level() == ck::Level::kInfo);
}

TEST_CASE("copies keep the level they had and share the sinks", "[log]") {
  auto sink = std::make_shared<MemorySink>();
  ck::Logger a("a", {sink}, ck::Level::kWarn);
  ck::Logger b = a;
  b.set_level(ck::Level::kDebug);
  CHECK(a.level() == ck::Level::kWarn);
  CHECK(b.sinks().size() == 1);
  CHECK(b.sinks()[0] == a.sinks()[0]);
  ck::Logger c;
  c = b;
  CHECK(c.level() == ck::Level::kDebug);
  ck::Logger d = std::move(c);
  CHECK(d.level() == ck::Level::kDebug);
  d.debug("via a moved copy");
  CHECK(sink->lines().size() == 1);
}

TEST_CASE("fields can come from a container", "[log]") {
  auto sink = std::make_shared<MemorySink>();
  const ck::Logger log("app", {sink});
  std::vector<ck::Field> fields;
  const std::string name = "records";
  fields.emplace_back("collection", name);
  fields.emplace_back("count", 3u);
  fields.emplace_back("float", 1.5f);
  log.log(ck::Level::kInfo, "listed", fields);
  CHECK(sink->lines() ==
        std::vector<std::string>{"INFO  app: listed collection=records count=3 float=1.5"});
}

TEST_CASE("a logger without sinks drops everything quietly", "[log]") {
  const ck::Logger none;
  none.error("nobody hears this", {{"k", 1}});
  none.flush();
  CHECK_FALSE(none.enabled(ck::Level::kError));
  CHECK(none.sinks().empty());

  const ck::Logger with_null("app", {nullptr});
  with_null.error("still nobody");
  CHECK(with_null.sinks().empty());
}

TEST_CASE("flush reaches every sink", "[log]") {
  auto a = std::make_shared<MemorySink>();
  auto b = std::make_shared<MemorySink>();
  const ck::Logger log("app", {a, b});
  log.flush();
  CHECK(a->flushes() == 1);
  CHECK(b->flushes() == 1);
}

TEST_CASE("console_logger writes text to stderr", "[log]") {
  const ck::Logger log = ck::console_logger("tool", ck::Level::kWarn);
  REQUIRE(log.sinks().size() == 1);
  const auto* console = dynamic_cast<const ck::ConsoleSink*>(log.sinks()[0].get());
  REQUIRE(console != nullptr);
  CHECK(console->fd() == 2);
  CHECK(log.level() == ck::Level::kWarn);
  CHECK(log.component() == "tool");
}

TEST_CASE("logging and changing levels from many threads at once is safe", "[log]") {
  auto sink = std::make_shared<MemorySink>();
  ck::Logger log("app", {sink}, ck::Level::kInfo);
  std::atomic<bool> stop{false};
  std::thread toggler([&] {
    while (!stop.load()) {
      log.set_level(ck::Level::kDebug);
      sink->set_level(ck::Level::kInfo);
      log.set_level(ck::Level::kInfo);
      sink->set_level(ck::Level::kTrace);
    }
  });
  std::vector<std::thread> writers;
  writers.reserve(4);
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&log] {
      for (int i = 0; i < 1000; ++i) log.info("steady", {{"i", i}});
    });
  }
  for (auto& w : writers) w.join();
  stop = true;
  toggler.join();
  CHECK(sink->lines().size() == 4000);
  CHECK(sink->stats().lines_written == 4000);
}

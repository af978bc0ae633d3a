// coordkit/log/log.h: console-safe ASCII logging. Include this one header.
//
// A Logger carries a component name and a level, and hands each record at or
// above its level to its sinks: a ConsoleSink (stderr, survives a closed,
// broken or full console) and/or a FileSink (rotating file, text or JSON
// lines). Every byte that reaches a console or a file has gone through
// to_ascii(), so a log line can never hold a character a console cannot
// show, nor a line break that splits one record into two lines.
//
// Loggers are cheap values: with_component() makes one for a part of the
// program that shares the sinks and has its own name and level.
//
// Example:
//
//   #include "coordkit/log/log.h"
//
//   namespace ck = coordkit::log;
//
//   int main() {
//     ck::reserve_standard_fds();  // servers: first thing, before any open()
//     auto console = std::make_shared<ck::ConsoleSink>();
//     console->set_level(ck::Level::kWarn);  // the console shows warnings and errors
//     auto file = std::make_shared<ck::FileSink>(ck::FileSinkOptions{.path = "gateway.log"});
//     ck::Logger log("gateway", {console, file}, ck::Level::kDebug);
//
//     log.info("listening", {{"addr", "127.0.0.1"}, {"port", 8080}});
//     ck::Logger db_log = log.with_component("db");
//     db_log.warn("retrying", {{"class", "busy"}, {"attempt", 2}});
//     log.error("cannot open database");  // also flushes the file at once
//   }
//
// The header also brings in the sinks (console_sink.h, file_sink.h), Record
// and Field (record.h), the line formats (format.h) and to_ascii.h.

#ifndef COORDKIT_LOG_LOG_H_
#define COORDKIT_LOG_LOG_H_

#include <atomic>
#include <chrono>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "coordkit/log/console_sink.h"
#include "coordkit/log/error.h"
#include "coordkit/log/file_sink.h"
#include "coordkit/log/format.h"
#include "coordkit/log/record.h"
#include "coordkit/log/sink.h"
#include "coordkit/log/to_ascii.h"

namespace coordkit::log {

// Logger: names a component, filters by level, and fans records out to sinks.
//
// Thread-safety: the logging calls, flush(), level(), set_level() and
// enabled() may be used from any number of threads on the same Logger.
// Copying or assigning a Logger while another thread uses that same object
// is not safe (as for any value). Copies share the sinks but each has its
// own level. Logging never throws, never blocks on anything but the sinks'
// own short locks and writes, and never exits.
class Logger {
 public:
  // Logger: a logger with no sinks; it drops everything. Useful as a default.
  Logger() noexcept = default;

  // Logger: records from `component` at `level` or above go to `sinks`
  // (shared; null entries are ignored). Throws std::bad_alloc.
  Logger(std::string component, std::vector<std::shared_ptr<Sink>> sinks,
         Level level = Level::kInfo)
      : component_(std::move(component)), level_(level) {
    std::erase(sinks, nullptr);
    sinks_ = std::make_shared<const std::vector<std::shared_ptr<Sink>>>(std::move(sinks));
  }

  Logger(const Logger& other)
      : sinks_(other.sinks_), component_(other.component_), level_(other.level()) {}
  Logger& operator=(const Logger& other) {
    if (this != &other) {
      sinks_ = other.sinks_;
      component_ = other.component_;
      set_level(other.level());
    }
    return *this;
  }
  Logger(Logger&& other) noexcept
      : sinks_(std::move(other.sinks_)),
        component_(std::move(other.component_)),
        level_(other.level()) {}
  Logger& operator=(Logger&& other) noexcept {
    sinks_ = std::move(other.sinks_);
    component_ = std::move(other.component_);
    set_level(other.level());
    return *this;
  }
  ~Logger() = default;

  // with_component: a logger for `component` with the same sinks and,
  // initially, the same level (change it with set_level() for per-component
  // levels). Throws std::bad_alloc.
  Logger with_component(std::string component) const {
    Logger child(*this);
    child.component_ = std::move(component);
    return child;
  }

  // component: the name written on every line of this logger.
  const std::string& component() const noexcept { return component_; }

  // level / set_level: records below the level are dropped before any
  // formatting. Each sink may filter further (Sink::set_level).
  Level level() const noexcept { return level_.load(std::memory_order_relaxed); }
  void set_level(Level level) noexcept { level_.store(level, std::memory_order_relaxed); }

  // enabled: whether a record at `level` would reach at least one sink. Use
  // it to skip building expensive fields.
  bool enabled(Level level) const noexcept {
    if (level < this->level() || !sinks_) return false;
    for (const auto& sink : *sinks_) {
      if (level >= sink->level()) return true;
    }
    return false;
  }

  // log: writes `message` with `fields` at `level` to every sink that takes
  // it. Everything is copied (escaped) before the call returns, so the
  // arguments only need to live during the call. Never throws.
  void log(Level level, std::string_view message, std::span<const Field> fields) const noexcept {
    if (level < this->level() || !sinks_) return;
    const Record record{std::chrono::system_clock::now(), level, component_, message, fields};
    for (const auto& sink : *sinks_) {
      if (level >= sink->level()) sink->write(record);
    }
  }
  void log(Level level, std::string_view message,
           std::initializer_list<Field> fields = {}) const noexcept {
    log(level, message, std::span<const Field>(fields.begin(), fields.size()));
  }

  // trace .. error: log() at that level, e.g.
  //   log.info("saved", {{"collection", name}, {"bytes", size}});
  void trace(std::string_view message, std::initializer_list<Field> fields = {}) const noexcept {
    log(Level::kTrace, message, fields);
  }
  void debug(std::string_view message, std::initializer_list<Field> fields = {}) const noexcept {
    log(Level::kDebug, message, fields);
  }
  void info(std::string_view message, std::initializer_list<Field> fields = {}) const noexcept {
    log(Level::kInfo, message, fields);
  }
  void warn(std::string_view message, std::initializer_list<Field> fields = {}) const noexcept {
    log(Level::kWarn, message, fields);
  }
  void error(std::string_view message, std::initializer_list<Field> fields = {}) const noexcept {
    log(Level::kError, message, fields);
  }

  // flush: flushes every sink (buffered lines to the operating system).
  void flush() const noexcept {
    if (!sinks_) return;
    for (const auto& sink : *sinks_) sink->flush();
  }

  // sinks: the sinks this logger writes to (shared with its copies).
  std::span<const std::shared_ptr<Sink>> sinks() const noexcept {
    // Never a span with a null data pointer: GCC's -Wnull-dereference would
    // flag callers' sinks()[0] even behind a size check.
    static const std::shared_ptr<Sink> kNoSinks[1];
    if (!sinks_) return {kNoSinks, 0};
    return *sinks_;
  }

 private:
  std::shared_ptr<const std::vector<std::shared_ptr<Sink>>> sinks_;
  std::string component_;
  std::atomic<Level> level_{Level::kInfo};
};

// console_logger: a Logger for `component` writing text lines to stderr at
// `level` and above: the usual logger of a command-line tool. Throws
// std::bad_alloc.
inline Logger console_logger(std::string component, Level level = Level::kInfo) {
  return Logger(std::move(component), {std::make_shared<ConsoleSink>()}, level);
}

}  // namespace coordkit::log

#endif  // COORDKIT_LOG_LOG_H_

// coordkit/log/sink.h: where formatted log lines go.
//
// A Logger hands each Record to its Sinks. The built-in ones are ConsoleSink
// (console_sink.h) and FileSink (file_sink.h); a custom sink derives from
// Sink, formats with format_line() (format.h) and counts through the
// protected counters, so stats() means the same for every sink.
//
// Example (a sink that keeps lines in memory, for tests):
//
//   #include "coordkit/log/format.h"
//   #include "coordkit/log/sink.h"
//
//   class MemorySink final : public coordkit::log::Sink {
//    public:
//     void write(const coordkit::log::Record& record) noexcept override {
//       std::lock_guard lock(mutex_);
//       try {
//         coordkit::log::format_line(record, coordkit::log::Format::kText, text_);
//         count_lines_written(1);
//       } catch (...) {
//         count_failed_write(1, ENOMEM);
//       }
//     }
//     void flush() noexcept override {}
//
//    private:
//     std::mutex mutex_;
//     std::string text_;
//   };

#ifndef COORDKIT_LOG_SINK_H_
#define COORDKIT_LOG_SINK_H_

#include <atomic>
#include <cstdint>

#include "coordkit/log/record.h"

namespace coordkit::log {

// SinkStats: a snapshot of a sink's counters since it was created.
struct SinkStats {
  // Lines handed to the operating system (for a buffered sink: flushed).
  std::uint64_t lines_written = 0;
  // write()/send() calls that failed (EBADF, EPIPE, ENOSPC, EIO, ...), plus
  // lines that could not be formatted for lack of memory. Retries of an
  // interrupted call (EINTR) do not count.
  std::uint64_t failed_writes = 0;
  // Lines lost to those failures.
  std::uint64_t lines_dropped = 0;
  // The errno of the most recent failed call (ENOMEM for formatting), 0 if
  // none has failed.
  int last_os_error = 0;
};

// Sink: the interface every destination implements.
//
// Thread-safety: write() and flush() may be called from many threads at once;
// each sink serialises itself so lines never interleave. level()/set_level()
// and stats() are safe at any time.
class Sink {
 public:
  Sink() = default;
  Sink(const Sink&) = delete;
  Sink& operator=(const Sink&) = delete;
  virtual ~Sink() = default;

  // write: formats `record` and writes it (or buffers it). Never throws and
  // never blocks forever on its own; failures are counted in stats(). The
  // record and everything it points to are valid only during the call.
  virtual void write(const Record& record) noexcept = 0;

  // flush: hands buffered lines to the operating system (not fsync).
  virtual void flush() noexcept = 0;

  // level / set_level: the least important level this sink takes; Logger
  // skips the sink for records below it. Default Level::kTrace (all).
  Level level() const noexcept { return level_.load(std::memory_order_relaxed); }
  void set_level(Level level) noexcept { level_.store(level, std::memory_order_relaxed); }

  // stats: the counters as of now (each read atomically, not as a set).
  SinkStats stats() const noexcept {
    return {lines_written_.load(std::memory_order_relaxed),
            failed_writes_.load(std::memory_order_relaxed),
            lines_dropped_.load(std::memory_order_relaxed),
            last_os_error_.load(std::memory_order_relaxed)};
  }

  // failed_writes: shorthand for stats().failed_writes.
  std::uint64_t failed_writes() const noexcept {
    return failed_writes_.load(std::memory_order_relaxed);
  }

 protected:
  void count_lines_written(std::uint64_t lines) noexcept {
    lines_written_.fetch_add(lines, std::memory_order_relaxed);
  }
  // count_failed_write: one failed call, with errno `os_error`, that lost
  // `lines_lost` lines.
  void count_failed_write(std::uint64_t lines_lost, int os_error) noexcept {
    last_os_error_.store(os_error, std::memory_order_relaxed);
    failed_writes_.fetch_add(1, std::memory_order_relaxed);
    lines_dropped_.fetch_add(lines_lost, std::memory_order_relaxed);
  }

 private:
  std::atomic<Level> level_{Level::kTrace};
  std::atomic<std::uint64_t> lines_written_{0};
  std::atomic<std::uint64_t> failed_writes_{0};
  std::atomic<std::uint64_t> lines_dropped_{0};
  std::atomic<int> last_os_error_{0};
};

}  // namespace coordkit::log

#endif  // COORDKIT_LOG_SINK_H_

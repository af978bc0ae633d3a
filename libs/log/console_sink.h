// coordkit/log/console_sink.h: log lines to stderr that can never take the
// process down, and the start-up call that keeps them out of other files.
//
// A ConsoleSink writes each line, through to_ascii(), with one unbuffered
// write to a descriptor (stderr by default). It survives every way a console
// goes missing and counts each failure in stats() instead:
//   - no console at all / a closed descriptor    EBADF
//   - a reader that went away (`app | head -1`)  EPIPE, and no SIGPIPE death
//   - a full disk behind a redirect (/dev/full)  ENOSPC
//
// A process started with descriptor 1 or 2 closed has a second problem: the
// next file it opens gets that number, and console lines land in that file.
// Servers therefore call reserve_standard_fds() first thing in main(),
// before opening anything, which points every closed descriptor among 0, 1
// and 2 at /dev/null.
//
// Example:
//
//   #include "coordkit/log/log.h"
//
//   int main() {
//     coordkit::log::reserve_standard_fds();  // first thing: before any open()
//     auto console = std::make_shared<coordkit::log::ConsoleSink>();
//     coordkit::log::Logger log("gateway", {console});
//     log.info("starting");
//   }

#ifndef COORDKIT_LOG_CONSOLE_SINK_H_
#define COORDKIT_LOG_CONSOLE_SINK_H_

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>

#include "coordkit/log/error.h"
#include "coordkit/log/format.h"
#include "coordkit/log/internal/fd_io.h"
#include "coordkit/log/internal/line_format.h"
#include "coordkit/log/record.h"
#include "coordkit/log/sink.h"

namespace coordkit::log {

// reserve_standard_fds: for each of descriptors 0, 1 and 2 that is closed,
// opens /dev/null onto it (read-write, inheritable, like a normal stdio), so
// that later open()s cannot receive those numbers. Returns how many it
// reserved (0 when all three were open).
//
// Call it first thing in main(), before any other thread starts and before
// any file or socket is opened; a descriptor opened earlier may already sit
// at 1 or 2. Throws Error(kOpenFailed) with the errno if /dev/null cannot be
// opened: the process then has no safe place for stray output, and should
// exit. Not thread-safe against concurrent open()s (hence: first thing).
inline int reserve_standard_fds() {
  int reserved = 0;
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    const int null_fd = ::open("/dev/null", O_RDWR | O_NOCTTY);
    if (null_fd < 0) {
      throw Error(ErrorCode::kOpenFailed, "cannot open /dev/null to reserve fds 0-2", errno);
    }
    // open() returns the lowest free number, which is `fd`: the ones below
    // it are open (checked or reserved just before). dup2 covers the rest.
    if (null_fd != fd) {
      const int dup_error = ::dup2(null_fd, fd) < 0 ? errno : 0;
      ::close(null_fd);
      if (dup_error != 0) {
        throw Error(ErrorCode::kOpenFailed, "cannot reserve a standard fd", dup_error);
      }
    }
    ++reserved;
  }
  return reserved;
}

// ConsoleSinkOptions: where and how a ConsoleSink writes.
struct ConsoleSinkOptions {
  // The descriptor to write to; not owned (never closed). Default stderr.
  int fd = STDERR_FILENO;
  // Text for people by default; JSON lines for a supervisor that parses them.
  Format format = Format::kText;
};

// ConsoleSink: one unbuffered write per line to a console descriptor.
//
// Lines are never split or interleaved between threads of this process (a
// mutex serialises writes). A failed write drops that line and is counted in
// stats() (failed_writes, lines_dropped, last_os_error); later lines are
// still tried, so output resumes if the descriptor recovers. Never raises
// SIGPIPE (see internal/fd_io.h for how), never throws, never exits. A
// non-blocking descriptor that is full drops the line (EAGAIN). flush() has
// nothing to do: nothing is buffered. POSIX only.
class ConsoleSink final : public Sink {
 public:
  ConsoleSink() noexcept : ConsoleSink(ConsoleSinkOptions{}) {}
  explicit ConsoleSink(ConsoleSinkOptions options) noexcept
      : fd_(options.fd), format_(options.format) {}

  void write(const Record& record) noexcept override {
    internal::LineBuffer& line = internal::thread_line_buffer();
    try {
      internal::format_record(record, format_, line);
    } catch (...) {  // std::bad_alloc: the line cannot be formatted
      count_failed_write(1, ENOMEM);
      return;
    }
    const std::lock_guard lock(mutex_);
    const int error = writer_.write_line(fd_, line.data(), line.size());
    if (error == 0) {
      count_lines_written(1);
    } else {
      count_failed_write(1, error);
    }
  }

  void flush() noexcept override {}

  // fd: the descriptor this sink writes to.
  int fd() const noexcept { return fd_; }

 private:
  const int fd_;
  const Format format_;
  std::mutex mutex_;
  internal::StreamWriter writer_;  // guarded by mutex_
};

}  // namespace coordkit::log

#endif  // COORDKIT_LOG_CONSOLE_SINK_H_

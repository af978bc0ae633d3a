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
// Windows: the sink writes to a HANDLE (standard error by default, looked up
// at each write). A real console gets WriteConsoleW, a redirected handle
// (file, pipe, NUL) plain WriteFile, both of the same ASCII line, so what
// appears is identical under code page 1252, 437, 850 or 65001. No console
// at all (a GUI-subsystem process, a detached one, a closed or invalid
// handle) counts a failed write (ERROR_INVALID_HANDLE) and nothing else;
// a pipe whose reader is gone fails with ERROR_NO_DATA, counted likewise.
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

#ifdef _WIN32
#include <windows.h>
#else
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#endif

#include <cerrno>
#include <mutex>

#include "coordkit/log/error.h"
#include "coordkit/log/format.h"
#ifdef _WIN32
#include "coordkit/log/internal/windows_console.h"
#else
#include "coordkit/log/internal/fd_io.h"
#endif
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
#ifdef _WIN32
// Windows: standard handles are not numbered lowest-free as POSIX
// descriptors are, so a missing one cannot capture a later file: nothing to
// reserve, always 0.
inline int reserve_standard_fds() noexcept { return 0; }
#else
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
#endif

// ConsoleSinkOptions: where and how a ConsoleSink writes.
struct ConsoleSinkOptions {
#ifdef _WIN32
  // The handle to write to; not owned (never closed). nullptr, the default:
  // GetStdHandle(STD_ERROR_HANDLE) at each write, so a console allocated or
  // a handle set with SetStdHandle later is followed.
  HANDLE handle = nullptr;
#else
  // The descriptor to write to; not owned (never closed). Default stderr.
  int fd = STDERR_FILENO;
#endif
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
// nothing to do: nothing is buffered. Windows: see the top of this file;
// last_os_error is then a GetLastError() value.
class ConsoleSink final : public Sink {
 public:
  ConsoleSink() noexcept : ConsoleSink(ConsoleSinkOptions{}) {}
#ifdef _WIN32
  explicit ConsoleSink(ConsoleSinkOptions options) noexcept
      : handle_(options.handle), format_(options.format) {}
#else
  explicit ConsoleSink(ConsoleSinkOptions options) noexcept
      : fd_(options.fd), format_(options.format) {}
#endif

  void write(const Record& record) noexcept override {
    internal::LineBuffer& line = internal::thread_line_buffer();
    try {
      internal::format_record(record, format_, line);
    } catch (...) {  // std::bad_alloc: the line cannot be formatted
      count_failed_write(1, ENOMEM);
      return;
    }
    const std::lock_guard lock(mutex_);
#ifdef _WIN32
    const HANDLE handle = handle_ != nullptr ? handle_ : ::GetStdHandle(STD_ERROR_HANDLE);
    const int error = internal::write_handle_line(handle, line.data(), line.size());
#else
    const int error = writer_.write_line(fd_, line.data(), line.size());
#endif
    if (error == 0) {
      count_lines_written(1);
    } else {
      count_failed_write(1, error);
    }
  }

  void flush() noexcept override {}

#ifdef _WIN32
  // handle: the handle this sink writes to (nullptr: standard error).
  HANDLE handle() const noexcept { return handle_; }
#else
  // fd: the descriptor this sink writes to.
  int fd() const noexcept { return fd_; }
#endif

 private:
#ifdef _WIN32
  const HANDLE handle_;
#else
  const int fd_;
#endif
  const Format format_;
  std::mutex mutex_;
#ifndef _WIN32
  internal::StreamWriter writer_;  // guarded by mutex_
#endif
};

}  // namespace coordkit::log

#endif  // COORDKIT_LOG_CONSOLE_SINK_H_

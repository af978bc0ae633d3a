// Writing to file descriptors without dying: EINTR, partial writes and
// SIGPIPE. Not API. POSIX only.

#ifndef COORDKIT_LOG_INTERNAL_FD_IO_H_
#define COORDKIT_LOG_INTERNAL_FD_IO_H_

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <cstddef>

namespace coordkit::log::internal {

// write_all: writes data[0, n) to fd, resuming after partial writes and
// EINTR. Returns 0, or the errno of the call that failed (EIO if a write
// made no progress without an error); if `written` is not null it receives
// the bytes written either way. Does not touch signals: for regular files,
// where EPIPE cannot happen.
inline int write_all(int fd, const char* data, std::size_t n,
                     std::size_t* written = nullptr) noexcept {
  if (written != nullptr) *written = 0;
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w > 0) {
      data += w;
      n -= static_cast<std::size_t>(w);
      if (written != nullptr) *written += static_cast<std::size_t>(w);
    } else if (w < 0 && errno == EINTR) {
      continue;
    } else {
      return w < 0 ? errno : EIO;
    }
  }
  return 0;
}

// SigpipeBlock: keeps SIGPIPE from killing the process during one write to a
// descriptor that may be a pipe whose reader has gone (`| head -1`).
//
// Why this way: the default action of SIGPIPE terminates the process, and a
// library must not change process-wide state, so `signal(SIGPIPE, SIG_IGN)`
// is out. SIGPIPE raised by write() is thread-directed: it goes to the thread
// that wrote. So the guard blocks SIGPIPE in the calling thread only (the
// mask is per thread), lets the write fail with EPIPE, and, if a SIGPIPE is
// now pending that was not pending before, consumes it with a zero-timeout
// sigtimedwait() before restoring the old mask. A SIGPIPE that was already
// pending on entry (sent by someone else) is left alone: standard signals do
// not queue, so the program then sees exactly what it would have seen had we
// never written. If SIGPIPE is ignored, none is raised and nothing is
// consumed. Cost: three cheap syscalls per console write (sigpending and two
// pthread_sigmask), only on this non-socket path.
class SigpipeBlock {
 public:
  SigpipeBlock() noexcept {
    sigemptyset(&sigpipe_);
    sigaddset(&sigpipe_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    was_pending_ = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
    sigemptyset(&old_mask_);
    changed_mask_ = pthread_sigmask(SIG_BLOCK, &sigpipe_, &old_mask_) == 0 &&
                    sigismember(&old_mask_, SIGPIPE) == 0;
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

  // after_write: call with the write's errno (0 on success).
  void after_write(int error) noexcept {
    if (error != EPIPE || was_pending_) return;
    const timespec zero{};
    while (sigtimedwait(&sigpipe_, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }

  ~SigpipeBlock() {
    if (changed_mask_) pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
  }

 private:
  sigset_t sigpipe_;
  sigset_t old_mask_;
  bool was_pending_ = false;
  bool changed_mask_ = false;
};

// StreamWriter: writes whole lines to a descriptor that may be a socket, a
// pipe, a terminal or a file (a console sink's fd), never raising SIGPIPE.
// Sockets get send(MSG_NOSIGNAL), which needs no signal juggling; the first
// ENOTSOCK switches it to write() under a SigpipeBlock for good. Not
// thread-safe: the owning sink serialises calls.
class StreamWriter {
 public:
  // write_line: writes data[0, n); returns 0 or the errno of the failed call.
  // A descriptor in non-blocking mode that is full fails with EAGAIN: the
  // line is dropped rather than blocking or spinning.
  int write_line(int fd, const char* data, std::size_t n) noexcept {
    while (maybe_socket_ && n > 0) {
      const ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
      if (w > 0) {
        data += w;
        n -= static_cast<std::size_t>(w);
      } else if (w < 0 && errno == EINTR) {
        continue;
      } else if (w < 0 && errno == ENOTSOCK) {
        maybe_socket_ = false;
      } else {
        return w < 0 ? errno : EIO;
      }
    }
    if (n == 0) return 0;
    SigpipeBlock block;
    const int error = write_all(fd, data, n);
    block.after_write(error);
    return error;
  }

 private:
  bool maybe_socket_ = true;
};

}  // namespace coordkit::log::internal

#endif  // COORDKIT_LOG_INTERNAL_FD_IO_H_

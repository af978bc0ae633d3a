// Internal (POSIX): the parent's ends of a child's stdio pipes, serviced
// together with poll() so that no order of reads and writes can deadlock.
#ifndef COORDKIT_SPAWN_INTERNAL_POSIX_PIPES_H_
#define COORDKIT_SPAWN_INTERNAL_POSIX_PIPES_H_

#include <poll.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "coordkit/spawn/error.h"
#include "coordkit/spawn/internal/native_handle.h"
#include "coordkit/spawn/internal/posix_error.h"
#include "coordkit/spawn/internal/posix_process.h"

namespace coordkit::spawn::internal {

// write_without_sigpipe: write(2) that reports EPIPE instead of raising
// SIGPIPE. Pipes have no MSG_NOSIGNAL, so SIGPIPE is blocked in this thread
// around the write and a SIGPIPE the write generated is consumed before the
// old mask returns (SIGPIPE from write(2) is directed at the writing thread).
inline ssize_t write_without_sigpipe(int fd, const char* data, std::size_t size) {
  sigset_t pipe_only;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  sigset_t old_mask;
  pthread_sigmask(SIG_BLOCK, &pipe_only, &old_mask);
  sigset_t pending;
  sigemptyset(&pending);
  sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  ssize_t n = ::write(fd, data, size);
  const int saved_errno = errno;
  if (n < 0 && saved_errno == EPIPE && !was_pending) {
    timespec zero{};
    while (sigtimedwait(&pipe_only, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  errno = saved_errno;
  return n;
}

// ChildPipes: owns the parent's ends (non-blocking, close-on-exec) and what
// has been read but not yet handed out. Move-only; not thread-safe.
class ChildPipes {
 public:
  enum class Stream { kOut, kErr };

  ChildPipes() = default;
  ChildPipes(NativeHandle in, NativeHandle out, NativeHandle err)
      : in_(std::move(in)),
        out_(std::move(out)),
        err_(std::move(err)),
        in_is_pipe_(in_.valid()),
        out_is_pipe_(out_.valid()),
        err_is_pipe_(err_.valid()) {}

  void write_in(std::string_view data, std::optional<std::chrono::milliseconds> timeout) {
    if (!in_.valid()) {
      throw Error(ErrorCode::kInvalidArgument, in_is_pipe_ ? "the child's stdin was already closed"
                                                           : "the child's stdin is not a pipe");
    }
    pump(
        data, [] { return true; }, deadline_after(timeout));
  }

  void close_in() noexcept { in_.reset(); }

  std::string read_all(Stream stream, std::optional<std::chrono::milliseconds> timeout) {
    require_pipe(stream);
    NativeHandle& handle = stream == Stream::kOut ? out_ : err_;
    std::string_view nothing;
    pump(
        nothing, [&handle] { return !handle.valid(); }, deadline_after(timeout));
    return std::exchange(buffer(stream), {});
  }

  std::optional<std::string> read_line(Stream stream,
                                       std::optional<std::chrono::milliseconds> timeout) {
    require_pipe(stream);
    NativeHandle& handle = stream == Stream::kOut ? out_ : err_;
    std::string& buf = buffer(stream);
    std::string_view nothing;
    pump(
        nothing, [&] { return !handle.valid() || buf.find('\n') != std::string::npos; },
        deadline_after(timeout));
    std::size_t newline = buf.find('\n');
    if (newline != std::string::npos) {
      std::string line = buf.substr(0, newline);
      buf.erase(0, newline + 1);
      return line;
    }
    if (buf.empty()) return std::nullopt;
    return std::exchange(buf, {});
  }

  void communicate(std::string_view input, std::optional<std::chrono::milliseconds> timeout,
                   std::string& out, std::string& err) {
    if (!input.empty() && !in_.valid()) {
      throw Error(ErrorCode::kInvalidArgument, in_is_pipe_ ? "the child's stdin was already closed"
                                                           : "the child's stdin is not a pipe");
    }
    Deadline deadline = deadline_after(timeout);
    if (in_.valid()) {
      pump(
          input, [] { return true; }, deadline);
      close_in();
    }
    std::string_view nothing;
    pump(
        nothing, [this] { return !out_.valid() && !err_.valid(); }, deadline);
    out = std::exchange(out_buf_, {});
    err = std::exchange(err_buf_, {});
  }

 private:
  void require_pipe(Stream stream) const {
    if (!(stream == Stream::kOut ? out_is_pipe_ : err_is_pipe_)) {
      throw Error(ErrorCode::kInvalidArgument, stream == Stream::kOut
                                                   ? "the child's stdout is not a pipe"
                                                   : "the child's stderr is not a pipe");
    }
  }

  std::string& buffer(Stream stream) { return stream == Stream::kOut ? out_buf_ : err_buf_; }

  // pump: services stdin (while `pending` has bytes), stdout and stderr
  // until `pending` is empty and done() holds, or until nothing is left open.
  template <class Done>
  void pump(std::string_view& pending, Done done, const Deadline& deadline) {
    for (;;) {
      if (pending.empty() && done()) return;
      pollfd fds[3];
      int count = 0;
      int in_slot = -1, out_slot = -1, err_slot = -1;
      if (!pending.empty() && in_.valid()) {
        in_slot = count;
        fds[count++] = pollfd{in_.get(), POLLOUT, 0};
      }
      if (out_.valid()) {
        out_slot = count;
        fds[count++] = pollfd{out_.get(), POLLIN, 0};
      }
      if (err_.valid()) {
        err_slot = count;
        fds[count++] = pollfd{err_.get(), POLLIN, 0};
      }
      if (count == 0) return;  // everything is closed: nothing more can come
      if (deadline && Clock::now() >= *deadline) {
        throw Error(ErrorCode::kTimedOut, "timed out servicing the child's pipes");
      }
      int ready = ::poll(fds, static_cast<nfds_t>(count), poll_timeout_ms(deadline));
      if (ready < 0) {
        if (errno == EINTR) continue;
        throw errno_error(errno, "poll(child pipes)");
      }
      if (ready == 0) continue;  // the deadline check above decides
      if (out_slot >= 0 && fds[out_slot].revents != 0) drain(out_, out_buf_);
      if (err_slot >= 0 && fds[err_slot].revents != 0) drain(err_, err_buf_);
      if (in_slot >= 0 && fds[in_slot].revents != 0) feed(pending);
    }
  }

  // drain: one read; EOF (or a read error) closes our end.
  static void drain(NativeHandle& handle, std::string& buf) {
    char chunk[65536];
    ssize_t n = ::read(handle.get(), chunk, sizeof chunk);
    if (n > 0) {
      buf.append(chunk, static_cast<std::size_t>(n));
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      handle.reset();
    }
  }

  // feed: one non-blocking write of what is pending.
  void feed(std::string_view& pending) {
    ssize_t n = write_without_sigpipe(in_.get(), pending.data(), pending.size());
    if (n >= 0) {
      pending.remove_prefix(static_cast<std::size_t>(n));
      return;
    }
    if (errno == EAGAIN || errno == EINTR) return;
    int err = errno;
    in_.reset();
    pending = {};
    throw Error(ErrorCode::kSystem, "writing the child's stdin", err);
  }

  NativeHandle in_, out_, err_;
  std::string out_buf_, err_buf_;
  bool in_is_pipe_ = false, out_is_pipe_ = false, err_is_pipe_ = false;
};

}  // namespace coordkit::spawn::internal

#endif  // COORDKIT_SPAWN_INTERNAL_POSIX_PIPES_H_

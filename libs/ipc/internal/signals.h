// Internal: SIGINT/SIGTERM into the shutdown path through a self-pipe.
//
// The handler does one async-signal-safe write() of the signal number to a
// non-blocking pipe and nothing else; the watcher thread reads the pipe. A
// self-pipe rather than signalfd: signalfd needs the signals blocked in every
// thread, which a library cannot guarantee when threads were started before
// it; a handler works whichever thread the kernel picks.
//
// The pipe is created once per process and never closed: a handler that
// already loaded the descriptor when a Server is torn down must never write
// into a descriptor number reused for something else.
#ifndef COORDKIT_IPC_INTERNAL_SIGNALS_H_
#define COORDKIT_IPC_INTERNAL_SIGNALS_H_

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>

#include "coordkit/ipc/error.h"
#include "coordkit/ipc/internal/posix.h"

namespace coordkit::ipc::internal {

struct SignalPipeFds {
  int read_fd = -1;
  int write_fd = -1;
};

inline std::atomic<int> g_signal_write_fd{-1};
inline std::atomic<bool> g_signal_owner{false};

extern "C" inline void coordkit_ipc_signal_handler(int signo) {
  const int saved = errno;
  const int fd = g_signal_write_fd.load(std::memory_order_relaxed);
  if (fd >= 0) {
    const unsigned char byte = static_cast<unsigned char>(signo);
    [[maybe_unused]] const ssize_t n = ::write(fd, &byte, 1);  // full pipe: dropped, fine
  }
  errno = saved;
}

inline const SignalPipeFds& process_signal_pipe() {
  static const SignalPipeFds fds = [] {
    int p[2];
    if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) throw_errno("pipe2 for signals");
    return SignalPipeFds{p[0], p[1]};
  }();
  return fds;
}

// SignalCatcher: while alive, SIGINT and SIGTERM write to read_fd() instead
// of killing the process. One per process at a time; the previous
// dispositions come back on destruction.
class SignalCatcher {
 public:
  // SignalCatcher: throws Error{kInvalidArgument} if another is alive (two
  // servers in one process cannot both own the signals), Error{kSystem} if
  // sigaction fails.
  SignalCatcher() {
    bool expected = false;
    if (!g_signal_owner.compare_exchange_strong(expected, true)) {
      throw Error(ErrorCode::kInvalidArgument,
                  "another coordkit::ipc::Server in this process already handles signals");
    }
    try {
      const SignalPipeFds& fds = process_signal_pipe();
      drain();  // bytes from an earlier server's lifetime are not ours
      g_signal_write_fd.store(fds.write_fd);
      struct ::sigaction sa {};
      sa.sa_handler = &coordkit_ipc_signal_handler;
      ::sigemptyset(&sa.sa_mask);
      sa.sa_flags = SA_RESTART;
      if (::sigaction(SIGINT, &sa, &old_int_) != 0) throw_errno("sigaction SIGINT");
      if (::sigaction(SIGTERM, &sa, &old_term_) != 0) {
        const int err = errno;
        ::sigaction(SIGINT, &old_int_, nullptr);
        throw_errno("sigaction SIGTERM", err);
      }
      // A parent may have blocked them (an inherited mask); we want them.
      sigset_t set;
      ::sigemptyset(&set);
      ::sigaddset(&set, SIGINT);
      ::sigaddset(&set, SIGTERM);
      ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    } catch (...) {
      g_signal_write_fd.store(-1);
      g_signal_owner.store(false);
      throw;
    }
  }
  SignalCatcher(const SignalCatcher&) = delete;
  SignalCatcher& operator=(const SignalCatcher&) = delete;
  ~SignalCatcher() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
    g_signal_write_fd.store(-1);
    g_signal_owner.store(false);
  }

  int read_fd() const { return process_signal_pipe().read_fd; }

  // drain: how many signals arrived since the last drain. Never blocks.
  int drain() {
    int count = 0;
    unsigned char buf[64];
    while (true) {
      const ssize_t n = ::read(process_signal_pipe().read_fd, buf, sizeof buf);
      if (n > 0) {
        count += static_cast<int>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      break;
    }
    return count;
  }

 private:
  struct ::sigaction old_int_ {};
  struct ::sigaction old_term_ {};
};

}  // namespace coordkit::ipc::internal

#endif  // COORDKIT_IPC_INTERNAL_SIGNALS_H_

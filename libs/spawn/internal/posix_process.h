// Internal (POSIX, Linux /proc): reading process identities, pidfds,
// waiting for and signalling processes that may not be our children.
#ifndef COORDKIT_SPAWN_INTERNAL_POSIX_PROCESS_H_
#define COORDKIT_SPAWN_INTERNAL_POSIX_PROCESS_H_

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "coordkit/spawn/error.h"
#include "coordkit/spawn/internal/native_handle.h"
#include "coordkit/spawn/internal/posix_error.h"
#include "coordkit/spawn/internal/types.h"

namespace coordkit::spawn::internal {

using Clock = std::chrono::steady_clock;
using Deadline = std::optional<Clock::time_point>;

inline Deadline deadline_after(std::optional<std::chrono::milliseconds> timeout) {
  if (!timeout) return std::nullopt;
  return Clock::now() + std::max(*timeout, std::chrono::milliseconds(0));
}

// poll_timeout_ms: what to pass to poll() for `deadline`: -1 for none,
// otherwise the milliseconds left, rounded up so we never wake early.
inline int poll_timeout_ms(const Deadline& deadline) {
  if (!deadline) return -1;
  auto left = *deadline - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<int>(std::min<decltype(ms)>(ms, INT_MAX));
}

// read_small_file: the whole content of a small /proc or /sys file (O_CLOEXEC,
// no stdio buffering); nullopt if it cannot be opened or read.
inline std::optional<std::string> read_small_file(const std::string& path) {
  NativeHandle fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return std::nullopt;
  std::string content;
  char buffer[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) return content;
    content.append(buffer, static_cast<std::size_t>(n));
  }
}

inline std::int64_t current_pid() { return ::getpid(); }

// parse_proc_stat: the fields of a /proc/<pid>/stat line that we need. The
// command name (field 2) is in parentheses and may itself contain spaces
// and ')', so parsing starts after the last ')'.
inline std::optional<ProcStat> parse_proc_stat(std::string_view line) {
  std::size_t close = line.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view rest = line.substr(close + 1);
  // Fields after the name, counted from 0: state(3) ppid(4) pgrp(5)
  // session(6) tty_nr(7) ... starttime(22) -> index 19.
  constexpr int kStartTimeIndex = 19;
  ProcStat stat;
  int index = 0;
  std::size_t pos = 0;
  while (index <= kStartTimeIndex) {
    pos = rest.find_first_not_of(' ', pos);
    if (pos == std::string_view::npos) return std::nullopt;
    std::size_t end = rest.find(' ', pos);
    if (end == std::string_view::npos) end = rest.size();
    std::string_view field = rest.substr(pos, end - pos);
    pos = end;
    auto number = [&field](auto& out) {
      auto [ptr, ec] = std::from_chars(field.data(), field.data() + field.size(), out);
      return ec == std::errc() && ptr == field.data() + field.size();
    };
    bool ok = true;
    switch (index) {
      case 0:
        stat.exited = field == "Z" || field == "X" || field == "x";
        break;
      case 1:
        ok = number(stat.ppid);
        break;
      case 2:
        ok = number(stat.pgrp);
        break;
      case 3:
        ok = number(stat.session);
        break;
      case 4:
        ok = number(stat.tty_nr);
        break;
      case kStartTimeIndex:
        ok = number(stat.start_time);
        break;
      default:
        break;
    }
    if (!ok) return std::nullopt;
    ++index;
  }
  return stat;
}

// read_proc_stat: /proc/<pid>/stat parsed; nullopt when there is no such
// process (or pid is not positive).
inline std::optional<ProcStat> read_proc_stat(std::int64_t pid) {
  if (pid <= 0 || pid > INT_MAX) return std::nullopt;
  std::optional<std::string> line = read_small_file("/proc/" + std::to_string(pid) + "/stat");
  if (!line) return std::nullopt;
  return parse_proc_stat(*line);
}

// boot_id: /proc/sys/kernel/random/boot_id without its newline, read once.
inline std::string boot_id() {
  static const std::optional<std::string> cached = []() -> std::optional<std::string> {
    std::optional<std::string> id = read_small_file("/proc/sys/kernel/random/boot_id");
    if (!id) return std::nullopt;
    while (!id->empty() && (id->back() == '\n' || id->back() == ' ')) id->pop_back();
    if (id->empty()) return std::nullopt;
    return id;
  }();
  if (!cached) throw Error(ErrorCode::kSystem, "cannot read /proc/sys/kernel/random/boot_id");
  return *cached;
}

// --- pidfd -----------------------------------------------------------------

// pidfd_fallback_for_testing: when set, the library behaves as on a kernel
// without pidfds (start-time verification, backoff polling). Tests only.
inline std::atomic<bool>& pidfd_fallback_for_testing() {
  static std::atomic<bool> forced{false};
  return forced;
}

// raw_pidfd_open: pidfd_open(2) through syscall(), so older C libraries build
// too; -1 with errno ENOSYS where the kernel or headers lack it. The
// descriptor is close-on-exec by the kernel's definition.
inline int raw_pidfd_open(std::int64_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0U));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

inline int raw_pidfd_send_signal(int pidfd, int signo) {
#ifdef SYS_pidfd_send_signal
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, signo, nullptr, 0U));
#else
  (void)pidfd;
  (void)signo;
  errno = ENOSYS;
  return -1;
#endif
}

// pidfd_supported: whether pidfd_open and pidfd_send_signal work here (Linux
// 5.3+; probed once on ourselves).
inline bool pidfd_supported() {
  if (pidfd_fallback_for_testing().load(std::memory_order_relaxed)) return false;
  static const bool supported = [] {
    NativeHandle fd(raw_pidfd_open(::getpid()));
    if (!fd.valid()) return errno != ENOSYS && errno != EPERM;
    return raw_pidfd_send_signal(fd.get(), 0) == 0 || errno != ENOSYS;
  }();
  return supported;
}

// open_process_handle: a pidfd for `pid`; an invalid (but engaged) handle
// when the kernel has no pidfds and the process exists; nullopt when there
// is no such process (or `pid` names a thread, not a process). Throws on
// descriptor exhaustion and other failures.
inline std::optional<NativeHandle> open_process_handle(std::int64_t pid) {
  if (pid <= 0 || pid > INT_MAX) return std::nullopt;
  if (!pidfd_supported()) {
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM) return NativeHandle();
    return std::nullopt;
  }
  NativeHandle fd(raw_pidfd_open(pid));
  if (fd.valid()) return fd;
  if (errno == ESRCH || errno == EINVAL) return std::nullopt;
  throw errno_error(errno, "pidfd_open(" + std::to_string(pid) + ")");
}

// pidfd_exited: polls a pidfd, which turns readable once the process has
// exited (zombie or reaped). Waits up to `deadline` (nullopt: forever).
inline bool pidfd_exited(const NativeHandle& pidfd, const Deadline& deadline) {
  for (;;) {
    pollfd p{pidfd.get(), POLLIN, 0};
    int r = ::poll(&p, 1, poll_timeout_ms(deadline));
    if (r > 0) return true;
    if (r == 0) {
      if (!deadline || Clock::now() >= *deadline) return false;
      continue;  // woke a hair early; poll again for the rest
    }
    if (errno != EINTR) throw errno_error(errno, "poll(pidfd)");
  }
}

// same_live_process: /proc still shows a live process with this start time.
inline bool same_live_process(std::int64_t pid, std::uint64_t start_time) {
  std::optional<ProcStat> stat = read_proc_stat(pid);
  return stat && !stat->exited && stat->start_time == start_time;
}

// wait_process_exit: for a process that need not be our child. With a pidfd:
// poll() on it. Without: /proc polled with a short backoff (1 ms doubling to
// 32 ms), the only sleep loop in the library, used on pre-5.3 kernels only.
inline bool wait_process_exit(const NativeHandle& pidfd, std::int64_t pid, std::uint64_t start_time,
                              std::chrono::milliseconds timeout) {
  Deadline deadline = deadline_after(timeout);
  if (pidfd.valid()) return pidfd_exited(pidfd, deadline);
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    if (!same_live_process(pid, start_time)) return true;
    auto now = Clock::now();
    if (now >= *deadline) return false;
    std::this_thread::sleep_for(std::min<Clock::duration>(pause, *deadline - now));
    pause = std::min(pause * 2, std::chrono::milliseconds(32));
  }
}

inline int signal_number(Signal sig) { return sig == Signal::kKill ? SIGKILL : SIGTERM; }

// signal_process: sends `sig` to a verified process. With a pidfd the
// signal can only reach that process; false once it has exited. Without a
// pidfd the start time is re-read immediately before kill(2).
inline bool signal_process(const NativeHandle& pidfd, std::int64_t pid, std::uint64_t start_time,
                           Signal sig) {
  const int signo = signal_number(sig);
  if (pidfd.valid()) {
    if (pidfd_exited(pidfd, Clock::now())) return false;
    if (raw_pidfd_send_signal(pidfd.get(), signo) == 0) return true;
    if (errno == ESRCH) return false;
    throw errno_error(errno, "pidfd_send_signal(" + std::to_string(pid) + ")");
  }
  if (!same_live_process(pid, start_time)) return false;
  if (::kill(static_cast<pid_t>(pid), signo) == 0) return true;
  if (errno == ESRCH) return false;
  throw errno_error(errno, "kill(" + std::to_string(pid) + ")");
}

}  // namespace coordkit::spawn::internal

#endif  // COORDKIT_SPAWN_INTERNAL_POSIX_PROCESS_H_

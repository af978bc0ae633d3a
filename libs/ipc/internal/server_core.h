// Internal: everything a coordkit::ipc::Server owns, and the watcher thread
// (POSIX). The status record, the request and the rules that change them
// are server_state.h's, shared with the Windows core.
//
// Construction order is the contract's start order: runtime dir, instance
// lock, token, watcher armed (inotify watch + signal handlers), status
// `starting`, one check of the shutdown file and the directory, then the
// watcher thread. Nothing a client could write after reading the new token
// can be missed: the watch exists before the token is published.
//
// The watcher thread poll()s a wake pipe (destruction), the signal pipe and
// the inotify descriptor, with a timeout that drives the safety-net poll
// (stat of the shutdown file, the directory and the lock file) every
// poll_interval, so a lost inotify event, an overflow, NFS or an exhausted
// inotify limit all fall back to the poll.
#ifndef COORDKIT_IPC_INTERNAL_SERVER_CORE_H_
#define COORDKIT_IPC_INTERNAL_SERVER_CORE_H_

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/inotify.h>
#endif

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "coordkit/ipc/error.h"
#include "coordkit/ipc/events.h"
#include "coordkit/ipc/internal/instance_lock.h"
#include "coordkit/ipc/internal/names.h"
#include "coordkit/ipc/internal/posix.h"
#include "coordkit/ipc/internal/server_state.h"
#include "coordkit/ipc/internal/shutdown_judge.h"
#include "coordkit/ipc/internal/signals.h"
#include "coordkit/ipc/internal/token.h"
#include "coordkit/ipc/runtime_dir.h"
#include "coordkit/ipc/shutdown.h"
#include "coordkit/ipc/status.h"
#include "coordkit/spawn/process.h"

namespace coordkit::ipc::internal {

class ServerCore : public ServerState<ServerCore> {
  friend class ServerState<ServerCore>;

  // Bytes on the wake pipe: exit the watcher thread, or re-check its state.
  static constexpr char kWakeExit = 'x';
  static constexpr char kWakeRecheck = 'r';

 public:
  explicit ServerCore(CoreOptions options) : ServerState(std::move(options)) {
    if (options_.poll_interval <= std::chrono::milliseconds(0)) {
      throw Error(ErrorCode::kInvalidArgument, "poll_interval must be positive");
    }
    location_ = resolve_runtime_dir(options_.app, options_.runtime_dir);
    dir_fd_ = open_runtime_dir(location_.path, location_.trusted_base, /*create=*/true);
    lock_name_ = lock_file_name(options_.app);
    status_name_ = status_file_name(options_.app);
    shutdown_name_ = shutdown_file_name(options_.app);

    std::optional<InstanceLock> acquired =
        InstanceLock::try_acquire(dir_fd_.get(), location_.path, lock_name_);
    if (!acquired) {
      // Nothing in the directory was written: the running server's files
      // are untouched.
      throw Error(ErrorCode::kAlreadyRunning, "another instance of '" + options_.app + "' holds " +
                                                  (location_.path / lock_name_).string());
    }
    lock_.emplace(std::move(*acquired));
    {
      struct ::stat st {};
      if (::fstat(dir_fd_.get(), &st) != 0) throw_errno("fstat runtime dir");
      dir_id_ = file_id(st);
    }

    record_.app = options_.app;
    record_.token = new_token();
    try {
      const spawn::ProcessIdentity self = spawn::self_identity();
      record_.pid = self.pid;
      record_.start_time = self.start_time;
      record_.boot_id = self.boot_id;
    } catch (const spawn::Error& e) {
      throw Error(ErrorCode::kSystem,
                  "cannot read own process identity: spawn " + std::string(e.code_name()),
                  e.os_error());
    }
    record_.address = options_.address;
    record_.version = options_.version;
    record_.started_at = iso8601_now();
    record_.set_phase(Phase::kStarting);

    make_pipe(wake_);
    make_pipe(notify_);
    arm_inotify();
    if (options_.handle_signals) signals_.emplace();

    try {
      write_status_locked_or_throw();
      status_written_ = true;
      // The check after arming: a stale or garbage file left from before is
      // removed now; a valid one (a client that already read our token) is
      // honoured.
      check_shutdown_file();
      check_runtime_dir();
      thread_ = std::thread([this] { run(); });
    } catch (...) {
      if (status_written_) ::unlinkat(dir_fd_.get(), status_name_.c_str(), 0);
      throw;
    }
  }

  ServerCore(const ServerCore&) = delete;
  ServerCore& operator=(const ServerCore&) = delete;

  ~ServerCore() {
    if (thread_.joinable()) {
      const char byte = kWakeExit;
      [[maybe_unused]] const bool ok = write_all(wake_[1].get(), std::string_view(&byte, 1));
      thread_.join();
    }
    signals_.reset();
    if (!lost_.load()) {
      // A request that arrived too late to matter is ours to clean up; a
      // foreign file stays for the next server to judge.
      remove_own_shutdown_file();
      // Remove the status file while the lock is still held: after the lock
      // goes, the file may already be the next server's.
      ::unlinkat(dir_fd_.get(), status_name_.c_str(), 0);
    }
    lock_.reset();  // released: clients see the server gone from here on
    if (inotify_) close_in_background(inotify_.release());
  }

  const std::filesystem::path& runtime_dir() const noexcept { return location_.path; }
  const std::string& token() const noexcept { return record_.token; }
  bool using_inotify() const noexcept { return inotify_armed_; }
  int notify_fd() const noexcept { return notify_[0].get(); }

 private:
  static void make_pipe(UniqueFd (&ends)[2]) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) throw_errno("pipe2");
    ends[0].reset(p[0]);
    ends[1].reset(p[1]);
  }

  // announce_shutdown: the byte that makes the shutdown handle readable,
  // and a wake-up for the watcher, which drops its inotify watch now (see
  // stop_watching).
  void announce_shutdown() noexcept {
    const char byte = 's';
    [[maybe_unused]] const bool ok = write_all(notify_[1].get(), std::string_view(&byte, 1));
    const char recheck = kWakeRecheck;
    [[maybe_unused]] const bool woke = write_all(wake_[1].get(), std::string_view(&recheck, 1));
  }

  void arm_inotify() {
#if defined(__linux__)
    if (!options_.use_inotify || env_forces_polling()) return;
    UniqueFd fd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    if (!fd) {
      report(EventKind::kInotifyUnavailable, std::nullopt,
             errno_message("inotify_init1", errno) + "; polling every " +
                 std::to_string(options_.poll_interval.count()) + " ms");
      return;
    }
    const std::uint32_t mask = IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE |
                               IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR |
                               IN_DONT_FOLLOW | IN_EXCL_UNLINK;
    const int wd = ::inotify_add_watch(fd.get(), location_.path.c_str(), mask);
    if (wd < 0) {
      report(EventKind::kInotifyUnavailable, std::nullopt,
             errno_message("inotify_add_watch " + location_.path.string(), errno) +
                 "; polling every " + std::to_string(options_.poll_interval.count()) + " ms");
      return;
    }
    inotify_ = std::move(fd);
    watch_descriptor_ = wd;
    watching_ = true;
    inotify_armed_ = true;
#endif
  }

  // write_status_locked_or_throw: atomically replaces the status file with
  // record_ (temp file, rename). Caller holds status_mutex_ (or is the
  // constructor). `sync`: fsync the file before and the directory after the
  // rename. The draining acknowledgement skips it: it sits on the shutdown
  // path (two fsyncs cost milliseconds, far more on a busy disk), the file
  // is removed moments later, and a crash in between leaves a status that
  // readers judge by the lock anyway (free: stale) whatever its state word.
  void write_status_locked_or_throw(bool sync = true) {
    const std::string temp =
        temp_file_name(status_name_, static_cast<long>(record_.pid), random_hex(6));
    write_file_atomically_at(dir_fd_.get(), status_name_, temp, format_status(record_), 0600, sync);
  }

  void remove_own_shutdown_file() {
    try {
      auto file = read_small_file_at(dir_fd_.get(), shutdown_name_, kMaxShutdownFileSize);
      if (!file || !S_ISREG(file->st.st_mode)) return;
      auto parsed = parse_shutdown_file(file->content);
      if (parsed && tokens_equal(parsed->token, record_.token)) {
        ::unlinkat(dir_fd_.get(), shutdown_name_.c_str(), 0);
      }
    } catch (...) {
      // Best effort: a leftover file is rejected by the next server.
    }
  }

  // remove_if_same: removes the shutdown file if it is still the entry we
  // judged (a valid request renamed over it meanwhile is left for the next
  // check).
  void remove_if_same(const FileId& judged, bool is_dir) {
    auto st = stat_at(dir_fd_.get(), shutdown_name_);
    if (!st || file_id(*st) != judged) return;
    if (::unlinkat(dir_fd_.get(), shutdown_name_.c_str(), is_dir ? AT_REMOVEDIR : 0) != 0) {
      if (errno == ENOENT) return;
      // Cannot remove (a non-empty directory): report once, not every poll.
      if (unremovable_ && *unremovable_ == judged) return;
      unremovable_ = judged;
      report(EventKind::kWatcherError, std::nullopt,
             errno_message("cannot remove " + shutdown_name_, errno));
    }
  }

  void reject(RejectReason reason, const FileId& judged, bool is_dir, const std::string& why) {
    if (!(unremovable_ && *unremovable_ == judged)) {
      report(EventKind::kShutdownFileRejected, reason,
             (location_.path / shutdown_name_).string() + ": " + why);
    }
    remove_if_same(judged, is_dir);
  }

  // check_shutdown_file: judges <app>.shutdown if present: honour a regular
  // file of ours with our token; report and remove anything else.
  void check_shutdown_file() {
    if (lost_.load()) return;
    const auto st = stat_at(dir_fd_.get(), shutdown_name_);
    if (!st) return;
    const FileId id = file_id(*st);
    if (auto refused = judge_shutdown_entry(st->st_mode)) {
      return reject(*refused->rejected, id, S_ISDIR(st->st_mode), refused->why);
    }
    std::optional<SmallFile> file;
    try {
      file = read_small_file_at(dir_fd_.get(), shutdown_name_, kMaxShutdownFileSize);
    } catch (const Error& e) {
      if (e.os_error() == ELOOP) return reject(RejectReason::kSymlink, id, false, "a symlink");
      report(EventKind::kWatcherError, std::nullopt, e.what());
      return;
    }
    if (!file) return;  // gone meanwhile
    // Judge what we opened, not what lstat saw a moment ago.
    const FileId opened = file_id(file->st);
    const ShutdownVerdict verdict = judge_shutdown_file(
        {file->st.st_mode, file->st.st_uid, file->st.st_nlink, file->truncated, file->content},
        ::geteuid(), record_.token);
    if (!verdict.accepted) return reject(*verdict.rejected, opened, false, verdict.why);
    const ShutdownFile& parsed = *verdict.accepted;
    // Acknowledge: draining is published (in accept) before the file goes,
    // so a client that sees the file gone already reads draining.
    accept({parsed.mode, parsed.deadline, ShutdownSource::kFile});
    remove_if_same(opened, false);
  }

  // lose: the directory or lock is gone; see the policy in server.h.
  void lose(const std::string& why) {
    if (lost_.exchange(true)) return;
    report(EventKind::kRuntimeDirLost, std::nullopt, why);
    stop_watching();
    accept(
        {ShutdownMode::kGraceful, std::chrono::milliseconds(0), ShutdownSource::kRuntimeDirLost});
  }

  // check_runtime_dir: the poll's view of the directory and lock file: the
  // directory we hold must still be linked and still be what its path
  // names, and the lock file name must still be our locked inode.
  void check_runtime_dir() {
    if (lost_.load()) return;
    struct ::stat st {};
    if (::fstat(dir_fd_.get(), &st) == 0 && st.st_nlink == 0) {
      return lose(location_.path.string() + " was removed");
    }
    struct ::stat by_path {};
    if (::lstat(location_.path.c_str(), &by_path) != 0 || file_id(by_path) != dir_id_) {
      return lose(location_.path.string() + " was removed or replaced");
    }
    const auto lock_st = stat_at(dir_fd_.get(), lock_name_);
    if (!lock_st || file_id(*lock_st) != lock_->id()) {
      return lose((location_.path / lock_name_).string() +
                  " was removed or replaced: the instance lock no longer excludes others");
    }
  }

  // read_inotify: consumes pending events; returns true when the shutdown
  // file should be judged now.
  bool read_inotify() {
    bool check = false;
#if defined(__linux__)
    alignas(struct ::inotify_event) char buf[8192];
    while (watching_) {
      const ssize_t n = ::read(inotify_.get(), buf, sizeof buf);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        break;
      }
      for (ssize_t off = 0; off < n;) {
        const auto* ev = reinterpret_cast<const struct ::inotify_event*>(buf + off);
        off += static_cast<ssize_t>(sizeof(struct ::inotify_event) + ev->len);
        if ((ev->mask & IN_Q_OVERFLOW) != 0) {
          check = true;
          check_runtime_dir();
          continue;
        }
        if ((ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_UNMOUNT)) != 0) {
          lose(location_.path.string() + " was removed or moved (inotify)");
          return false;
        }
        if (ev->len == 0) continue;
        const std::string_view name(ev->name);
        if (name == lock_name_ &&
            (ev->mask & (IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE)) != 0) {
          check_runtime_dir();
          if (lost_.load()) return false;
          continue;
        }
        if (name != shutdown_name_) continue;
        if ((ev->mask & (IN_MOVED_TO | IN_CLOSE_WRITE)) != 0) {
          check = true;
        } else if ((ev->mask & IN_CREATE) != 0) {
          // A regular file being written in place is judged at
          // IN_CLOSE_WRITE (or by the poll); anything else (symlink,
          // directory, FIFO) never gets one, so judge it now.
          auto st = stat_at(dir_fd_.get(), shutdown_name_);
          if (st && !S_ISREG(st->st_mode)) check = true;
        }
      }
    }
#endif
    return check;
  }

  // drain_wake_pipe: true when the destructor asked the thread to exit.
  bool drain_wake_pipe() {
    bool exit = false;
    char buf[64];
    while (true) {
      const ssize_t n = ::read(wake_[0].get(), buf, sizeof buf);
      if (n > 0) {
        for (ssize_t i = 0; i < n; ++i) exit = exit || buf[i] == kWakeExit;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      return exit;
    }
  }

  // stop_watching: removes the inotify watch once a shutdown is under way
  // (or the directory is gone). The kernel then tears the watch down in the
  // background while the server drains, instead of making the final close()
  // of the inotify descriptor wait for it. From here on the poll alone
  // watches: a later fast request or a lost directory is still seen within
  // poll_interval, and signals are not affected.
  void stop_watching() {
#if defined(__linux__)
    if (!watching_) return;
    watching_ = false;
    ::inotify_rm_watch(inotify_.get(), watch_descriptor_);  // EINVAL if already gone: fine
    close_in_background(inotify_.release());
#endif
  }

  // close_in_background: closes an inotify descriptor on a detached thread.
  // Closing an inotify instance whose watch is being torn down waits for
  // an RCU grace period (measured here: 7 ms on average, 16 ms on a busy
  // machine, 0.03 ms once the teardown is done). Nothing of ours waits for
  // it: the lock is released and the server drains meanwhile (a process
  // that exits still waits for the thread, but in parallel with its drain
  // rather than after it). If no thread can be started, close inline.
  static void close_in_background(int fd) noexcept {
    if (fd < 0) return;
    try {
      std::thread([fd] { ::close(fd); }).detach();
    } catch (...) {
      ::close(fd);
    }
  }

  void run() {
    using Clock = std::chrono::steady_clock;
    auto next_poll = Clock::now() + options_.poll_interval;
    while (true) {
      pollfd fds[3] = {};
      nfds_t count = 0;
      fds[count++] = {wake_[0].get(), POLLIN, 0};
      const int sig_index = signals_ ? static_cast<int>(count) : -1;
      if (signals_) fds[count++] = {signals_->read_fd(), POLLIN, 0};
      const int ino_index = watching_ ? static_cast<int>(count) : -1;
      if (watching_) fds[count++] = {inotify_.get(), POLLIN, 0};

      const auto now = Clock::now();
      const auto wait_ms =
          std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(
                                        next_poll - now + std::chrono::microseconds(999))
                                        .count());
      const int n = ::poll(fds, count, static_cast<int>(std::min<std::int64_t>(wait_ms, 60000)));
      if (n < 0 && errno != EINTR) {
        report(EventKind::kWatcherError, std::nullopt, errno_message("poll", errno));
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      if ((fds[0].revents & POLLIN) != 0 && drain_wake_pipe()) return;
      try {
        if (sig_index >= 0 && (fds[sig_index].revents & POLLIN) != 0) {
          const int signals = signals_->drain();
          for (int i = 0; i < signals; ++i) {
            // The first signal asks for a graceful stop; a second one (Ctrl+C
            // again) for a fast one.
            const bool again = request().has_value();
            accept({again ? ShutdownMode::kFast : ShutdownMode::kGraceful,
                    std::chrono::milliseconds(0), ShutdownSource::kSignal});
          }
        }
        if (ino_index >= 0 && (fds[ino_index].revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
          if (read_inotify()) check_shutdown_file();
        }
        if (Clock::now() >= next_poll) {
          check_runtime_dir();
          check_shutdown_file();
          next_poll = Clock::now() + options_.poll_interval;
        }
        if (watching_ && request().has_value()) stop_watching();
      } catch (const std::exception& e) {
        report(EventKind::kWatcherError, std::nullopt, e.what());
      }
    }
  }

  RuntimeDirLocation location_;
  std::string lock_name_, status_name_, shutdown_name_;
  // Declaration order is destruction order reversed: the directory outlives
  // the lock, the lock outlives the watcher's descriptors.
  UniqueFd dir_fd_;
  FileId dir_id_;
  std::optional<InstanceLock> lock_;
  UniqueFd wake_[2];
  UniqueFd notify_[2];
  UniqueFd inotify_;  // handed to close_in_background once not needed
  int watch_descriptor_ = -1;
  bool watching_ = false;       // watcher thread only, once the thread runs
  bool inotify_armed_ = false;  // set in the constructor, then constant
  std::optional<SignalCatcher> signals_;

  std::optional<FileId> unremovable_;  // watcher thread only
  std::thread thread_;
};

}  // namespace coordkit::ipc::internal

#endif  // COORDKIT_IPC_INTERNAL_SERVER_CORE_H_

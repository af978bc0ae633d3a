// Internal (Windows): everything a coordkit::ipc::Server owns, and the
// watcher thread; the counterpart of server_core.h with the same start
// order and rules. The status record, the request and the rules that change
// them are server_state.h's, shared with POSIX; this file holds only the
// Windows parts (the directory handle, the lock, the watch, the console).
//
// Start order: runtime dir, instance lock, token, watcher armed
// (ReadDirectoryChangesW on the directory + the console control handler),
// status `starting`, one check of the shutdown file and the directory, then
// the watcher thread.
//
// The watcher thread waits (WaitForMultipleObjects) on a wake event
// (destruction, re-checks), the console event and the directory-change
// completion, with a timeout that drives the safety-net poll every
// poll_interval: a lost or overflowed notification (a zero-byte completion),
// a network share that reports nothing, or a watch that could not be armed
// all fall back to the poll. A regular file that an event shows half
// written (not JSON yet) is left for the poll to judge, since Windows has no
// "closed after writing" notification; everything else is judged at once by
// judge_shutdown_file, the same table as on POSIX.
#ifndef COORDKIT_IPC_INTERNAL_SERVER_CORE_WINDOWS_H_
#define COORDKIT_IPC_INTERNAL_SERVER_CORE_WINDOWS_H_

#include <algorithm>
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
#include <vector>

#include "coordkit/ipc/error.h"
#include "coordkit/ipc/events.h"
#include "coordkit/ipc/internal/names.h"
#include "coordkit/ipc/internal/server_state.h"
#include "coordkit/ipc/internal/shutdown_judge.h"
#include "coordkit/ipc/internal/token.h"
#include "coordkit/ipc/internal/windows.h"
#include "coordkit/ipc/internal/windows_console.h"
#include "coordkit/ipc/internal/windows_lock.h"
#include "coordkit/ipc/runtime_dir.h"
#include "coordkit/ipc/shutdown.h"
#include "coordkit/ipc/status.h"

namespace coordkit::ipc::internal {

class ServerCore : public ServerState<ServerCore> {
  friend class ServerState<ServerCore>;

 public:
  explicit ServerCore(CoreOptions options) : ServerState(std::move(options)) {
    if (options_.poll_interval <= std::chrono::milliseconds(0)) {
      throw Error(ErrorCode::kInvalidArgument, "poll_interval must be positive");
    }
    location_ = resolve_runtime_dir(options_.app, options_.runtime_dir);
    dir_ = open_runtime_dir(location_.path, location_.trusted_base, /*create=*/true);
    lock_name_ = lock_file_name(options_.app);
    status_name_ = status_file_name(options_.app);
    shutdown_name_ = shutdown_file_name(options_.app);

    std::optional<InstanceLock> acquired = InstanceLock::try_acquire(dir_, lock_name_);
    if (!acquired) {
      throw Error(ErrorCode::kAlreadyRunning, "another instance of '" + options_.app + "' holds " +
                                                  (location_.path / lock_name_).string());
    }
    lock_.emplace(std::move(*acquired));

    record_.app = options_.app;
    record_.token = new_token();
    const ProcessIdentityW self = self_identity();
    record_.pid = self.pid;
    record_.start_time = self.start_time;
    record_.address = options_.address;
    record_.version = options_.version;
    record_.started_at = iso8601_now();
    record_.set_phase(Phase::kStarting);

    wake_.reset(::CreateEventW(nullptr, FALSE, FALSE, nullptr));
    notify_.reset(::CreateEventW(nullptr, TRUE, FALSE, nullptr));
    change_.reset(::CreateEventW(nullptr, TRUE, FALSE, nullptr));
    if (!wake_ || !notify_ || !change_) throw_win32("CreateEventW");
    arm_watch();
    if (options_.handle_signals) console_.emplace();

    try {
      write_status_locked_or_throw();
      status_written_ = true;
      check_shutdown_file(/*from_event=*/false);
      check_runtime_dir();
      thread_ = std::thread([this] { run(); });
    } catch (...) {
      if (status_written_) remove_file(dir_.file(status_name_), false);
      cancel_watch();
      throw;
    }
  }

  ServerCore(const ServerCore&) = delete;
  ServerCore& operator=(const ServerCore&) = delete;

  ~ServerCore() {
    if (thread_.joinable()) {
      exit_.store(true);
      ::SetEvent(wake_.get());
      thread_.join();
    }
    cancel_watch();
    if (!lost_.load()) {
      remove_own_shutdown_file();
      // While the lock is still held: afterwards the file may be the next
      // server's.
      remove_file(dir_.file(status_name_), false);
    }
    lock_.reset();
    // Wake every waiter on a shutdown_handle_dup() (POSIX: the hang-up of
    // the pipe): the Server is gone, requested or not.
    ::SetEvent(notify_.get());
    console_.reset();  // last: a console close waits for this to return
  }

  const std::filesystem::path& runtime_dir() const noexcept { return location_.path; }
  const std::string& token() const noexcept { return record_.token; }
  bool using_inotify() const noexcept { return watch_armed_; }
  HANDLE notify_handle() const noexcept { return notify_.get(); }

 private:
  // announce_shutdown: signals the shutdown handle and wakes the watcher,
  // which drops its directory watch.
  void announce_shutdown() noexcept {
    ::SetEvent(notify_.get());
    ::SetEvent(wake_.get());
  }

  // arm_watch: the first ReadDirectoryChangesW (names, sizes, times,
  // security of the directory's entries). Unavailable (a file system
  // without change notification): reported, the poll alone watches.
  void arm_watch() {
    if (!options_.use_inotify || env_forces_polling()) return;
    if (!rearm_watch()) {
      report(EventKind::kInotifyUnavailable, std::nullopt,
             "ReadDirectoryChangesW failed (error " + std::to_string(::GetLastError()) +
                 "); polling every " + std::to_string(options_.poll_interval.count()) + " ms");
      return;
    }
    watch_armed_ = true;
  }

  bool rearm_watch() {
    ::ResetEvent(change_.get());
    overlapped_ = OVERLAPPED{};
    overlapped_.hEvent = change_.get();
    const DWORD filter = FILE_NOTIFY_CHANGE_FILE_NAME | FILE_NOTIFY_CHANGE_DIR_NAME |
                         FILE_NOTIFY_CHANGE_SIZE | FILE_NOTIFY_CHANGE_LAST_WRITE |
                         FILE_NOTIFY_CHANGE_SECURITY | FILE_NOTIFY_CHANGE_ATTRIBUTES;
    watching_ = ::ReadDirectoryChangesW(dir_.handle.get(), buffer_.data(),
                                        static_cast<DWORD>(buffer_.size()), FALSE, filter, nullptr,
                                        &overlapped_, nullptr) != 0;
    return watching_;
  }

  // cancel_watch: ends an outstanding ReadDirectoryChangesW and waits for
  // it, so the kernel never writes into buffer_ after we stop.
  void cancel_watch() {
    if (!watching_) return;
    watching_ = false;
    ::CancelIoEx(dir_.handle.get(), &overlapped_);
    DWORD bytes = 0;
    ::GetOverlappedResult(dir_.handle.get(), &overlapped_, &bytes, TRUE);
  }

  void write_status_locked_or_throw(bool sync = true) {
    const std::string temp =
        temp_file_name(status_name_, static_cast<long>(record_.pid), random_hex(6));
    write_file_atomically(dir_, status_name_, temp, format_status(record_), sync);
  }

  void remove_own_shutdown_file() {
    try {
      auto file = read_small_file(dir_.file(shutdown_name_), kMaxShutdownFileSize);
      if (!file || file->reparse_point || !file->facts.disk_file) return;
      auto parsed = parse_shutdown_file(file->content);
      if (parsed && tokens_equal(parsed->token, record_.token)) {
        remove_file(dir_.file(shutdown_name_), false);
      }
    } catch (...) {
    }
  }

  // remove_judged: deletes the file open as `h` (the very one judged:
  // FileDispositionInfo on our handle), or by name for a reparse point.
  void remove_judged(HANDLE h, const std::optional<FileKey>& key, bool is_dir) {
    bool removed = false;
    DWORD err = ERROR_SUCCESS;
    if (h != nullptr) {
      FILE_DISPOSITION_INFO disposition{TRUE};
      removed = ::SetFileInformationByHandle(h, FileDispositionInfo, &disposition,
                                             sizeof disposition) != 0;
      if (!removed) err = ::GetLastError();
    } else {
      removed = remove_file(dir_.file(shutdown_name_), is_dir);
      if (!removed) err = ::GetLastError();
    }
    if (removed) return;
    if (key && unremovable_ && *unremovable_ == *key) return;
    if (key) unremovable_ = key;
    report(EventKind::kWatcherError, std::nullopt,
           "cannot remove " + shutdown_name_ + " (error " + std::to_string(err) + ")");
  }

  void reject(RejectReason reason, HANDLE h, const std::optional<FileKey>& key, bool is_dir,
              const std::string& why) {
    if (!(key && unremovable_ && *unremovable_ == *key)) {
      report(EventKind::kShutdownFileRejected, reason,
             (location_.path / shutdown_name_).string() + ": " + why);
    }
    remove_judged(h, key, is_dir);
  }

  static FileMode mode_of(const FileFacts& facts) {
    if ((facts.attributes & FILE_ATTRIBUTE_REPARSE_POINT) != 0) return kTypeSymlink;
    if ((facts.attributes & FILE_ATTRIBUTE_DIRECTORY) != 0) return kTypeDirectory;
    return facts.disk_file ? kTypeRegular : 0;
  }

  // check_shutdown_file: judges <app>.shutdown if present. `from_event`: a
  // change notification brought us here, so a regular file that does not
  // parse yet may still be being written; the poll judges it.
  void check_shutdown_file(bool from_event) {
    if (lost_.load()) return;
    const std::filesystem::path path = dir_.file(shutdown_name_);
    const DWORD attrs = ::GetFileAttributesW(wide(path).c_str());
    if (attrs == INVALID_FILE_ATTRIBUTES) return;  // none (or being replaced: next check)
    if ((attrs & FILE_ATTRIBUTE_REPARSE_POINT) != 0) {
      return reject(RejectReason::kSymlink, nullptr, key_of(path),
                    (attrs & FILE_ATTRIBUTE_DIRECTORY) != 0, "a reparse point");
    }
    Handle h = open_file_no_follow(path, DELETE);
    if (!h) {
      const DWORD err = ::GetLastError();
      if (err == ERROR_FILE_NOT_FOUND || err == ERROR_PATH_NOT_FOUND) return;
      report(EventKind::kWatcherError, std::nullopt,
             "open " + path.string() + " (error " + std::to_string(err) + ")");
      return;
    }
    // Judge what we opened, not what the name said a moment ago.
    const FileFacts facts = facts_of(h.get(), path.string());
    const FileMode mode = mode_of(facts);
    const bool is_dir = (facts.attributes & FILE_ATTRIBUTE_DIRECTORY) != 0;
    if (auto refused = judge_shutdown_entry(mode)) {
      return reject(*refused->rejected, h.get(), facts.key, is_dir, refused->why);
    }
    std::string content;
    const bool truncated = read_up_to(h.get(), kMaxShutdownFileSize, content, path.string());
    const OwnerId owner =
        owned_by_us(h.get(), path.string()) ? kWindowsThisUser : kWindowsOtherUser;
    const ShutdownVerdict verdict =
        judge_shutdown_file({mode, owner, static_cast<LinkCount>(facts.links), truncated, content},
                            kWindowsThisUser, record_.token);
    if (!verdict.accepted) {
      if (from_event && *verdict.rejected == RejectReason::kMalformed) return;
      return reject(*verdict.rejected, h.get(), facts.key, false, verdict.why);
    }
    const ShutdownFile& parsed = *verdict.accepted;
    accept({parsed.mode, parsed.deadline, ShutdownSource::kFile});
    remove_judged(h.get(), facts.key, false);
  }

  void lose(const std::string& why) {
    if (lost_.exchange(true)) return;
    report(EventKind::kRuntimeDirLost, std::nullopt, why);
    cancel_watch();
    accept(
        {ShutdownMode::kGraceful, std::chrono::milliseconds(0), ShutdownSource::kRuntimeDirLost});
  }

  // check_runtime_dir: the directory's path must still name the directory
  // we hold, and the lock file's name our locked file. A name being deleted
  // (delete pending while handles are open) cannot be opened: lost too.
  void check_runtime_dir() {
    if (lost_.load()) return;
    if (key_of(location_.path) != dir_.key) {
      return lose(location_.path.string() + " was removed or replaced");
    }
    if (key_of(dir_.file(lock_name_)) != lock_->key()) {
      return lose((location_.path / lock_name_).string() +
                  " was removed or replaced: the instance lock no longer excludes others");
    }
  }

  // read_changes: consumes a completed ReadDirectoryChangesW and re-arms
  // it; returns true when the shutdown file should be judged now.
  bool read_changes() {
    DWORD bytes = 0;
    if (!::GetOverlappedResult(dir_.handle.get(), &overlapped_, &bytes, FALSE)) {
      const DWORD err = ::GetLastError();
      watching_ = false;
      check_runtime_dir();
      if (lost_.load()) return false;
      if (err == ERROR_NOTIFY_ENUM_DIR) {
        if (rearm_watch()) return true;
      }
      report(EventKind::kInotifyUnavailable, std::nullopt,
             "ReadDirectoryChangesW ended (error " + std::to_string(err) + "); polling every " +
                 std::to_string(options_.poll_interval.count()) + " ms");
      return true;
    }
    bool check = false;
    if (bytes == 0) {
      // The buffer overflowed: events were lost; look at everything.
      check = true;
      check_runtime_dir();
    } else {
      const std::wstring shutdown_w = std::filesystem::path(shutdown_name_).wstring();
      const std::wstring lock_w = std::filesystem::path(lock_name_).wstring();
      std::size_t off = 0;
      while (off < bytes) {
        const auto* info = reinterpret_cast<const FILE_NOTIFY_INFORMATION*>(buffer_.data() + off);
        const std::wstring_view name(info->FileName, info->FileNameLength / sizeof(wchar_t));
        if (name == shutdown_w && info->Action != FILE_ACTION_REMOVED &&
            info->Action != FILE_ACTION_RENAMED_OLD_NAME) {
          check = true;
        } else if (name == lock_w) {
          check_runtime_dir();
          if (lost_.load()) return false;
        }
        if (info->NextEntryOffset == 0) break;
        off += info->NextEntryOffset;
      }
    }
    if (!lost_.load() && !request().has_value())
      rearm_watch();
    else
      watching_ = false;
    return check;
  }

  void run() {
    using Clock = std::chrono::steady_clock;
    auto next_poll = Clock::now() + options_.poll_interval;
    while (true) {
      HANDLE handles[3];
      DWORD count = 0;
      handles[count++] = wake_.get();
      const int console_index = console_ ? static_cast<int>(count) : -1;
      if (console_) handles[count++] = console_->arrived_event();
      const int change_index = watching_ ? static_cast<int>(count) : -1;
      if (watching_) handles[count++] = change_.get();

      const auto now = Clock::now();
      const auto wait_ms =
          std::clamp<std::int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                       next_poll - now + std::chrono::microseconds(999))
                                       .count(),
                                   0, 60000);
      const DWORD rc = ::WaitForMultipleObjects(count, handles, FALSE, static_cast<DWORD>(wait_ms));
      if (exit_.load()) return;
      try {
        if (rc == WAIT_FAILED) {
          report(EventKind::kWatcherError, std::nullopt,
                 "WaitForMultipleObjects (error " + std::to_string(::GetLastError()) + ")");
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        } else if (rc != WAIT_TIMEOUT) {
          const int index = static_cast<int>(rc - WAIT_OBJECT_0);
          if (index == console_index) {
            const int events = console_->drain();
            for (int i = 0; i < events; ++i) {
              // The first Ctrl+C asks for a graceful stop; a second one for
              // a fast one.
              const bool again = request().has_value();
              accept({again ? ShutdownMode::kFast : ShutdownMode::kGraceful,
                      std::chrono::milliseconds(0), ShutdownSource::kSignal});
            }
          } else if (index == change_index) {
            if (read_changes()) check_shutdown_file(/*from_event=*/true);
          }
        }
        if (Clock::now() >= next_poll) {
          check_runtime_dir();
          check_shutdown_file(/*from_event=*/false);
          next_poll = Clock::now() + options_.poll_interval;
        }
        if (watching_ && request().has_value()) cancel_watch();
      } catch (const std::exception& e) {
        report(EventKind::kWatcherError, std::nullopt, e.what());
      }
    }
  }

  RuntimeDirLocation location_;
  std::string lock_name_, status_name_, shutdown_name_;
  WinDir dir_;
  std::optional<InstanceLock> lock_;
  Handle wake_;    // auto-reset: exit (with exit_) or re-check
  Handle notify_;  // manual-reset: set once a shutdown is accepted
  Handle change_;  // the directory watch's completion event
  OVERLAPPED overlapped_{};
  std::vector<unsigned char> buffer_ = std::vector<unsigned char>(16384);
  bool watching_ = false;     // watcher thread only, once the thread runs
  bool watch_armed_ = false;  // set in the constructor, then constant
  std::optional<ConsoleCatcher> console_;
  std::atomic<bool> exit_{false};

  std::optional<FileKey> unremovable_;  // watcher thread only
  std::thread thread_;
};

}  // namespace coordkit::ipc::internal

#endif  // COORDKIT_IPC_INTERNAL_SERVER_CORE_WINDOWS_H_

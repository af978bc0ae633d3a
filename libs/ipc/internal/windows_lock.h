// Internal (Windows): the instance lock. A Boost.Interprocess file_lock (on
// Windows LockFileEx, exclusive, over the whole file) on `<app>.lock`, held
// for the server's lifetime.
//
// Windows locks belong to a file handle, not to the process: opening and
// closing other handles of the lock file (a probing client in the same
// process, the watcher's identity checks) never drops it, so the POSIX
// registry is not needed. A second Server in the same process fails to take
// it like any other process would. The system releases the lock when the
// holder's handle closes, also when the holder is killed (TerminateProcess),
// though not always at the very instant the process is gone: a new server
// retries for kLockRetry.
//
// Probing (Client::status) has no F_GETLK: the client takes a shared lock
// for a moment (LOCKFILE_FAIL_IMMEDIATELY) and releases it at once; failing
// means an exclusive holder. A server starting in that moment would see a
// lock violation, so try_acquire retries for kLockRetry before it reports
// "already running". The holder's PID is not known (0).
#ifndef COORDKIT_IPC_INTERNAL_WINDOWS_LOCK_H_
#define COORDKIT_IPC_INTERNAL_WINDOWS_LOCK_H_

#include <boost/interprocess/exceptions.hpp>
#include <boost/interprocess/sync/file_lock.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "coordkit/ipc/error.h"
#include "coordkit/ipc/internal/windows.h"

namespace coordkit::ipc::internal {

// kLockRetry: how long a server keeps trying a lock that is taken (a
// probing client, a holder killed a moment ago).
inline constexpr std::chrono::milliseconds kLockRetry{250};

// LockProbe: what a reader learns about a lock without holding it.
struct LockProbe {
  bool held = false;
  bool held_by_this_process = false;  // never known on Windows
  std::int64_t holder_pid = 0;        // 0: unknown
};

class InstanceLock {
 public:
  // try_acquire: creates `name` in `dir` (inheriting its private DACL) and
  // takes the lock, retrying for kLockRetry. nullopt when another process
  // (or another Server in this process) holds it. Throws Error{kSystem} on
  // OS failure, Error{kRuntimeDirNotOwned, kRuntimeDirNotDirectory} if the
  // lock file is not a file of ours.
  static std::optional<InstanceLock> try_acquire(const WinDir& dir, const std::string& name) {
    const std::filesystem::path path = dir.file(name);
    FileKey key;
    {
      Handle h(::CreateFileW(wide(path).c_str(), GENERIC_READ | READ_CONTROL, kShareAll, nullptr,
                             OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OPEN_REPARSE_POINT,
                             nullptr));
      if (!h) throw_win32("open lock file " + path.string());
      const FileFacts facts = facts_of(h.get(), path.string());
      if ((facts.attributes & (FILE_ATTRIBUTE_DIRECTORY | FILE_ATTRIBUTE_REPARSE_POINT)) != 0 ||
          !facts.disk_file) {
        throw Error(ErrorCode::kRuntimeDirNotDirectory,
                    "lock file is not a regular file: " + path.string());
      }
      if (!owned_by_us(h.get(), path.string())) {
        throw Error(ErrorCode::kRuntimeDirNotOwned,
                    "lock file is owned by another user: " + path.string());
      }
      key = facts.key;
    }
    boost::interprocess::file_lock lock;
    try {
      boost::interprocess::file_lock opened(wide(path).c_str());
      lock.swap(opened);
    } catch (const boost::interprocess::interprocess_exception& e) {
      throw Error(ErrorCode::kSystem, "open lock file " + path.string() + ": " + e.what(),
                  e.get_native_error());
    }
    // The name must still be the file we checked (not replaced in between).
    if (key_of(path) != key) {
      throw Error(ErrorCode::kSystem, "lock file changed while opening it: " + path.string());
    }
    const auto until = std::chrono::steady_clock::now() + kLockRetry;
    while (true) {
      bool acquired = false;
      try {
        acquired = lock.try_lock();
      } catch (const boost::interprocess::interprocess_exception& e) {
        throw Error(ErrorCode::kSystem, "lock " + path.string() + ": " + e.what(),
                    e.get_native_error());
      }
      if (acquired) return InstanceLock(std::move(lock), key);
      if (std::chrono::steady_clock::now() >= until) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  // probe: whether some handle holds the lock on `name` (see the header
  // comment). A missing file is not held.
  static LockProbe probe(const WinDir& dir, const std::string& name) {
    LockProbe out;
    const std::filesystem::path path = dir.file(name);
    Handle h = open_file_no_follow(path);
    if (!h) {
      const DWORD err = ::GetLastError();
      if (err == ERROR_FILE_NOT_FOUND || err == ERROR_PATH_NOT_FOUND) return out;
      throw_win32("open lock file " + path.string(), err);
    }
    const FileFacts facts = facts_of(h.get(), path.string());
    if ((facts.attributes & (FILE_ATTRIBUTE_DIRECTORY | FILE_ATTRIBUTE_REPARSE_POINT)) != 0 ||
        !facts.disk_file) {
      return out;
    }
    // The same range Boost locks: the whole file (offset 0, length 2^64-1).
    OVERLAPPED at{};
    if (::LockFileEx(h.get(), LOCKFILE_FAIL_IMMEDIATELY, 0, MAXDWORD, MAXDWORD, &at)) {
      OVERLAPPED again{};
      ::UnlockFileEx(h.get(), 0, MAXDWORD, MAXDWORD, &again);
      return out;
    }
    const DWORD err = ::GetLastError();
    if (err != ERROR_LOCK_VIOLATION && err != ERROR_IO_PENDING) {
      throw_win32("LockFileEx probe of " + path.string(), err);
    }
    out.held = true;
    return out;
  }

  InstanceLock(InstanceLock&& other) noexcept
      : lock_(std::move(other.lock_)),
        key_(other.key_),
        owned_(std::exchange(other.owned_, false)) {}
  InstanceLock& operator=(InstanceLock&&) = delete;
  InstanceLock(const InstanceLock&) = delete;
  InstanceLock& operator=(const InstanceLock&) = delete;

  // ~InstanceLock: closes the handle, which releases the lock.
  ~InstanceLock() {
    if (!owned_) return;
    boost::interprocess::file_lock closing(std::move(lock_));
    (void)closing;
  }

  const FileKey& key() const noexcept { return key_; }

 private:
  InstanceLock(boost::interprocess::file_lock lock, FileKey key)
      : lock_(std::move(lock)), key_(key), owned_(true) {}

  boost::interprocess::file_lock lock_;
  FileKey key_;
  bool owned_ = false;
};

}  // namespace coordkit::ipc::internal

#endif  // COORDKIT_IPC_INTERNAL_WINDOWS_LOCK_H_

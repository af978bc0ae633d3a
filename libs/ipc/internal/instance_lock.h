// Internal: the instance lock. A Boost.Interprocess file_lock (on POSIX an
// fcntl write lock on the whole file) on `<app>.lock`, held for the server's
// lifetime.
//
// fcntl locks belong to a (process, file) pair and are dropped when the
// process closes ANY descriptor of that file. So:
//  - the lock file is opened by the file_lock alone; nothing else in this
//    process may open it while the lock is held. A process-wide registry of
//    held locks makes this library's own readers (Client::status in the same
//    process, a second Server for the same app) answer from memory instead
//    of opening the file.
//  - Boost opens the file with a plain open(O_RDWR): no O_CLOEXEC. We find
//    that descriptor (matching device and inode under /proc/self/fd) and set
//    FD_CLOEXEC before locking. A child exec'd in the short window in
//    between would inherit only a descriptor, never the lock (fcntl locks are
//    not inherited across fork), and libs/spawn closes every descriptor but
//    0/1/2 in its children anyway. An flock() or OFD lock would be the wrong
//    choice here: those are shared with a child that inherits the
//    descriptor, and then outlive the server.
//  - fcntl locks are released by the kernel the moment the holder dies, so a
//    killed server's lock is free at once.
#ifndef COORDKIT_IPC_INTERNAL_INSTANCE_LOCK_H_
#define COORDKIT_IPC_INTERNAL_INSTANCE_LOCK_H_

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/interprocess/exceptions.hpp>
#include <boost/interprocess/sync/file_lock.hpp>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "coordkit/ipc/error.h"
#include "coordkit/ipc/internal/posix.h"

namespace coordkit::ipc::internal {

// FileId: a file by device and inode (what a lock belongs to); libs/base's.
using coordkit::file_id;
using coordkit::FileId;

// LockRegistry: the lock files this process holds. Acquire, release and
// probe all run under its mutex, so no thread of ours opens (and by closing,
// drops) a lock file another thread holds.
class LockRegistry {
 public:
  static LockRegistry& instance() {
    static LockRegistry* registry = new LockRegistry();  // never destroyed: used by destructors
    return *registry;
  }
  std::mutex& mutex() { return mutex_; }
  bool holds(const FileId& id) const { return held_.count(id) != 0; }
  void add(const FileId& id) { held_.insert(id); }
  void remove(const FileId& id) { held_.erase(id); }

 private:
  std::mutex mutex_;
  std::set<FileId> held_;
};

// find_fd_of: the descriptor of this process open on `id`, or -1. Scans
// /proc/self/fd (falls back to probing descriptors up to 4096).
inline int find_fd_of(const FileId& id) {
  auto matches = [&](int fd) {
    struct ::stat st {};
    return ::fstat(fd, &st) == 0 && file_id(st) == id;
  };
  if (DIR* d = ::opendir("/proc/self/fd")) {
    const int skip = ::dirfd(d);
    int found = -1;
    while (dirent* e = ::readdir(d)) {
      char* end = nullptr;
      const long fd = std::strtol(e->d_name, &end, 10);
      if (end == e->d_name || *end != '\0' || fd == skip) continue;
      if (matches(static_cast<int>(fd))) {
        found = static_cast<int>(fd);
        break;
      }
    }
    ::closedir(d);
    return found;
  }
  for (int fd = 0; fd < 4096; ++fd) {
    if (matches(fd)) return fd;
  }
  return -1;
}

// LockProbe: what a reader learns about a lock without taking it.
struct LockProbe {
  bool held = false;
  bool held_by_this_process = false;
  std::int64_t holder_pid = 0;  // 0 when unknown (e.g. another PID namespace)
};

class InstanceLock {
 public:
  // try_acquire: creates `name` in the directory (0600, O_NOFOLLOW) and takes
  // the lock without waiting. nullopt when another process (or another
  // Server in this process) holds it. Throws Error{kSystem} on OS failure,
  // Error{kRuntimeDirNotOwned/kRuntimeDirNotDirectory} if the lock file is
  // not a regular file of ours.
  static std::optional<InstanceLock> try_acquire(int dir_fd, const std::filesystem::path& dir,
                                                 const std::string& name) {
    LockRegistry& registry = LockRegistry::instance();
    std::lock_guard<std::mutex> guard(registry.mutex());
    // Never open a lock file this process already holds: closing it again
    // would drop our own lock.
    if (auto st = stat_at(dir_fd, name); st && registry.holds(file_id(*st))) {
      return std::nullopt;
    }
    FileId id;
    {
      UniqueFd fd(retry_eintr([&] {
        return ::openat(dir_fd, name.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
      }));
      if (!fd) throw_errno("open lock file " + (dir / name).string());
      struct ::stat st {};
      if (::fstat(fd.get(), &st) != 0) throw_errno("fstat lock file");
      check_lock_file(st, dir / name);
      id = file_id(st);
    }  // closed before Boost opens it: we hold no lock yet, so nothing is dropped
    boost::interprocess::file_lock lock;
    try {
      boost::interprocess::file_lock opened((dir / name).c_str());
      lock.swap(opened);
    } catch (const boost::interprocess::interprocess_exception& e) {
      throw Error(ErrorCode::kSystem, "open lock file " + (dir / name).string() + ": " + e.what(),
                  e.get_native_error());
    }
    const int fd = find_fd_of(id);
    if (fd < 0) {
      // The name no longer points at the file we checked (replaced in
      // between): refuse rather than lock something unverified.
      throw Error(ErrorCode::kSystem,
                  "lock file changed while opening it: " + (dir / name).string());
    }
    const int flags = ::fcntl(fd, F_GETFD);
    if (flags < 0 || ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC) != 0) {
      throw_errno("set close-on-exec on the lock file");
    }
    bool acquired = false;
    try {
      acquired = lock.try_lock();
    } catch (const boost::interprocess::interprocess_exception& e) {
      throw Error(ErrorCode::kSystem,
                  std::string("lock ") + (dir / name).string() + ": " + e.what(),
                  e.get_native_error());
    }
    if (!acquired) return std::nullopt;
    registry.add(id);
    return InstanceLock(std::move(lock), id);
  }

  // probe: whether some process holds the lock on `name`, and which (F_GETLK,
  // which tests without taking it: a probing client never makes a starting
  // server fail with "already running"). A missing file is not held.
  static LockProbe probe(int dir_fd, const std::string& name) {
    LockRegistry& registry = LockRegistry::instance();
    std::lock_guard<std::mutex> guard(registry.mutex());
    LockProbe out;
    const auto st = stat_at(dir_fd, name);
    if (!st) return out;
    if (registry.holds(file_id(*st))) {
      out.held = true;
      out.held_by_this_process = true;
      out.holder_pid = static_cast<std::int64_t>(::getpid());
      return out;
    }
    if (!S_ISREG(st->st_mode)) return out;
    UniqueFd fd(retry_eintr([&] {
      return ::openat(dir_fd, name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    }));
    if (!fd) {
      if (errno == ENOENT) return out;
      throw_errno("open lock file " + name);
    }
    struct ::flock fl {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = 0;
    fl.l_len = 0;
    if (::fcntl(fd.get(), F_GETLK, &fl) != 0) throw_errno("F_GETLK on lock file " + name);
    if (fl.l_type != F_UNLCK) {
      out.held = true;
      out.holder_pid = fl.l_pid > 0 ? static_cast<std::int64_t>(fl.l_pid) : 0;
    }
    return out;
  }

  InstanceLock(InstanceLock&& other) noexcept
      : lock_(std::move(other.lock_)), id_(other.id_), owned_(std::exchange(other.owned_, false)) {}
  InstanceLock& operator=(InstanceLock&&) = delete;
  InstanceLock(const InstanceLock&) = delete;
  InstanceLock& operator=(const InstanceLock&) = delete;

  // ~InstanceLock: closes the descriptor, which releases the lock.
  ~InstanceLock() {
    if (!owned_) return;
    LockRegistry& registry = LockRegistry::instance();
    std::lock_guard<std::mutex> guard(registry.mutex());
    boost::interprocess::file_lock closing(std::move(lock_));
    (void)closing;  // its destructor closes the file: the lock is gone
    registry.remove(id_);
  }

  const FileId& id() const noexcept { return id_; }

 private:
  InstanceLock(boost::interprocess::file_lock lock, FileId id)
      : lock_(std::move(lock)), id_(id), owned_(true) {}

  static void check_lock_file(const struct ::stat& st, const std::filesystem::path& path) {
    if (!S_ISREG(st.st_mode)) {
      throw Error(ErrorCode::kRuntimeDirNotDirectory,
                  "lock file is not a regular file: " + path.string());
    }
    if (st.st_uid != ::geteuid()) {
      throw Error(ErrorCode::kRuntimeDirNotOwned,
                  "lock file is owned by another user: " + path.string());
    }
  }

  boost::interprocess::file_lock lock_;
  FileId id_;
  bool owned_ = false;
};

}  // namespace coordkit::ipc::internal

#endif  // COORDKIT_IPC_INTERNAL_INSTANCE_LOCK_H_

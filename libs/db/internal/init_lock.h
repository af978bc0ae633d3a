// Internal: the cross-process initialisation lock, an exclusive flock(2) on
// the sidecar file `<db>.coordkit-init.lock`.
//
// flock on a separate file is safe here: it is not the database file, so it
// cannot disturb SQLite's fcntl locks, and the kernel releases it when the
// holder dies (kill -9 included). Waiting polls with LOCK_NB under a deadline,
// so a stopped holder yields Error{kBusy} rather than a hang.
#ifndef COORDKIT_DB_INTERNAL_INIT_LOCK_H_
#define COORDKIT_DB_INTERNAL_INIT_LOCK_H_

#include <fcntl.h>
#include <sys/file.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>

#include "coordkit/db/error.h"
#include "coordkit/db/internal/posix.h"

namespace coordkit::db::internal {

inline std::string init_lock_path(const std::string& db_path) {
  return db_path + ".coordkit-init.lock";
}

class InitLock {
 public:
  // InitLock: blocks until the lock is held or `deadline` passes (kBusy).
  // Throws kCantOpen/kPermission/kReadOnly when the lock file cannot be made.
  InitLock(const std::string& db_path, Clock::time_point deadline) {
    const std::string path = init_lock_path(db_path);
    fd_ = open_cloexec(path, O_RDWR | O_CREAT | O_NOFOLLOW, sidecar_mode(db_path));
    if (!fd_.valid()) {
      const int err = errno;
      const ErrorCode code = err == EACCES   ? ErrorCode::kPermission
                             : err == EROFS  ? ErrorCode::kReadOnly
                             : err == ENOSPC ? ErrorCode::kFull
                                             : ErrorCode::kCantOpen;
      throw Error(code, "cannot open the init lock file " + path + ": " + std::strerror(err));
    }
    auto pause = std::chrono::microseconds(100);
    for (;;) {
      if (::flock(fd_.get(), LOCK_EX | LOCK_NB) == 0) return;
      if (errno != EWOULDBLOCK && errno != EINTR) {
        throw Error(ErrorCode::kIo, std::string("flock on the init lock: ") + std::strerror(errno));
      }
      if (Clock::now() >= deadline) {
        throw Error(ErrorCode::kBusy, RetryClass::kRetrySameConnection, 0,
                    "the database is being initialised by another process (deadline passed)",
                    std::string());
      }
      sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::microseconds(5000));
    }
  }
  InitLock(const InitLock&) = delete;
  InitLock& operator=(const InitLock&) = delete;
  ~InitLock() {
    if (fd_.valid()) ::flock(fd_.get(), LOCK_UN);
  }

 private:
  UniqueFd fd_;
};

}  // namespace coordkit::db::internal

#endif  // COORDKIT_DB_INTERNAL_INIT_LOCK_H_

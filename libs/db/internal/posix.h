// Internal: small POSIX helpers: opening with O_CLOEXEC, the monotonic
// clock, sleeping, futexes, file sizes. Descriptors are owned by
// coordkit::UniqueFd and file identities are coordkit::FileId (libs/base).
#ifndef COORDKIT_DB_INTERNAL_POSIX_H_
#define COORDKIT_DB_INTERNAL_POSIX_H_

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "coordkit/base/file_id.h"
#include "coordkit/base/unique_fd.h"

namespace coordkit::db::internal {

using Clock = std::chrono::steady_clock;

// open_cloexec: open(2) with O_CLOEXEC, retrying EINTR.
inline UniqueFd open_cloexec(const std::string& path, int flags, mode_t mode = 0) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  return UniqueFd(fd);
}

// sidecar_mode: the permission bits for a sidecar file of `db_path`: the
// database file's read/write bits when it exists (so every user who may write
// the database may also take its locks), 0644 otherwise.
inline mode_t sidecar_mode(const std::string& db_path) {
  struct stat st {};
  if (::stat(db_path.c_str(), &st) == 0) return st.st_mode & 0666;
  return 0644;
}

// file_size: the size of the file at `path` (stat), or nullopt when it does
// not exist.
inline std::optional<off_t> file_size(const std::string& path) noexcept {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return st.st_size;
}

inline void sleep_for(std::chrono::microseconds d) {
  if (d.count() > 0) std::this_thread::sleep_for(d);
}

// futex_wait: sleeps while *word == expected, at most `timeout`. Shared (not
// FUTEX_PRIVATE): the word lives in a MAP_SHARED file mapping.
inline void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected,
                       std::chrono::microseconds timeout) {
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
  struct timespec ts {};
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1000000);
  ts.tv_nsec = static_cast<long>((timeout.count() % 1000000) * 1000);
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT, expected, &ts, nullptr,
            0);
}

inline void futex_wake(std::atomic<std::uint32_t>* word, int count) {
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE, count, nullptr, nullptr,
            0);
}

// fsync_dir: makes a rename/link in `dir` durable. Best effort.
inline void fsync_dir(const std::filesystem::path& dir) {
  UniqueFd fd = open_cloexec(dir.empty() ? std::string(".") : dir.string(), O_RDONLY | O_DIRECTORY);
  if (fd.valid()) ::fsync(fd.get());
}

}  // namespace coordkit::db::internal

#endif  // COORDKIT_DB_INTERNAL_POSIX_H_

// Internal: small POSIX helpers: an owned file descriptor, the monotonic
// clock, sleeping, futexes, and file identity.
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
#include <string>
#include <thread>
#include <utility>

namespace coordkit::db::internal {

using Clock = std::chrono::steady_clock;

// Fd: owns one file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  void reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// open_cloexec: open(2) with O_CLOEXEC, retrying EINTR.
inline Fd open_cloexec(const std::string& path, int flags, mode_t mode = 0) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  return Fd(fd);
}

// sidecar_mode: the permission bits for a sidecar file of `db_path`: the
// database file's read/write bits when it exists (so every user who may write
// the database may also take its locks), 0644 otherwise.
inline mode_t sidecar_mode(const std::string& db_path) {
  struct stat st {};
  if (::stat(db_path.c_str(), &st) == 0) return st.st_mode & 0666;
  return 0644;
}

// FileId: a file's identity (device, inode).
struct FileId {
  dev_t dev = 0;
  ino_t ino = 0;
  friend bool operator==(const FileId&, const FileId&) = default;
  friend bool operator<(const FileId& a, const FileId& b) {
    return a.dev != b.dev ? a.dev < b.dev : a.ino < b.ino;
  }
};

// file_id: the identity of the file at `path` (stat, which takes no locks and
// opens no descriptor), or nullopt-like {0,0} when it does not exist.
inline bool file_id(const std::string& path, FileId* out, off_t* size = nullptr) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  *out = FileId{st.st_dev, st.st_ino};
  if (size != nullptr) *size = st.st_size;
  return true;
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
  Fd fd = open_cloexec(dir.empty() ? std::string(".") : dir.string(), O_RDONLY | O_DIRECTORY);
  if (fd.valid()) ::fsync(fd.get());
}

}  // namespace coordkit::db::internal

#endif  // COORDKIT_DB_INTERNAL_POSIX_H_

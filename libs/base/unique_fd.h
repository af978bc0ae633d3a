// coordkit/base/unique_fd.h: UniqueFd, the one owner of a POSIX file
// descriptor in coordkit.
//
// Example:
//   coordkit::UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
//   if (!fd) throw_errno("open");
//   ::read(fd.get(), buf, sizeof buf);
//   // closed when fd goes out of scope
#ifndef COORDKIT_BASE_UNIQUE_FD_H_
#define COORDKIT_BASE_UNIQUE_FD_H_

#if defined(_WIN32)
#error "coordkit/base/unique_fd.h is POSIX only"
#endif

#include <unistd.h>

#include <utility>

namespace coordkit {

// UniqueFd: owns one descriptor (or none, -1) and closes it on destruction.
// Move-only. close(2) is never retried: on Linux a close interrupted by a
// signal has still closed the descriptor, and a retry could close a reused one.
// Not thread-safe: one owner at a time, like the descriptor itself.
class UniqueFd {
 public:
  UniqueFd() noexcept = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  // get: the descriptor, or -1; ownership stays here.
  int get() const noexcept { return fd_; }
  // valid: whether a descriptor is owned.
  bool valid() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return valid(); }
  // release: gives the descriptor up without closing it; the caller owns it.
  [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }
  // reset: closes the owned descriptor (if any) and takes `fd`.
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace coordkit

#endif  // COORDKIT_BASE_UNIQUE_FD_H_

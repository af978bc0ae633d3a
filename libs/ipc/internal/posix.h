// Internal POSIX helpers of coordkit::ipc: errno to Error, and the *at()
// file operations every other part builds on. Everything
// here opens O_CLOEXEC and never follows a symlink in the runtime directory.
#ifndef COORDKIT_IPC_INTERNAL_POSIX_H_
#define COORDKIT_IPC_INTERNAL_POSIX_H_

#if defined(_WIN32)
#error "coordkit/ipc/internal/posix.h is POSIX only"
#endif

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "coordkit/base/file_id.h"
#include "coordkit/base/unique_fd.h"
#include "coordkit/ipc/error.h"

namespace coordkit::ipc::internal {

// UniqueFd: coordkit's one descriptor owner (libs/base), used unqualified
// throughout this namespace.
using coordkit::UniqueFd;

// errno_message: "what: strerror(errno)" without locale or thread issues.
inline std::string errno_message(std::string_view what, int err) {
  char buf[128] = {};
  // GNU strerror_r may return a static string instead of filling buf.
  const char* text = ::strerror_r(err, buf, sizeof buf);
  std::string out(what);
  out += ": ";
  out += text != nullptr ? text : "unknown error";
  return out;
}

// throw_errno: an Error for `what` failing with errno `err`; the OS text
// comes from coordkit::Error's format.
[[noreturn]] inline void throw_errno(std::string_view what, int err = errno,
                                     ErrorCode code = ErrorCode::kSystem) {
  throw Error(code, std::string(what), err);
}

// retry_eintr: calls fn until it does not fail with EINTR.
template <typename Fn>
auto retry_eintr(Fn fn) -> decltype(fn()) {
  decltype(fn()) rc;
  do {
    rc = fn();
  } while (rc == -1 && errno == EINTR);
  return rc;
}

// write_all: writes every byte or returns false with errno set.
inline bool write_all(int fd, std::string_view data) noexcept {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// stat_at: lstat() relative to dir_fd; nullopt when the name does not exist.
inline std::optional<struct ::stat> stat_at(int dir_fd, const std::string& name) {
  struct ::stat st {};
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
    throw_errno("fstatat " + name);
  }
  return st;
}

// SmallFile: the content of a file read through read_small_file_at.
struct SmallFile {
  struct ::stat st {};
  std::string content;
  bool truncated = false;  // the file was larger than the limit
};

// read_small_file_at: opens `name` in dir_fd with O_NOFOLLOW|O_NONBLOCK (a FIFO
// planted there cannot block us), reads at most `limit` bytes. nullopt if it
// does not exist. A symlink fails with ELOOP and is reported as an Error with
// os_error() == ELOOP; callers that want to classify use stat_at first.
inline std::optional<SmallFile> read_small_file_at(int dir_fd, const std::string& name,
                                                   std::size_t limit) {
  UniqueFd fd(retry_eintr([&] {
    return ::openat(dir_fd, name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  }));
  if (!fd) {
    if (errno == ENOENT) return std::nullopt;
    throw_errno("open " + name);
  }
  SmallFile out;
  if (::fstat(fd.get(), &out.st) != 0) throw_errno("fstat " + name);
  if (!S_ISREG(out.st.st_mode)) return out;  // caller classifies; never read a device
  char buf[4096];
  while (true) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read " + name);
    }
    if (n == 0) break;
    const std::size_t room = limit - out.content.size();
    if (static_cast<std::size_t>(n) > room) {
      out.content.append(buf, room);
      out.truncated = true;
      break;
    }
    out.content.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

// write_file_atomically_at: publishes `content` under `name` in dir_fd so a
// reader sees the old file or the whole new one, never a part: a temp file in
// the same directory (O_EXCL, mode), fsync, rename over `name`, fsync of the
// directory. `temp_prefix` must be unique per writer (e.g. contain the pid and
// a random part) so concurrent writers never share a temp file. Throws Error.
inline void write_file_atomically_at(int dir_fd, const std::string& name,
                                     const std::string& temp_name, std::string_view content,
                                     mode_t mode, bool sync = true) {
  UniqueFd fd(retry_eintr([&] {
    return ::openat(dir_fd, temp_name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                    mode);
  }));
  if (!fd) throw_errno("create " + temp_name);
  auto fail = [&](std::string_view what) {
    const int err = errno;
    fd.reset();
    ::unlinkat(dir_fd, temp_name.c_str(), 0);
    throw_errno(std::string(what) + " " + temp_name, err);
  };
  // The umask may have narrowed `mode`; it can never widen it. Set it exactly.
  if (::fchmod(fd.get(), mode) != 0) fail("fchmod");
  if (!write_all(fd.get(), content)) fail("write");
  if (sync && ::fsync(fd.get()) != 0) fail("fsync");
  fd.reset();
  if (::renameat(dir_fd, temp_name.c_str(), dir_fd, name.c_str()) != 0) {
    const int err = errno;
    ::unlinkat(dir_fd, temp_name.c_str(), 0);
    throw_errno("rename " + temp_name + " to " + name, err);
  }
  // The rename is durable only once the directory is; a failure here leaves a
  // correct file that might not survive a power cut, which readers tolerate.
  if (sync) ::fsync(dir_fd);
}

}  // namespace coordkit::ipc::internal

#endif  // COORDKIT_IPC_INTERNAL_POSIX_H_

// coordkit/base/file_id.h: FileId, a file's identity (device, inode), and
// how to read it from a path or a descriptor.
//
// Two paths, or a path and an open descriptor, name the same file exactly
// when their FileIds are equal; a file replaced by a rename gets a new one.
//
// Example:
//   std::optional<coordkit::FileId> before = coordkit::file_id_of("app.db");
//   ...
//   if (coordkit::file_id_of("app.db") != before) { /* replaced: reconnect */ }
#ifndef COORDKIT_BASE_FILE_ID_H_
#define COORDKIT_BASE_FILE_ID_H_

#if defined(_WIN32)
#error "coordkit/base/file_id.h is POSIX only"
#endif

#include <sys/stat.h>
#include <sys/types.h>

#include <optional>
#include <string>

namespace coordkit {

// FileId: device and inode of one file. Ordered, so it can key a map.
struct FileId {
  dev_t dev = 0;
  ino_t ino = 0;
  friend bool operator==(const FileId&, const FileId&) = default;
  friend bool operator<(const FileId& a, const FileId& b) {
    return a.dev != b.dev ? a.dev < b.dev : a.ino < b.ino;
  }
};

// file_id: the identity of a stat result.
inline FileId file_id(const struct stat& st) noexcept { return FileId{st.st_dev, st.st_ino}; }

// file_id_of: the identity of the file at `path` (stat, following symlinks),
// or nullopt when it cannot be stat'ed. Takes no locks, opens nothing.
inline std::optional<FileId> file_id_of(const std::string& path) noexcept {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return file_id(st);
}

// file_id_of_fd: the identity of the file open as `fd`, or nullopt.
inline std::optional<FileId> file_id_of_fd(int fd) noexcept {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return std::nullopt;
  return file_id(st);
}

}  // namespace coordkit

#endif  // COORDKIT_BASE_FILE_ID_H_

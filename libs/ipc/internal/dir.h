// Internal: opening a runtime directory safely. Components at and below the
// location's trusted base are opened with O_NOFOLLOW one at a time (openat),
// created 0700 when missing, and verified through the descriptor we hold,
// so a symlink or a directory swapped in between check and use is refused.
#ifndef COORDKIT_IPC_INTERNAL_DIR_H_
#define COORDKIT_IPC_INTERNAL_DIR_H_

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "coordkit/ipc/error.h"
#include "coordkit/ipc/internal/posix.h"

namespace coordkit::ipc::internal {

// classify_entry: throws the kRuntimeDir* error that fits `st` at `path`, or
// returns when it is a directory owned by us with acceptable permissions.
// `final_component` demands no group/other access at all (0700); an
// intermediate component we own may be readable by others but not writable.
inline void check_dir_stat(const struct ::stat& st, const std::filesystem::path& path,
                           bool final_component) {
  if (S_ISLNK(st.st_mode)) {
    throw Error(ErrorCode::kRuntimeDirIsSymlink, "runtime dir is a symlink: " + path.string());
  }
  if (!S_ISDIR(st.st_mode)) {
    throw Error(ErrorCode::kRuntimeDirNotDirectory,
                "runtime dir is not a directory: " + path.string());
  }
  if (st.st_uid != ::geteuid()) {
    throw Error(ErrorCode::kRuntimeDirNotOwned,
                "runtime dir " + path.string() + " is owned by uid " + std::to_string(st.st_uid) +
                    ", not by this user (uid " + std::to_string(::geteuid()) + ")");
  }
  const mode_t forbidden = final_component ? mode_t{077} : mode_t{022};
  if ((st.st_mode & forbidden) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    throw Error(ErrorCode::kRuntimeDirTooOpen,
                "runtime dir " + path.string() + " has mode " + mode +
                    (final_component ? "; it must be 0700 (no group or other access)"
                                     : "; it must not be writable by group or others"));
  }
}

// open_component: opens `name` under parent_fd as a directory without
// following a symlink; creates it 0700 when missing and `create`. Returns an
// invalid fd when missing and !create. `strict`: verify it (see
// check_dir_stat). A component we created is always verified.
inline UniqueFd open_component(int parent_fd, const std::string& name,
                               const std::filesystem::path& path, bool create, bool strict,
                               bool final_component) {
  bool created = false;
  for (int attempt = 0; attempt < 2; ++attempt) {
    const int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (strict || created ? O_NOFOLLOW : 0);
    UniqueFd fd(retry_eintr([&] { return ::openat(parent_fd, name.c_str(), flags); }));
    if (fd) {
      if (strict || created) {
        struct ::stat st {};
        if (::fstat(fd.get(), &st) != 0) throw_errno("fstat " + path.string());
        if (created && (st.st_mode & 07777) != 0700 && st.st_uid == ::geteuid()) {
          // mkdir honoured the umask; make it exactly 0700 (only ours).
          if (::fchmod(fd.get(), 0700) != 0) throw_errno("fchmod " + path.string());
          st.st_mode = (st.st_mode & ~mode_t{07777}) | 0700;
        }
        check_dir_stat(st, path, final_component);
      }
      return fd;
    }
    const int err = errno;
    if (err == ELOOP || err == ENOTDIR) {
      // O_NOFOLLOW on a symlink gives ELOOP; a file gives ENOTDIR: classify.
      struct ::stat st {};
      if (::fstatat(parent_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
        check_dir_stat(st, path, final_component);
      }
      throw_errno("open " + path.string(), err, ErrorCode::kRuntimeDirNotDirectory);
    }
    if (err != ENOENT) throw_errno("open " + path.string(), err);
    if (!create) return UniqueFd();
    if (::mkdirat(parent_fd, name.c_str(), 0700) != 0 && errno != EEXIST) {
      throw_errno("mkdir " + path.string());
    }
    created = true;  // (or raced with another creator: verify strictly either way)
  }
  throw Error(ErrorCode::kSystem, "runtime dir component keeps disappearing: " + path.string());
}

// open_runtime_dir: opens (and with `create`, makes) `dir`, whose ancestors
// up to and including `trusted_base` may be anything the OS resolves
// (followed normally, created 0700 when missing); each component below
// trusted_base is strictly checked. An empty trusted_base means dir's parent.
// Returns an invalid fd if the directory is missing and !create. Throws the
// kRuntimeDir* errors, or kSystem.
inline UniqueFd open_runtime_dir(const std::filesystem::path& dir,
                                 const std::filesystem::path& trusted_base, bool create) {
  const std::filesystem::path abs = std::filesystem::absolute(dir).lexically_normal();
  std::filesystem::path base = trusted_base.empty()
                                   ? abs.parent_path()
                                   : std::filesystem::absolute(trusted_base).lexically_normal();
  std::vector<std::string> parts;
  for (const auto& p : abs.relative_path()) {
    if (!p.empty()) parts.push_back(p.string());
  }
  std::size_t base_parts = 0;
  for (const auto& p : base.relative_path()) {
    if (!p.empty()) ++base_parts;
  }
  if (parts.empty() || base_parts >= parts.size()) {
    throw Error(ErrorCode::kInvalidArgument,
                "runtime dir must lie below its base: " + abs.string());
  }
  UniqueFd cur(retry_eintr([] { return ::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC); }));
  if (!cur) throw_errno("open /");
  std::filesystem::path so_far = "/";
  for (std::size_t i = 0; i < parts.size(); ++i) {
    so_far /= parts[i];
    const bool strict = i >= base_parts;
    UniqueFd next = open_component(cur.get(), parts[i], so_far, create, strict,
                                   /*final_component=*/i + 1 == parts.size());
    if (!next) return UniqueFd();
    cur = std::move(next);
  }
  return cur;
}

}  // namespace coordkit::ipc::internal

#endif  // COORDKIT_IPC_INTERNAL_DIR_H_

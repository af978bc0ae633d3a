// Internal: building a database file where nobody can see it half-made: in a
// temporary sibling, then fsync, then a link into place that never replaces
// an existing file. Creation and backup both go through build_atomically.
#ifndef COORDKIT_DB_INTERNAL_ATOMIC_FILE_H_
#define COORDKIT_DB_INTERNAL_ATOMIC_FILE_H_

#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "coordkit/db/error.h"
#include "coordkit/db/internal/function_ref.h"
#include "coordkit/db/internal/key_cache.h"
#include "coordkit/db/internal/posix.h"
#include "coordkit/db/internal/secret.h"

namespace coordkit::db::internal {

// kTempInfix: what the name of a file being built carries after the final
// name ("app.db.coordkit-new-<pid>-<hex>").
inline constexpr std::string_view kTempInfix = ".coordkit-new-";

// temp_sibling: a fresh name beside `path` for a file being built.
inline std::filesystem::path temp_sibling(const std::filesystem::path& path) {
  std::uint8_t r[4];
  const Salt s = random_salt();
  std::memcpy(r, s.data(), sizeof r);
  char hex[9] = {};
  hex_lower(r, hex);
  return path.parent_path() / (path.filename().string() + std::string(kTempInfix) +
                               std::to_string(::getpid()) + "-" + hex);
}

// remove_db_files: unlinks a database file and its SQLite sidecars. Only for
// files this process built and never linked into place.
inline void remove_db_files(const std::filesystem::path& p) noexcept {
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    ::unlink((p.string() + suffix).c_str());
  }
}

// remove_sidecars_only: unlinks `p`'s -wal and -shm (a checkpointed file
// being published needs neither).
inline void remove_sidecars_only(const std::filesystem::path& p) noexcept {
  ::unlink((p.string() + "-wal").c_str());
  ::unlink((p.string() + "-shm").c_str());
}

// remove_stale_temps: the temporaries of builders of `path` that died. Only
// under the init lock, which every creator holds while it builds.
inline void remove_stale_temps(const std::filesystem::path& path) noexcept {
  std::error_code ec;
  const std::filesystem::path dir =
      path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
  const std::string prefix = path.filename().string() + std::string(kTempInfix);
  std::vector<std::filesystem::path> stale;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.compare(0, prefix.size(), prefix) == 0) stale.push_back(it->path());
  }
  for (const auto& p : stale) ::unlink(p.c_str());
}

// link_noreplace: puts `tmp` at `dest` unless `dest` exists. Returns false
// when `dest` exists (tmp is left for the caller to remove). Throws kCantOpen
// when neither a link nor a rename works.
inline bool link_noreplace(const std::filesystem::path& tmp, const std::filesystem::path& dest) {
  if (::link(tmp.c_str(), dest.c_str()) == 0) {
    ::unlink(tmp.c_str());
    return true;
  }
  if (errno == EEXIST) return false;
#ifdef SYS_renameat2
  // File systems without hard links: rename without replacing.
  if (::syscall(SYS_renameat2, AT_FDCWD, tmp.c_str(), AT_FDCWD, dest.c_str(), 1 /*NOREPLACE*/) ==
      0) {
    return true;
  }
  if (errno == EEXIST) return false;
#endif
  // Last resort, still under the caller's exclusive init lock.
  std::error_code ec;
  if (std::filesystem::exists(dest, ec)) return false;
  if (::rename(tmp.c_str(), dest.c_str()) == 0) return true;
  const int err = errno;
  throw Error(ErrorCode::kCantOpen, "cannot move the new database into place at " + dest.string(),
              err);
}

// build_atomically: the one sequence that publishes a database file.
// `build(tmp)` makes the complete file at the temporary path `tmp` (and must
// leave it checkpointed: its -wal and -shm are removed); then the file is
// fsynced, linked at `dest` without replacing anything, and the directory is
// fsynced. Returns false, having removed the temporary, when `dest` existed by
// then. Throws what `build` throws (the temporary removed), or kCantOpen.
inline bool build_atomically(const std::filesystem::path& dest,
                             FunctionRef<void(const std::filesystem::path&)> build) {
  const std::filesystem::path tmp = temp_sibling(dest);
  struct Cleanup {
    const std::filesystem::path& p;
    bool armed = true;
    ~Cleanup() {
      if (armed) remove_db_files(p);
    }
  } cleanup{tmp};
  build(tmp);
  {
    UniqueFd fd = open_cloexec(tmp.string(), O_RDONLY);
    if (fd.valid()) ::fsync(fd.get());
  }
  remove_sidecars_only(tmp);
  if (!link_noreplace(tmp, dest)) return false;
  cleanup.armed = false;
  fsync_dir(dest.parent_path());
  return true;
}

}  // namespace coordkit::db::internal

#endif  // COORDKIT_DB_INTERNAL_ATOMIC_FILE_H_

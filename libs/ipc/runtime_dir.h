// coordkit/ipc/runtime_dir.h: where a server and its clients meet.
//
// A runtime directory holds one app's lock file, status file and shutdown
// requests. It is found the same way by the server and by every client:
//   1. an explicit directory (a --runtime-dir flag),
//   2. $COORDKIT_RUNTIME_DIR,
//   3. $XDG_RUNTIME_DIR/coordkit/<app> (when $XDG_RUNTIME_DIR is an existing
//      directory),
//   4. the per-user state dir: $XDG_STATE_HOME/coordkit/<app>, else
//      ~/.local/state/coordkit/<app> (Windows: %LOCALAPPDATA%\coordkit\<app>).
// The directory is created 0700 and refused when it is a symlink, not owned
// by this user, or accessible by group or others: its files carry the secret
// that lets a process stop the server. On Windows it is created with a
// protected DACL granting this user alone full access, and refused when it
// is a reparse point (symlink, junction), not a directory, owned by
// another user's SID, or when its DACL grants anyone else (SYSTEM and
// Administrators aside) any access.
//
// Example:
//   coordkit::ipc::RuntimeDirLocation where = coordkit::ipc::resolve_runtime_dir("gateway");
//   coordkit::ipc::ensure_runtime_dir(where);  // throws on an unsafe directory
#ifndef COORDKIT_IPC_RUNTIME_DIR_H_
#define COORDKIT_IPC_RUNTIME_DIR_H_

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "coordkit/ipc/error.h"

#if defined(_WIN32)
#include "coordkit/ipc/internal/windows.h"
#else
#include "coordkit/ipc/internal/dir.h"
#endif

namespace coordkit::ipc {

// RuntimeDirSource: which rule picked the directory.
enum class RuntimeDirSource { kExplicit, kEnvironment, kXdgRuntimeDir, kStateDir };

// RuntimeDirLocation: a resolved (not yet created or checked) directory.
struct RuntimeDirLocation {
  std::filesystem::path path{};  // absolute
  // trusted_base: the part of `path` that is not ours to police (it may
  // contain symlinks or be shared, e.g. /tmp or $XDG_RUNTIME_DIR). Every
  // component below it is created 0700 and checked; the last one must be
  // exactly private. For an explicit or $COORDKIT_RUNTIME_DIR location, the
  // parent of the directory.
  std::filesystem::path trusted_base{};
  RuntimeDirSource source = RuntimeDirSource::kExplicit;
};

// kEnvRuntimeDir: the variable that overrides the default location.
inline constexpr const char* kEnvRuntimeDir = "COORDKIT_RUNTIME_DIR";

// is_valid_app_name: 1 to 64 characters of [A-Za-z0-9._-], not starting with
// '.' or '-': an app name becomes a directory and file names.
constexpr bool is_valid_app_name(std::string_view app) noexcept {
  if (app.empty() || app.size() > 64 || app.front() == '.' || app.front() == '-') return false;
  for (char c : app) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

namespace internal {
inline std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): read-only use
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}
}  // namespace internal

// resolve_runtime_dir: the directory `app` uses, by the rules above, without
// touching the disk beyond checking that $XDG_RUNTIME_DIR exists. Relative
// paths are made absolute against the current directory. Throws
// Error{kInvalidArgument} for a bad app name, Error{kNoRuntimeDir} when no
// rule applies (no HOME and no XDG variables). Thread-safe if nobody
// modifies the environment concurrently.
inline RuntimeDirLocation resolve_runtime_dir(
    std::string_view app, const std::optional<std::filesystem::path>& explicit_dir = {}) {
  if (!is_valid_app_name(app)) {
    throw Error(ErrorCode::kInvalidArgument, "invalid app name '" + std::string(app) + "'");
  }
  namespace fs = std::filesystem;
  auto explicit_location = [](const fs::path& p, RuntimeDirSource source) {
    const fs::path abs = fs::absolute(p).lexically_normal();
    // "dir/" normalizes to "dir/" with an empty filename: drop it.
    const fs::path clean = abs.has_filename() ? abs : abs.parent_path();
    if (clean == clean.root_path()) {
      throw Error(ErrorCode::kInvalidArgument, "runtime dir cannot be the root directory");
    }
    return RuntimeDirLocation{clean, clean.parent_path(), source};
  };
  if (explicit_dir && !explicit_dir->empty()) {
    return explicit_location(*explicit_dir, RuntimeDirSource::kExplicit);
  }
  if (auto v = internal::env(kEnvRuntimeDir)) {
    return explicit_location(*v, RuntimeDirSource::kEnvironment);
  }
  const std::string app_name(app);
#if defined(_WIN32)
  if (auto v = internal::env("LOCALAPPDATA")) {
    fs::path base(*v);
    return RuntimeDirLocation{base / "coordkit" / app_name, base, RuntimeDirSource::kStateDir};
  }
#else
  if (auto v = internal::env("XDG_RUNTIME_DIR")) {
    fs::path base = fs::path(*v);
    std::error_code ec;
    if (base.is_absolute() && fs::is_directory(base, ec)) {
      base = base.lexically_normal();
      return RuntimeDirLocation{base / "coordkit" / app_name, base,
                                RuntimeDirSource::kXdgRuntimeDir};
    }
  }
  if (auto v = internal::env("XDG_STATE_HOME"); v && fs::path(*v).is_absolute()) {
    fs::path base = fs::path(*v).lexically_normal();
    return RuntimeDirLocation{base / "coordkit" / app_name, base, RuntimeDirSource::kStateDir};
  }
  if (auto home = internal::env("HOME"); home && fs::path(*home).is_absolute()) {
    fs::path base = (fs::path(*home) / ".local" / "state").lexically_normal();
    return RuntimeDirLocation{base / "coordkit" / app_name, base, RuntimeDirSource::kStateDir};
  }
#endif
  throw Error(ErrorCode::kNoRuntimeDir,
              "no runtime dir: pass one explicitly or set COORDKIT_RUNTIME_DIR");
}

// ensure_runtime_dir: creates the directory (and missing parents, 0700) and
// checks it. Throws Error{kRuntimeDirIsSymlink | kRuntimeDirNotOwned |
// kRuntimeDirTooOpen | kRuntimeDirNotDirectory} for an unsafe directory,
// Error{kSystem} for other OS failures. Never changes the mode of a
// directory it did not create: a wrong mode is the user's to fix.
inline void ensure_runtime_dir(const RuntimeDirLocation& where) {
  internal::open_runtime_dir(where.path, where.trusted_base, /*create=*/true);
}

// check_runtime_dir: like ensure_runtime_dir but never creates anything;
// returns false when the directory does not exist.
inline bool check_runtime_dir(const RuntimeDirLocation& where) {
  return internal::open_runtime_dir(where.path, where.trusted_base, /*create=*/false).valid();
}

}  // namespace coordkit::ipc

#endif  // COORDKIT_IPC_RUNTIME_DIR_H_

// Internal (Windows): the Win32 layer of coordkit::ipc, the counterpart of
// posix.h and dir.h. Paths are UTF-8 std::filesystem paths on the outside
// and UTF-16 at every Win32 call (the W functions only).
//
// - Runtime directory: each component below the trusted base is checked
//   through a handle opened without following reparse points: a reparse
//   point (symlink, junction) is refused, and so is a directory whose owner
//   SID is not this process's user (or the default owner it gives new
//   files, which for an elevated administrator is the Administrators
//   group), and so is one whose DACL lets others in: the runtime dir itself
//   must grant nobody but this user (and SYSTEM, Administrators) any
//   access, a component above it nobody else the right to change its
//   entries (the analogs of 0700 and of no group/other write). A directory
//   we create gets a protected DACL that grants this user alone full
//   access.
// - Files are read with FILE_SHARE_READ | FILE_SHARE_WRITE |
//   FILE_SHARE_DELETE and published by temp file +
//   MoveFileExW(MOVEFILE_REPLACE_EXISTING): the name always names a whole
//   file, old or new. That rename fails with ERROR_ACCESS_DENIED while
//   another process has the old file open, even when the reader shares
//   delete access (and so under Wine), so the writer retries, without
//   backing off far: readers hold the file for microseconds, and a writer
//   that sleeps long keeps missing the gaps between them. ReplaceFileW is
//   no way out: Wine implements it as two renames, and between them the
//   name is missing.
// - Process identity: the PID plus the creation time (GetProcessTimes, 100 ns
//   units since 1601). The creation time is absolute, so a PID reused after
//   a reboot cannot match it either: no boot id is needed. Escalation goes
//   through a process handle opened and then verified, so it can only reach
//   that process.
#ifndef COORDKIT_IPC_INTERNAL_WINDOWS_H_
#define COORDKIT_IPC_INTERNAL_WINDOWS_H_

#if !defined(_WIN32)
#error "coordkit/ipc/internal/windows.h is Windows only"
#endif

#include <windows.h>
// (windows.h first: the headers below need its types)
#include <aclapi.h>
#include <sddl.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "coordkit/ipc/error.h"

namespace coordkit::ipc::internal {

// Handle: owns one HANDLE (nullptr or INVALID_HANDLE_VALUE: none) and closes
// it on destruction. Move-only; one owner at a time.
class Handle {
 public:
  Handle() noexcept = default;
  explicit Handle(HANDLE raw) noexcept : raw_(raw == INVALID_HANDLE_VALUE ? nullptr : raw) {}
  Handle(Handle&& other) noexcept : raw_(std::exchange(other.raw_, nullptr)) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) reset(std::exchange(other.raw_, nullptr));
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }

  HANDLE get() const noexcept { return raw_; }
  bool valid() const noexcept { return raw_ != nullptr; }
  explicit operator bool() const noexcept { return valid(); }
  [[nodiscard]] HANDLE release() noexcept { return std::exchange(raw_, nullptr); }
  void reset(HANDLE raw = nullptr) noexcept {
    if (raw_ != nullptr) ::CloseHandle(raw_);
    raw_ = raw == INVALID_HANDLE_VALUE ? nullptr : raw;
  }

 private:
  HANDLE raw_ = nullptr;
};

// throw_win32: an Error for `what` failing with GetLastError() `err`.
[[noreturn]] inline void throw_win32(std::string_view what, DWORD err = ::GetLastError(),
                                     ErrorCode code = ErrorCode::kSystem) {
  throw Error(code, std::string(what), static_cast<int>(err));
}

// wide: a path as the UTF-16 the W functions take.
inline std::wstring wide(const std::filesystem::path& path) { return path.wstring(); }

// current_pid: this process's id.
inline long current_pid() noexcept { return static_cast<long>(::GetCurrentProcessId()); }

// FileKey: a file by volume serial number and file index (what a lock or a
// judged shutdown file is), read from an open handle.
struct FileKey {
  DWORD volume = 0;
  std::uint64_t index = 0;
  friend bool operator==(const FileKey&, const FileKey&) = default;
};

// FileFacts: what a handle says about its file.
struct FileFacts {
  DWORD attributes = 0;
  DWORD links = 0;
  FileKey key{};
  bool disk_file = false;  // GetFileType is FILE_TYPE_DISK (not a pipe or device)
};

inline FileFacts facts_of(HANDLE h, const std::string& what) {
  BY_HANDLE_FILE_INFORMATION info{};
  if (!::GetFileInformationByHandle(h, &info)) throw_win32("GetFileInformationByHandle " + what);
  FileFacts out;
  out.attributes = info.dwFileAttributes;
  out.links = info.nNumberOfLinks;
  out.key = {info.dwVolumeSerialNumber,
             (static_cast<std::uint64_t>(info.nFileIndexHigh) << 32) | info.nFileIndexLow};
  out.disk_file = ::GetFileType(h) == FILE_TYPE_DISK;
  return out;
}

// UserSids: the SIDs a file of this user may be owned by: the token's user,
// and the token's default owner (what new files get; the Administrators
// group for an elevated administrator). Read once per process.
struct UserSids {
  std::vector<BYTE> user;
  std::vector<BYTE> owner;
  std::wstring user_string;  // S-1-5-21-..., for the DACL of a new directory
};

inline const UserSids& user_sids() {
  static const UserSids sids = [] {
    HANDLE raw = nullptr;
    if (!::OpenProcessToken(::GetCurrentProcess(), TOKEN_QUERY, &raw)) {
      throw_win32("OpenProcessToken");
    }
    Handle token(raw);
    auto query = [&](TOKEN_INFORMATION_CLASS what) {
      DWORD size = 0;
      ::GetTokenInformation(token.get(), what, nullptr, 0, &size);
      std::vector<BYTE> buf(size == 0 ? 1 : size);
      if (!::GetTokenInformation(token.get(), what, buf.data(), size, &size)) {
        throw_win32("GetTokenInformation");
      }
      return buf;
    };
    auto copy_sid = [](PSID sid) {
      const DWORD n = ::GetLengthSid(sid);
      std::vector<BYTE> out(n);
      ::CopySid(n, out.data(), sid);
      return out;
    };
    UserSids out;
    std::vector<BYTE> user = query(TokenUser);
    out.user = copy_sid(reinterpret_cast<TOKEN_USER*>(user.data())->User.Sid);
    std::vector<BYTE> owner = query(TokenOwner);
    out.owner = copy_sid(reinterpret_cast<TOKEN_OWNER*>(owner.data())->Owner);
    LPWSTR text = nullptr;
    if (!::ConvertSidToStringSidW(reinterpret_cast<PSID>(out.user.data()), &text)) {
      throw_win32("ConvertSidToStringSidW");
    }
    out.user_string = text;
    ::LocalFree(text);
    return out;
  }();
  return sids;
}

// owned_by_us: whether the object behind `h` (opened with READ_CONTROL) is
// owned by this user (see UserSids). Throws Error{kSystem} when the owner
// cannot be read.
inline bool owned_by_us(HANDLE h, const std::string& what) {
  PSID owner = nullptr;
  PSECURITY_DESCRIPTOR sd = nullptr;
  const DWORD rc = ::GetSecurityInfo(h, SE_FILE_OBJECT, OWNER_SECURITY_INFORMATION, &owner, nullptr,
                                     nullptr, nullptr, &sd);
  if (rc != ERROR_SUCCESS) throw_win32("GetSecurityInfo " + what, rc);
  const UserSids& sids = user_sids();
  const bool ours = owner != nullptr && (::EqualSid(owner, const_cast<BYTE*>(sids.user.data())) ||
                                         ::EqualSid(owner, const_cast<BYTE*>(sids.owner.data())));
  ::LocalFree(sd);
  return ours;
}

// PrivateSecurity: a SECURITY_ATTRIBUTES whose protected DACL grants this
// user alone full access, inherited by everything created inside.
class PrivateSecurity {
 public:
  PrivateSecurity() {
    const std::wstring sddl = L"D:P(A;OICI;FA;;;" + user_sids().user_string + L")";
    if (!::ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl.c_str(), SDDL_REVISION_1, &sd_,
                                                                nullptr)) {
      throw_win32("ConvertStringSecurityDescriptorToSecurityDescriptorW");
    }
    attributes_.nLength = sizeof attributes_;
    attributes_.lpSecurityDescriptor = sd_;
    attributes_.bInheritHandle = FALSE;
  }
  PrivateSecurity(const PrivateSecurity&) = delete;
  PrivateSecurity& operator=(const PrivateSecurity&) = delete;
  ~PrivateSecurity() { ::LocalFree(sd_); }
  SECURITY_ATTRIBUTES* get() noexcept { return &attributes_; }

 private:
  PSECURITY_DESCRIPTOR sd_ = nullptr;
  SECURITY_ATTRIBUTES attributes_{};
};

inline constexpr DWORD kShareAll = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;

// is_transient_sharing_error: what Windows reports while another process
// has a file open that we want to replace or open, or while a replaced file
// is still being deleted: worth a short retry.
inline bool is_transient_sharing_error(DWORD err) noexcept {
  return err == ERROR_ACCESS_DENIED || err == ERROR_SHARING_VIOLATION ||
         err == ERROR_LOCK_VIOLATION;
}

// retry_sharing: calls `attempt` (returns true on success, false with
// GetLastError set) until it succeeds, fails otherwise, or `budget` passes
// while it keeps failing with a sharing error. Returns the last error, or
// ERROR_SUCCESS.
// The first tries only yield the processor (a reader closes within
// microseconds), later ones sleep a millisecond.
template <typename Attempt>
DWORD retry_sharing(Attempt attempt, std::chrono::milliseconds budget) {
  const auto until = std::chrono::steady_clock::now() + budget;
  for (int tries = 0;; ++tries) {
    if (attempt()) return ERROR_SUCCESS;
    const DWORD err = ::GetLastError();
    if (!is_transient_sharing_error(err) || std::chrono::steady_clock::now() >= until) return err;
    if (tries < 100) {
      ::SwitchToThread();
    } else {
      ::Sleep(1);
    }
  }
}

// WinDir: an open runtime directory: its path and a handle (shares read,
// write and delete, so it never keeps anyone from removing the directory;
// opened for overlapped I/O so a watcher can ReadDirectoryChangesW on it).
struct WinDir {
  std::filesystem::path path{};
  Handle handle{};
  FileKey key{};
  bool valid() const noexcept { return handle.valid(); }
  explicit operator bool() const noexcept { return valid(); }
  // get: this directory, for helpers shared with POSIX code that pass
  // `dir.get()` on.
  const WinDir& get() const noexcept { return *this; }
  std::filesystem::path file(const std::string& name) const { return path / name; }
};

// kOthersMayWrite: the rights of a directory's ACE that let someone add,
// remove or rename its entries or change who may (the analog of group/other
// write on POSIX).
inline constexpr ACCESS_MASK kOthersMayWrite =
    FILE_ADD_FILE | FILE_ADD_SUBDIRECTORY | FILE_DELETE_CHILD | DELETE | WRITE_DAC | WRITE_OWNER |
    GENERIC_WRITE | GENERIC_ALL | MAXIMUM_ALLOWED;

// is_trusted_sid: this user, its default owner, and the accounts that can
// take any file anyway (SYSTEM, Administrators), plus OWNER RIGHTS: the
// analog of the owner (and root) on POSIX.
inline bool is_trusted_sid(PSID sid) {
  const UserSids& sids = user_sids();
  if (::EqualSid(sid, const_cast<BYTE*>(sids.user.data())) ||
      ::EqualSid(sid, const_cast<BYTE*>(sids.owner.data()))) {
    return true;
  }
  for (WELL_KNOWN_SID_TYPE type :
       {WinLocalSystemSid, WinBuiltinAdministratorsSid, WinCreatorOwnerRightsSid}) {
    BYTE buf[SECURITY_MAX_SID_SIZE];
    DWORD size = sizeof buf;
    if (::CreateWellKnownSid(type, nullptr, buf, &size) && ::EqualSid(sid, buf)) return true;
  }
  return false;
}

inline std::string sid_text(PSID sid) {
  LPSTR text = nullptr;
  if (!::ConvertSidToStringSidA(sid, &text)) return "(unknown SID)";
  std::string out(text);
  ::LocalFree(text);
  return out;
}

// check_dir_access: throws Error{kRuntimeDirTooOpen} when the DACL of the
// directory open as `h` (with READ_CONTROL) lets anyone but a trusted SID
// in: for the final component any access at all (POSIX: group/other bits
// of 0700), for a component above it rights to change its entries (POSIX:
// group/other write). A NULL DACL grants everyone everything. Inherit-only
// entries apply to children, not to the directory, and are skipped; an
// allow entry of a kind whose SID is not read here (object, compound) is
// refused rather than guessed at.
inline void check_dir_access(HANDLE h, const std::filesystem::path& path, bool final_component) {
  PACL dacl = nullptr;
  PSECURITY_DESCRIPTOR sd = nullptr;
  const DWORD rc = ::GetSecurityInfo(h, SE_FILE_OBJECT, DACL_SECURITY_INFORMATION, nullptr, nullptr,
                                     &dacl, nullptr, &sd);
  if (rc != ERROR_SUCCESS) throw_win32("GetSecurityInfo (DACL) " + path.string(), rc);
  std::string why;
  if (dacl == nullptr) {
    why = "no DACL: everyone has full access";
  } else {
    for (DWORD i = 0; i < dacl->AceCount && why.empty(); ++i) {
      void* raw = nullptr;
      if (!::GetAce(dacl, i, &raw)) continue;
      const auto* header = static_cast<const ACE_HEADER*>(raw);
      if ((header->AceFlags & INHERIT_ONLY_ACE) != 0) continue;
      const BYTE type = header->AceType;
      if (type == ACCESS_ALLOWED_ACE_TYPE || type == ACCESS_ALLOWED_CALLBACK_ACE_TYPE) {
        const auto* ace = static_cast<const ACCESS_ALLOWED_ACE*>(raw);
        PSID who = const_cast<DWORD*>(&ace->SidStart);
        const ACCESS_MASK wide_open = final_component ? ~ACCESS_MASK{0} : kOthersMayWrite;
        if (!is_trusted_sid(who) && (ace->Mask & wide_open) != 0) {
          char mask[16];
          std::snprintf(mask, sizeof mask, "0x%lx", static_cast<unsigned long>(ace->Mask));
          why = "grants " + std::string(mask) + " to " + sid_text(who);
        }
      } else if (type == ACCESS_ALLOWED_OBJECT_ACE_TYPE ||
                 type == ACCESS_ALLOWED_CALLBACK_OBJECT_ACE_TYPE ||
                 type == ACCESS_ALLOWED_COMPOUND_ACE_TYPE) {
        why = "has an allow entry of type " + std::to_string(type);
      }
    }
  }
  ::LocalFree(sd);
  if (!why.empty()) {
    throw Error(ErrorCode::kRuntimeDirTooOpen,
                "runtime dir " + path.string() + " " + why +
                    (final_component ? "; only this user may have access"
                                     : "; only this user may change its entries"));
  }
}

// check_dir_handle: throws the kRuntimeDir* error that fits the directory
// open as `h` at `path` (see check_dir_access for `final_component`), or
// returns its facts.
inline FileFacts check_dir_handle(HANDLE h, const std::filesystem::path& path,
                                  bool final_component) {
  const FileFacts facts = facts_of(h, path.string());
  if ((facts.attributes & FILE_ATTRIBUTE_REPARSE_POINT) != 0) {
    throw Error(ErrorCode::kRuntimeDirIsSymlink,
                "runtime dir is a reparse point: " + path.string());
  }
  if ((facts.attributes & FILE_ATTRIBUTE_DIRECTORY) == 0) {
    throw Error(ErrorCode::kRuntimeDirNotDirectory,
                "runtime dir is not a directory: " + path.string());
  }
  if (!owned_by_us(h, path.string())) {
    throw Error(ErrorCode::kRuntimeDirNotOwned,
                "runtime dir " + path.string() + " is owned by another user");
  }
  check_dir_access(h, path, final_component);
  return facts;
}

// open_dir_component: opens `path` as a directory without following a
// reparse point; creates it (private DACL) when missing and `create`.
// Returns an invalid WinDir when missing and !create. `strict`: refuse a
// reparse point, a file, a directory of another user, or one whose DACL
// lets others in (`final_component`: see check_dir_access).
inline WinDir open_dir_component(const std::filesystem::path& path, bool create, bool strict,
                                 bool final_component = false) {
  const std::wstring w = wide(path);
  for (int attempt = 0; attempt < 2; ++attempt) {
    // The attributes of the name itself: GetFileAttributesW reports a
    // reparse point as one (it does not follow it).
    const DWORD attrs = ::GetFileAttributesW(w.c_str());
    if (attrs != INVALID_FILE_ATTRIBUTES) {
      if (strict && (attrs & FILE_ATTRIBUTE_REPARSE_POINT) != 0) {
        throw Error(ErrorCode::kRuntimeDirIsSymlink,
                    "runtime dir is a reparse point: " + path.string());
      }
      if ((attrs & FILE_ATTRIBUTE_DIRECTORY) == 0) {
        throw Error(ErrorCode::kRuntimeDirNotDirectory,
                    "runtime dir is not a directory: " + path.string());
      }
      WinDir out;
      out.path = path;
      out.handle.reset(::CreateFileW(
          w.c_str(), FILE_LIST_DIRECTORY | FILE_READ_ATTRIBUTES | READ_CONTROL | SYNCHRONIZE,
          kShareAll, nullptr, OPEN_EXISTING,
          FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_OVERLAPPED,
          nullptr));
      if (!out.handle) {
        const DWORD err = ::GetLastError();
        if (err == ERROR_FILE_NOT_FOUND || err == ERROR_PATH_NOT_FOUND) continue;  // raced
        throw_win32("open " + path.string(), err);
      }
      // Judge what we opened, not what the name said a moment ago.
      out.key = strict ? check_dir_handle(out.handle.get(), path, final_component).key
                       : facts_of(out.handle.get(), path.string()).key;
      return out;
    }
    const DWORD err = ::GetLastError();
    if (err != ERROR_FILE_NOT_FOUND && err != ERROR_PATH_NOT_FOUND) {
      throw_win32("GetFileAttributesW " + path.string(), err);
    }
    if (!create) return WinDir{};
    PrivateSecurity security;
    if (!::CreateDirectoryW(w.c_str(), strict ? security.get() : nullptr) &&
        ::GetLastError() != ERROR_ALREADY_EXISTS) {
      throw_win32("CreateDirectoryW " + path.string());
    }
  }
  throw Error(ErrorCode::kSystem, "runtime dir component keeps disappearing: " + path.string());
}

// open_runtime_dir: opens (and with `create`, makes) `dir`; components up to
// and including `trusted_base` are followed as the OS resolves them (created
// when missing), each one below it is strictly checked. An empty
// trusted_base means dir's parent. Returns an invalid WinDir if the
// directory is missing and !create. Throws the kRuntimeDir* errors or
// kSystem.
inline WinDir open_runtime_dir(const std::filesystem::path& dir,
                               const std::filesystem::path& trusted_base, bool create) {
  namespace fs = std::filesystem;
  const fs::path abs = fs::absolute(dir).lexically_normal();
  const fs::path base =
      trusted_base.empty() ? abs.parent_path() : fs::absolute(trusted_base).lexically_normal();
  std::vector<fs::path> parts;
  for (const auto& p : abs.relative_path()) {
    if (!p.empty()) parts.push_back(p);
  }
  std::size_t base_parts = 0;
  for (const auto& p : base.relative_path()) {
    if (!p.empty()) ++base_parts;
  }
  if (parts.empty() || base_parts >= parts.size()) {
    throw Error(ErrorCode::kInvalidArgument,
                "runtime dir must lie below its base: " + abs.string());
  }
  fs::path so_far = abs.root_path();
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    so_far /= parts[i];
    const bool strict = i >= base_parts;
    WinDir component = open_dir_component(so_far, create, strict);
    if (!component) return WinDir{};
  }
  return open_dir_component(abs, create, /*strict=*/true, /*final_component=*/true);
}

// SmallFile: a file read through read_small_file.
struct SmallFile {
  FileFacts facts{};
  bool reparse_point = false;  // the name is a reparse point (never read)
  bool owned_by_us = false;
  std::string content;
  bool truncated = false;  // the file was larger than the limit
};

// open_file_no_follow: opens `path` for reading without following a
// reparse point, sharing everything (a writer may replace it meanwhile).
// `extra_access` adds e.g. DELETE. An invalid Handle with GetLastError set
// on failure; sharing errors are retried briefly.
inline Handle open_file_no_follow(const std::filesystem::path& path, DWORD extra_access = 0) {
  const std::wstring w = wide(path);
  Handle h;
  retry_sharing(
      [&] {
        h.reset(::CreateFileW(w.c_str(), GENERIC_READ | READ_CONTROL | extra_access, kShareAll,
                              nullptr, OPEN_EXISTING,
                              FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS, nullptr));
        return h.valid();
      },
      std::chrono::milliseconds(500));
  return h;
}

// read_up_to: appends at most `limit` bytes read from `h` to `content`;
// true when the file had more. Throws Error{kSystem}.
inline bool read_up_to(HANDLE h, std::size_t limit, std::string& content, const std::string& what) {
  char buf[4096];
  while (true) {
    DWORD n = 0;
    if (!::ReadFile(h, buf, sizeof buf, &n, nullptr)) throw_win32("read " + what);
    if (n == 0) return false;
    const std::size_t room = limit - content.size();
    if (n > room) {
      content.append(buf, room);
      return true;
    }
    content.append(buf, n);
  }
}

// read_small_file: reads at most `limit` bytes of `path`. nullopt if it does
// not exist. A reparse point is reported, not read; a directory or device is
// reported with its facts and no content. Throws Error{kSystem}.
inline std::optional<SmallFile> read_small_file(const std::filesystem::path& path,
                                                std::size_t limit) {
  SmallFile out;
  const DWORD attrs = ::GetFileAttributesW(wide(path).c_str());
  if (attrs == INVALID_FILE_ATTRIBUTES) {
    const DWORD err = ::GetLastError();
    if (err == ERROR_FILE_NOT_FOUND || err == ERROR_PATH_NOT_FOUND) return std::nullopt;
    if (!is_transient_sharing_error(err)) throw_win32("GetFileAttributesW " + path.string(), err);
  } else if ((attrs & FILE_ATTRIBUTE_REPARSE_POINT) != 0) {
    out.facts.attributes = attrs;
    out.reparse_point = true;
    return out;
  }
  Handle h = open_file_no_follow(path);
  if (!h) {
    const DWORD err = ::GetLastError();
    if (err == ERROR_FILE_NOT_FOUND || err == ERROR_PATH_NOT_FOUND) return std::nullopt;
    throw_win32("open " + path.string(), err);
  }
  out.facts = facts_of(h.get(), path.string());
  out.reparse_point = (out.facts.attributes & FILE_ATTRIBUTE_REPARSE_POINT) != 0;
  out.owned_by_us = owned_by_us(h.get(), path.string());
  if (out.reparse_point || (out.facts.attributes & FILE_ATTRIBUTE_DIRECTORY) != 0 ||
      !out.facts.disk_file) {
    return out;  // the caller classifies; never read a device or a directory
  }
  out.truncated = read_up_to(h.get(), limit, out.content, path.string());
  return out;
}

// kReplaceBudget: how long a writer keeps retrying to replace a file that a
// reader has open (each reader holds it for microseconds).
inline constexpr std::chrono::milliseconds kReplaceBudget{5000};

// write_file_atomically: publishes `content` as `dir`/`name` so a reader
// sees the old file or the whole new one, never a part and never none: a
// temp file in the same directory (CREATE_NEW, inheriting the directory's
// private DACL), FlushFileBuffers when `sync`, then MoveFileExW with
// MOVEFILE_REPLACE_EXISTING (| MOVEFILE_WRITE_THROUGH when `sync`), retried
// for kReplaceBudget while a reader holds the old file. Throws
// Error{kSystem}.
inline void write_file_atomically(const WinDir& dir, const std::string& name,
                                  const std::string& temp_name, std::string_view content,
                                  bool sync = true) {
  const std::wstring temp = wide(dir.file(temp_name));
  const std::wstring final_name = wide(dir.file(name));
  {
    Handle h(::CreateFileW(temp.c_str(), GENERIC_WRITE, 0, nullptr, CREATE_NEW,
                           FILE_ATTRIBUTE_NORMAL, nullptr));
    if (!h) throw_win32("create " + temp_name);
    auto fail = [&](std::string_view what) {
      const DWORD err = ::GetLastError();
      h.reset();
      ::DeleteFileW(temp.c_str());
      throw_win32(std::string(what) + " " + temp_name, err);
    };
    while (!content.empty()) {
      DWORD n = 0;
      const DWORD chunk = static_cast<DWORD>(std::min<std::size_t>(content.size(), 1u << 20));
      if (!::WriteFile(h.get(), content.data(), chunk, &n, nullptr)) fail("write");
      content.remove_prefix(n);
    }
    if (sync && !::FlushFileBuffers(h.get())) fail("FlushFileBuffers");
  }
  const DWORD flags = MOVEFILE_REPLACE_EXISTING | (sync ? MOVEFILE_WRITE_THROUGH : 0);
  const DWORD err = retry_sharing(
      [&] { return ::MoveFileExW(temp.c_str(), final_name.c_str(), flags) != 0; }, kReplaceBudget);
  if (err != ERROR_SUCCESS) {
    ::DeleteFileW(temp.c_str());
    throw_win32("MoveFileExW " + temp_name + " to " + name, err);
  }
}

// remove_file: deletes `path` (a file, or an empty directory), retrying
// briefly while a reader has it open. True when it is gone.
inline bool remove_file(const std::filesystem::path& path, bool is_dir) {
  const std::wstring w = wide(path);
  const DWORD err = retry_sharing(
      [&] { return (is_dir ? ::RemoveDirectoryW(w.c_str()) : ::DeleteFileW(w.c_str())) != 0; },
      std::chrono::milliseconds(500));
  return err == ERROR_SUCCESS || err == ERROR_FILE_NOT_FOUND || err == ERROR_PATH_NOT_FOUND;
}

// key_of: the FileKey of `path` (not following a reparse point), or nullopt
// when it does not exist.
inline std::optional<FileKey> key_of(const std::filesystem::path& path) {
  Handle h(::CreateFileW(wide(path).c_str(), FILE_READ_ATTRIBUTES, kShareAll, nullptr,
                         OPEN_EXISTING, FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS,
                         nullptr));
  if (!h) return std::nullopt;
  return facts_of(h.get(), path.string()).key;
}

// filetime_value: a FILETIME as one number (100 ns units since 1601).
inline std::uint64_t filetime_value(const FILETIME& t) noexcept {
  return (static_cast<std::uint64_t>(t.dwHighDateTime) << 32) | t.dwLowDateTime;
}

// creation_time: the creation time of the process behind `h` (opened with
// PROCESS_QUERY_LIMITED_INFORMATION), or 0 when it cannot be read.
inline std::uint64_t creation_time(HANDLE h) noexcept {
  FILETIME created{}, exited{}, kernel{}, user{};
  if (!::GetProcessTimes(h, &created, &exited, &kernel, &user)) return 0;
  return filetime_value(created);
}

// ProcessIdentityW: a process told apart from a later holder of its PID.
struct ProcessIdentityW {
  std::int64_t pid = 0;
  std::uint64_t start_time = 0;  // creation time, see filetime_value
};

inline ProcessIdentityW self_identity() {
  const std::uint64_t created = creation_time(::GetCurrentProcess());
  if (created == 0) throw_win32("GetProcessTimes of this process");
  return {static_cast<std::int64_t>(::GetCurrentProcessId()), created};
}

// VerifiedProcess: a handle to the live process an identity names. The
// handle is opened first and the creation time read through it, so a PID
// reused before the open is caught, and everything later (waits,
// TerminateProcess) goes through the handle, which cannot come to name
// another process. Move-only.
class VerifiedProcess {
 public:
  // open: the process `pid` if it is alive and was created at `start_time`;
  // nullopt otherwise (gone, exited, reused PID, not ours to open).
  static std::optional<VerifiedProcess> open(std::int64_t pid, std::uint64_t start_time) {
    if (pid <= 0 || start_time == 0) return std::nullopt;
    Handle h(::OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | SYNCHRONIZE | PROCESS_TERMINATE,
                           FALSE, static_cast<DWORD>(pid)));
    if (!h) return std::nullopt;
    if (creation_time(h.get()) != start_time) return std::nullopt;
    if (::WaitForSingleObject(h.get(), 0) == WAIT_OBJECT_0) return std::nullopt;
    return VerifiedProcess(pid, std::move(h));
  }

  std::int64_t pid() const noexcept { return pid_; }

  // wait_for_exit: true once the process has exited (waits up to `timeout`).
  bool wait_for_exit(std::chrono::milliseconds timeout) {
    const DWORD ms = static_cast<DWORD>(std::clamp<std::int64_t>(timeout.count(), 0, 0x7FFFFFFF));
    return ::WaitForSingleObject(handle_.get(), ms) == WAIT_OBJECT_0;
  }

  // terminate / kill: TerminateProcess through the verified handle (Windows
  // has no SIGTERM to ask first: the shutdown file is the asking). The exit
  // codes tell them apart: 143 and 137, as a shell reports SIGTERM and
  // SIGKILL. False when the process had already exited.
  bool terminate() { return end(143); }
  bool kill() { return end(137); }

 private:
  VerifiedProcess(std::int64_t pid, Handle h) : pid_(pid), handle_(std::move(h)) {}

  bool end(UINT code) {
    if (wait_for_exit(std::chrono::milliseconds(0))) return false;
    if (!::TerminateProcess(handle_.get(), code)) {
      const DWORD err = ::GetLastError();
      if (wait_for_exit(std::chrono::milliseconds(0))) return false;
      throw_win32("TerminateProcess " + std::to_string(pid_), err);
    }
    return true;
  }

  std::int64_t pid_ = 0;
  Handle handle_;
};

}  // namespace coordkit::ipc::internal

#endif  // COORDKIT_IPC_INTERNAL_WINDOWS_H_

// Internal: the judgement of a shutdown file, as a pure function of what
// the watcher read (type, owner, links, size, content) and what this server
// is (its user, its token). The watcher (server_core.h) only gathers the
// facts, asks here, and then accepts the request or reports and removes
// the file; every rule about which files count lives in this header.
//
// The facts are POSIX-shaped on every platform. On Windows the watcher maps
// a reparse point to S_IFLNK, a directory to S_IFDIR, a disk file to
// S_IFREG and anything else to 0; the owner to kWindowsThisUser when the
// file's owner SID is this user's, kWindowsOtherUser otherwise; and the
// link count to nNumberOfLinks. The same table then judges both.
#ifndef COORDKIT_IPC_INTERNAL_SHUTDOWN_JUDGE_H_
#define COORDKIT_IPC_INTERNAL_SHUTDOWN_JUDGE_H_

#if !defined(_WIN32)
#include <sys/stat.h>
#include <sys/types.h>
#endif

#include <optional>
#include <string>
#include <string_view>

#include "coordkit/ipc/events.h"
#include "coordkit/ipc/internal/token.h"
#include "coordkit/ipc/shutdown.h"

namespace coordkit::ipc::internal {

#if defined(_WIN32)
using FileMode = unsigned int;
using OwnerId = unsigned int;
using LinkCount = unsigned long;
inline constexpr FileMode kTypeMask = 0170000;
inline constexpr FileMode kTypeRegular = 0100000;
inline constexpr FileMode kTypeDirectory = 0040000;
inline constexpr FileMode kTypeSymlink = 0120000;
inline constexpr OwnerId kWindowsThisUser = 0;
inline constexpr OwnerId kWindowsOtherUser = 1;
constexpr bool is_symlink_mode(FileMode mode) noexcept {
  return (mode & kTypeMask) == kTypeSymlink;
}
constexpr bool is_regular_mode(FileMode mode) noexcept {
  return (mode & kTypeMask) == kTypeRegular;
}
#else
using FileMode = mode_t;
using OwnerId = uid_t;
using LinkCount = nlink_t;
constexpr bool is_symlink_mode(FileMode mode) noexcept { return S_ISLNK(mode); }
constexpr bool is_regular_mode(FileMode mode) noexcept { return S_ISREG(mode); }
#endif

// ShutdownFileFacts: what the watcher learned about `<app>.shutdown`, from
// the descriptor it opened (never from a path looked up again).
struct ShutdownFileFacts {
  FileMode mode = 0;         // st_mode: the type bits are judged
  OwnerId owner = 0;         // st_uid
  LinkCount links = 1;       // st_nlink
  bool truncated = false;    // the file was larger than kMaxShutdownFileSize
  std::string_view content;  // the bytes read (at most kMaxShutdownFileSize)
};

// ShutdownVerdict: either a request to honour or a reason to refuse, with
// a short plain-text explanation for the event's detail.
struct ShutdownVerdict {
  std::optional<ShutdownFile> accepted;  // set exactly when `rejected` is not
  std::optional<RejectReason> rejected;
  std::string why;  // empty when accepted

  static ShutdownVerdict accept(ShutdownFile file) { return {std::move(file), std::nullopt, {}}; }
  static ShutdownVerdict reject(RejectReason reason, std::string why) {
    return {std::nullopt, reason, std::move(why)};
  }
};

// judge_shutdown_entry: the verdict on an entry's type alone (what lstat
// saw before anything is opened): a symlink or a non-regular file is
// refused without reading it; nullopt means "open it and judge the content".
inline std::optional<ShutdownVerdict> judge_shutdown_entry(FileMode mode) {
  if (is_symlink_mode(mode)) return ShutdownVerdict::reject(RejectReason::kSymlink, "a symlink");
  if (!is_regular_mode(mode)) {
    return ShutdownVerdict::reject(RejectReason::kNotRegularFile, "not a regular file");
  }
  return std::nullopt;
}

// judge_shutdown_file: the verdict on an opened file. Honoured only when it
// is a regular file owned by `server_uid` with exactly one name, at most
// kMaxShutdownFileSize bytes, a complete request (parse_shutdown_file) and
// `server_token` (compared in constant time). The checks run in that order,
// so the reason names the first rule the file breaks. Pure: no I/O, no
// clock; thread-safe.
inline ShutdownVerdict judge_shutdown_file(const ShutdownFileFacts& facts, OwnerId server_uid,
                                           std::string_view server_token) {
  if (auto by_type = judge_shutdown_entry(facts.mode)) return *by_type;
  if (facts.owner != server_uid) {
    return ShutdownVerdict::reject(RejectReason::kNotOwned,
                                   "owned by uid " + std::to_string(facts.owner));
  }
  if (facts.links != 1) {
    return ShutdownVerdict::reject(RejectReason::kHardLinked,
                                   "has " + std::to_string(facts.links) + " links");
  }
  if (facts.truncated) {
    return ShutdownVerdict::reject(
        RejectReason::kTooLarge, "larger than " + std::to_string(kMaxShutdownFileSize) + " bytes");
  }
  std::optional<ShutdownFile> parsed = parse_shutdown_file(facts.content);
  if (!parsed) {
    return ShutdownVerdict::reject(
        RejectReason::kMalformed,
        "not a shutdown request (" + std::to_string(facts.content.size()) + " bytes)");
  }
  if (!tokens_equal(parsed->token, server_token)) {
    return ShutdownVerdict::reject(RejectReason::kWrongToken,
                                   "token does not match this instance (stale or foreign request)");
  }
  return ShutdownVerdict::accept(std::move(*parsed));
}

}  // namespace coordkit::ipc::internal

#endif  // COORDKIT_IPC_INTERNAL_SHUTDOWN_JUDGE_H_

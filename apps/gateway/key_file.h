// coordkit/gateway/key_file.h: the gateway's key file, kept right across a
// rekey, whatever moment the process dies at.
//
// A rekey through the gateway (POST /v1/admin/rekey) whose key came from a
// key file (--key-file or COORDKIT_KEY_FILE) runs in three steps, each
// durable before the next begins:
//   1. stage_key: the new key goes to "<key file>.next" (written to
//      "<key file>.next.tmp" 0600, fsync, rename, fsync of the directory);
//   2. the database is re-encrypted (SQLCipher, one transaction);
//   3. commit_staged_key: "<key file>.next" is renamed over the key file,
//      and the directory is fsynced.
// Until step 2 commits, the key file opens the database; from then until
// step 3 is done, "<key file>.next" does. open_recovering, at start-up,
// settles either state: the key file opens the database, and a ".next"
// left from a rekey that never committed is removed; or the key file is the
// wrong key, ".next" opens the database, and it is adopted (renamed over
// the key file). Either way the key file opens the database afterwards.
//
// Example:
//   coordkit::gateway::stage_key(key_file, new_key_hex);        // 1
//   store.rekey(coordkit::db::Key::raw_hex(new_key_hex));       // 2
//   coordkit::gateway::commit_staged_key(key_file);             // 3
#ifndef COORDKIT_APPS_GATEWAY_KEY_FILE_H_
#define COORDKIT_APPS_GATEWAY_KEY_FILE_H_

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>

#include "coordkit/apps/key_source.h"
#include "coordkit/db/db.h"
#include "coordkit/gateway/error.h"

namespace coordkit::gateway {

// staged_key_file: "<key_file>.next", where a rekey stages the new key.
inline std::filesystem::path staged_key_file(const std::filesystem::path& key_file) {
  return key_file.string() + ".next";
}

namespace internal {

inline std::filesystem::path parent_or_dot(const std::filesystem::path& p) {
  return p.has_parent_path() ? p.parent_path() : std::filesystem::path(".");
}

// fsync_dir: makes a rename or unlink in `dir` durable. Throws
// Error{kKeyFile}.
inline void fsync_dir(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrorCode::kKeyFile, "cannot open " + dir.string(), errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) throw Error(ErrorCode::kKeyFile, "cannot fsync " + dir.string(), err);
}

}  // namespace internal

// write_file_durably: `text` as the whole content of `path`, mode 0600,
// replacing it atomically: a temp file beside it ("<path>.tmp", created
// O_EXCL after removing a stale one), fsync, rename, fsync of the
// directory. Readers see the old content or the new, never a part. Throws
// Error{kKeyFile} naming the file (never the text); the temp file is
// removed on failure.
inline void write_file_durably(const std::filesystem::path& path, std::string_view text) {
  const std::string tmp = path.string() + ".tmp";
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) throw Error(ErrorCode::kKeyFile, "cannot create " + tmp, errno);
  int err = 0;
  std::size_t done = 0;
  while (err == 0 && done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno;
    } else {
      done += static_cast<std::size_t>(n);
    }
  }
  if (err == 0 && ::fchmod(fd, 0600) != 0) err = errno;
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err == 0 && ::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
  if (err != 0) {
    ::unlink(tmp.c_str());
    throw Error(ErrorCode::kKeyFile, "cannot write " + path.string(), err);
  }
  internal::fsync_dir(internal::parent_or_dot(path));
}

// stage_key: step 1: `text` (what the key file will hold: 64 hex digits or
// a passphrase, as keys::read_key_file reads it) into "<key_file>.next",
// durably. Throws Error{kKeyFile}.
inline void stage_key(const std::filesystem::path& key_file, std::string_view text) {
  std::string content(text);
  content += '\n';
  struct Wipe {
    std::string& s;
    ~Wipe() { OPENSSL_cleanse(s.data(), s.size()); }
  } wipe{content};
  write_file_durably(staged_key_file(key_file), content);
}

// commit_staged_key: step 3: "<key_file>.next" renamed over the key file,
// durably. Throws Error{kKeyFile} (the staged file then stays, and the next
// start adopts it).
inline void commit_staged_key(const std::filesystem::path& key_file) {
  const std::filesystem::path next = staged_key_file(key_file);
  if (::rename(next.c_str(), key_file.c_str()) != 0) {
    throw Error(ErrorCode::kKeyFile, "cannot rename " + next.string() + " over the key file",
                errno);
  }
  internal::fsync_dir(internal::parent_or_dot(key_file));
}

// remove_staged_key: removes "<key_file>.next" (and its temp file) left by a
// rekey that did not commit. Returns whether there was one. Throws
// Error{kKeyFile} when it exists and cannot be removed.
inline bool remove_staged_key(const std::filesystem::path& key_file) {
  const std::filesystem::path next = staged_key_file(key_file);
  ::unlink((next.string() + ".tmp").c_str());
  if (::unlink(next.c_str()) != 0) {
    if (errno == ENOENT) return false;
    throw Error(ErrorCode::kKeyFile, "cannot remove " + next.string(), errno);
  }
  internal::fsync_dir(internal::parent_or_dot(key_file));
  return true;
}

// KeyFileRecovery: what open_recovering found on disk.
enum class KeyFileRecovery {
  kNone,             // nothing staged (or the key is not from a file)
  kDiscardedStaged,  // the key file opened; a staged key from a rekey that never committed was
                     // removed
  kAdoptedStaged,    // the key file was the old key; the staged one opened and replaced it
};

// is_wrong_key: the errors that mean "this key does not open this file".
inline bool is_wrong_key(const db::Error& e) noexcept {
  return e.code() == db::ErrorCode::kWrongKeyOrNotADatabase;
}

// open_recovering: open(key) with the key of `material`, settling a rekey
// that a crash interrupted (see the top of this file) when the key came
// from a file. `open` is a callable taking a db::Key and returning what
// it opened; it must leave the database untouched when the key is wrong
// (Service::open does). Sets *what. Throws what open() throws for the key
// file's key (the staged key's failure is not reported: the key file's
// error is the one the user can act on), or Error{kKeyFile} when a staged
// file cannot be removed or adopted.
template <class Open>
auto open_recovering(const keys::KeyMaterial& material, Open&& open, KeyFileRecovery* what)
    -> decltype(open(material.to_key())) {
  *what = KeyFileRecovery::kNone;
  if (material.file.empty()) return open(material.to_key());
  std::exception_ptr first;
  try {
    auto opened = open(material.to_key());
    if (remove_staged_key(material.file)) *what = KeyFileRecovery::kDiscardedStaged;
    return opened;
  } catch (const db::Error& e) {
    if (!is_wrong_key(e)) throw;
    first = std::current_exception();
  }
  const std::filesystem::path next = staged_key_file(material.file);
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::symlink_status(next, ec))) {
    std::rethrow_exception(first);
  }
  keys::KeyMaterial staged;
  try {
    // The same checks as the key file: regular, this user's, 0600.
    staged = keys::read_key_file(next, material.origin);
  } catch (const keys::Error&) {
    std::rethrow_exception(first);
  }
  try {
    auto opened = open(staged.to_key());
    commit_staged_key(material.file);
    *what = KeyFileRecovery::kAdoptedStaged;
    return opened;
  } catch (const db::Error& e) {
    if (!is_wrong_key(e)) throw;
  }
  std::rethrow_exception(first);
}

}  // namespace coordkit::gateway

#endif  // COORDKIT_APPS_GATEWAY_KEY_FILE_H_

// coordkit/apps/key_source.h: where the reference apps get the database key.
// Never from argv (any user can read another's command line): from a key
// file, or from the environment.
//
// Precedence: an explicit key file (coordctl's and the gateway's
// --key-file) over COORDKIT_KEY_FILE over COORDKIT_PASSPHRASE; an empty
// variable counts as unset. With none of them, Error{kNoKey} (coordctl may
// then prompt on a terminal and wrap the answer with KeyMaterial::passphrase).
//
// A key file is refused unless it is a regular file (not a symlink, FIFO or
// directory), owned by the effective user, with no group or other permission
// bits (0600 or stricter). Its content is either a raw 32-byte key as exactly
// 64 hex digits, or else a passphrase; one trailing newline ("\n" or "\r\n")
// is not part of it. (A passphrase that is exactly 64 hex digits is read as
// a raw key.)
//
// The key bytes live only in zeroed-on-drop buffers (KeyMaterial's Secret,
// then db::Key); error messages name the file, never its content.
//
// Example:
//   coordkit::keys::KeySourceOptions source;
//   source.key_file = flags.key_file;  // std::optional<std::filesystem::path>
//   coordkit::db::Options options;
//   options.key = coordkit::keys::load_key(source);
#ifndef COORDKIT_APPS_COMMON_KEY_SOURCE_H_
#define COORDKIT_APPS_COMMON_KEY_SOURCE_H_

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "coordkit/base/error.h"
#include "coordkit/db/key.h"

namespace coordkit::keys {

// ErrorCode: why no key (or no cached key) could be had. Library "keys".
enum class ErrorCode {
  kKeyFileUnsafe,       // not a regular file, a symlink, another owner, group/other bits
  kKeyFileMissing,      // the key file does not exist
  kNoKey,               // no key file and no passphrase given
  kBadKeyFile,          // unreadable, empty, or too long
  kNoDatabase,          // keyring.h: the database file is missing or too short for a salt
  kKeyringUnavailable,  // keyring.h: no kernel keyring here (ENOSYS, EPERM, ...)
  kKeyringFailed,       // keyring.h: the keyring refused in another way (quota, ...)
};

inline constexpr ErrorCode kAllErrorCodes[] = {
    ErrorCode::kKeyFileUnsafe, ErrorCode::kKeyFileMissing, ErrorCode::kNoKey,
    ErrorCode::kBadKeyFile,    ErrorCode::kNoDatabase,     ErrorCode::kKeyringUnavailable,
    ErrorCode::kKeyringFailed};

// code_name: the snake_case name coordkit::Error::code_name() reports.
constexpr std::string_view code_name(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kKeyFileUnsafe:
      return "key_file_unsafe";
    case ErrorCode::kKeyFileMissing:
      return "key_file_missing";
    case ErrorCode::kNoKey:
      return "no_key";
    case ErrorCode::kBadKeyFile:
      return "bad_key_file";
    case ErrorCode::kNoDatabase:
      return "no_database";
    case ErrorCode::kKeyringUnavailable:
      return "keyring_unavailable";
    case ErrorCode::kKeyringFailed:
      return "keyring_failed";
  }
  return "unknown";
}

// Error: the exception of key_source.h and keyring.h (library "keys").
class Error : public coordkit::Error {
 public:
  Error(ErrorCode code, const std::string& message, int os_error = 0)
      : coordkit::Error("keys", keys::code_name(code), message, os_error), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

// Secret: owned bytes, zeroed (OPENSSL_cleanse) when dropped. Move-only and
// fixed-size, so no reallocation leaves a copy behind.
class Secret {
 public:
  Secret() = default;
  explicit Secret(std::span<const std::uint8_t> bytes)
      : data_(bytes.empty() ? nullptr : new std::uint8_t[bytes.size()]), size_(bytes.size()) {
    if (size_ != 0) std::memcpy(data_.get(), bytes.data(), size_);
  }
  explicit Secret(std::string_view text)
      : Secret(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(text.data()),
                                             text.size())) {}
  Secret(Secret&& other) noexcept
      : data_(std::move(other.data_)), size_(std::exchange(other.size_, 0)) {}
  Secret& operator=(Secret&& other) noexcept {
    if (this != &other) {
      wipe();
      data_ = std::move(other.data_);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  ~Secret() { wipe(); }

  std::span<const std::uint8_t> bytes() const noexcept { return {data_.get(), size_}; }
  std::string_view view() const noexcept {
    return {reinterpret_cast<const char*>(data_.get()), size_};
  }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

 private:
  void wipe() noexcept {
    if (data_ && size_ != 0) OPENSSL_cleanse(data_.get(), size_);
    data_.reset();
    size_ = 0;
  }
  std::unique_ptr<std::uint8_t[]> data_;
  std::size_t size_ = 0;
};

// Origin: where a key came from (for messages and --json status; the
// content is never shown).
enum class Origin { kKeyFileFlag, kKeyFileEnv, kPassphraseEnv, kPrompt };

// KeyMaterial: a key as a source gave it: a raw 32-byte key or a passphrase
// (coordctl unlock needs the passphrase itself, to derive and cache the key).
struct KeyMaterial {
  enum class Kind { kRawKey, kPassphrase };
  Kind kind = Kind::kPassphrase;
  Origin origin = Origin::kPrompt;
  std::filesystem::path file;  // the key file, empty for the environment or a prompt
  Secret secret;               // 32 bytes for kRawKey; the passphrase's bytes otherwise

  // passphrase: wraps a passphrase from elsewhere (a prompt). Throws
  // Error{kNoKey} for an empty one.
  static KeyMaterial passphrase(std::string_view text, Origin origin = Origin::kPrompt) {
    if (text.empty()) throw Error(ErrorCode::kNoKey, "empty passphrase");
    return KeyMaterial{Kind::kPassphrase, origin, {}, Secret(text)};
  }

  // to_key: the db::Key for this material (a copy; this stays valid).
  db::Key to_key() const {
    if (kind == Kind::kRawKey) {
      return db::Key::raw(std::span<const std::uint8_t, 32>(secret.bytes().data(), 32));
    }
    return db::Key::passphrase(secret.view());
  }
};

inline constexpr const char* kPassphraseEnv = "COORDKIT_PASSPHRASE";
inline constexpr const char* kKeyFileEnv = "COORDKIT_KEY_FILE";
// kMaxKeyFileBytes: a key file above this is kBadKeyFile (a passphrase
// file, not a place to point at an arbitrary large file).
inline constexpr std::size_t kMaxKeyFileBytes = 4096;

// read_key_file: the key in `path`, checked as the file comment says.
// Throws Error: kKeyFileMissing (ENOENT, ENOTDIR), kKeyFileUnsafe (symlink,
// not a regular file, another owner, group/other bits), kBadKeyFile
// (unreadable, empty, above kMaxKeyFileBytes). Opens with O_NOFOLLOW and
// O_NONBLOCK (a FIFO never blocks) and checks the open descriptor, so the
// file checked is the file read.
inline KeyMaterial read_key_file(const std::filesystem::path& path,
                                 Origin origin = Origin::kKeyFileFlag) {
  const std::string name = "key file " + path.string();
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) {
      throw Error(ErrorCode::kKeyFileMissing, name + " does not exist", err);
    }
    if (err == ELOOP) throw Error(ErrorCode::kKeyFileUnsafe, name + " is a symlink", err);
    throw Error(ErrorCode::kBadKeyFile, name + " cannot be opened", err);
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw Error(ErrorCode::kBadKeyFile, name + ": fstat failed", errno);
  if (!S_ISREG(st.st_mode)) throw Error(ErrorCode::kKeyFileUnsafe, name + " is not a regular file");
  if (st.st_uid != ::geteuid()) {
    throw Error(ErrorCode::kKeyFileUnsafe, name + " is owned by another user");
  }
  if ((st.st_mode & 077) != 0) {
    throw Error(ErrorCode::kKeyFileUnsafe,
                name + " is readable or writable by group or others (chmod 600 it)");
  }
  // Read into a fixed buffer that is wiped afterwards.
  std::uint8_t buf[kMaxKeyFileBytes + 1];
  std::size_t size = 0;
  struct Wiper {
    std::uint8_t* p;
    std::size_t n;
    ~Wiper() { OPENSSL_cleanse(p, n); }
  } wiper{buf, sizeof buf};
  for (;;) {
    const ssize_t n = ::read(fd, buf + size, sizeof buf - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(ErrorCode::kBadKeyFile, name + " cannot be read", errno);
    if (n == 0) break;
    size += static_cast<std::size_t>(n);
    if (size > kMaxKeyFileBytes) {
      throw Error(ErrorCode::kBadKeyFile,
                  name + " is longer than " + std::to_string(kMaxKeyFileBytes) + " bytes");
    }
  }
  if (size > 0 && buf[size - 1] == '\n') --size;
  if (size > 0 && buf[size - 1] == '\r') --size;
  if (size == 0) throw Error(ErrorCode::kBadKeyFile, name + " is empty");
  const std::string_view text(reinterpret_cast<const char*>(buf), size);
  if (size == 64 && text.find_first_not_of("0123456789abcdefABCDEF") == std::string_view::npos) {
    std::uint8_t raw[32];
    struct RawWiper {
      std::uint8_t* p;
      ~RawWiper() { OPENSSL_cleanse(p, 32); }
    } raw_wiper{raw};
    auto nibble = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
    for (std::size_t i = 0; i < 32; ++i) {
      raw[i] = static_cast<std::uint8_t>(nibble(text[2 * i]) * 16 + nibble(text[2 * i + 1]));
    }
    return KeyMaterial{KeyMaterial::Kind::kRawKey, origin, path,
                       Secret(std::span<const std::uint8_t>(raw, 32))};
  }
  return KeyMaterial{KeyMaterial::Kind::kPassphrase, origin, path, Secret(text)};
}

// KeySourceOptions: what the command line said. The environment is read by
// load_key_material() itself.
struct KeySourceOptions {
  // key_file: --key-file, the first choice when set.
  std::optional<std::filesystem::path> key_file{};
};

// load_key_material: the key by the precedence in the file comment. Throws
// Error (kNoKey, or read_key_file's codes). Reads the environment with
// getenv: do not call setenv concurrently. The variables are left as they
// are; a caller that spawns children it does not trust should unset
// COORDKIT_PASSPHRASE after this.
inline KeyMaterial load_key_material(const KeySourceOptions& options = {}) {
  if (options.key_file) return read_key_file(*options.key_file, Origin::kKeyFileFlag);
  if (const char* file = std::getenv(kKeyFileEnv); file != nullptr && *file != '\0') {
    return read_key_file(file, Origin::kKeyFileEnv);
  }
  if (const char* pass = std::getenv(kPassphraseEnv); pass != nullptr && *pass != '\0') {
    return KeyMaterial::passphrase(pass, Origin::kPassphraseEnv);
  }
  throw Error(ErrorCode::kNoKey, std::string("no key: give --key-file, or set ") + kKeyFileEnv +
                                     " or " + kPassphraseEnv);
}

// load_key: load_key_material() as a db::Key.
inline db::Key load_key(const KeySourceOptions& options = {}) {
  return load_key_material(options).to_key();
}

}  // namespace coordkit::keys

#endif  // COORDKIT_APPS_COMMON_KEY_SOURCE_H_

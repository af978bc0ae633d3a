// coordkit/apps/keyring.h: coordctl unlock/lock: keep the key derived from a
// passphrase in the Linux kernel's user keyring for a while, so that later
// processes of the same user skip SQLCipher's KDF (about a quarter of a
// second) and open the database in about a millisecond. The key never
// touches the disk.
//
// The cached key is bound to the database's salt (the first 16 bytes of the
// file): its description is "coordkit:sqlcipher4:<salt hex>", so another
// database (or a backup, which has its own salt) never matches. The payload
// is the 32-byte key SQLCipher 4 derives from the passphrase and that salt
// (PBKDF2-HMAC-SHA512, 256000 iterations), used as a raw key: libs/db then
// keys with x'<key><salt>', which is what a passphrase open does after its
// KDF, so the file and the stock `sqlcipher` shell are unaffected.
//
// Who can read it: the key sits in the user keyring of the effective uid
// (KEY_SPEC_USER_KEYRING) and grants view/read/write/search/setattr to that
// uid alone, with no possessor rights: a process that holds a session keyring
// linking this user's keyring but runs as another uid (a daemon that dropped
// privileges, `setpriv` from this user's shell) can neither find nor read it.
// It expires after the ttl (the kernel removes it) and lock revokes it at
// once.
//
// Where there is no keyring (a container whose seccomp profile denies
// add_key/keyctl, a kernel without keys), every call throws
// Error{kKeyringUnavailable} carrying the errno; key_for_database() instead
// reports it and falls back to the passphrase, so callers work without it.
//
// Example (coordctl unlock, then a later coordctl process):
//   auto material = coordkit::keys::load_key_material(source);
//   const auto salt = coordkit::keys::read_salt(db_path);  // before any open
//   coordkit::keys::keyring_store(salt, coordkit::keys::derive_key(material.secret.view(), salt),
//                                 std::chrono::minutes(15));
//   ...
//   coordkit::keys::ResolvedKey k = coordkit::keys::key_for_database(db_path, material);
//   options.key = std::move(k.key);  // raw when k.from_keyring
#ifndef COORDKIT_APPS_COMMON_KEYRING_H_
#define COORDKIT_APPS_COMMON_KEYRING_H_

#include <fcntl.h>
#include <keyutils.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "coordkit/apps/key_source.h"
#include "coordkit/db/key.h"

namespace coordkit::keys {

using Salt = std::array<std::uint8_t, 16>;

// SQLCipher 4's default KDF parameters (cipher_compatibility = 4).
inline constexpr int kKdfIterations = 256000;

// DerivedKey: 32 key bytes, zeroed when dropped. Copyable (each copy zeroes
// its own bytes).
class DerivedKey {
 public:
  DerivedKey() = default;
  explicit DerivedKey(std::span<const std::uint8_t, 32> bytes) {
    std::copy(bytes.begin(), bytes.end(), bytes_.begin());
  }
  DerivedKey(const DerivedKey&) = default;
  DerivedKey& operator=(const DerivedKey&) = default;
  ~DerivedKey() { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }

  std::span<const std::uint8_t, 32> bytes() const noexcept { return bytes_; }
  std::span<std::uint8_t, 32> bytes() noexcept { return bytes_; }
  // to_key: a raw db::Key (libs/db adds the file's salt: x'<key><salt>').
  db::Key to_key() const { return db::Key::raw(bytes_); }
  friend bool operator==(const DerivedKey& a, const DerivedKey& b) noexcept {
    return CRYPTO_memcmp(a.bytes_.data(), b.bytes_.data(), 32) == 0;
  }

 private:
  std::array<std::uint8_t, 32> bytes_{};
};

// read_salt: the first 16 bytes of the database file. Call it before this
// process opens any connection to that file: closing a descriptor of a file
// drops all of the process's fcntl locks on it, SQLite's included. Throws
// Error{kNoDatabase} when the file is missing or shorter than 16 bytes.
// (A plaintext SQLite file yields its magic; opening with the derived key
// then fails in libs/db with kPlaintextDatabase.)
inline Salt read_salt(const std::filesystem::path& db_path) {
  const int fd = ::open(db_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    throw Error(ErrorCode::kNoDatabase, "database " + db_path.string() + " cannot be read", errno);
  }
  Salt salt{};
  std::size_t got = 0;
  while (got < salt.size()) {
    const ssize_t n = ::pread(fd, salt.data() + got, salt.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (got < salt.size()) {
    throw Error(ErrorCode::kNoDatabase, "database " + db_path.string() + " has no salt");
  }
  return salt;
}

// derive_key: SQLCipher 4's key for `passphrase` and `salt`: PBKDF2-HMAC-
// SHA512, 256000 iterations, 32 bytes (about 260 ms here). Throws
// Error{kKeyringFailed} if OpenSSL fails.
inline DerivedKey derive_key(std::string_view passphrase, const Salt& salt) {
  DerivedKey out;
  if (PKCS5_PBKDF2_HMAC(passphrase.data(), static_cast<int>(passphrase.size()), salt.data(),
                        static_cast<int>(salt.size()), kKdfIterations, EVP_sha512(), 32,
                        out.bytes().data()) != 1) {
    throw Error(ErrorCode::kKeyringFailed, "PBKDF2 failed");
  }
  return out;
}

// keyring_description: "coordkit:sqlcipher4:<32 hex digits of the salt>".
inline std::string keyring_description(const Salt& salt) {
  constexpr char kHex[] = "0123456789abcdef";
  std::string out = "coordkit:sqlcipher4:";
  for (std::uint8_t b : salt) {
    out += kHex[b >> 4];
    out += kHex[b & 0xf];
  }
  return out;
}

namespace internal {
// unavailable: errnos that mean "no keyring here" rather than "this call
// failed": no syscall (ENOSYS), denied by seccomp or policy (EPERM,
// EACCES on the keyring itself), not supported (EOPNOTSUPP).
inline bool unavailable(int err) noexcept {
  return err == ENOSYS || err == EPERM || err == EACCES || err == EOPNOTSUPP;
}
[[noreturn]] inline void fail(const char* what, int err) {
  throw Error(unavailable(err) ? ErrorCode::kKeyringUnavailable : ErrorCode::kKeyringFailed,
              std::string("kernel keyring: ") + what, err);
}
// gone: errnos of a search that found nothing usable.
inline bool gone(int err) noexcept {
  return err == ENOKEY || err == EKEYEXPIRED || err == EKEYREVOKED;
}
// kPerm: the owning uid only. Possessor bits would let any process that can
// reach the key through its keyrings read it whatever its uid (the kernel ORs
// them into the user's), so there are none.
inline constexpr key_perm_t kPerm =
    KEY_USR_VIEW | KEY_USR_READ | KEY_USR_WRITE | KEY_USR_SEARCH | KEY_USR_SETATTR;
// read_key: the payload of key `id`, or nullopt when it is gone or not 32
// bytes. Throws like fail(); a key this process may not read is
// Error{kKeyringUnavailable} with EACCES.
inline std::optional<DerivedKey> read_key(key_serial_t id) {
  DerivedKey out;
  const long n = keyctl_read(id, reinterpret_cast<char*>(out.bytes().data()), out.bytes().size());
  if (n < 0) {
    if (gone(errno)) return std::nullopt;
    fail("keyctl read", errno);
  }
  if (n != 32) return std::nullopt;
  return out;
}
}  // namespace internal

// keyring_available: true when the user keyring answers (one keyctl call).
// For status output; the calls below report unavailability themselves.
inline bool keyring_available() noexcept {
  return keyctl_get_keyring_ID(KEY_SPEC_USER_KEYRING, 1) >= 0;
}

// keyring_store: keeps `key` for `salt` in the user keyring for `ttl`
// (at least 1 s), replacing an earlier one. Throws Error{kKeyringUnavailable}
// or Error{kKeyringFailed} (quota, ...), with the errno.
inline void keyring_store(const Salt& salt, const DerivedKey& key, std::chrono::seconds ttl) {
  const std::string description = keyring_description(salt);
  const key_serial_t id = add_key("user", description.c_str(), key.bytes().data(),
                                  key.bytes().size(), KEY_SPEC_USER_KEYRING);
  if (id < 0) internal::fail("add_key", errno);
  const auto seconds = static_cast<unsigned>(ttl.count() < 1 ? 1 : ttl.count());
  if (keyctl_setperm(id, internal::kPerm) < 0 || keyctl_set_timeout(id, seconds) < 0) {
    const int err = errno;
    keyctl_revoke(id);
    internal::fail("keyctl setperm/set_timeout", err);
  }
}

// keyring_find: the key kept for `salt`, or nullopt when there is none (never
// stored, expired, revoked, or of another shape). Throws
// Error{kKeyringUnavailable} / Error{kKeyringFailed}.
inline std::optional<DerivedKey> keyring_find(const Salt& salt) {
  const std::string description = keyring_description(salt);
  const long id = keyctl_search(KEY_SPEC_USER_KEYRING, "user", description.c_str(), 0);
  if (id < 0) {
    if (internal::gone(errno)) return std::nullopt;
    internal::fail("keyctl search", errno);
  }
  return internal::read_key(static_cast<key_serial_t>(id));
}

// keyring_revoke: revokes and unlinks the key kept for `salt`; true if there
// was one. Throws Error{kKeyringUnavailable} / Error{kKeyringFailed}.
inline bool keyring_revoke(const Salt& salt) {
  const std::string description = keyring_description(salt);
  bool any = false;
  // add_key replaces in place, so there is at most one; loop in case another
  // process stored one between our search and revoke.
  for (int i = 0; i < 4; ++i) {
    const long id = keyctl_search(KEY_SPEC_USER_KEYRING, "user", description.c_str(), 0);
    if (id < 0) {
      if (internal::gone(errno)) return any;
      internal::fail("keyctl search", errno);
    }
    if (keyctl_revoke(static_cast<key_serial_t>(id)) < 0 && !internal::gone(errno)) {
      internal::fail("keyctl revoke", errno);
    }
    keyctl_unlink(static_cast<key_serial_t>(id), KEY_SPEC_USER_KEYRING);
    any = true;
  }
  return any;
}

// ResolvedKey: what key_for_database() chose.
struct ResolvedKey {
  db::Key key;
  bool from_keyring = false;
  // keyring_problem: set when the keyring could not be asked (the code and
  // errno are in it); the key is then the material's own.
  std::optional<Error> keyring_problem;
};

// key_for_database: the key to open `db_path` with. For a passphrase whose
// derived key is in the keyring for this file's salt, that key (raw, no KDF);
// otherwise the material's own key. Reads the salt, so call it before this
// process opens the database. Never throws for the keyring (see
// keyring_problem); a missing database simply gets the material's key (the
// open reports it). If the open then fails with kWrongKeyOrNotADatabase
// although from_keyring is set (the database was rekeyed since unlock),
// revoke the stale entry and open again with material.to_key().
inline ResolvedKey key_for_database(const std::filesystem::path& db_path,
                                    const KeyMaterial& material) {
  ResolvedKey out;
  if (material.kind == KeyMaterial::Kind::kPassphrase) {
    try {
      if (std::optional<DerivedKey> cached = keyring_find(read_salt(db_path))) {
        out.key = cached->to_key();
        out.from_keyring = true;
        return out;
      }
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kNoDatabase) out.keyring_problem = e;
    }
  }
  out.key = material.to_key();
  return out;
}

}  // namespace coordkit::keys

#endif  // COORDKIT_APPS_COMMON_KEYRING_H_

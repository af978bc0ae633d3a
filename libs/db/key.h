// coordkit/db/key.h: the key that opens an encrypted database, owned by the
// library so that the caller may wipe its own copy right after opening.
//
// A passphrase is turned into key material with SQLCipher 4's own default KDF
// (PBKDF2-HMAC-SHA512, 256000 iterations, the 16-byte salt at the start of the
// file), once per process per (passphrase, salt); every connection then keys
// with the raw form x'<key><salt>', which skips the KDF (about 0.3 ms instead
// of about 260 ms). The file format is SQLCipher 4's default, so the stock
// `sqlcipher` shell opens the same file with PRAGMA key='passphrase'.
//
// Example:
//   std::string secret = read_secret_from_file();
//   coordkit::db::Key key = coordkit::db::Key::passphrase(secret);
//   OPENSSL_cleanse(secret.data(), secret.size());  // the Key keeps its own copy
#ifndef COORDKIT_DB_KEY_H_
#define COORDKIT_DB_KEY_H_

#ifdef _WIN32
#error "libs/db is POSIX-only: Debian packages no SQLCipher for mingw"
#endif

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>

#include "coordkit/db/error.h"
#include "coordkit/db/internal/secret.h"

namespace coordkit::db {

namespace internal {
struct KeyAccess;
}  // namespace internal

// Key: owned key material, zeroed when dropped (OPENSSL_cleanse); never
// printed, never part of an error message, never passed through SQL text.
// Copy = deep copy (each copy zeroes its own bytes). A default-constructed Key
// is empty and rejected by open with kInvalidArgument. Not thread-safe for
// concurrent mutation; concurrent const use is fine.
class Key {
 public:
  enum class Kind : std::uint8_t { kNone = 0, kPassphrase = 1, kRaw = 2 };

  Key() = default;

  // passphrase: a key derived with SQLCipher 4's default KDF from `passphrase`
  // and each file's own salt. Copies the bytes; the caller may wipe its buffer
  // afterwards. Throws Error{kInvalidArgument} if `passphrase` is empty.
  static Key passphrase(std::string_view passphrase) {
    if (passphrase.empty()) throw Error(ErrorCode::kInvalidArgument, "empty passphrase");
    return Key(Kind::kPassphrase,
               {reinterpret_cast<const std::uint8_t*>(passphrase.data()), passphrase.size()});
  }

  // raw: a 32-byte AES key used as x'<key><salt>' with each file's own salt
  // (no KDF). Copies the bytes.
  static Key raw(std::span<const std::uint8_t, 32> key) {
    return Key(Kind::kRaw, std::span<const std::uint8_t>(key.data(), key.size()));
  }

  // raw_hex: like raw(), from 64 hex digits (either case). Throws
  // Error{kInvalidArgument} on a wrong length or a non-hex character (the
  // message does not repeat the input).
  static Key raw_hex(std::string_view hex64) {
    if (hex64.size() != 64)
      throw Error(ErrorCode::kInvalidArgument, "raw key must be 64 hex digits");
    internal::SecretBytes bytes(32);
    for (std::size_t i = 0; i < 32; ++i) {
      const int hi = internal::hex_value(hex64[2 * i]);
      const int lo = internal::hex_value(hex64[2 * i + 1]);
      if (hi < 0 || lo < 0) throw Error(ErrorCode::kInvalidArgument, "raw key is not hex");
      bytes.data()[i] = static_cast<std::uint8_t>(hi * 16 + lo);
    }
    return Key(Kind::kRaw, bytes.span());
  }

  // kind: kPassphrase, kRaw, or kNone for a default-constructed Key.
  Kind kind() const noexcept { return kind_; }
  // empty: true for a default-constructed Key (or one moved from).
  bool empty() const noexcept { return kind_ == Kind::kNone; }

  // fingerprint: a per-process keyed hash of the key (HMAC-SHA256 under a
  // random secret that never leaves the process). Equal keys have equal
  // fingerprints within one process; the value says nothing about the key
  // outside it. Used by the derived-key cache.
  const internal::Fingerprint& fingerprint() const noexcept { return fingerprint_; }

  Key(const Key&) = default;
  Key& operator=(const Key&) = default;
  Key(Key&& other) noexcept
      : kind_(std::exchange(other.kind_, Kind::kNone)),
        material_(std::move(other.material_)),
        fingerprint_(std::exchange(other.fingerprint_, {})) {}
  Key& operator=(Key&& other) noexcept {
    kind_ = std::exchange(other.kind_, Kind::kNone);
    material_ = std::move(other.material_);
    fingerprint_ = std::exchange(other.fingerprint_, {});
    return *this;
  }
  ~Key() = default;  // material_ zeroes itself

 private:
  friend struct internal::KeyAccess;

  Key(Kind kind, std::span<const std::uint8_t> bytes)
      : kind_(kind),
        material_(bytes),
        fingerprint_(internal::fingerprint(static_cast<std::uint8_t>(kind), bytes)) {}

  Kind kind_ = Kind::kNone;
  internal::SecretBytes material_;
  internal::Fingerprint fingerprint_{};
};

namespace internal {
// KeyAccess: the library's only way to the key bytes.
struct KeyAccess {
  static std::span<const std::uint8_t> material(const Key& key) noexcept {
    return key.material_.span();
  }
};
}  // namespace internal

}  // namespace coordkit::db

#endif  // COORDKIT_DB_KEY_H_

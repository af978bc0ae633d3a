// Internal: SQLCipher 4's key derivation and the process-wide cache of
// derived keys.
//
// The cache is keyed by (fingerprint of the Key, the file's salt): the derived
// key depends on nothing else, so one entry serves every file with that salt
// (a database and its copies) and a replaced file with a new salt simply
// misses. Keying it by the salt rather than by the file's inode means a stale
// entry can never be used for a file whose salt changed. Only keys that have
// read a schema are cached (a mistyped passphrase is not kept), entries are
// zeroed when dropped, and the cache is bounded.
#ifndef COORDKIT_DB_INTERNAL_KEY_CACHE_H_
#define COORDKIT_DB_INTERNAL_KEY_CACHE_H_

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <list>
#include <mutex>
#include <optional>
#include <utility>

#include "coordkit/db/error.h"
#include "coordkit/db/internal/posix.h"
#include "coordkit/db/internal/secret.h"
#include "coordkit/db/key.h"

namespace coordkit::db::internal {

using Salt = std::array<std::uint8_t, 16>;

// SQLCipher 4 defaults (cipher_compatibility = 4).
inline constexpr int kKdfIterations = 256000;
inline constexpr std::size_t kKeyBytes = 32;
inline constexpr std::size_t kSaltBytes = 16;
// The raw key form x'<64 hex key><32 hex salt>' is 99 characters.
inline constexpr std::size_t kRawKeyChars = 2 + 2 * kKeyBytes + 2 * kSaltBytes + 1;

// pbkdf2_sqlcipher4: PBKDF2-HMAC-SHA512, 256000 iterations, 32 bytes, as
// SQLCipher 4 derives a key from a passphrase and the file's salt.
inline SecretBytes pbkdf2_sqlcipher4(std::span<const std::uint8_t> passphrase, const Salt& salt) {
  SecretBytes out(kKeyBytes);
  if (PKCS5_PBKDF2_HMAC(reinterpret_cast<const char*>(passphrase.data()),
                        static_cast<int>(passphrase.size()), salt.data(),
                        static_cast<int>(salt.size()), kKdfIterations, EVP_sha512(),
                        static_cast<int>(kKeyBytes), out.data()) != 1) {
    throw Error(ErrorCode::kInternal, "PBKDF2 failed");
  }
  return out;
}

// random_salt: 16 bytes from OpenSSL's CSPRNG.
inline Salt random_salt() {
  Salt s{};
  if (RAND_bytes(s.data(), static_cast<int>(s.size())) != 1) {
    throw Error(ErrorCode::kInternal, "no randomness for a new salt");
  }
  return s;
}

// raw_key_text: "x'<key hex><salt hex>'" in a secret buffer (not NUL-terminated).
inline SecretBytes raw_key_text(const SecretBytes& key, const Salt& salt) {
  SecretBytes text(kRawKeyChars);
  char* p = reinterpret_cast<char*>(text.data());
  p[0] = 'x';
  p[1] = '\'';
  hex_lower(key.span(), p + 2);
  hex_lower(salt, p + 2 + 2 * kKeyBytes);
  p[kRawKeyChars - 1] = '\'';
  return text;
}

// KeyCache: process-wide; thread-safe.
class KeyCache {
 public:
  static KeyCache& instance() {
    static KeyCache cache;  // destroyed (and zeroed) at exit
    return cache;
  }

  // key_for: the 32-byte key to use with `salt`. Raw keys are returned as
  // they are; a passphrase is looked up, else derived (about 260 ms, outside
  // the lock). `derived` is set when the KDF ran.
  SecretBytes key_for(const Key& key, const Salt& salt, bool* derived = nullptr) {
    if (derived != nullptr) *derived = false;
    if (key.kind() == Key::Kind::kRaw) return SecretBytes(KeyAccess::material(key));
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto it = entries_.begin(); it != entries_.end(); ++it) {
        if (it->fingerprint == key.fingerprint() && it->salt == salt) {
          entries_.splice(entries_.begin(), entries_, it);
          return entries_.front().key;
        }
      }
    }
    if (derived != nullptr) *derived = true;
    derivations_.fetch_add(1, std::memory_order_relaxed);
    return pbkdf2_sqlcipher4(KeyAccess::material(key), salt);
  }

  // remember: keeps a derived key once it has read a schema.
  void remember(const Key& key, const Salt& salt, const SecretBytes& derived_key) {
    if (key.kind() != Key::Kind::kPassphrase) return;
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->fingerprint == key.fingerprint() && it->salt == salt) return;
    }
    entries_.push_front(Entry{key.fingerprint(), salt, derived_key});
    if (entries_.size() > kCapacity) entries_.pop_back();
  }

  // forget: drops every entry for `salt` (after a rekey of that file).
  void forget_salt(const Salt& salt) {
    std::lock_guard<std::mutex> lock(mu_);
    entries_.remove_if([&](const Entry& e) { return e.salt == salt; });
  }

  // derivations: how many times the KDF ran in this process (tests).
  std::uint64_t derivations() const noexcept {
    return derivations_.load(std::memory_order_relaxed);
  }

  // size: cached derived keys (tests).
  std::size_t size() {
    std::lock_guard<std::mutex> lock(mu_);
    return entries_.size();
  }

 private:
  static constexpr std::size_t kCapacity = 64;
  struct Entry {
    Fingerprint fingerprint;
    Salt salt;
    SecretBytes key;
  };
  KeyCache() = default;

  std::mutex mu_;
  std::list<Entry> entries_;
  std::atomic<std::uint64_t> derivations_{0};
};

}  // namespace coordkit::db::internal

#endif  // COORDKIT_DB_INTERNAL_KEY_CACHE_H_

// Internal: owned secret bytes that are zeroed (OPENSSL_cleanse) when dropped,
// hex encoding into such buffers, and the per-process fingerprint of a key.
#ifndef COORDKIT_DB_INTERNAL_SECRET_H_
#define COORDKIT_DB_INTERNAL_SECRET_H_

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>
#include <utility>

namespace coordkit::db::internal {

// SecretBytes: a fixed-size heap buffer that is zeroed on destruction and on
// reassignment. Never grows (growth would leave unzeroed copies behind).
class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(std::size_t size)
      : data_(size ? new std::uint8_t[size]() : nullptr), size_(size) {}
  explicit SecretBytes(std::span<const std::uint8_t> bytes) : SecretBytes(bytes.size()) {
    if (size_ != 0) std::memcpy(data_.get(), bytes.data(), size_);
  }
  SecretBytes(const SecretBytes& other) : SecretBytes(other.span()) {}
  SecretBytes(SecretBytes&& other) noexcept
      : data_(std::move(other.data_)), size_(std::exchange(other.size_, 0)) {}
  SecretBytes& operator=(const SecretBytes& other) {
    if (this != &other) {
      SecretBytes copy(other);
      *this = std::move(copy);
    }
    return *this;
  }
  SecretBytes& operator=(SecretBytes&& other) noexcept {
    if (this != &other) {
      wipe();
      data_ = std::move(other.data_);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  ~SecretBytes() { wipe(); }

  std::uint8_t* data() noexcept { return data_.get(); }
  const std::uint8_t* data() const noexcept { return data_.get(); }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::span<const std::uint8_t> span() const noexcept { return {data_.get(), size_}; }
  std::span<std::uint8_t> span() noexcept { return {data_.get(), size_}; }
  const char* chars() const noexcept { return reinterpret_cast<const char*>(data_.get()); }

 private:
  void wipe() noexcept {
    if (data_ && size_ != 0) OPENSSL_cleanse(data_.get(), size_);
    data_.reset();
    size_ = 0;
  }

  std::unique_ptr<std::uint8_t[]> data_;
  std::size_t size_ = 0;
};

// Fingerprint: a keyed hash that identifies a key within this process without
// holding it: HMAC-SHA256 under a random per-process secret, so the value is
// useless outside the process and cannot be used to test guesses offline.
using Fingerprint = std::array<std::uint8_t, 32>;

inline const std::array<std::uint8_t, 32>& process_fingerprint_secret() {
  static const std::array<std::uint8_t, 32> secret = [] {
    std::array<std::uint8_t, 32> s{};
    if (RAND_bytes(s.data(), static_cast<int>(s.size())) != 1) {
      // No entropy: fall back to the address space layout; fingerprints only
      // need to be unique within the process.
      const auto p = reinterpret_cast<std::uintptr_t>(&s);
      std::memcpy(s.data(), &p, sizeof p);
    }
    return s;
  }();
  return secret;
}

inline Fingerprint fingerprint(std::uint8_t kind, std::span<const std::uint8_t> material) {
  Fingerprint out{};
  const auto& secret = process_fingerprint_secret();
  SecretBytes message(material.size() + 1);
  std::uint8_t* p = message.data();
  if (p == nullptr) return out;
  p[0] = kind;
  if (!material.empty()) std::memcpy(p + 1, material.data(), material.size());
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), message.data(),
           message.size(), out.data(), &len) == nullptr) {
    out.fill(0);
  }
  return out;
}

// hex_lower: writes 2*bytes.size() lowercase hex digits to `out`.
inline void hex_lower(std::span<const std::uint8_t> bytes, char* out) noexcept {
  constexpr char kDigits[] = "0123456789abcdef";
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0xf];
  }
}

// hex_value: the value of one hex digit, or -1.
constexpr int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace coordkit::db::internal

#endif  // COORDKIT_DB_INTERNAL_SECRET_H_

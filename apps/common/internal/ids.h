// Internal: the record id generator (UUIDv7, RFC 9562) and base64url, the
// encoding of list cursors.
#ifndef COORDKIT_APPS_COMMON_INTERNAL_IDS_H_
#define COORDKIT_APPS_COMMON_INTERNAL_IDS_H_

#include <openssl/rand.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace coordkit::records::internal {

// random_bytes: OpenSSL's CSPRNG (fork-safe in OpenSSL 3, so two processes
// forked from one parent still draw different bytes).
inline void random_bytes(std::uint8_t* out, int n) {
  if (RAND_bytes(out, n) != 1) throw std::runtime_error("no randomness for a record id");
}

// IdClock: makes UUIDv7 ids: 48 bits of Unix milliseconds, then a 12-bit
// counter (RFC 9562 method 1, "fixed bit-length dedicated counter"), then 62
// random bits. Within one process ids strictly increase: a new millisecond
// starts the counter at a random value below 2^11 (so a burst has at least
// 2048 steps before it borrows the next millisecond), the same millisecond
// (or a clock that stepped back) increments it. Across processes uniqueness
// comes from the 62 random bits. Thread-safe.
class IdClock {
 public:
  static IdClock& instance() {
    static IdClock clock;
    return clock;
  }

  std::string next() {
    std::uint64_t ms;
    std::uint32_t counter;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const auto now =
          static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count());
      if (now > last_ms_) {
        std::array<std::uint8_t, 2> r{};
        random_bytes(r.data(), 2);
        last_ms_ = now;
        counter_ = (static_cast<std::uint32_t>(r[0]) << 8 | r[1]) & 0x7ff;
      } else if (++counter_ > 0xfff) {
        ++last_ms_;  // counter exhausted: borrow the next millisecond
        counter_ = 0;
      }
      ms = last_ms_;
      counter = counter_;
    }
    std::array<std::uint8_t, 16> b{};
    random_bytes(b.data() + 8, 8);
    for (int i = 0; i < 6; ++i) b[i] = static_cast<std::uint8_t>(ms >> (40 - 8 * i));
    b[6] = static_cast<std::uint8_t>(0x70 | (counter >> 8));
    b[7] = static_cast<std::uint8_t>(counter & 0xff);
    b[8] = static_cast<std::uint8_t>(0x80 | (b[8] & 0x3f));  // RFC 9562 variant
    constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(36);
    for (int i = 0; i < 16; ++i) {
      if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
      out += kHex[b[i] >> 4];
      out += kHex[b[i] & 0xf];
    }
    return out;
  }

 private:
  IdClock() = default;
  std::mutex mu_;
  std::uint64_t last_ms_ = 0;
  std::uint32_t counter_ = 0;
};

inline constexpr char kBase64Url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// base64url_encode: RFC 4648 section 5, no padding.
inline std::string base64url_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const std::uint32_t v = static_cast<std::uint8_t>(in[i]) << 16 |
                            static_cast<std::uint8_t>(in[i + 1]) << 8 |
                            static_cast<std::uint8_t>(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kBase64Url[(v >> s) & 0x3f];
  }
  const std::size_t rest = in.size() - i;
  if (rest > 0) {
    std::uint32_t v = static_cast<std::uint32_t>(static_cast<std::uint8_t>(in[i])) << 16;
    if (rest == 2) v |= static_cast<std::uint32_t>(static_cast<std::uint8_t>(in[i + 1])) << 8;
    out += kBase64Url[(v >> 18) & 0x3f];
    out += kBase64Url[(v >> 12) & 0x3f];
    if (rest == 2) out += kBase64Url[(v >> 6) & 0x3f];
  }
  return out;
}

// base64url_decode: the inverse; nullopt for a character outside the
// alphabet, padding, or an impossible length.
inline std::optional<std::string> base64url_decode(std::string_view in) {
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = -1;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '-')
      v = 62;
    else if (c == '_')
      v = 63;
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

}  // namespace coordkit::records::internal

#endif  // COORDKIT_APPS_COMMON_INTERNAL_IDS_H_

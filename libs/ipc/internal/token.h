// Internal: instance tokens and the small random parts of temp file names.
#ifndef COORDKIT_IPC_INTERNAL_TOKEN_H_
#define COORDKIT_IPC_INTERNAL_TOKEN_H_

#if defined(_WIN32)
#include <windows.h>
// (windows.h first)
#include <bcrypt.h>
#else
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#endif

#include <array>
#include <string>
#include <string_view>

#include "coordkit/ipc/error.h"

namespace coordkit::ipc::internal {

// random_hex: `bytes` bytes from OpenSSL's CSPRNG (Windows: the system's,
// BCryptGenRandom) as lower-case hex. Throws Error{kSystem} if the generator
// fails (it never silently degrades).
inline std::string random_hex(std::size_t bytes) {
  std::array<unsigned char, 64> buf{};
  if (bytes > buf.size()) throw Error(ErrorCode::kInvalidArgument, "random_hex: too many bytes");
#if defined(_WIN32)
  const NTSTATUS status = ::BCryptGenRandom(nullptr, buf.data(), static_cast<ULONG>(bytes),
                                            BCRYPT_USE_SYSTEM_PREFERRED_RNG);
  if (status != 0) {
    throw Error(ErrorCode::kSystem, "BCryptGenRandom failed (status " +
                                        std::to_string(static_cast<long>(status)) + ")");
  }
#else
  if (RAND_bytes(buf.data(), static_cast<int>(bytes)) != 1) {
    throw Error(ErrorCode::kSystem,
                "RAND_bytes failed (OpenSSL error " + std::to_string(ERR_get_error()) + ")");
  }
#endif
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  for (std::size_t i = 0; i < bytes; ++i) {
    out.push_back(kHex[buf[i] >> 4]);
    out.push_back(kHex[buf[i] & 0xf]);
  }
  return out;
}

// kTokenBytes: 128 bits; a token is 32 hex digits.
inline constexpr std::size_t kTokenBytes = 16;

inline std::string new_token() { return random_hex(kTokenBytes); }

// tokens_equal: compares in time independent of where they differ.
inline bool tokens_equal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size() || a.empty()) return false;
#if defined(_WIN32)
  volatile unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff = static_cast<unsigned char>(diff | (a[i] ^ b[i]));
  }
  return diff == 0;
#else
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
#endif
}

}  // namespace coordkit::ipc::internal

#endif  // COORDKIT_IPC_INTERNAL_TOKEN_H_

// coordkit/gateway/admin_token.h: the bearer token of the admin routes.
//
// The token lives in `<runtime-dir>/gateway.admin-token`: 64 hex digits
// (32 random bytes) and a newline, mode 0600. The gateway reads it when it
// exists (refusing a symlink, a non-regular file, another owner or any
// group/other permission bit, like a key file) and creates it otherwise, so
// it survives restarts and coordctl can read it beside the status file.
//
// Example:
//   std::string token = coordkit::gateway::load_or_create_admin_token(runtime_dir);
//   // clients send: Authorization: Bearer <token>
#ifndef COORDKIT_APPS_GATEWAY_ADMIN_TOKEN_H_
#define COORDKIT_APPS_GATEWAY_ADMIN_TOKEN_H_

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <filesystem>
#include <string>
#include <string_view>

#include "coordkit/base/unique_fd.h"
#include "coordkit/gateway/service.h"

namespace coordkit::gateway {

inline constexpr const char* kAdminTokenFile = "gateway.admin-token";

// constant_time_equal: compares two tokens without an early exit.
inline bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// load_or_create_admin_token: see the file comment. Throws
// Error{kInvalidArgument} (with errno where an OS call failed) for an unsafe
// or malformed file, or when it cannot be created.
inline std::string load_or_create_admin_token(const std::filesystem::path& runtime_dir) {
  const std::filesystem::path path = runtime_dir / kAdminTokenFile;
  const std::string name = "admin token " + path.string();
  for (int attempt = 0; attempt < 2; ++attempt) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
    if (fd) {
      struct stat st {};
      if (::fstat(fd.get(), &st) != 0) throw Error(ErrorCode::kInvalidArgument, name, errno);
      if (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & 077) != 0) {
        throw Error(ErrorCode::kInvalidArgument,
                    name + " must be a regular 0600 file owned by this user");
      }
      std::array<char, 80> buf{};
      const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
      if (n < 0) throw Error(ErrorCode::kInvalidArgument, name + ": read failed", errno);
      std::string text(buf.data(), static_cast<std::size_t>(n));
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
      if (text.size() != 64 || text.find_first_not_of("0123456789abcdef") != std::string::npos) {
        throw Error(ErrorCode::kInvalidArgument, name + " is not 64 lower-case hex digits");
      }
      return text;
    }
    if (errno != ENOENT) throw Error(ErrorCode::kInvalidArgument, name + ": open failed", errno);
    std::array<unsigned char, 32> raw{};
    if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
      throw Error(ErrorCode::kInvalidArgument, "no random bytes for the admin token");
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string token;
    for (unsigned char b : raw) {
      token += kHex[b >> 4];
      token += kHex[b & 15];
    }
    OPENSSL_cleanse(raw.data(), raw.size());
    const std::filesystem::path tmp = path.string() + ".tmp" + std::to_string(::getpid());
    UniqueFd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!out) throw Error(ErrorCode::kInvalidArgument, name + ": create failed", errno);
    const std::string line = token + "\n";
    const bool ok =
        ::write(out.get(), line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
        ::fsync(out.get()) == 0;
    out.reset();
    // link() publishes the whole file or nothing, and loses to a token a
    // concurrent start published first (then that one is read).
    const bool linked = ok && ::link(tmp.c_str(), path.c_str()) == 0;
    const int link_errno = errno;
    ::unlink(tmp.c_str());
    if (linked) return token;
    if (!ok || link_errno != EEXIST) {
      throw Error(ErrorCode::kInvalidArgument, name + ": write failed", link_errno);
    }
  }
  throw Error(ErrorCode::kInvalidArgument, name + " keeps changing");
}

}  // namespace coordkit::gateway

#endif  // COORDKIT_APPS_GATEWAY_ADMIN_TOKEN_H_

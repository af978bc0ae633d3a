// Internal: an owned OS handle (a file descriptor on POSIX, a HANDLE on
// Windows) behind one platform-neutral name, so public classes can hold
// handles without naming POSIX or Win32 types. On POSIX it is coordkit's
// one descriptor owner, coordkit::UniqueFd (libs/base).
#ifndef COORDKIT_SPAWN_INTERNAL_NATIVE_HANDLE_H_
#define COORDKIT_SPAWN_INTERNAL_NATIVE_HANDLE_H_

#ifdef _WIN32
#include <windows.h>

#include <utility>
#else
#include "coordkit/base/unique_fd.h"
#endif

namespace coordkit::spawn::internal {

#ifdef _WIN32
// NativeHandle: move-only owner of one HANDLE; closes it on destruction.
// The same members as coordkit::UniqueFd. Not thread-safe (like the objects
// that own it).
class NativeHandle {
 public:
  NativeHandle() noexcept = default;
  explicit NativeHandle(HANDLE raw) noexcept : raw_(raw) {}
  NativeHandle(NativeHandle&& other) noexcept : raw_(std::exchange(other.raw_, nullptr)) {}
  NativeHandle& operator=(NativeHandle&& other) noexcept {
    if (this != &other) reset(std::exchange(other.raw_, nullptr));
    return *this;
  }
  NativeHandle(const NativeHandle&) = delete;
  NativeHandle& operator=(const NativeHandle&) = delete;
  ~NativeHandle() { reset(); }

  bool valid() const noexcept { return raw_ != nullptr; }
  explicit operator bool() const noexcept { return valid(); }
  HANDLE get() const noexcept { return raw_; }
  // release: gives up ownership without closing.
  [[nodiscard]] HANDLE release() noexcept { return std::exchange(raw_, nullptr); }
  // reset: closes the current handle (a failed close is ignored: nothing
  // useful can be done about it).
  void reset(HANDLE raw = nullptr) noexcept {
    if (raw_ != nullptr) ::CloseHandle(raw_);
    raw_ = raw;
  }

 private:
  HANDLE raw_ = nullptr;
};
#else
// NativeHandle: a descriptor (a pidfd, a pipe end), owned.
using NativeHandle = coordkit::UniqueFd;
#endif

}  // namespace coordkit::spawn::internal

#endif  // COORDKIT_SPAWN_INTERNAL_NATIVE_HANDLE_H_

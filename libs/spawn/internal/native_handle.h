// Internal: an owned OS handle (a file descriptor on POSIX, a HANDLE on
// Windows) behind one platform-neutral type, so public classes can hold
// handles without naming POSIX or Win32 types.
#ifndef COORDKIT_SPAWN_INTERNAL_NATIVE_HANDLE_H_
#define COORDKIT_SPAWN_INTERNAL_NATIVE_HANDLE_H_

#include <utility>

#ifdef _WIN32
#include <windows.h>
#else
#include <unistd.h>
#endif

namespace coordkit::spawn::internal {

// NativeHandle: move-only owner of one handle; closes it on destruction.
// Not thread-safe (like the objects that own it).
class NativeHandle {
 public:
#ifdef _WIN32
  using Raw = void*;
  static constexpr Raw kInvalid = nullptr;
#else
  using Raw = int;
  static constexpr Raw kInvalid = -1;
#endif

  NativeHandle() noexcept = default;
  explicit NativeHandle(Raw raw) noexcept : raw_(raw) {}
  NativeHandle(NativeHandle&& other) noexcept : raw_(std::exchange(other.raw_, kInvalid)) {}
  NativeHandle& operator=(NativeHandle&& other) noexcept {
    if (this != &other) reset(std::exchange(other.raw_, kInvalid));
    return *this;
  }
  NativeHandle(const NativeHandle&) = delete;
  NativeHandle& operator=(const NativeHandle&) = delete;
  ~NativeHandle() { reset(); }

  bool valid() const noexcept { return raw_ != kInvalid; }
  Raw get() const noexcept { return raw_; }
  // release: gives up ownership without closing.
  Raw release() noexcept { return std::exchange(raw_, kInvalid); }
  // reset: closes the current handle (errors ignored: nothing useful can be
  // done about a failed close, and a retry on EINTR could close a reused fd).
  void reset(Raw raw = kInvalid) noexcept {
    if (raw_ != kInvalid) {
#ifdef _WIN32
      ::CloseHandle(raw_);
#else
      ::close(raw_);
#endif
    }
    raw_ = raw;
  }

 private:
  Raw raw_ = kInvalid;
};

}  // namespace coordkit::spawn::internal

#endif  // COORDKIT_SPAWN_INTERNAL_NATIVE_HANDLE_H_

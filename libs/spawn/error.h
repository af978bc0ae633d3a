// coordkit/spawn/error.h: the one error type of coordkit::spawn.
//
// Every failure in coordkit::spawn is reported as a `coordkit::spawn::Error`
// carrying a stable `ErrorCode`. Callers branch on `code()`, never on the
// message text, which is for humans and may change.
//
// Example:
//   try {
//     coordkit::spawn::Child child = coordkit::spawn::spawn({.executable = "/no/such/tool"});
//   } catch (const coordkit::spawn::Error& e) {
//     if (e.code() == coordkit::spawn::ErrorCode::kNotFound) { /* tell the user */ }
//   }
#ifndef COORDKIT_SPAWN_ERROR_H_
#define COORDKIT_SPAWN_ERROR_H_

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace coordkit::spawn {

// ErrorCode: what went wrong, stable across releases and platforms.
enum class ErrorCode {
  kNotFound,           // executable (or working directory) missing or not executable
  kPermissionDenied,   // the OS refused (EPERM; ACCESS_DENIED)
  kResourceExhausted,  // EAGAIN, EMFILE, ENFILE, ENOMEM: out of processes, descriptors, memory
  kInvalidArgument,  // bad command (empty executable, NUL in an argument, '=' in an env name, ...)
  kTimedOut,         // a bounded read or write on a child's pipes ran out of time
  kNoSuchProcess,    // the process is gone, or its identity did not verify
  kUnsupported,      // not available on this platform (Windows paths not written yet)
  kSystem,           // anything else; system_error() has errno / GetLastError
};

// error_code_name: the enumerator's name without the leading 'k' ("NotFound"),
// for logs and test messages. Never throws.
constexpr std::string_view error_code_name(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kNotFound:
      return "NotFound";
    case ErrorCode::kPermissionDenied:
      return "PermissionDenied";
    case ErrorCode::kResourceExhausted:
      return "ResourceExhausted";
    case ErrorCode::kInvalidArgument:
      return "InvalidArgument";
    case ErrorCode::kTimedOut:
      return "TimedOut";
    case ErrorCode::kNoSuchProcess:
      return "NoSuchProcess";
    case ErrorCode::kUnsupported:
      return "Unsupported";
    case ErrorCode::kSystem:
      return "System";
  }
  return "Unknown";
}

// Error: thrown by every coordkit::spawn function that can fail.
// `code()` is the stable classification; `system_error()` is the errno
// (POSIX) or GetLastError() (Windows) value behind it, 0 when there is none.
class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message, int system_error = 0)
      : std::runtime_error(message), code_(code), system_error_(system_error) {}

  ErrorCode code() const noexcept { return code_; }
  int system_error() const noexcept { return system_error_; }

 private:
  ErrorCode code_;
  int system_error_;
};

}  // namespace coordkit::spawn

#endif  // COORDKIT_SPAWN_ERROR_H_

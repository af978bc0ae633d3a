// coordkit/spawn/error.h: the one error type of coordkit::spawn.
//
// Every failure in coordkit::spawn is reported as a `coordkit::spawn::Error`,
// a coordkit::Error with library() "spawn", carrying a stable `ErrorCode`.
// Callers branch on `code()` (or `code_name()`), never on the message text,
// which is for humans and may change.
//
// Example:
//   try {
//     coordkit::spawn::Child child = coordkit::spawn::spawn({.executable = "/no/such/tool"});
//   } catch (const coordkit::spawn::Error& e) {
//     if (e.code() == coordkit::spawn::ErrorCode::kNotFound) { /* tell the user */ }
//   }
#ifndef COORDKIT_SPAWN_ERROR_H_
#define COORDKIT_SPAWN_ERROR_H_

#include <string>
#include <string_view>

#include "coordkit/base/error.h"

namespace coordkit::spawn {

// ErrorCode: what went wrong, stable across releases and platforms.
enum class ErrorCode {
  kNotFound,           // executable (or working directory) missing or not executable
  kPermissionDenied,   // the OS refused (EPERM; ACCESS_DENIED)
  kResourceExhausted,  // EAGAIN, EMFILE, ENFILE, ENOMEM: out of processes, descriptors, memory
  kInvalidArgument,  // bad command (empty executable, NUL in an argument, '=' in an env name, ...)
  kTimedOut,         // a bounded read or write on a child's pipes ran out of time
  kNoSuchProcess,    // the process is gone, or its identity did not verify
  kUnsupported,      // the system lacks what was asked (POSIX: ENOSYS, no POSIX_SPAWN_SETSID)
  kSystem,           // anything else; os_error() has errno / GetLastError
};

// code_name: the stable snake_case name of `code` ("not_found"), the same as
// Error::code_name(), for logs and test messages. Never throws.
constexpr std::string_view code_name(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kNotFound:
      return "not_found";
    case ErrorCode::kPermissionDenied:
      return "permission_denied";
    case ErrorCode::kResourceExhausted:
      return "resource_exhausted";
    case ErrorCode::kInvalidArgument:
      return "invalid_argument";
    case ErrorCode::kTimedOut:
      return "timed_out";
    case ErrorCode::kNoSuchProcess:
      return "no_such_process";
    case ErrorCode::kUnsupported:
      return "unsupported";
    case ErrorCode::kSystem:
      return "system";
  }
  return "unknown";
}

// Error: thrown by every coordkit::spawn function that can fail.
// `code()` is the stable classification; `os_error()` is the errno (POSIX)
// or GetLastError() (Windows) value behind it, 0 when there is none.
class Error : public coordkit::Error {
 public:
  Error(ErrorCode code, const std::string& message, int os_error = 0)
      : coordkit::Error("spawn", spawn::code_name(code), message, os_error), code_(code) {}

  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace coordkit::spawn

#endif  // COORDKIT_SPAWN_ERROR_H_

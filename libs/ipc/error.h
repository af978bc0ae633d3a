// coordkit/ipc/error.h: the one error type of coordkit::ipc.
//
// Every failure of the ipc library is thrown as coordkit::ipc::Error, a
// coordkit::Error with library() "ipc". Callers branch on code() (or on
// code_name(), stable across releases), never on what(): the message is for
// humans and may change. os_error() keeps errno (GetLastError on Windows)
// when an OS call was the cause.
//
// Example:
//   try {
//     coordkit::ipc::Server server({.app = "gateway"});
//   } catch (const coordkit::ipc::Error& e) {
//     if (e.code() == coordkit::ipc::ErrorCode::kAlreadyRunning) return 3;
//     throw;
//   }
#ifndef COORDKIT_IPC_ERROR_H_
#define COORDKIT_IPC_ERROR_H_

#include <string>
#include <string_view>

#include "coordkit/base/error.h"

namespace coordkit::ipc {

// ErrorCode: what went wrong, stable for tests and exit-code mapping.
enum class ErrorCode {
  kAlreadyRunning,          // another process holds the instance lock
  kRuntimeDirIsSymlink,     // the runtime dir (or a component we created) is a symlink
  kRuntimeDirNotOwned,      // ... is owned by another user
  kRuntimeDirTooOpen,       // ... is accessible by group or others (must be 0700)
  kRuntimeDirNotDirectory,  // ... exists but is not a directory
  kNoRuntimeDir,            // no candidate location could be resolved (no HOME, ...)
  kInvalidArgument,         // bad app name, bad option value
  kNotRunning,              // a client asked a server that does not run
  kNoStatus,                // a server runs but has not published a usable status yet
  kTimedOut,                // a bounded wait ran out
  kExitedBeforeReady,       // the process that was to become the server exited first
  kUnsupported,             // not available on this platform (no code path throws it today)
  kSystem,                  // any other OS failure; see os_error()
};

// code_name: the stable snake_case name of `code` ("already_running"), the
// same as Error::code_name(). Never throws.
constexpr std::string_view code_name(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kAlreadyRunning:
      return "already_running";
    case ErrorCode::kRuntimeDirIsSymlink:
      return "runtime_dir_is_symlink";
    case ErrorCode::kRuntimeDirNotOwned:
      return "runtime_dir_not_owned";
    case ErrorCode::kRuntimeDirTooOpen:
      return "runtime_dir_too_open";
    case ErrorCode::kRuntimeDirNotDirectory:
      return "runtime_dir_not_directory";
    case ErrorCode::kNoRuntimeDir:
      return "no_runtime_dir";
    case ErrorCode::kInvalidArgument:
      return "invalid_argument";
    case ErrorCode::kNotRunning:
      return "not_running";
    case ErrorCode::kNoStatus:
      return "no_status";
    case ErrorCode::kTimedOut:
      return "timed_out";
    case ErrorCode::kExitedBeforeReady:
      return "exited_before_ready";
    case ErrorCode::kUnsupported:
      return "unsupported";
    case ErrorCode::kSystem:
      return "system";
  }
  return "unknown";
}

// Error: the exception every coordkit::ipc function throws. Copyable, cheap.
class Error : public coordkit::Error {
 public:
  // Error: `message` should say what was attempted and on which path;
  // `os_error` is errno / GetLastError, 0 when no OS call failed.
  Error(ErrorCode code, const std::string& message, int os_error = 0)
      : coordkit::Error("ipc", ipc::code_name(code), message, os_error), code_(code) {}

  // code: the stable classification; tests and exit codes use this.
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace coordkit::ipc

#endif  // COORDKIT_IPC_ERROR_H_

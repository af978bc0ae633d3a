// Internal (POSIX): turning errno into coordkit::spawn::Error.
#ifndef COORDKIT_SPAWN_INTERNAL_POSIX_ERROR_H_
#define COORDKIT_SPAWN_INTERNAL_POSIX_ERROR_H_

#include <cerrno>
#include <string>

#include "coordkit/spawn/error.h"

namespace coordkit::spawn::internal {

// code_for_errno: the stable class of an errno value.
inline ErrorCode code_for_errno(int err) noexcept {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
    case EACCES:   // exec of a file without execute permission
    case ENOEXEC:  // not a recognised executable format
    case ELOOP:
    case ENAMETOOLONG:
      return ErrorCode::kNotFound;
    case EPERM:
      return ErrorCode::kPermissionDenied;
    case EAGAIN:
    case EMFILE:
    case ENFILE:
    case ENOMEM:
    case ENOSPC:
      return ErrorCode::kResourceExhausted;
    case E2BIG:
    case EINVAL:
      return ErrorCode::kInvalidArgument;
    case ESRCH:
      return ErrorCode::kNoSuchProcess;
    case ENOSYS:
      return ErrorCode::kUnsupported;
    default:
      return ErrorCode::kSystem;
  }
}

// errno_error: an Error for `what` failing with `err`; the OS text comes
// from coordkit::Error's format.
inline Error errno_error(int err, const std::string& what) {
  return Error(code_for_errno(err), what, err);
}

}  // namespace coordkit::spawn::internal

#endif  // COORDKIT_SPAWN_INTERNAL_POSIX_ERROR_H_

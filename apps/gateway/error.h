// coordkit/gateway/error.h: coordkit::gateway::Error, the gateway's own
// refusals (library "gateway"); routes.h maps each code to a status.
#ifndef COORDKIT_APPS_GATEWAY_ERROR_H_
#define COORDKIT_APPS_GATEWAY_ERROR_H_

#include <string>
#include <string_view>

#include "coordkit/base/error.h"

namespace coordkit::gateway {

// ErrorCode: the gateway's own refusals (library "gateway").
enum class ErrorCode {
  kInvalidArgument,  // a bad backup name, rekey body, ...
  kAlreadyExists,    // a backup of that name exists
  kUnavailable,      // starting or draining: not serving now
  kClosed,           // the database was closed (after shutdown)
  kKeyFile,          // the key file (or its staged next key) cannot be written, renamed or removed
};

constexpr std::string_view code_name(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "invalid_argument";
    case ErrorCode::kAlreadyExists:
      return "already_exists";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kClosed:
      return "closed";
    case ErrorCode::kKeyFile:
      return "key_file_failed";
  }
  return "unknown";
}

// Error: what the service layer throws besides records::Error and
// db::Error. Copyable.
class Error : public coordkit::Error {
 public:
  Error(ErrorCode code, const std::string& message, int os_error = 0)
      : coordkit::Error("gateway", gateway::code_name(code), message, os_error), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace coordkit::gateway

#endif  // COORDKIT_APPS_GATEWAY_ERROR_H_

// coordkit/log/error.h: the one error type of coordkit::log.
//
// Logging itself never throws: once a sink exists, a failed write is counted
// (see Sink::stats()), never reported by an exception. Errors are thrown only
// where a program sets logging up, so that a log file that cannot be opened
// fails loudly at start-up rather than silently later.
//
// Example:
//
//   #include "coordkit/log/log.h"
//
//   try {
//     auto file = std::make_shared<coordkit::log::FileSink>(
//         coordkit::log::FileSinkOptions{.path = "/var/log/app/app.log"});
//   } catch (const coordkit::log::Error& e) {
//     if (e.code() == coordkit::log::ErrorCode::kOpenFailed) { /* exit code 73 */ }
//   }

#ifndef COORDKIT_LOG_ERROR_H_
#define COORDKIT_LOG_ERROR_H_

#include <string>
#include <string_view>

#include "coordkit/base/error.h"

namespace coordkit::log {

// ErrorCode: the stable reason for an Error. Tests and callers branch on it,
// never on the message text. The numeric values are stable.
enum class ErrorCode {
  // An option is out of range (an empty path, max_files < 1, ...).
  kInvalidArgument = 1,
  // A file (the log file, /dev/null for reserve_standard_fds()) could not be
  // opened; Error::os_error() holds the errno.
  kOpenFailed = 2,
};

// code_name: the stable snake_case name of `code` ("invalid_argument",
// "open_failed"), the same as Error::code_name(), for JSON output and
// exit-code tables.
constexpr std::string_view code_name(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "invalid_argument";
    case ErrorCode::kOpenFailed:
      return "open_failed";
  }
  return "unknown";
}

// Error: thrown by set-up functions of coordkit::log (FileSink's constructor,
// reserve_standard_fds()): a coordkit::Error with library() "log", a stable
// code and, for system failures, the errno value in os_error(). what() is
// ASCII.
class Error : public coordkit::Error {
 public:
  // Error: `message` should already be ASCII (paths in it go through
  // to_ascii()); `os_error` is an errno value or 0.
  Error(ErrorCode code, const std::string& message, int os_error = 0)
      : coordkit::Error("log", log::code_name(code), message, os_error), code_(code) {}

  // code: the stable reason.
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace coordkit::log

#endif  // COORDKIT_LOG_ERROR_H_

// coordkit/cli/exit_codes.h: coordctl's exit codes and the one place that
// turns an error into one.
//
// The codes are part of coordctl's interface (scripts branch on them), so
// they never change meaning:
//   0 ok, 1 error, 2 usage, 3 not running, 4 wrong key or not a database,
//   5 timeout, 6 already running, 7 conflict (version mismatch).
//
// Library errors map through apps/common's one table (exit_codes.h there),
// by their stable library() and code_name(), never what(); the constants
// below name the same numbers for coordctl's own code.
//
// Example:
//   try {
//     run();
//   } catch (const coordkit::Error& e) {
//     return coordkit::cli::exit_code_for(e);
//   }
#ifndef COORDKIT_APPS_CLI_EXIT_CODES_H_
#define COORDKIT_APPS_CLI_EXIT_CODES_H_

#include <string>
#include <string_view>

#include "coordkit/apps/exit_codes.h"
#include "coordkit/base/error.h"

namespace coordkit::cli {

inline constexpr int kExitOk = static_cast<int>(apps::ExitCode::kOk);
inline constexpr int kExitError = static_cast<int>(apps::ExitCode::kError);
inline constexpr int kExitUsage = static_cast<int>(apps::ExitCode::kUsage);
inline constexpr int kExitNotRunning = static_cast<int>(apps::ExitCode::kNotRunning);
inline constexpr int kExitWrongKey = static_cast<int>(apps::ExitCode::kWrongKey);
inline constexpr int kExitTimeout = static_cast<int>(apps::ExitCode::kTimeout);
inline constexpr int kExitAlreadyRunning = static_cast<int>(apps::ExitCode::kAlreadyRunning);
inline constexpr int kExitConflict = static_cast<int>(apps::ExitCode::kConflict);

// ErrorCode: failures coordctl itself reports (library "cli").
enum class ErrorCode {
  kUsage,           // a bad combination of arguments CLI11 cannot see
  kNotRunning,      // the gateway is not running
  kAlreadyRunning,  // the gateway runs already
  kTimedOut,        // a bounded wait ran out
  kFailed,          // a command did its work and the result is bad (a failed check)
  kGatewayFailed,   // the gateway exited during start-up
  kUnavailable,     // the operation needs something not there yet
};

constexpr std::string_view code_name(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kUsage:
      return "usage";
    case ErrorCode::kNotRunning:
      return "not_running";
    case ErrorCode::kAlreadyRunning:
      return "already_running";
    case ErrorCode::kTimedOut:
      return "timed_out";
    case ErrorCode::kFailed:
      return "failed";
    case ErrorCode::kGatewayFailed:
      return "gateway_failed";
    case ErrorCode::kUnavailable:
      return "unavailable";
  }
  return "unknown";
}

// Error: coordctl's own exception (library "cli").
class Error : public coordkit::Error {
 public:
  Error(ErrorCode code, const std::string& message)
      : coordkit::Error("cli", cli::code_name(code), message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

// exit_code_for: the exit code for `error`. coordctl's own errors (library
// "cli") map here, next to their codes; every library's error maps through
// the apps' one table (coordkit/apps/exit_codes.h), shared with the
// gateway's HTTP statuses. Never throws.
inline int exit_code_for(const coordkit::Error& error) noexcept {
  if (error.library() == "cli") {
    const std::string_view code = error.code_name();
    if (code == code_name(ErrorCode::kUsage)) return kExitUsage;
    if (code == code_name(ErrorCode::kNotRunning)) return kExitNotRunning;
    if (code == code_name(ErrorCode::kAlreadyRunning)) return kExitAlreadyRunning;
    if (code == code_name(ErrorCode::kTimedOut)) return kExitTimeout;
    return kExitError;
  }
  try {
    return static_cast<int>(apps::exit_code(error));
  } catch (...) {
    return kExitError;
  }
}

// kExitCodesHelp: the table as coordctl's --help and README show it.
inline constexpr std::string_view kExitCodesHelp = apps::kExitCodeHelp;

}  // namespace coordkit::cli

#endif  // COORDKIT_APPS_CLI_EXIT_CODES_H_

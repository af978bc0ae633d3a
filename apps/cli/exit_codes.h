// coordkit/cli/exit_codes.h: coordctl's exit codes and the one place that
// turns an error into one.
//
// The codes are part of coordctl's interface (scripts branch on them), so
// they never change meaning:
//   0 ok, 1 error, 2 usage, 3 not running, 4 wrong key or not a database,
//   5 timeout, 6 already running, 7 conflict (version mismatch).
//
// exit_code_for() reads only coordkit::Error's stable facts (library() and
// code_name()), never what(), so every library's error maps here without
// coordctl knowing its types.
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

#include "coordkit/base/error.h"

namespace coordkit::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitNotRunning = 3;
inline constexpr int kExitWrongKey = 4;
inline constexpr int kExitTimeout = 5;
inline constexpr int kExitAlreadyRunning = 6;
inline constexpr int kExitConflict = 7;

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

namespace internal {
struct ExitRule {
  std::string_view library;
  std::string_view code_name;  // "" matches every code of the library
  int exit_code;
};

// kExitRules: the whole mapping, first match wins.
inline constexpr ExitRule kExitRules[] = {
    {"db", "wrong_key_or_not_a_database", kExitWrongKey},
    {"db", "plaintext_database", kExitWrongKey},
    {"db", "busy", kExitTimeout},
    {"db", "invalid_argument", kExitUsage},
    {"records", "version_mismatch", kExitConflict},
    {"records", "already_exists", kExitConflict},
    {"records", "invalid_argument", kExitUsage},
    {"records", "too_large", kExitUsage},
    {"keys", "no_key", kExitUsage},
    {"ipc", "already_running", kExitAlreadyRunning},
    {"ipc", "not_running", kExitNotRunning},
    {"ipc", "timed_out", kExitTimeout},
    {"ipc", "invalid_argument", kExitUsage},
    {"spawn", "timed_out", kExitTimeout},
    {"cli", "usage", kExitUsage},
    {"cli", "not_running", kExitNotRunning},
    {"cli", "already_running", kExitAlreadyRunning},
    {"cli", "timed_out", kExitTimeout},
};
}  // namespace internal

// exit_code_for: the exit code for `error` by the table above; kExitError
// for everything else. Never throws.
inline int exit_code_for(const coordkit::Error& error) noexcept {
  for (const internal::ExitRule& rule : internal::kExitRules) {
    if (rule.library == error.library() &&
        (rule.code_name.empty() || rule.code_name == error.code_name())) {
      return rule.exit_code;
    }
  }
  return kExitError;
}

// kExitCodesHelp: the table as coordctl's --help and README show it.
inline constexpr const char* kExitCodesHelp =
    "Exit codes:\n"
    "  0  ok\n"
    "  1  error\n"
    "  2  usage (bad arguments, no key given)\n"
    "  3  not running (the gateway)\n"
    "  4  wrong key or not a database\n"
    "  5  timeout\n"
    "  6  already running (the gateway)\n"
    "  7  conflict (version mismatch)\n";

}  // namespace coordkit::cli

#endif  // COORDKIT_APPS_CLI_EXIT_CODES_H_

// coordkit/gateway/exit_codes.h: coordkit-gateway's exit codes, one per
// start-up step that can fail, and the one place an exception becomes one.
//
// Each step that fails logs (and prints, ASCII-safe) a line naming itself,
// `coordkit-gateway: <step>: <what>`, then exits with its code. Scripts and
// coordctl branch on the code; the text is for people.
//
// Example:
//   try { ... } catch (...) { return static_cast<int>(exit_code_for(Step::kDatabase)); }
#ifndef COORDKIT_APPS_GATEWAY_EXIT_CODES_H_
#define COORDKIT_APPS_GATEWAY_EXIT_CODES_H_

#include <string_view>

namespace coordkit::gateway {

// ExitCode: documented in README.md and --help; stable.
enum class ExitCode : int {
  kOk = 0,              // stopped cleanly after a shutdown request
  kInternal = 1,        // an unexpected failure
  kUsage = 2,           // bad flags or config file
  kAlreadyRunning = 3,  // another gateway holds this runtime dir's lock
  kRuntimeDir = 4,      // the runtime dir is unsafe or cannot be made
  kLogFile = 5,         // the data dir or its log file cannot be opened
  kKey = 6,             // no key, or the key file is refused
  kWrongKey = 7,        // the key does not open the database (or it is not one)
  kDatabase = 8,        // the database cannot be opened or migrated
  kBind = 9,            // a listen address cannot be bound
  kAdminToken = 10,     // the admin token cannot be read or created
  kServe = 11,          // the server failed while serving
};

// Step: the start-up steps, in order.
enum class Step {
  kConfig,
  kRuntimeDir,  // runtime dir, instance lock, shutdown watcher (ipc::Server)
  kLog,
  kAdminToken,
  kKey,
  kDatabase,
  kBind,
  kServe,
};

constexpr std::string_view to_string(Step step) noexcept {
  switch (step) {
    case Step::kConfig:
      return "config";
    case Step::kRuntimeDir:
      return "runtime_dir";
    case Step::kLog:
      return "log";
    case Step::kAdminToken:
      return "admin_token";
    case Step::kKey:
      return "key";
    case Step::kDatabase:
      return "database";
    case Step::kBind:
      return "bind";
    case Step::kServe:
      return "serve";
  }
  return "unknown";
}

// exit_code_for: the code a failure in `step` exits with (kAlreadyRunning
// and kWrongKey are chosen by the caller from the error's code).
constexpr ExitCode exit_code_for(Step step) noexcept {
  switch (step) {
    case Step::kConfig:
      return ExitCode::kUsage;
    case Step::kRuntimeDir:
      return ExitCode::kRuntimeDir;
    case Step::kLog:
      return ExitCode::kLogFile;
    case Step::kAdminToken:
      return ExitCode::kAdminToken;
    case Step::kKey:
      return ExitCode::kKey;
    case Step::kDatabase:
      return ExitCode::kDatabase;
    case Step::kBind:
      return ExitCode::kBind;
    case Step::kServe:
      return ExitCode::kServe;
  }
  return ExitCode::kInternal;
}

}  // namespace coordkit::gateway

#endif  // COORDKIT_APPS_GATEWAY_EXIT_CODES_H_

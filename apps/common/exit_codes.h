// coordkit/apps/exit_codes.h: the one table from a coordkit error (library +
// code name) to coordctl's exit code and to the gateway's HTTP status. Each
// app catches once and asks this table; nothing else decides.
//
// Example (coordctl's main):
//   try {
//     return run(app);
//   } catch (const std::exception& e) {
//     std::fprintf(stderr, "coordctl: %s\n", e.what());
//     return static_cast<int>(coordkit::apps::exit_code(e));
//   }
// Example (a gateway handler's one catch):
//   const coordkit::apps::HttpError h = coordkit::apps::http_error(e);
//   response.result(h.status);
//   if (h.retry_after_s) response.set("Retry-After", std::to_string(*h.retry_after_s));
//   body = {{"error", {{"library", h.library}, {"code", h.code_name}}}};
//
// coordctl's exit codes (documented in its --help through kExitCodeHelp):
//   0 ok, 1 error, 2 usage, 3 not running, 4 wrong key or not a database,
//   5 timeout, 6 already running, 7 conflict.
#ifndef COORDKIT_APPS_COMMON_EXIT_CODES_H_
#define COORDKIT_APPS_COMMON_EXIT_CODES_H_

#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include "coordkit/apps/internal/error_identity.h"

namespace coordkit::apps {

// ExitCode: coordctl's documented, stable exit codes.
enum class ExitCode : int {
  kOk = 0,
  kError = 1,
  kUsage = 2,
  kNotRunning = 3,
  kWrongKey = 4,  // wrong key or not a database
  kTimeout = 5,
  kAlreadyRunning = 6,
  kConflict = 7,  // version mismatch, already exists
};

// kExitCodeHelp: the exit codes as --help and the README show them.
inline constexpr std::string_view kExitCodeHelp =
    "Exit codes:\n"
    "  0  ok\n"
    "  1  error\n"
    "  2  usage (bad arguments, no key given)\n"
    "  3  the gateway is not running\n"
    "  4  wrong key or not a database\n"
    "  5  timeout (the database or the gateway stayed busy)\n"
    "  6  the gateway is already running\n"
    "  7  conflict (version mismatch, record already exists)\n";

// kRetryAfterSeconds: the Retry-After the gateway sends with a 503 for a
// transient failure.
inline constexpr int kRetryAfterSeconds = 1;

// ErrorMapping: one row of the table.
struct ErrorMapping {
  std::string_view library;
  std::string_view code_name;
  ExitCode exit;
  int http_status;
  bool retry_after;  // a transient failure: 503 with Retry-After
};

// kErrorTable: every code of every library, listed explicitly (a test
// checks that none is missing), so a new code is a decision, not a default.
inline constexpr ErrorMapping kErrorTable[] = {
    // db
    {"db", "wrong_key_or_not_a_database", ExitCode::kWrongKey, 500, false},
    {"db", "plaintext_database", ExitCode::kWrongKey, 500, false},
    {"db", "no_codec", ExitCode::kError, 500, false},
    {"db", "busy", ExitCode::kTimeout, 503, true},
    {"db", "corrupt", ExitCode::kError, 500, false},
    {"db", "io", ExitCode::kError, 500, false},
    {"db", "full", ExitCode::kError, 507, false},
    {"db", "read_only", ExitCode::kError, 500, false},
    {"db", "permission", ExitCode::kError, 500, false},
    {"db", "cant_open", ExitCode::kError, 500, false},
    {"db", "constraint", ExitCode::kError, 500, false},
    {"db", "mismatch", ExitCode::kError, 500, false},
    {"db", "sql", ExitCode::kError, 500, false},
    {"db", "not_initialised", ExitCode::kError, 503, false},
    {"db", "schema_too_new", ExitCode::kError, 500, false},
    {"db", "invalid_argument", ExitCode::kUsage, 500, false},
    {"db", "misuse", ExitCode::kError, 500, false},
    {"db", "internal", ExitCode::kError, 500, false},
    {"db", "timeout", ExitCode::kTimeout, 503, true},
    {"db", "null_value", ExitCode::kError, 500, false},
    // ipc
    {"ipc", "already_running", ExitCode::kAlreadyRunning, 500, false},
    {"ipc", "runtime_dir_is_symlink", ExitCode::kError, 500, false},
    {"ipc", "runtime_dir_not_owned", ExitCode::kError, 500, false},
    {"ipc", "runtime_dir_too_open", ExitCode::kError, 500, false},
    {"ipc", "runtime_dir_not_directory", ExitCode::kError, 500, false},
    {"ipc", "no_runtime_dir", ExitCode::kError, 500, false},
    {"ipc", "invalid_argument", ExitCode::kUsage, 500, false},
    {"ipc", "not_running", ExitCode::kNotRunning, 503, true},
    {"ipc", "no_status", ExitCode::kNotRunning, 503, true},
    {"ipc", "timed_out", ExitCode::kTimeout, 503, true},
    {"ipc", "unsupported", ExitCode::kError, 501, false},
    {"ipc", "system", ExitCode::kError, 500, false},
    {"ipc", "exited_before_ready", ExitCode::kError, 500, false},
    // spawn
    {"spawn", "not_found", ExitCode::kError, 500, false},
    {"spawn", "permission_denied", ExitCode::kError, 500, false},
    {"spawn", "resource_exhausted", ExitCode::kError, 503, true},
    {"spawn", "invalid_argument", ExitCode::kUsage, 500, false},
    {"spawn", "timed_out", ExitCode::kTimeout, 503, true},
    {"spawn", "no_such_process", ExitCode::kNotRunning, 500, false},
    {"spawn", "unsupported", ExitCode::kError, 501, false},
    {"spawn", "system", ExitCode::kError, 500, false},
    // log
    {"log", "invalid_argument", ExitCode::kUsage, 500, false},
    {"log", "open_failed", ExitCode::kError, 500, false},
    // records
    {"records", "not_found", ExitCode::kError, 404, false},
    {"records", "version_mismatch", ExitCode::kConflict, 412, false},
    {"records", "already_exists", ExitCode::kConflict, 412, false},
    {"records", "invalid_argument", ExitCode::kUsage, 400, false},
    {"records", "too_large", ExitCode::kUsage, 413, false},
    {"records", "corrupt", ExitCode::kError, 500, false},
    // keys
    {"keys", "key_file_unsafe", ExitCode::kError, 500, false},
    {"keys", "key_file_missing", ExitCode::kError, 500, false},
    {"keys", "no_key", ExitCode::kUsage, 500, false},
    {"keys", "bad_key_file", ExitCode::kError, 500, false},
    {"keys", "no_database", ExitCode::kError, 500, false},
    {"keys", "keyring_unavailable", ExitCode::kError, 500, false},
    {"keys", "keyring_failed", ExitCode::kError, 500, false},
    // http: libs/http does not exist yet. Its rows go here, e.g. a body over
    // the limit (413), a malformed request (400), a missing or wrong bearer
    // token (401), an unknown route (404), a wrong method (405), a read
    // timeout (408), draining (503 with Retry-After).
};

// find_mapping: the row for (library, code_name), or nullptr.
constexpr const ErrorMapping* find_mapping(std::string_view library,
                                           std::string_view code_name) noexcept {
  for (const ErrorMapping& m : kErrorTable) {
    if (m.library == library && m.code_name == code_name) return &m;
  }
  return nullptr;
}

// exit_code: coordctl's exit code for any exception: the table's for a
// coordkit error, kError for one the table lacks and for any other exception.
inline ExitCode exit_code(const std::exception& e) {
  const internal::ErrorIdentity id = internal::identify(e);
  const ErrorMapping* m = find_mapping(id.library, id.code_name);
  return m != nullptr ? m->exit : ExitCode::kError;
}

// HttpError: what the gateway answers for a failure: the status, a
// Retry-After for transient ones, and the stable library and code name for
// the JSON error body (library "" for an exception that is not coordkit's).
struct HttpError {
  int status = 500;
  std::optional<int> retry_after_s;
  std::string library;
  std::string code_name;
};

// http_error: the table's status for a coordkit error; 500 for one the
// table lacks and for any other exception.
inline HttpError http_error(const std::exception& e) {
  internal::ErrorIdentity id = internal::identify(e);
  HttpError out;
  if (const ErrorMapping* m = find_mapping(id.library, id.code_name)) {
    out.status = m->http_status;
    if (m->retry_after) out.retry_after_s = kRetryAfterSeconds;
  }
  out.library = std::move(id.library);
  out.code_name = std::move(id.code_name);
  return out;
}

}  // namespace coordkit::apps

#endif  // COORDKIT_APPS_COMMON_EXIT_CODES_H_

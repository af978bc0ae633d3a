// coordkit/base/error.h: coordkit::Error, the base of every coordkit
// library's error type.
//
// Each library (db, ipc, spawn, log, http) throws its own `Error`, derived
// from this one, with its own code enum. Code that only needs to report or
// map a failure catches `coordkit::Error` once and reads three stable facts:
// the library it came from, a snake_case code name, and the OS error behind
// it (errno on POSIX, GetLastError on Windows; 0 when no OS call failed).
// `what()` has one format everywhere:
//
//   coordkit::<library>: <code_name>: <message>[ (os error N: <text>)]
//
// Branch on `library()` and `code_name()` (or on the derived type's `code()`),
// never on `what()`: the message is for people and may change.
//
// Example:
//   try {
//     run_service();
//   } catch (const coordkit::Error& e) {
//     std::fprintf(stderr, "%s\n", e.what());
//     return e.library() == "db" && e.code_name() == "wrong_key_or_not_a_database" ? 4 : 1;
//   }
#ifndef COORDKIT_BASE_ERROR_H_
#define COORDKIT_BASE_ERROR_H_

#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

namespace coordkit {

// Error: the common base of coordkit's exceptions. Copyable and cheap to
// copy; every accessor is noexcept and thread-safe to read. The library and
// code name are string literals owned by the library that threw (they live
// as long as the program).
class Error : public std::runtime_error {
 public:
  // Error: `library` ("db", "ipc", ...) and `code_name` ("busy") must be
  // string literals or otherwise outlive the exception; `message` says what
  // was attempted and on what (never key material); `os_error` is errno /
  // GetLastError, 0 when no OS call failed.
  Error(std::string_view library, std::string_view code_name, const std::string& message,
        int os_error = 0)
      : std::runtime_error(format(library, code_name, message, os_error)),
        library_(library),
        code_name_(code_name),
        os_error_(os_error) {}

  // library: the library that threw: "db", "ipc", "spawn", "log", "http".
  std::string_view library() const noexcept { return library_; }
  // code_name: the stable snake_case name of the derived type's code.
  std::string_view code_name() const noexcept { return code_name_; }
  // os_error: errno (POSIX) or GetLastError (Windows) behind the failure, or 0.
  int os_error() const noexcept { return os_error_; }

  // format: the one `what()` format; public so tests and tools can build the
  // same line without throwing.
  static std::string format(std::string_view library, std::string_view code_name,
                            std::string_view message, int os_error) {
    std::string out = "coordkit::";
    out += library;
    out += ": ";
    out += code_name;
    out += ": ";
    out += message;
    if (os_error != 0) {
      out += " (os error ";
      out += std::to_string(os_error);
      out += ": ";
      out += os_error_text(os_error);
      out += ')';
    }
    return out;
  }

 private:
  static std::string os_error_text(int err) {
#if defined(_WIN32)
    static_cast<void>(err);
    return "see GetLastError";
#else
    char buf[128] = {};
    // GNU strerror_r may return a static string instead of filling buf; the
    // XSI one returns int. Both are handled without a feature-test macro.
    return result_text(::strerror_r(err, buf, sizeof buf), buf);
#endif
  }
  static std::string result_text(const char* text, const char*) {
    return text != nullptr ? text : "unknown error";
  }
  static std::string result_text(int rc, const char* buf) {
    return rc == 0 ? buf : "unknown error";
  }

  std::string_view library_;
  std::string_view code_name_;
  int os_error_;
};

}  // namespace coordkit

#endif  // COORDKIT_BASE_ERROR_H_

// coordkit/http/error.h: coordkit::http::Error, its codes, and the one
// mapping from any coordkit::Error to an HTTP status and a uniform JSON body.
//
// Handlers throw http::Error to answer with an error status (404, 409, 412,
// 503 with Retry-After, ...); the library throws it for every request it
// refuses (400 naming the parameter, 422 naming the JSON pointer and rule).
// Errors of other coordkit libraries (db, ipc, ...) reach the client through
// an ErrorMap: the application says once which (library, code_name) pairs
// mean which status; everything else is a 500 whose message hides details.
//
// Example:
//   throw coordkit::http::Error(coordkit::http::ErrorCode::kNotFound, "no record 'a1'");
//
//   coordkit::http::ErrorMap map;
//   map.add("db", "busy", 503, /*retry_after_seconds=*/1);
//   coordkit::http::ErrorReply reply = map.reply(some_db_error);  // 503, code "busy"
#ifndef COORDKIT_HTTP_ERROR_H_
#define COORDKIT_HTTP_ERROR_H_

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "coordkit/base/error.h"

namespace coordkit::http {

// ErrorCode: the stable reason for an http::Error. Each request-level code
// has one status (error_status()); the set-up codes (kInvalidRoute,
// kInvalidArgument, kListenFailed) are thrown by constructors and
// registration, never sent. Numeric values are stable.
enum class ErrorCode {
  kBadRequest = 1,        // 400 malformed request line, headers or target
  kMissingParameter,      // 400 a required parameter is absent (names it)
  kInvalidParameter,      // 400 a parameter is malformed, out of range or unknown (names it)
  kInvalidJson,           // 400 the body is not JSON (or is missing)
  kUnauthorized,          // 401 no or wrong credentials (WWW-Authenticate: Bearer)
  kForbidden,             // 403
  kNotFound,              // 404
  kMethodNotAllowed,      // 405 (Allow lists the path's methods)
  kConflict,              // 409
  kPreconditionFailed,    // 412
  kPayloadTooLarge,       // 413
  kUnsupportedMediaType,  // 415
  kSchemaViolation,       // 422 the body breaks its schema (pointer + rule)
  kHeadersTooLarge,       // 431
  kInternal,              // 500 a handler threw something unmapped
  kResponseInvalid,       // 500 a handler returned what its route did not declare, or
                          //     a header that cannot be sent (CR, LF, a bad name)
  kUnavailable,           // 503 draining, overloaded (Retry-After where known)
  kTimeout,               // 408 the request was not read in time
  kInvalidRoute = 100,    // set-up: a route declaration is inconsistent
  kInvalidArgument,       // set-up: an option is out of range
  kListenFailed,          // set-up: bind/listen failed (os_error holds errno)
};

// error_code_name: the snake_case name sent as "code" in error bodies.
constexpr std::string_view error_code_name(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kBadRequest:
      return "bad_request";
    case ErrorCode::kMissingParameter:
      return "missing_parameter";
    case ErrorCode::kInvalidParameter:
      return "invalid_parameter";
    case ErrorCode::kInvalidJson:
      return "invalid_json";
    case ErrorCode::kUnauthorized:
      return "unauthorized";
    case ErrorCode::kForbidden:
      return "forbidden";
    case ErrorCode::kNotFound:
      return "not_found";
    case ErrorCode::kMethodNotAllowed:
      return "method_not_allowed";
    case ErrorCode::kConflict:
      return "conflict";
    case ErrorCode::kPreconditionFailed:
      return "precondition_failed";
    case ErrorCode::kPayloadTooLarge:
      return "payload_too_large";
    case ErrorCode::kUnsupportedMediaType:
      return "unsupported_media_type";
    case ErrorCode::kSchemaViolation:
      return "schema_violation";
    case ErrorCode::kHeadersTooLarge:
      return "headers_too_large";
    case ErrorCode::kInternal:
      return "internal";
    case ErrorCode::kResponseInvalid:
      return "response_invalid";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kTimeout:
      return "timeout";
    case ErrorCode::kInvalidRoute:
      return "invalid_route";
    case ErrorCode::kInvalidArgument:
      return "invalid_argument";
    case ErrorCode::kListenFailed:
      return "listen_failed";
  }
  return "unknown";
}

// error_status: the HTTP status of a request-level code; 500 for set-up codes.
constexpr unsigned error_status(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kBadRequest:
    case ErrorCode::kMissingParameter:
    case ErrorCode::kInvalidParameter:
    case ErrorCode::kInvalidJson:
      return 400;
    case ErrorCode::kUnauthorized:
      return 401;
    case ErrorCode::kForbidden:
      return 403;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kMethodNotAllowed:
      return 405;
    case ErrorCode::kTimeout:
      return 408;
    case ErrorCode::kConflict:
      return 409;
    case ErrorCode::kPreconditionFailed:
      return 412;
    case ErrorCode::kPayloadTooLarge:
      return 413;
    case ErrorCode::kUnsupportedMediaType:
      return 415;
    case ErrorCode::kSchemaViolation:
      return 422;
    case ErrorCode::kHeadersTooLarge:
      return 431;
    case ErrorCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

// Error: coordkit::http's exception. Carries its code and, for the client,
// optional details: the parameter a 400 is about, the JSON pointer and rule
// of a 422, extra response headers (Allow, WWW-Authenticate, Retry-After).
// Copyable; thread-safe to read.
class Error : public coordkit::Error {
 public:
  Error(ErrorCode code, const std::string& message, int os_error = 0)
      : coordkit::Error("http", error_code_name(code), message, os_error),
        code_(code),
        message_(message) {}

  ErrorCode code() const noexcept { return code_; }
  unsigned status() const noexcept { return error_status(code_); }
  // message: the message alone, without the what() prefix; sent to clients.
  const std::string& message() const noexcept { return message_; }

  // with_parameter / with_pointer / with_header: builders for the details.
  Error& with_parameter(std::string name) {
    parameter_ = std::move(name);
    return *this;
  }
  Error& with_pointer(std::string pointer, std::string rule) {
    pointer_ = std::move(pointer);
    rule_ = std::move(rule);
    return *this;
  }
  Error& with_header(std::string name, std::string value) {
    headers_.emplace_back(std::move(name), std::move(value));
    return *this;
  }

  // parameter: the parameter a 400 names ("" when none). pointer / rule:
  // the JSON pointer ("" is the whole body) and the schema keyword
  // ("maxLength", "required", ...) of a 422's first violation.
  const std::string& parameter() const noexcept { return parameter_; }
  const std::optional<std::string>& pointer() const noexcept { return pointer_; }
  const std::string& rule() const noexcept { return rule_; }
  const std::vector<std::pair<std::string, std::string>>& headers() const noexcept {
    return headers_;
  }

 private:
  ErrorCode code_;
  std::string message_;
  std::string parameter_;
  std::optional<std::string> pointer_;
  std::string rule_;
  std::vector<std::pair<std::string, std::string>> headers_;
};

// ErrorReply: what an error becomes on the wire: the status, the "code" and
// "message" of the uniform body, its optional details and extra headers.
struct ErrorReply {
  unsigned status = 500;
  std::string code = "internal";
  std::string message = "internal error";
  std::string parameter;
  std::optional<std::string> pointer;
  std::string rule;
  std::vector<std::pair<std::string, std::string>> headers;
};

// ErrorMap: the one mapping from coordkit::Error to an ErrorReply.
// http::Error maps to its own code and status; another library's error maps
// through the entries added here (its code_name() becomes the "code", its
// message the "message"); anything else is a 500 "internal" whose message
// says nothing about the cause (the cause goes to the log).
//
// Thread-safety: add() during set-up; reply() from any number of threads.
class ErrorMap {
 public:
  // add: errors of `library` with `code_name` answer `status`, with
  // Retry-After when retry_after_seconds > 0. A later add() for the same
  // pair replaces the earlier one. Throws kInvalidArgument for a status
  // outside 400..599.
  ErrorMap& add(std::string library, std::string code_name, unsigned status,
                unsigned retry_after_seconds = 0) {
    if (status < 400 || status > 599) {
      throw Error(ErrorCode::kInvalidArgument, "an error status must be 4xx or 5xx");
    }
    entries_[{std::move(library), std::move(code_name)}] = {status, retry_after_seconds};
    return *this;
  }

  // reply: the reply for `e`. Never throws but std::bad_alloc.
  ErrorReply reply(const coordkit::Error& e) const {
    ErrorReply out;
    if (const auto* h = dynamic_cast<const Error*>(&e)) {
      out.status = h->status();
      out.code = std::string(h->code_name());
      out.message = h->message();
      out.parameter = h->parameter();
      out.pointer = h->pointer();
      out.rule = h->rule();
      out.headers = h->headers();
      if (out.status >= 500 && h->code() == ErrorCode::kInternal) out.message = "internal error";
      return out;
    }
    auto it = entries_.find({std::string(e.library()), std::string(e.code_name())});
    if (it == entries_.end()) return out;
    out.status = it->second.first;
    out.code = std::string(e.code_name());
    out.message = e.what();
    if (it->second.second > 0)
      out.headers.emplace_back("Retry-After", std::to_string(it->second.second));
    return out;
  }

 private:
  std::map<std::pair<std::string, std::string>, std::pair<unsigned, unsigned>> entries_;
};

}  // namespace coordkit::http

#endif  // COORDKIT_HTTP_ERROR_H_

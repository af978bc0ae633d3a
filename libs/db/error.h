// coordkit/db/error.h: the one error type of coordkit::db and the classifier
// that decides, for every SQLite result code, whether a transaction is retried
// on the same connection, retried after a reconnection, or surfaced at once.
//
// Callers and tests branch on `Error::code()` (stable), or on the base's
// `code_name()`, never on `what()` (human text that may change). Messages
// never contain key material. Error derives from coordkit::Error, so one
// `catch (const coordkit::Error&)` serves every coordkit library.
//
// Example:
//   try {
//     db.write([](coordkit::db::Transaction& tx) {
//       tx.execute("INSERT INTO records(id, body) VALUES (?, ?)", 1, "first");
//     });
//   } catch (const coordkit::db::Error& e) {
//     if (e.code() == coordkit::db::ErrorCode::kConstraint) { /* id 1 exists */ }
//   }
#ifndef COORDKIT_DB_ERROR_H_
#define COORDKIT_DB_ERROR_H_

#ifdef _WIN32
#error "libs/db is POSIX-only: Debian packages no SQLCipher for mingw"
#endif

// coordkit::db needs SQLCipher's codec API (sqlite3_key_v2, sqlite3_rekey_v2),
// which <sqlcipher/sqlite3.h> declares only with SQLITE_HAS_CODEC defined.
#if !defined(SQLITE_HAS_CODEC)
#error \
    "coordkit/db needs SQLCipher: compile with -DSQLITE_HAS_CODEC and link -lsqlcipher (Bazel: depend on @coordkit//libs/db, which brings both through //third_party:sqlcipher)"
#endif

#include <sqlcipher/sqlite3.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "coordkit/base/error.h"

namespace coordkit::db {

// ErrorCode: stable codes; tests assert on these, never on message text.
enum class ErrorCode {
  // NOTADB/CORRUPT while this process had not yet verified the key on this
  // file: wrong key, not a database (text file, zero-byte file, truncated file,
  // SQLCipher 3 file), or a key that no longer fits after someone else rekeyed
  // or replaced the file. Permanent: reported at once, never retried.
  kWrongKeyOrNotADatabase,
  kPlaintextDatabase,  // the file is an unencrypted SQLite database
  kNoCodec,            // the linked SQLite has no SQLCipher codec (cipher_version empty)
  kBusy,               // transient contention outlived the retry deadline
  kCorrupt,            // NOTADB/CORRUPT persisted after reconnects (after a quick_check)
  kIo,                 // IOERR persisted after reconnects
  kFull,               // disk or database full
  kReadOnly,           // read-only file, directory or connection
  kPermission,         // access permission denied (PERM, AUTH)
  kCantOpen,           // the file or its directory cannot be opened
  kConstraint,         // UNIQUE, FOREIGN KEY, CHECK, NOT NULL ...
  kMismatch,           // datatype mismatch (e.g. non-integer rowid)
  kSql,                // SQLITE_ERROR and friends: bad SQL, no such table, ...
  kNotInitialised,     // the database file does not exist and create_if_missing is false
  kSchemaTooNew,       // user_version is above the highest migration this program knows
  kInvalidArgument,    // a bad argument from the caller (empty key, bad hex, ...)
  kMisuse,             // API misuse: nested transactions, a closed handle, ...
  kInternal,           // out of memory, interrupted, or an unexpected SQLite result
  // The call's own deadline (CallOptions::deadline) passed, or a wait with no
  // contention behind it (the Store's reader pool, its group commit) outlived
  // RetryPolicy::deadline. Transient: the message says what the call was
  // waiting for (the write turn, busy retries, a reader connection, the
  // group commit, the writer connection).
  kTimeout,
  // A column read as a non-optional type held NULL (read it as std::optional<T>).
  kNullValue,
};

// kErrorCodeCount: number of ErrorCode values, for arrays indexed by code
// (new codes go last, and this names the last one).
inline constexpr std::size_t kErrorCodeCount = static_cast<std::size_t>(ErrorCode::kNullValue) + 1;

// code_name(ErrorCode): the stable snake_case name of `code` ("wrong_key_or_not_a_database"),
// the name coordkit::Error::code_name() reports. Never changes for an existing code.
constexpr std::string_view code_name(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kWrongKeyOrNotADatabase:
      return "wrong_key_or_not_a_database";
    case ErrorCode::kPlaintextDatabase:
      return "plaintext_database";
    case ErrorCode::kNoCodec:
      return "no_codec";
    case ErrorCode::kBusy:
      return "busy";
    case ErrorCode::kCorrupt:
      return "corrupt";
    case ErrorCode::kIo:
      return "io";
    case ErrorCode::kFull:
      return "full";
    case ErrorCode::kReadOnly:
      return "read_only";
    case ErrorCode::kPermission:
      return "permission";
    case ErrorCode::kCantOpen:
      return "cant_open";
    case ErrorCode::kConstraint:
      return "constraint";
    case ErrorCode::kMismatch:
      return "mismatch";
    case ErrorCode::kSql:
      return "sql";
    case ErrorCode::kNotInitialised:
      return "not_initialised";
    case ErrorCode::kSchemaTooNew:
      return "schema_too_new";
    case ErrorCode::kInvalidArgument:
      return "invalid_argument";
    case ErrorCode::kMisuse:
      return "misuse";
    case ErrorCode::kInternal:
      return "internal";
    case ErrorCode::kTimeout:
      return "timeout";
    case ErrorCode::kNullValue:
      return "null_value";
  }
  return "unknown";
}

// RetryClass: what the retry ladder does with a failed transaction attempt.
enum class RetryClass {
  kRetrySameConnection,  // BUSY*, LOCKED*, PROTOCOL, SCHEMA: roll back, back off, run fn again
  kReconnect,            // NOTADB/CORRUPT after the key was verified on this file, IOERR*,
                         // READONLY_DBMOVED: roll back, reconnect, run fn again (bounded)
  kPermanent,            // everything else, and NOTADB/CORRUPT before the key was verified
};

// kRetryClassCount: number of RetryClass values, for arrays indexed by class.
inline constexpr std::size_t kRetryClassCount = 3;

// code_name(RetryClass): "retry_same_connection", "reconnect" or "permanent".
constexpr std::string_view code_name(RetryClass retry_class) noexcept {
  switch (retry_class) {
    case RetryClass::kRetrySameConnection:
      return "retry_same_connection";
    case RetryClass::kReconnect:
      return "reconnect";
    case RetryClass::kPermanent:
      return "permanent";
  }
  return "unknown";
}

// Classification: the classifier's verdict, the retry class plus the code an
// error of this kind is surfaced with when retries do not help.
struct Classification {
  RetryClass retry_class;
  ErrorCode code;
  friend constexpr bool operator==(const Classification&, const Classification&) = default;
};

// classify: the one implementation of the error-class table below.
// `extended_result_code` is SQLite's extended (or primary) result code;
// `key_verified` says whether this process has already read this file's schema
// with this key (which turns NOTADB/CORRUPT from "wrong key" into "transient,
// reconnect"). Returns the retry class and the code to surface; pure,
// noexcept, thread-safe.
//
// clang-format off
// | result                                            | class                | code                    |
// |---------------------------------------------------|----------------------|-------------------------|
// | BUSY, BUSY_SNAPSHOT, BUSY_RECOVERY, BUSY_TIMEOUT  | kRetrySameConnection | kBusy                   |
// | LOCKED, LOCKED_SHAREDCACHE, LOCKED_VTAB, PROTOCOL | kRetrySameConnection | kBusy                   |
// | SCHEMA (schema changed under a statement)         | kRetrySameConnection | kSql                    |
// | NOTADB, CORRUPT* with key_verified                | kReconnect           | kCorrupt                |
// | IOERR* (except IOERR_NOMEM)                       | kReconnect           | kIo                     |
// | READONLY_DBMOVED (file renamed/replaced under us) | kReconnect           | kReadOnly               |
// | NOTADB, CORRUPT* without key_verified             | kPermanent           | kWrongKeyOrNotADatabase |
// | FULL                                              | kPermanent           | kFull                   |
// | READONLY* (other)                                 | kPermanent           | kReadOnly               |
// | PERM, AUTH                                        | kPermanent           | kPermission             |
// | CANTOPEN*                                         | kPermanent           | kCantOpen               |
// | CONSTRAINT*                                       | kPermanent           | kConstraint             |
// | MISMATCH                                          | kPermanent           | kMismatch               |
// | ERROR*, TOOBIG, NOLFS, FORMAT                     | kPermanent           | kSql (NOLFS: kIo)       |
// | RANGE                                             | kPermanent           | kInvalidArgument        |
// | MISUSE                                            | kPermanent           | kMisuse                 |
// | NOMEM, IOERR_NOMEM, INTERRUPT, anything else      | kPermanent           | kInternal               |
// clang-format on
constexpr Classification classify(int extended_result_code, bool key_verified) noexcept {
  const int primary = extended_result_code & 0xff;
  switch (primary) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_PROTOCOL:
      return {RetryClass::kRetrySameConnection, ErrorCode::kBusy};
    case SQLITE_SCHEMA:
      return {RetryClass::kRetrySameConnection, ErrorCode::kSql};
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      return key_verified
                 ? Classification{RetryClass::kReconnect, ErrorCode::kCorrupt}
                 : Classification{RetryClass::kPermanent, ErrorCode::kWrongKeyOrNotADatabase};
    case SQLITE_IOERR:
      if (extended_result_code == SQLITE_IOERR_NOMEM) {
        return {RetryClass::kPermanent, ErrorCode::kInternal};
      }
      return {RetryClass::kReconnect, ErrorCode::kIo};
    case SQLITE_READONLY:
      if (extended_result_code == SQLITE_READONLY_DBMOVED) {
        return {RetryClass::kReconnect, ErrorCode::kReadOnly};
      }
      return {RetryClass::kPermanent, ErrorCode::kReadOnly};
    case SQLITE_FULL:
      return {RetryClass::kPermanent, ErrorCode::kFull};
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return {RetryClass::kPermanent, ErrorCode::kPermission};
    case SQLITE_CANTOPEN:
      return {RetryClass::kPermanent, ErrorCode::kCantOpen};
    case SQLITE_CONSTRAINT:
      return {RetryClass::kPermanent, ErrorCode::kConstraint};
    case SQLITE_MISMATCH:
      return {RetryClass::kPermanent, ErrorCode::kMismatch};
    case SQLITE_ERROR:
    case SQLITE_TOOBIG:
    case SQLITE_FORMAT:
      return {RetryClass::kPermanent, ErrorCode::kSql};
    case SQLITE_NOLFS:
      return {RetryClass::kPermanent, ErrorCode::kIo};
    case SQLITE_RANGE:
      return {RetryClass::kPermanent, ErrorCode::kInvalidArgument};
    case SQLITE_MISUSE:
      return {RetryClass::kPermanent, ErrorCode::kMisuse};
    default:
      return {RetryClass::kPermanent, ErrorCode::kInternal};
  }
}

// Error: the exception every coordkit::db function throws for a database
// failure; a coordkit::Error with library() "db" and code_name() the
// snake_case name of code(). Carries the stable code, SQLite's primary and
// extended result codes (0 when the error did not come from SQLite), the
// retry class, and the SQL statement involved (never key material: keys go
// through sqlite3_key_v2, never through SQL). what() is the base's one format;
// its message part ends with the SQLite codes and the SQL, when there are any:
//   coordkit::db: busy: BEGIN IMMEDIATE: database is locked (sqlite 5/5 database is locked) in: ...
// Copyable; thread-safe to read.
class Error : public coordkit::Error {
 public:
  // Error: an error not produced by SQLite (retry class kPermanent, codes 0);
  // `os_error` is the errno behind it, 0 when no OS call failed.
  Error(ErrorCode code, const std::string& message, int os_error = 0)
      : Error(code, RetryClass::kPermanent, 0, message, std::string(), os_error) {}

  // Error: an error with SQLite's result code and the statement, if any.
  Error(ErrorCode code, RetryClass retry_class, int extended_code, const std::string& message,
        std::string sql, int os_error = 0)
      : coordkit::Error("db", db::code_name(code), detail(extended_code, message, sql), os_error),
        code_(code),
        retry_class_(retry_class),
        extended_code_(extended_code),
        sql_(std::move(sql)) {}

  // code: the stable code to branch on.
  ErrorCode code() const noexcept { return code_; }
  // primary_code: SQLite's primary result code (SQLITE_BUSY ...), 0 if not from SQLite.
  int primary_code() const noexcept { return extended_code_ & 0xff; }
  // extended_code: SQLite's extended result code (SQLITE_BUSY_SNAPSHOT ...), 0 if not from SQLite.
  int extended_code() const noexcept { return extended_code_; }
  // retry_class: how the retry ladder treated this error.
  RetryClass retry_class() const noexcept { return retry_class_; }
  // sql: the statement that failed, or empty.
  const std::string& sql() const noexcept { return sql_; }

 private:
  // detail: the message part of what(): the message, SQLite's codes, the SQL.
  static std::string detail(int extended_code, const std::string& message, const std::string& sql) {
    std::string out = message;
    if (extended_code != 0) {
      out += " (sqlite ";
      out += std::to_string(extended_code & 0xff);
      out += '/';
      out += std::to_string(extended_code);
      out += ' ';
      out += sqlite3_errstr(extended_code);
      out += ')';
    }
    if (!sql.empty()) {
      constexpr std::size_t kMaxSql = 200;
      out += " in: ";
      out += sql.size() > kMaxSql ? sql.substr(0, kMaxSql) + "..." : sql;
    }
    return out;
  }

  ErrorCode code_;
  RetryClass retry_class_;
  int extended_code_;
  std::string sql_;
};

}  // namespace coordkit::db

#endif  // COORDKIT_DB_ERROR_H_

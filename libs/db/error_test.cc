// The classifier implements error.h's error-class table, one row per
// SQLite result family, checked over the extended codes of each family.
#include "coordkit/db/error.h"

#include <sqlcipher/sqlite3.h>

#include <algorithm>
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <cerrno>
#include <set>
#include <string>
#include <string_view>

#include "coordkit/base/error.h"

using coordkit::db::Classification;
using coordkit::db::classify;
using coordkit::db::Error;
using coordkit::db::ErrorCode;
using coordkit::db::RetryClass;

namespace {
struct Row {
  int code;
  bool key_verified;
  RetryClass retry_class;
  ErrorCode error_code;
};
}  // namespace

TEST_CASE("Busy, locked and protocol results retry on the same connection", "[db][classify]") {
  const int code =
      GENERATE(SQLITE_BUSY, SQLITE_BUSY_SNAPSHOT, SQLITE_BUSY_RECOVERY, SQLITE_BUSY_TIMEOUT,
               SQLITE_LOCKED, SQLITE_LOCKED_SHAREDCACHE, SQLITE_LOCKED_VTAB, SQLITE_PROTOCOL);
  const bool verified = GENERATE(false, true);
  CAPTURE(code, verified);
  CHECK(classify(code, verified) ==
        Classification{RetryClass::kRetrySameConnection, ErrorCode::kBusy});
}

TEST_CASE("A schema change under a statement retries on the same connection", "[db][classify]") {
  CHECK(classify(SQLITE_SCHEMA, true) ==
        Classification{RetryClass::kRetrySameConnection, ErrorCode::kSql});
}

TEST_CASE("NOTADB and CORRUPT after the key was verified reconnect", "[db][classify]") {
  const int code = GENERATE(SQLITE_NOTADB, SQLITE_CORRUPT, SQLITE_CORRUPT_VTAB,
                            SQLITE_CORRUPT_SEQUENCE, SQLITE_CORRUPT_INDEX);
  CAPTURE(code);
  CHECK(classify(code, true) == Classification{RetryClass::kReconnect, ErrorCode::kCorrupt});
}

TEST_CASE("NOTADB and CORRUPT at first open mean wrong key or not a database", "[db][classify]") {
  const int code = GENERATE(SQLITE_NOTADB, SQLITE_CORRUPT, SQLITE_CORRUPT_VTAB,
                            SQLITE_CORRUPT_SEQUENCE, SQLITE_CORRUPT_INDEX);
  CAPTURE(code);
  CHECK(classify(code, false) ==
        Classification{RetryClass::kPermanent, ErrorCode::kWrongKeyOrNotADatabase});
}

TEST_CASE("I/O errors reconnect, except running out of memory", "[db][classify]") {
  const int code =
      GENERATE(SQLITE_IOERR, SQLITE_IOERR_READ, SQLITE_IOERR_SHORT_READ, SQLITE_IOERR_WRITE,
               SQLITE_IOERR_FSYNC, SQLITE_IOERR_LOCK, SQLITE_IOERR_SHMOPEN, SQLITE_IOERR_SHMLOCK,
               SQLITE_IOERR_SHMMAP, SQLITE_IOERR_SEEK, SQLITE_IOERR_MMAP, SQLITE_IOERR_CORRUPTFS,
               SQLITE_IOERR_DATA, SQLITE_IOERR_TRUNCATE, SQLITE_IOERR_FSTAT);
  const bool verified = GENERATE(false, true);
  CAPTURE(code, verified);
  CHECK(classify(code, verified) == Classification{RetryClass::kReconnect, ErrorCode::kIo});
  CHECK(classify(SQLITE_IOERR_NOMEM, verified) ==
        Classification{RetryClass::kPermanent, ErrorCode::kInternal});
}

TEST_CASE("A database file moved under the connection reconnects", "[db][classify]") {
  CHECK(classify(SQLITE_READONLY_DBMOVED, true) ==
        Classification{RetryClass::kReconnect, ErrorCode::kReadOnly});
}

TEST_CASE("Full, read-only, permission, open, constraint, mismatch and SQL errors are permanent",
          "[db][classify]") {
  const Row row = GENERATE(
      Row{SQLITE_FULL, true, RetryClass::kPermanent, ErrorCode::kFull},
      Row{SQLITE_READONLY, true, RetryClass::kPermanent, ErrorCode::kReadOnly},
      Row{SQLITE_READONLY_RECOVERY, true, RetryClass::kPermanent, ErrorCode::kReadOnly},
      Row{SQLITE_READONLY_CANTLOCK, true, RetryClass::kPermanent, ErrorCode::kReadOnly},
      Row{SQLITE_READONLY_ROLLBACK, true, RetryClass::kPermanent, ErrorCode::kReadOnly},
      Row{SQLITE_READONLY_CANTINIT, true, RetryClass::kPermanent, ErrorCode::kReadOnly},
      Row{SQLITE_READONLY_DIRECTORY, true, RetryClass::kPermanent, ErrorCode::kReadOnly},
      Row{SQLITE_PERM, true, RetryClass::kPermanent, ErrorCode::kPermission},
      Row{SQLITE_AUTH, true, RetryClass::kPermanent, ErrorCode::kPermission},
      Row{SQLITE_CANTOPEN, false, RetryClass::kPermanent, ErrorCode::kCantOpen},
      Row{SQLITE_CANTOPEN_ISDIR, false, RetryClass::kPermanent, ErrorCode::kCantOpen},
      Row{SQLITE_CANTOPEN_FULLPATH, false, RetryClass::kPermanent, ErrorCode::kCantOpen},
      Row{SQLITE_CONSTRAINT, true, RetryClass::kPermanent, ErrorCode::kConstraint},
      Row{SQLITE_CONSTRAINT_UNIQUE, true, RetryClass::kPermanent, ErrorCode::kConstraint},
      Row{SQLITE_CONSTRAINT_PRIMARYKEY, true, RetryClass::kPermanent, ErrorCode::kConstraint},
      Row{SQLITE_CONSTRAINT_FOREIGNKEY, true, RetryClass::kPermanent, ErrorCode::kConstraint},
      Row{SQLITE_CONSTRAINT_NOTNULL, true, RetryClass::kPermanent, ErrorCode::kConstraint},
      Row{SQLITE_CONSTRAINT_CHECK, true, RetryClass::kPermanent, ErrorCode::kConstraint},
      Row{SQLITE_MISMATCH, true, RetryClass::kPermanent, ErrorCode::kMismatch},
      Row{SQLITE_ERROR, true, RetryClass::kPermanent, ErrorCode::kSql},
      Row{SQLITE_ERROR_MISSING_COLLSEQ, true, RetryClass::kPermanent, ErrorCode::kSql},
      Row{SQLITE_TOOBIG, true, RetryClass::kPermanent, ErrorCode::kSql},
      Row{SQLITE_NOLFS, true, RetryClass::kPermanent, ErrorCode::kIo},
      Row{SQLITE_RANGE, true, RetryClass::kPermanent, ErrorCode::kInvalidArgument},
      Row{SQLITE_MISUSE, true, RetryClass::kPermanent, ErrorCode::kMisuse},
      Row{SQLITE_NOMEM, true, RetryClass::kPermanent, ErrorCode::kInternal},
      Row{SQLITE_INTERRUPT, true, RetryClass::kPermanent, ErrorCode::kInternal});
  CAPTURE(row.code);
  CHECK(classify(row.code, row.key_verified) == Classification{row.retry_class, row.error_code});
  CHECK(classify(row.code, !row.key_verified).retry_class == RetryClass::kPermanent);
}

TEST_CASE("An Error carries its code, SQLite's codes, the class and the SQL", "[db][error]") {
  const Error e(ErrorCode::kBusy, RetryClass::kRetrySameConnection, SQLITE_BUSY_SNAPSHOT, "begin",
                "INSERT INTO t VALUES (1)");
  CHECK(e.code() == ErrorCode::kBusy);
  CHECK(e.primary_code() == SQLITE_BUSY);
  CHECK(e.extended_code() == SQLITE_BUSY_SNAPSHOT);
  CHECK(e.retry_class() == RetryClass::kRetrySameConnection);
  CHECK(e.sql() == "INSERT INTO t VALUES (1)");
  const Error plain(ErrorCode::kInvalidArgument, "bad");
  CHECK(plain.primary_code() == 0);
  CHECK(plain.retry_class() == RetryClass::kPermanent);
}

TEST_CASE("Every error code has its own snake_case name", "[db][error]") {
  std::set<std::string_view> seen;
  for (std::size_t i = 0; i < coordkit::db::kErrorCodeCount; ++i) {
    const std::string_view name = code_name(static_cast<ErrorCode>(i));
    CAPTURE(i, name);
    CHECK(name != "unknown");
    CHECK(seen.insert(name).second);
    CHECK(std::all_of(name.begin(), name.end(),
                      [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; }));
  }
  CHECK(code_name(ErrorCode::kWrongKeyOrNotADatabase) == "wrong_key_or_not_a_database");
  CHECK(code_name(RetryClass::kRetrySameConnection) == "retry_same_connection");
  CHECK(code_name(RetryClass::kReconnect) == "reconnect");
  CHECK(code_name(RetryClass::kPermanent) == "permanent");
}

TEST_CASE("A db Error is a coordkit::Error from library db with its code's name", "[db][error]") {
  try {
    throw Error(ErrorCode::kCantOpen, "cannot open", ENOENT);
  } catch (const coordkit::Error& e) {
    CHECK(e.library() == "db");
    CHECK(e.code_name() == "cant_open");
    CHECK(e.os_error() == ENOENT);
    const auto* db_error = dynamic_cast<const Error*>(&e);
    REQUIRE(db_error != nullptr);
    CHECK(db_error->code() == ErrorCode::kCantOpen);
  }
  const Error busy(ErrorCode::kBusy, RetryClass::kRetrySameConnection, SQLITE_BUSY, "begin",
                   "BEGIN IMMEDIATE");
  CHECK(busy.code_name() == "busy");
  CHECK(busy.os_error() == 0);
}

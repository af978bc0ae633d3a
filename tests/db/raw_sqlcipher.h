// tests/db/raw_sqlcipher.h: a thin RAII layer over the plain SQLCipher C API.
//
// Two users, on purpose independent of coordkit::db: the worker's naive
// client (the control runs: what a typical app does without the library) and
// the tests' own verification (integrity_check, cipher_integrity_check, row
// counts), so that the library can never hide a problem from its own tests.
//
// Example:
//
//   auto c = RawConnection::open(path);          // throws RawError
//   c.exec("PRAGMA key='passphrase'");
//   auto rows = c.query("SELECT count(*) FROM items");
//   std::int64_t n = std::stoll(rows.at(0).at(0));

#ifndef COORDKIT_TESTS_DB_RAW_SQLCIPHER_H_
#define COORDKIT_TESTS_DB_RAW_SQLCIPHER_H_

#include <sqlcipher/sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coordkit::dbtest {

// RawError: a failed SQLite call; carries the extended result code.
class RawError : public std::runtime_error {
 public:
  RawError(int extended_code, const std::string& what)
      : std::runtime_error(what), extended_code_(extended_code) {}
  int extended_code() const noexcept { return extended_code_; }
  int primary_code() const noexcept { return extended_code_ & 0xff; }

 private:
  int extended_code_;
};

// result_code_name: "SQLITE_BUSY_SNAPSHOT" and friends for the codes the
// scenarios meet; "SQLITE_<n>" for the rest. Stable names for JSON reports.
inline std::string result_code_name(int extended_code) {
  switch (extended_code) {
    case SQLITE_OK:
      return "SQLITE_OK";
    case SQLITE_ERROR:
      return "SQLITE_ERROR";
    case SQLITE_BUSY:
      return "SQLITE_BUSY";
    case SQLITE_BUSY_SNAPSHOT:
      return "SQLITE_BUSY_SNAPSHOT";
    case SQLITE_BUSY_RECOVERY:
      return "SQLITE_BUSY_RECOVERY";
    case SQLITE_BUSY_TIMEOUT:
      return "SQLITE_BUSY_TIMEOUT";
    case SQLITE_LOCKED:
      return "SQLITE_LOCKED";
    case SQLITE_NOTADB:
      return "SQLITE_NOTADB";
    case SQLITE_CORRUPT:
      return "SQLITE_CORRUPT";
    case SQLITE_FULL:
      return "SQLITE_FULL";
    case SQLITE_IOERR:
      return "SQLITE_IOERR";
    case SQLITE_IOERR_SHORT_READ:
      return "SQLITE_IOERR_SHORT_READ";
    case SQLITE_CANTOPEN:
      return "SQLITE_CANTOPEN";
    case SQLITE_READONLY:
      return "SQLITE_READONLY";
    case SQLITE_PROTOCOL:
      return "SQLITE_PROTOCOL";
    case SQLITE_CONSTRAINT:
      return "SQLITE_CONSTRAINT";
    case SQLITE_CONSTRAINT_UNIQUE:
      return "SQLITE_CONSTRAINT_UNIQUE";
    case SQLITE_CONSTRAINT_PRIMARYKEY:
      return "SQLITE_CONSTRAINT_PRIMARYKEY";
    default:
      return "SQLITE_" + std::to_string(extended_code);
  }
}

// RawStatement: one prepared statement; reset and rebound between uses.
class RawStatement {
 public:
  RawStatement() = default;
  RawStatement(sqlite3* db, std::string_view sql) : db_(db) {
    const int rc =
        sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr);
    if (rc != SQLITE_OK) {
      const int ext = sqlite3_extended_errcode(db);
      throw RawError(ext, "prepare '" + std::string(sql) + "': " + sqlite3_errmsg(db));
    }
  }
  RawStatement(const RawStatement&) = delete;
  RawStatement& operator=(const RawStatement&) = delete;
  RawStatement(RawStatement&& o) noexcept
      : db_(std::exchange(o.db_, nullptr)), stmt_(std::exchange(o.stmt_, nullptr)) {}
  RawStatement& operator=(RawStatement&& o) noexcept {
    if (this != &o) {
      finalize();
      db_ = std::exchange(o.db_, nullptr);
      stmt_ = std::exchange(o.stmt_, nullptr);
    }
    return *this;
  }
  ~RawStatement() { finalize(); }

  void reset() noexcept {
    if (stmt_ != nullptr) {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }
  void bind(int index, std::int64_t v) { check(sqlite3_bind_int64(stmt_, index, v)); }
  void bind(int index, std::string_view v) {
    check(sqlite3_bind_text(stmt_, index, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
  }
  void bind_blob(int index, const void* data, int size) {
    check(sqlite3_bind_blob(stmt_, index, data, size, SQLITE_TRANSIENT));
  }
  // step: SQLITE_ROW or SQLITE_DONE; anything else is returned as the
  // extended code (the caller decides whether it is an error).
  int step() noexcept {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) return rc;
    return sqlite3_extended_errcode(db_);
  }
  std::int64_t column_int64(int i) const noexcept { return sqlite3_column_int64(stmt_, i); }
  std::string column_text(int i) const {
    const auto* p = sqlite3_column_text(stmt_, i);
    return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p));
  }
  int column_count() const noexcept { return sqlite3_column_count(stmt_); }
  sqlite3_stmt* get() const noexcept { return stmt_; }

 private:
  void check(int rc) {
    if (rc != SQLITE_OK) throw RawError(rc, std::string("bind: ") + sqlite3_errstr(rc));
  }
  void finalize() noexcept {
    if (stmt_ != nullptr) sqlite3_finalize(stmt_);
    stmt_ = nullptr;
  }
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

// RawConnection: one sqlite3* connection with extended result codes on.
class RawConnection {
 public:
  using Rows = std::vector<std::vector<std::string>>;

  // open: sqlite3_open_v2 (read-write, create unless create=false). Throws
  // RawError if SQLite cannot even allocate the handle or open the file.
  static RawConnection open(const std::filesystem::path& path, bool create = true) {
    sqlite3* db = nullptr;
    const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
    const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
    RawConnection c(db);
    if (rc != SQLITE_OK) {
      const int ext = db != nullptr ? sqlite3_extended_errcode(db) : rc;
      throw RawError(ext, "open " + path.string() + ": " + sqlite3_errstr(rc));
    }
    sqlite3_extended_result_codes(db, 1);
    return c;
  }

  RawConnection(RawConnection&& o) noexcept : db_(std::exchange(o.db_, nullptr)) {}
  RawConnection& operator=(RawConnection&& o) noexcept {
    if (this != &o) {
      close();
      db_ = std::exchange(o.db_, nullptr);
    }
    return *this;
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  ~RawConnection() { close(); }

  // try_exec: runs sql (any number of statements, results dropped); returns
  // the extended result code, and the message in *message if given.
  int try_exec(std::string_view sql, std::string* message = nullptr) noexcept {
    char* err = nullptr;
    const std::string s(sql);
    const int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
    if (message != nullptr) *message = err != nullptr ? err : "";
    sqlite3_free(err);
    return rc == SQLITE_OK ? SQLITE_OK : sqlite3_extended_errcode(db_);
  }
  void exec(std::string_view sql) {
    std::string msg;
    const int rc = try_exec(sql, &msg);
    if (rc != SQLITE_OK) throw RawError(rc, std::string(sql) + ": " + msg);
  }

  // try_query: every row of one statement as text; the extended code is
  // returned (rows read before an error are kept in *rows).
  int try_query(std::string_view sql, Rows* rows) {
    rows->clear();
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
    if (rc != SQLITE_OK) return sqlite3_extended_errcode(db_);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
        const auto* p = sqlite3_column_text(stmt, i);
        row.emplace_back(p == nullptr ? "" : reinterpret_cast<const char*>(p));
      }
      rows->push_back(std::move(row));
    }
    const int ext = rc == SQLITE_DONE ? SQLITE_OK : sqlite3_extended_errcode(db_);
    sqlite3_finalize(stmt);
    return ext;
  }
  Rows query(std::string_view sql) {
    Rows rows;
    const int rc = try_query(sql, &rows);
    if (rc != SQLITE_OK) throw RawError(rc, std::string(sql) + ": " + sqlite3_errmsg(db_));
    return rows;
  }
  // query_int: the first column of the first row as an integer.
  std::int64_t query_int(std::string_view sql) {
    auto rows = query(sql);
    if (rows.empty() || rows[0].empty())
      throw RawError(SQLITE_ERROR, std::string(sql) + ": no row");
    return std::stoll(rows[0][0]);
  }

  void busy_timeout(int ms) noexcept { sqlite3_busy_timeout(db_, ms); }
  RawStatement prepare(std::string_view sql) { return RawStatement(db_, sql); }
  const char* errmsg() const noexcept { return sqlite3_errmsg(db_); }
  sqlite3* get() const noexcept { return db_; }

  void close() noexcept {
    if (db_ != nullptr) sqlite3_close_v2(db_);
    db_ = nullptr;
  }

 private:
  explicit RawConnection(sqlite3* db) : db_(db) {}
  sqlite3* db_ = nullptr;
};

// sql_quote: 'text' with embedded quotes doubled (for PRAGMA key).
inline std::string sql_quote(std::string_view text) {
  std::string out = "'";
  for (char ch : text) {
    out += ch;
    if (ch == '\'') out += '\'';
  }
  out += '\'';
  return out;
}

}  // namespace coordkit::dbtest

#endif  // COORDKIT_TESTS_DB_RAW_SQLCIPHER_H_

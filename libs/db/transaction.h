// coordkit/db/transaction.h: Transaction, what the function given to
// write()/read() receives: statements run inside the one transaction that the
// library began and will commit, roll back or run again as a whole.
//
// Statements with parameters are prepared once per connection and cached by
// their SQL text, so pass values as parameters (`?`), never spliced into the
// text. A query states the type of every column it reads; a column count
// that differs from the statement's is Error{kMisuse}, and NULL read into a
// type that is not std::optional is Error{kNullValue}: nothing reads as a
// silent zero.
//
// Example:
//   std::int64_t id = db.write([&](coordkit::db::Transaction& tx) {
//     tx.execute("INSERT INTO records(body) VALUES (?)", body);
//     return tx.last_insert_rowid();
//   });
//   auto n = db.read([](coordkit::db::Transaction& tx) {
//     return tx.query_value<std::int64_t>("SELECT count(*) FROM records").value_or(0);
//   });
//   db.read([](coordkit::db::Transaction& tx) {
//     tx.query<std::int64_t, std::optional<std::string>>(
//         "SELECT id, note FROM records WHERE id > ?",
//         [](std::int64_t id, const std::optional<std::string>& note) { /* ... */ }, 10);
//   });
#ifndef COORDKIT_DB_TRANSACTION_H_
#define COORDKIT_DB_TRANSACTION_H_

#ifdef _WIN32
#error "libs/db is POSIX-only: Debian packages no SQLCipher for mingw"
#endif

#include <sqlcipher/sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "coordkit/db/error.h"
#include "coordkit/db/internal/statement.h"

namespace coordkit::db {

namespace internal {
struct TransactionAccess;
}  // namespace internal

// Transaction: a view of one connection inside one transaction. Only the
// library creates it; it is valid only during the call of fn that received it
// and belongs to that call's thread; it owns nothing. Every method throws
// Error, classified by the retry ladder when it leaves fn (do not catch and
// swallow BUSY-class errors inside fn: let them propagate so the whole
// transaction is retried).
// Values bound: integers, bool, floating point, anything convertible to
// std::string_view (text), std::span<const std::byte> or
// std::span<const std::uint8_t> (blob), std::optional<T>, nullptr/std::nullopt
// (NULL). Columns read: integers, bool, floating point, std::string,
// std::vector<std::byte>, std::vector<std::uint8_t>, and std::optional<T> of
// those for a column that may be NULL.
class Transaction {
 public:
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  // execute_script: runs a script of one or more statements separated by
  // `;`, without parameters, skipping any rows (migrations, DDL). Each
  // statement is prepared anew, never cached. Throws Error for the first
  // statement that fails (statements before it have run, inside the
  // transaction).
  void execute_script(std::string_view sql) {
    std::string_view rest = sql;
    while (!rest.empty()) {
      sqlite3_stmt* raw = nullptr;
      const char* tail = nullptr;
      int rc = sqlite3_prepare_v2(db_, rest.data(), static_cast<int>(rest.size()), &raw, &tail);
      internal::Stmt stmt(raw);
      if (rc != SQLITE_OK) internal::throw_error(db_, rc, "prepare", sql, key_verified_);
      const std::size_t used =
          tail != nullptr ? static_cast<std::size_t>(tail - rest.data()) : rest.size();
      const std::string_view one = rest.substr(0, used);
      rest.remove_prefix(used);
      if (raw == nullptr) continue;  // whitespace or a comment
      check_writable(raw, one);
      while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
      }
      if (rc != SQLITE_DONE) internal::throw_error(db_, rc, "step", one, key_verified_);
    }
  }

  // execute: one statement (cached) with `args` bound to its parameters in
  // order; rows it returns are skipped. Returns sqlite3_changes() (rows
  // inserted, updated or deleted). Throws Error{kInvalidArgument} when the
  // number of args differs from the statement's parameters.
  template <class... Args>
  int execute(std::string_view sql, const Args&... args) {
    sqlite3_stmt* s = prepare(sql);
    internal::StmtUse use(s);
    bind_all(s, sql, args...);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    }
    if (rc != SQLITE_DONE) internal::throw_error(db_, rc, "step", sql, key_verified_);
    return sqlite3_changes(db_);
  }

  // query: runs `sql` (cached) with `args` and calls on_row(Cols...) for
  // each row; on_row may return bool, false to stop early. Throws
  // Error{kMisuse} when the statement has not exactly sizeof...(Cols)
  // columns, Error{kNullValue} when a column read as a non-optional type is
  // NULL, and what on_row throws.
  template <class... Cols, class F, class... Args>
  void query(std::string_view sql, F&& on_row, const Args&... args) {
    sqlite3_stmt* s = prepare(sql);
    internal::StmtUse use(s);
    check_columns(s, sql, sizeof...(Cols));
    bind_all(s, sql, args...);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      if (!call_row<Cols...>(s, sql, on_row, std::index_sequence_for<Cols...>{})) return;
    }
    if (rc != SQLITE_DONE) internal::throw_error(db_, rc, "step", sql, key_verified_);
  }

  // query_one: the first row as a tuple, or nullopt when there is none.
  // Throws like query().
  template <class... Cols, class... Args>
  std::optional<std::tuple<Cols...>> query_one(std::string_view sql, const Args&... args) {
    std::optional<std::tuple<Cols...>> out;
    query<Cols...>(
        sql,
        [&out](Cols... cols) {
          out.emplace(std::move(cols)...);
          return false;
        },
        args...);
    return out;
  }

  // query_value: the one column of the first row, or nullopt when there is
  // no row. Throws like query() (a NULL value: read it as
  // query_value<std::optional<T>>).
  template <class T, class... Args>
  std::optional<T> query_value(std::string_view sql, const Args&... args) {
    std::optional<T> out;
    query<T>(
        sql,
        [&out](T v) {
          out.emplace(std::move(v));
          return false;
        },
        args...);
    return out;
  }

  // last_insert_rowid: the rowid of this connection's most recent INSERT.
  std::int64_t last_insert_rowid() const noexcept { return sqlite3_last_insert_rowid(db_); }
  // changes: rows changed by this connection's most recent statement.
  int changes() const noexcept { return sqlite3_changes(db_); }
  // read_only: true inside read(), where writing fails with kReadOnly.
  bool read_only() const noexcept { return read_only_; }

 private:
  friend struct internal::TransactionAccess;

  Transaction(sqlite3* db, internal::StatementCache* cache, bool key_verified, bool read_only)
      : db_(db), cache_(cache), key_verified_(key_verified), read_only_(read_only) {}

  sqlite3_stmt* prepare(std::string_view sql) {
    sqlite3_stmt* s = cache_->get(db_, sql, key_verified_);
    check_writable(s, sql);
    return s;
  }

  void check_writable(sqlite3_stmt* s, std::string_view sql) const {
    if (read_only_ && sqlite3_stmt_readonly(s) == 0) {
      throw Error(ErrorCode::kReadOnly, RetryClass::kPermanent, 0,
                  "a statement that writes inside read()", std::string(sql));
    }
  }

  template <class... Args>
  void bind_all(sqlite3_stmt* s, std::string_view sql, const Args&... args) {
    const int expected = sqlite3_bind_parameter_count(s);
    if (expected != static_cast<int>(sizeof...(Args))) {
      throw Error(ErrorCode::kInvalidArgument, RetryClass::kPermanent, 0,
                  "statement has " + std::to_string(expected) + " parameters, " +
                      std::to_string(sizeof...(Args)) + " values given",
                  std::string(sql));
    }
    int index = 0;
    int rc = SQLITE_OK;
    ((rc = rc == SQLITE_OK ? internal::bind_one(s, ++index, args) : rc), ...);
    if (rc != SQLITE_OK) internal::throw_error(db_, rc, "bind", sql, key_verified_);
  }

  static void check_columns(sqlite3_stmt* s, std::string_view sql, std::size_t wanted) {
    const int has = sqlite3_column_count(s);
    if (has != static_cast<int>(wanted)) {
      throw Error(
          ErrorCode::kMisuse, RetryClass::kPermanent, 0,
          "statement has " + std::to_string(has) + " columns, " + std::to_string(wanted) + " read",
          std::string(sql));
    }
  }

  template <class... Cols, class F, std::size_t... I>
  static bool call_row(sqlite3_stmt* s, std::string_view sql, F& on_row,
                       std::index_sequence<I...>) {
    using R = std::invoke_result_t<F&, Cols...>;
    if constexpr (std::is_same_v<R, void>) {
      on_row(internal::column_value<Cols>(s, static_cast<int>(I), sql)...);
      return true;
    } else {
      return static_cast<bool>(
          on_row(internal::column_value<Cols>(s, static_cast<int>(I), sql)...));
    }
  }

  sqlite3* db_;
  internal::StatementCache* cache_;
  bool key_verified_;
  bool read_only_;
};

namespace internal {
// TransactionAccess: lets the library create Transactions.
struct TransactionAccess {
  static Transaction make(sqlite3* db, StatementCache* cache, bool key_verified, bool read_only) {
    return Transaction(db, cache, key_verified, read_only);
  }
  // in_transaction: false once SQLite ended the transaction on its own (some
  // errors roll back the whole transaction, e.g. ON CONFLICT ROLLBACK).
  static bool in_transaction(const Transaction& tx) noexcept {
    return sqlite3_get_autocommit(tx.db_) == 0;
  }
};
}  // namespace internal

}  // namespace coordkit::db

#endif  // COORDKIT_DB_TRANSACTION_H_

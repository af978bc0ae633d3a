// Internal: RAII for prepared statements, a per-connection statement cache,
// value binding and column reading, and the one place SQLite errors become
// coordkit::db::Error.
#ifndef COORDKIT_DB_INTERNAL_STATEMENT_H_
#define COORDKIT_DB_INTERNAL_STATEMENT_H_

#include <sqlcipher/sqlite3.h>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "coordkit/db/error.h"

namespace coordkit::db::internal {

// make_error: the Error for SQLite result `rc` on connection `db` (may be
// null). Reads sqlite3_errmsg only when `db` is set and still reports `rc`.
inline Error make_error(sqlite3* db, int rc, std::string_view what, std::string_view sql,
                        bool key_verified) {
  int extended = rc;
  std::string message(what);
  if (db != nullptr) {
    const int ext = sqlite3_extended_errcode(db);
    if ((ext & 0xff) == (rc & 0xff)) extended = ext;
    const char* msg = sqlite3_errmsg(db);
    if (msg != nullptr && *msg != '\0') {
      message += ": ";
      message += msg;
    }
  }
  const Classification c = classify(extended, key_verified);
  return Error(c.code, c.retry_class, extended, message, std::string(sql));
}

[[noreturn]] inline void throw_error(sqlite3* db, int rc, std::string_view what,
                                     std::string_view sql, bool key_verified) {
  throw make_error(db, rc, what, sql, key_verified);
}

// Stmt: owns one sqlite3_stmt.
class Stmt {
 public:
  Stmt() = default;
  explicit Stmt(sqlite3_stmt* s) noexcept : s_(s) {}
  Stmt(Stmt&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  Stmt& operator=(Stmt&& o) noexcept {
    if (this != &o) {
      reset_handle();
      s_ = std::exchange(o.s_, nullptr);
    }
    return *this;
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() { reset_handle(); }
  sqlite3_stmt* get() const noexcept { return s_; }

 private:
  void reset_handle() noexcept {
    if (s_ != nullptr) sqlite3_finalize(s_);
    s_ = nullptr;
  }
  sqlite3_stmt* s_ = nullptr;
};

// StatementCache: prepared statements by SQL text, least recently used
// evicted beyond `capacity`. Statements are reset by their user (StmtUse).
class StatementCache {
 public:
  explicit StatementCache(std::size_t capacity = 64) : capacity_(capacity) {}

  // get: the cached statement for `sql`, preparing it on first use.
  // Throws Error (classified with `key_verified`).
  sqlite3_stmt* get(sqlite3* db, std::string_view sql, bool key_verified) {
    // The most recent statement first: a loop of the same statement (bulk
    // inserts) skips hashing its text.
    if (!lru_.empty() && std::string_view(lru_.front().sql) == sql) {
      return lru_.front().stmt.get();
    }
    auto it = map_.find(sql);
    if (it != map_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      return it->second->stmt.get();
    }
    sqlite3_stmt* raw = nullptr;
    const int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    if (rc != SQLITE_OK) {
      if (raw != nullptr) sqlite3_finalize(raw);
      throw_error(db, rc, "prepare", sql, key_verified);
    }
    if (raw == nullptr) throw Error(ErrorCode::kInvalidArgument, "empty SQL statement");
    lru_.push_front(Entry{std::string(sql), Stmt(raw)});
    map_.emplace(std::string_view(lru_.front().sql), lru_.begin());
    if (lru_.size() > capacity_) {
      map_.erase(std::string_view(lru_.back().sql));
      lru_.pop_back();
    }
    return raw;
  }

  // clear: finalizes every statement (before closing the connection).
  void clear() noexcept {
    map_.clear();
    lru_.clear();
  }

 private:
  struct Entry {
    std::string sql;
    Stmt stmt;
  };
  std::size_t capacity_;
  std::list<Entry> lru_;
  std::unordered_map<std::string_view, std::list<Entry>::iterator> map_;
};

// StmtUse: resets and unbinds a cached statement when the use ends, so no
// statement is left pending (a pending statement is what SQLITE_LOCKED means
// on a single connection).
class StmtUse {
 public:
  explicit StmtUse(sqlite3_stmt* s) noexcept : s_(s) {}
  StmtUse(const StmtUse&) = delete;
  StmtUse& operator=(const StmtUse&) = delete;
  ~StmtUse() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }

 private:
  sqlite3_stmt* s_;
};

template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};

// bind_one: binds one value at 1-based `index`. Text and blobs are bound
// SQLITE_STATIC: they outlive the statement's use (StmtUse unbinds them).
template <class T>
int bind_one(sqlite3_stmt* s, int index, const T& v) {
  using U = std::remove_cvref_t<T>;
  if constexpr (std::is_same_v<U, std::nullptr_t> || std::is_same_v<U, std::nullopt_t>) {
    return sqlite3_bind_null(s, index);
  } else if constexpr (IsOptional<U>::value) {
    return v.has_value() ? bind_one(s, index, *v) : sqlite3_bind_null(s, index);
  } else if constexpr (std::is_same_v<U, bool>) {
    return sqlite3_bind_int(s, index, v ? 1 : 0);
  } else if constexpr (std::is_integral_v<U>) {
    return sqlite3_bind_int64(s, index, static_cast<sqlite3_int64>(v));
  } else if constexpr (std::is_floating_point_v<U>) {
    return sqlite3_bind_double(s, index, static_cast<double>(v));
  } else if constexpr (std::is_convertible_v<const U&, std::string_view>) {
    const std::string_view sv(v);
    return sqlite3_bind_text64(s, index, sv.data(), sv.size(), SQLITE_STATIC, SQLITE_UTF8);
  } else if constexpr (std::is_convertible_v<const U&, std::span<const std::byte>>) {
    const std::span<const std::byte> b(v);
    return b.empty() ? sqlite3_bind_zeroblob(s, index, 0)
                     : sqlite3_bind_blob64(s, index, b.data(), b.size(), SQLITE_STATIC);
  } else if constexpr (std::is_convertible_v<const U&, std::span<const std::uint8_t>>) {
    const std::span<const std::uint8_t> b(v);
    return b.empty() ? sqlite3_bind_zeroblob(s, index, 0)
                     : sqlite3_bind_blob64(s, index, b.data(), b.size(), SQLITE_STATIC);
  } else {
    static_assert(sizeof(U) == 0,
                  "coordkit::db: bind an integer, floating point, text, byte span, "
                  "std::optional or nullptr");
    return SQLITE_MISUSE;
  }
}

// column_one: reads column `index` (0-based) as T, a NULL as nullopt when T
// is std::optional (column_value checks NULL for the other types).
template <class T>
T column_one(sqlite3_stmt* s, int index) {
  using U = std::remove_cvref_t<T>;
  if constexpr (IsOptional<U>::value) {
    if (sqlite3_column_type(s, index) == SQLITE_NULL) return std::nullopt;
    return column_one<typename U::value_type>(s, index);
  } else if constexpr (std::is_same_v<U, bool>) {
    return sqlite3_column_int64(s, index) != 0;
  } else if constexpr (std::is_integral_v<U>) {
    return static_cast<U>(sqlite3_column_int64(s, index));
  } else if constexpr (std::is_floating_point_v<U>) {
    return static_cast<U>(sqlite3_column_double(s, index));
  } else if constexpr (std::is_same_v<U, std::string>) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, index));
    const int n = sqlite3_column_bytes(s, index);
    return p == nullptr ? std::string() : std::string(p, static_cast<std::size_t>(n));
  } else if constexpr (std::is_same_v<U, std::vector<std::byte>> ||
                       std::is_same_v<U, std::vector<std::uint8_t>>) {
    const auto* p = static_cast<const typename U::value_type*>(sqlite3_column_blob(s, index));
    const int n = sqlite3_column_bytes(s, index);
    return p == nullptr ? U() : U(p, p + n);
  } else {
    static_assert(sizeof(U) == 0,
                  "coordkit::db: read a column as an integer, floating point, std::string, "
                  "std::vector<std::byte>, std::vector<std::uint8_t> or std::optional of those");
    return U{};
  }
}

// column_value: column_one, but a NULL read as a type that is not
// std::optional throws Error{kNullValue} naming the column and `sql`.
template <class T>
T column_value(sqlite3_stmt* s, int index, std::string_view sql) {
  if constexpr (!IsOptional<std::remove_cvref_t<T>>::value) {
    if (sqlite3_column_type(s, index) == SQLITE_NULL) {
      const char* name = sqlite3_column_name(s, index);
      throw Error(ErrorCode::kNullValue, RetryClass::kPermanent, 0,
                  "column " + std::to_string(index) + " (" + (name != nullptr ? name : "?") +
                      ") is NULL; read it as std::optional",
                  std::string(sql));
    }
  }
  return column_one<T>(s, index);
}

}  // namespace coordkit::db::internal

#endif  // COORDKIT_DB_INTERNAL_STATEMENT_H_

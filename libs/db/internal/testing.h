// Internal, tests only: whole-file snapshots and a raw SQLCipher handle that
// goes through SQLite's own PRAGMA key path (scratch directories come from
// //testing).
#ifndef COORDKIT_DB_INTERNAL_TESTING_H_
#define COORDKIT_DB_INTERNAL_TESTING_H_

#include <sqlcipher/sqlite3.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

namespace coordkit::db::testing {

// slurp: the whole file, byte for byte (empty optional if missing).
inline std::optional<std::string> slurp(const std::filesystem::path& p) {
  // fread, not istreambuf_iterator: GCC 12 reports a false null dereference
  // in <streambuf> under -O1 (asan, ubsan configs).
  FILE* f = std::fopen(p.c_str(), "rb");
  if (f == nullptr) return std::nullopt;
  std::string out;
  char buf[8192];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  std::fclose(f);
  return out;
}

inline void write_file(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// kSqlcipherShell: the stock sqlcipher shell, as tools/setup installs it.
inline constexpr const char* kSqlcipherShell = "/usr/bin/sqlcipher";

inline bool sqlcipher_shell_installed() { return ::access(kSqlcipherShell, X_OK) == 0; }

// run_sqlcipher_shell: feeds `script` to the stock sqlcipher shell on stdin
// (never the key in argv; the script goes to `db_path`.sql first); returns
// its output (stdout and stderr), or nullopt if the shell is missing.
inline std::optional<std::string> run_sqlcipher_shell(const std::filesystem::path& db_path,
                                                      const std::string& script) {
  if (!sqlcipher_shell_installed()) return std::nullopt;
  const std::filesystem::path script_path = db_path.string() + ".sql";
  write_file(script_path, script);
  const std::string cmd = std::string(kSqlcipherShell) + " -batch '" + db_path.string() + "' < '" +
                          script_path.string() + "' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return std::nullopt;
  std::string out;
  char buf[512];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

// RawDb: a plain SQLCipher connection keyed with a passphrase through
// PRAGMA key (SQLCipher's own KDF), as a program without this library would.
class RawDb {
 public:
  RawDb(const std::filesystem::path& path, const std::string& passphrase, bool create = true) {
    int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
    rc_ = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
    if (rc_ == SQLITE_OK && !passphrase.empty()) {
      rc_ = sqlite3_key_v2(db_, "main", passphrase.data(), static_cast<int>(passphrase.size()));
    }
  }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;
  ~RawDb() { sqlite3_close_v2(db_); }
  // exec: the result code of sqlite3_exec.
  int exec(const std::string& sql) {
    return rc_ != SQLITE_OK ? rc_ : sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  }
  // text: the first column of the first row, or nullopt on error / no row.
  std::optional<std::string> text(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) return std::nullopt;
    std::optional<std::string> out;
    if (sqlite3_step(s) == SQLITE_ROW) {
      const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
      out = t != nullptr ? t : "";
    }
    sqlite3_finalize(s);
    return out;
  }
  sqlite3* get() const { return db_; }

 private:
  sqlite3* db_ = nullptr;
  int rc_ = SQLITE_OK;
};

}  // namespace coordkit::db::testing

#endif  // COORDKIT_DB_INTERNAL_TESTING_H_

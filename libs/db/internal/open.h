// Internal: opening a Database's connection: creation (atomic, under the
// cross-process init lock), WAL, migrations, and the key verification with
// its one retry.
#ifndef COORDKIT_DB_INTERNAL_OPEN_H_
#define COORDKIT_DB_INTERNAL_OPEN_H_

#include <sqlcipher/sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "coordkit/db/error.h"
#include "coordkit/db/internal/atomic_file.h"
#include "coordkit/db/internal/connection.h"
#include "coordkit/db/internal/counters_cell.h"
#include "coordkit/db/internal/deadline.h"
#include "coordkit/db/internal/function_ref.h"
#include "coordkit/db/internal/init_lock.h"
#include "coordkit/db/internal/key_cache.h"
#include "coordkit/db/internal/posix.h"
#include "coordkit/db/internal/retry.h"
#include "coordkit/db/internal/statement.h"
#include "coordkit/db/options.h"
#include "coordkit/db/transaction.h"

namespace coordkit::db::internal {

// sort_migrations: sorts `migrations` by version and returns the highest
// (0 without any). Throws kInvalidArgument for a version <= 0 or a repeated one.
inline int sort_migrations(std::vector<Migration>& migrations) {
  std::sort(migrations.begin(), migrations.end(),
            [](const Migration& a, const Migration& b) { return a.version < b.version; });
  int max_version = 0;
  for (std::size_t i = 0; i < migrations.size(); ++i) {
    const int v = migrations[i].version;
    if (v <= 0 || (i > 0 && migrations[i - 1].version == v)) {
      throw Error(ErrorCode::kInvalidArgument, "migration versions must be positive and unique");
    }
    max_version = v;
  }
  return max_version;
}

// auto_vacuum_pragma: the statement that sets `mode` on a new file.
inline const char* auto_vacuum_pragma(AutoVacuum mode) noexcept {
  switch (mode) {
    case AutoVacuum::kFull:
      return "PRAGMA auto_vacuum=FULL";
    case AutoVacuum::kIncremental:
      return "PRAGMA auto_vacuum=INCREMENTAL";
    case AutoVacuum::kNone:
      break;
  }
  return "PRAGMA auto_vacuum=NONE";
}

// Opener: opens, creates, migrates and reopens the connection `conn` of one
// Database. Holds references to the Database's options, connection, counters
// and ladder, which outlive it. One thread at a time.
class Opener {
 public:
  Opener(const Options& options, int max_version, std::int64_t journal_size_limit,
         std::unique_ptr<Connection>& conn, CountersCell& counters, RetryLadder& ladder)
      : options_(options),
        max_version_(max_version),
        journal_size_limit_(journal_size_limit),
        conn_(conn),
        counters_(counters),
        ladder_(ladder) {}
  Opener(const Opener&) = delete;
  Opener& operator=(const Opener&) = delete;

  // key_verified: whether this Database's key has read this file's schema.
  bool key_verified() const noexcept { return key_verified_; }

  // setup_for: the set-up of every connection of this Database, at `path`.
  ConnectionSetup setup_for(const std::string& path) const {
    ConnectionSetup s;
    s.path = path;
    s.synchronous = options_.synchronous;
    s.busy_timeout = options_.retry.busy_timeout;
    s.journal_size_limit = journal_size_limit_;
    s.counters = &counters_;
    return s;
  }

  // open_initial: the first open. A missing file is created (or
  // kNotInitialised); a file that needs WAL restored or migrations applied
  // gets them under the init lock, `run_migrations` running them as a write
  // transaction on `conn`. Every wait ends by `call` when the caller chose
  // it (then kTimeout naming the wait), else each step waits up to
  // RetryPolicy::deadline (then kBusy).
  void open_initial(FunctionRef<void()> run_migrations, const Deadline& call) {
    const std::string path = options_.path.string();
    check_directory();
    if (!file_id_of(path)) {
      if (!options_.create_if_missing) throw not_initialised(path);
      initialise_under_lock(run_migrations, call);
      return;
    }
    OpenedInfo info;
    try {
      conn_ = open_connection(&info, call);
    } catch (const Error& e) {
      // Deleted between stat and open: start over once, under the lock.
      if (e.code() != ErrorCode::kCantOpen || file_id_of(path)) throw;
      if (!options_.create_if_missing) throw not_initialised(path);
      initialise_under_lock(run_migrations, call);
      return;
    }
    if (info.user_version > max_version_) throw_too_new(info.user_version);
    if (info.journal_mode == "wal" && info.user_version == max_version_) return;
    conn_.reset();
    initialise_under_lock(run_migrations, call);
  }

  // reopen: a reconnection (the ladder's or a forced one). Restores WAL
  // under the init lock if someone switched the journal mode meanwhile (the
  // sqlcipher shell can). Waits like open_initial.
  void reopen(const Deadline& call) {
    OpenedInfo info;
    conn_ = open_connection(&info, call);
    if (info.journal_mode != "wal") {
      conn_.reset();
      std::optional<InitLock> lock;
      lock_init(lock, stage(call));
      conn_ = open_connection(&info, call);
      if (info.journal_mode != "wal") set_wal(*conn_, stage(call));
    }
  }

  // migrate: applies the pending migrations inside the write transaction `tx`.
  void migrate(Transaction& tx) {
    const int v = tx.query_value<int>("PRAGMA user_version").value_or(0);
    if (v > max_version_) throw_too_new(v);
    for (const Migration& m : options_.migrations) {
      if (m.version <= v) continue;
      if (!m.sql.empty()) tx.execute_script(m.sql);
      if (m.apply) m.apply(tx);
    }
    if (max_version_ > v)
      tx.execute_script("PRAGMA user_version = " + std::to_string(max_version_));
  }

 private:
  // check_directory: kCantOpen naming the directory when the database's
  // directory does not exist or is not a directory (rather than an error
  // about the first sidecar file that could not be made in it).
  void check_directory() const {
    const std::filesystem::path dir = options_.path.parent_path().empty()
                                          ? std::filesystem::path(".")
                                          : options_.path.parent_path();
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) {
      const int err = errno;
      if (err == ENOENT || err == ENOTDIR) {
        throw Error(ErrorCode::kCantOpen,
                    "the database's directory does not exist: " + dir.string(), err);
      }
      return;  // other failures surface with the open itself
    }
    if (!S_ISDIR(st.st_mode)) {
      throw Error(ErrorCode::kCantOpen,
                  "the database's directory is not a directory: " + dir.string(), ENOTDIR);
    }
  }

  // stage: the deadline of one step of an open: the caller's, or a fresh
  // RetryPolicy::deadline for each step when the caller chose none.
  Deadline stage(const Deadline& call) const {
    return call.from_caller ? call : Deadline{Clock::now() + options_.retry.deadline, false};
  }

  // lock_init: takes the init lock into `lock`, waiting until `deadline`;
  // past a deadline the caller chose, kTimeout instead of kBusy.
  void lock_init(std::optional<InitLock>& lock, const Deadline& deadline) const {
    try {
      lock.emplace(options_.path.string(), deadline.at);
    } catch (const Error& e) {
      if (e.code() == ErrorCode::kBusy && deadline.from_caller) {
        throw timeout_error(
            "the init lock (another process is creating or migrating the database)");
      }
      throw;
    }
  }

  static Error not_initialised(const std::string& path) {
    return Error(ErrorCode::kNotInitialised, "database does not exist (yet): " + path);
  }

  // open_connection: opens and verifies; on kWrongKeyOrNotADatabase tries
  // once more (a salt read while the file was being replaced heals so),
  // reusing the derived key if the salt did not change.
  // A file that stays locked while the key is verified (another process's
  // checkpoint on close, an exclusive lock) is busy, not a wrong key: the
  // open waits and tries again, like a transaction, within
  // RetryPolicy::deadline, then throws kBusy (kTimeout at a deadline the
  // caller chose).
  std::unique_ptr<Connection> open_connection(OpenedInfo* info, const Deadline& call) {
    DerivedHint hint;
    const Deadline d = stage(call);
    ConnectionSetup setup = setup_for(options_.path.string());
    setup.deadline = d.at;
    const auto deadline = d.at;
    int wrong_key_attempts = 0;
    int busy_step = 0;
    for (;;) {
      try {
        auto c = Connection::open(setup, options_.key, key_verified_, nullptr, info, &hint);
        key_verified_ = true;
        c->set_deadline(Clock::time_point::max());  // each call sets its own
        return c;
      } catch (const Error& e) {
        if (e.retry_class() == RetryClass::kRetrySameConnection && e.code() == ErrorCode::kBusy) {
          CountersCell::add(
              counters_
                  .failures_by_class[static_cast<std::size_t>(RetryClass::kRetrySameConnection)]);
          if (Clock::now() >= deadline) {
            if (d.from_caller) {
              throw timeout_error(
                  "the database to come free while opening it (" + std::string(e.what()) + ")",
                  e.extended_code(), e.sql());
            }
            throw Error(ErrorCode::kBusy, e.retry_class(), e.extended_code(),
                        "gave up opening after the retry deadline: " + std::string(e.what()),
                        e.sql());
          }
          ladder_.backoff(busy_step++, deadline);
          continue;
        }
        if (e.code() != ErrorCode::kWrongKeyOrNotADatabase || wrong_key_attempts++ >= 1) throw;
        sleep_for(std::chrono::milliseconds(2));
      }
    }
  }

  [[noreturn]] void throw_too_new(int found) const {
    throw Error(ErrorCode::kSchemaTooNew, "database schema version " + std::to_string(found) +
                                              " is newer than this program's " +
                                              std::to_string(max_version_));
  }

  // initialise_under_lock: create, restore WAL, migrate, with the exclusive
  // init lock held; every step re-checks, since another process may have
  // done it while we waited. A process that finds the file made by another
  // while it waited, and has not verified a key on it yet, lets the lock go
  // before it opens: the open derives the key (a passphrase's KDF, about
  // 250 ms of CPU, seconds on a loaded machine), and K processes that
  // raced to create one file would otherwise derive one after the other
  // under the lock, the last one waiting K derivations (past the deadline,
  // seen with 8 creators under asan on a loaded machine). It takes the lock
  // again only if the file still needs WAL or migrations.
  void initialise_under_lock(FunctionRef<void()> run_migrations, const Deadline& call) {
    const std::string path = options_.path.string();
    const Deadline deadline = stage(call);
    for (bool may_let_go = !key_verified_;; may_let_go = false) {
      std::optional<InitLock> lock;
      lock_init(lock, deadline);
      remove_stale_temps(options_.path);
      bool created = false;
      if (!file_id_of(path)) {
        if (!options_.create_if_missing) throw not_initialised(path);
        create_atomically();
        created = true;
      }
      if (may_let_go && !created) lock.reset();
      OpenedInfo info;
      conn_ = open_connection(&info, call);
      if (info.user_version > max_version_) throw_too_new(info.user_version);
      const bool done = info.journal_mode == "wal" && info.user_version >= max_version_;
      if (!lock) {
        if (done) return;
        conn_.reset();
        continue;  // under the lock this time, with the key derived
      }
      if (info.journal_mode != "wal") set_wal(*conn_, deadline);
      if (info.user_version < max_version_) run_migrations();
      return;
    }
  }

  // set_wal: PRAGMA journal_mode=WAL, retried while busy until `deadline`.
  void set_wal(Connection& c, const Deadline& deadline) {
    int step = 0;
    for (;;) {
      sqlite3_stmt* raw = nullptr;
      int rc = sqlite3_prepare_v2(c.db(), "PRAGMA journal_mode=WAL", -1, &raw, nullptr);
      Stmt stmt(raw);
      std::string mode;
      if (rc == SQLITE_OK) {
        rc = sqlite3_step(stmt.get());
        if (rc == SQLITE_ROW) {
          const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), 0));
          mode = t != nullptr ? t : "";
          rc = SQLITE_OK;
        }
      }
      if (rc == SQLITE_OK && mode == "wal") return;
      if (rc == SQLITE_OK) {
        throw Error(ErrorCode::kInternal, "journal_mode=WAL refused (mode is " + mode +
                                              "; WAL needs a local file system)");
      }
      const Error e = make_error(c.db(), rc, "journal_mode=WAL", {}, key_verified_);
      if (e.retry_class() != RetryClass::kRetrySameConnection) throw e;
      if (deadline.passed()) {
        if (deadline.from_caller) {
          throw timeout_error(
              "the database to come free to switch it to WAL (" + std::string(e.what()) + ")",
              e.extended_code());
        }
        throw e;
      }
      stmt = Stmt();
      ladder_.backoff(step++, deadline.at);
    }
  }

  // create_atomically: a complete new file (fresh salt, WAL, migrations),
  // published with build_atomically. A file created meanwhile by someone
  // outside the library wins; ours is removed.
  void create_atomically() {
    build_atomically(options_.path, [this](const std::filesystem::path& tmp) {
      ConnectionSetup setup = setup_for(tmp.string());
      setup.synchronous = Synchronous::kFull;
      const Salt salt = random_salt();
      auto c = Connection::open(setup, options_.key, false, &salt, nullptr, nullptr);
      // Before WAL and before the first table: later, SQLite ignores it.
      c->exec(auto_vacuum_pragma(options_.auto_vacuum), true);
      set_wal(*c, Deadline{Clock::now() + options_.retry.deadline, false});
      c->exec("BEGIN IMMEDIATE", true);
      try {
        Transaction tx = TransactionAccess::make(c->db(), &c->cache(), true, false);
        migrate(tx);
        // Writes page 1 even without migrations, so the file is complete.
        if (max_version_ == 0) tx.execute_script("PRAGMA user_version = 0");
        c->exec("COMMIT", true);
      } catch (...) {
        sqlite3_exec(c->db(), "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
      }
      int log = 0;
      int done = 0;
      const int rc =
          sqlite3_wal_checkpoint_v2(c->db(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
      if (rc != SQLITE_OK) throw make_error(c->db(), rc, "checkpoint the new file", {}, true);
    });
  }

  const Options& options_;
  const int max_version_;
  const std::int64_t journal_size_limit_;
  std::unique_ptr<Connection>& conn_;
  CountersCell& counters_;
  RetryLadder& ladder_;
  bool key_verified_ = false;
};

}  // namespace coordkit::db::internal

#endif  // COORDKIT_DB_INTERNAL_OPEN_H_

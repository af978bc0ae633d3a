// Internal: the state behind a Database: opening and creation, the retry
// ladder, the write turn, checkpoints after commits, maintenance.
#ifndef COORDKIT_DB_INTERNAL_DATABASE_STATE_H_
#define COORDKIT_DB_INTERNAL_DATABASE_STATE_H_

#include <sqlcipher/sqlite3.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "coordkit/db/counters.h"
#include "coordkit/db/error.h"
#include "coordkit/db/internal/connection.h"
#include "coordkit/db/internal/counters_cell.h"
#include "coordkit/db/internal/function_ref.h"
#include "coordkit/db/internal/init_lock.h"
#include "coordkit/db/internal/key_cache.h"
#include "coordkit/db/internal/posix.h"
#include "coordkit/db/internal/write_turn.h"
#include "coordkit/db/key.h"
#include "coordkit/db/maintenance.h"
#include "coordkit/db/options.h"
#include "coordkit/db/transaction.h"

namespace coordkit::db::internal {

// temp_sibling: a fresh name beside `path` for a file being built.
inline std::filesystem::path temp_sibling(const std::filesystem::path& path) {
  std::uint8_t r[4];
  const Salt s = random_salt();
  std::memcpy(r, s.data(), sizeof r);
  char hex[9] = {};
  hex_lower(r, hex);
  return path.parent_path() /
         (path.filename().string() + ".coordkit-new-" + std::to_string(::getpid()) + "-" + hex);
}

// remove_db_files: unlinks a database file and its SQLite sidecars. Only for
// files this process built and never linked into place.
inline void remove_db_files(const std::filesystem::path& p) noexcept {
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    ::unlink((p.string() + suffix).c_str());
  }
}

// link_noreplace: puts `tmp` at `dest` unless `dest` exists. Returns false
// when `dest` exists (tmp is left for the caller to remove).
inline bool link_noreplace(const std::filesystem::path& tmp, const std::filesystem::path& dest) {
  if (::link(tmp.c_str(), dest.c_str()) == 0) {
    ::unlink(tmp.c_str());
    return true;
  }
  if (errno == EEXIST) return false;
#ifdef SYS_renameat2
  // File systems without hard links: rename without replacing.
  if (::syscall(SYS_renameat2, AT_FDCWD, tmp.c_str(), AT_FDCWD, dest.c_str(), 1 /*NOREPLACE*/) ==
      0) {
    return true;
  }
  if (errno == EEXIST) return false;
#endif
  // Last resort, still under the caller's exclusive init lock.
  std::error_code ec;
  if (std::filesystem::exists(dest, ec)) return false;
  if (::rename(tmp.c_str(), dest.c_str()) == 0) return true;
  throw Error(ErrorCode::kCantOpen, "cannot move the new database into place at " + dest.string() +
                                        ": " + std::strerror(errno));
}

class DatabaseState {
 public:
  static std::unique_ptr<DatabaseState> open(Options options) {
    if (options.path.empty()) throw Error(ErrorCode::kInvalidArgument, "empty database path");
    if (options.key.empty()) throw Error(ErrorCode::kInvalidArgument, "no key given");
    std::unique_ptr<DatabaseState> st(new DatabaseState(std::move(options)));
    st->open_initial();
    return st;
  }

  DatabaseState(const DatabaseState&) = delete;
  DatabaseState& operator=(const DatabaseState&) = delete;
  ~DatabaseState() {
    turn_.close();
    conn_.reset();
  }

  // run_transaction: the retry ladder (see database.h).
  void run_transaction(FunctionRef<void(Transaction&)> fn, bool write) {
    refuse_in_call("write()/read()");
    in_call_ = true;
    struct Reset {
      bool* flag;
      ~Reset() { *flag = false; }
    } reset{&in_call_};

    const auto start = Clock::now();
    const auto deadline = start + options_.retry.deadline;
    int reconnects = 0;
    int backoff_step = 0;
    for (;;) {
      CountersCell::add(counters_.attempts);
      bool failed_in_open = false;
      try {
        if (!conn_) {
          failed_in_open = true;
          reopen();
          failed_in_open = false;
        }
        attempt(fn, write, deadline);
        CountersCell::add(counters_.transactions);
        return;
      } catch (const Error& e) {
        counters_.failure(e.retry_class());
        switch (e.retry_class()) {
          case RetryClass::kPermanent:
            surface(e);
          case RetryClass::kRetrySameConnection:
            if (Clock::now() >= deadline) {
              surface(Error(ErrorCode::kBusy, e.retry_class(), e.extended_code(),
                            "gave up after the retry deadline: " + std::string(e.what()), e.sql()));
            }
            CountersCell::add(counters_.retries_same);
            backoff(backoff_step++, deadline);
            break;
          case RetryClass::kReconnect:
            if (reconnects >= options_.retry.max_reconnects || Clock::now() >= deadline) {
              surface_persistent(e, failed_in_open);
            }
            ++reconnects;
            CountersCell::add(counters_.reconnects);
            conn_.reset();
            if (reconnects > 1) backoff(backoff_step++, deadline);
            break;
        }
      }
      // Non-Error exceptions from fn propagate from attempt() untouched.
    }
  }

  Counters counters() const { return counters_.snapshot(); }

  CheckpointResult checkpoint(CheckpointMode mode) {
    refuse_in_call("checkpoint()");
    ensure_connection();
    CheckpointResult out;
    const int m = mode == CheckpointMode::kPassive   ? SQLITE_CHECKPOINT_PASSIVE
                  : mode == CheckpointMode::kFull    ? SQLITE_CHECKPOINT_FULL
                  : mode == CheckpointMode::kRestart ? SQLITE_CHECKPOINT_RESTART
                                                     : SQLITE_CHECKPOINT_TRUNCATE;
    TurnHold hold(*this, mode != CheckpointMode::kPassive, Clock::now() + options_.retry.deadline);
    const int rc = sqlite3_wal_checkpoint_v2(conn_->db(), nullptr, m, &out.log_frames,
                                             &out.checkpointed_frames);
    hold.let_go();
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) {
      out.busy = true;
    } else if (rc != SQLITE_OK) {
      const Error e = make_error(conn_->db(), rc, "checkpoint", {}, key_verified_);
      counters_.surfaced(e.code());
      throw e;
    }
    checkpointed_frames_ = std::max(out.log_frames, 0);
    return out;
  }

  void backup_to(const std::filesystem::path& dest, const Key& dest_key) {
    if (dest_key.empty()) throw Error(ErrorCode::kInvalidArgument, "no key for the backup");
    std::error_code ec;
    if (dest.empty() || std::filesystem::exists(dest, ec) ||
        std::filesystem::exists(dest.string() + "-wal", ec)) {
      throw Error(ErrorCode::kInvalidArgument,
                  "backup destination exists (or has a -wal file): " + dest.string());
    }
    refuse_in_call("backup_to()");
    ensure_connection();
    const auto deadline = Clock::now() + options_.retry.deadline;
    const std::filesystem::path tmp = temp_sibling(dest);
    struct Cleanup {
      std::filesystem::path p;
      bool armed = true;
      ~Cleanup() {
        if (armed) remove_db_files(p);
      }
    } cleanup{tmp};
    int source_version = 0;
    {
      ConnectionSetup setup = setup_for(tmp.string());
      setup.synchronous = Synchronous::kFull;
      const Salt salt = random_salt();
      auto dst = Connection::open(setup, dest_key, false, &salt, nullptr, nullptr);
      sqlite3_backup* b = sqlite3_backup_init(dst->db(), "main", conn_->db(), "main");
      if (b == nullptr) {
        throw make_error(dst->db(), sqlite3_errcode(dst->db()), "backup init", {}, false);
      }
      int rc;
      for (;;) {
        rc = sqlite3_backup_step(b, -1);
        if (rc == SQLITE_DONE) break;
        const int primary = rc & 0xff;
        if ((primary == SQLITE_BUSY || primary == SQLITE_LOCKED) && Clock::now() < deadline) {
          sleep_for(std::chrono::milliseconds(1));
          continue;
        }
        break;
      }
      const int finish = sqlite3_backup_finish(b);
      if (rc != SQLITE_DONE) {
        throw make_error(dst->db(), rc == SQLITE_OK ? finish : rc, "backup", {}, key_verified_);
      }
      if (finish != SQLITE_OK) throw make_error(dst->db(), finish, "backup", {}, key_verified_);
      int log = 0;
      int done = 0;
      rc = sqlite3_wal_checkpoint_v2(dst->db(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
      if (rc != SQLITE_OK) throw make_error(dst->db(), rc, "checkpoint the backup", {}, false);
      source_version = user_version();
    }
    {
      // Verify that the copy opens with its key and has the same schema version.
      OpenedInfo info;
      auto check =
          Connection::open(setup_for(tmp.string()), dest_key, false, nullptr, &info, nullptr);
      if (info.user_version != source_version) {
        throw Error(ErrorCode::kInternal, "backup verification: user_version differs");
      }
    }
    {
      Fd fd = open_cloexec(tmp.string(), O_RDONLY);
      if (fd.valid()) ::fsync(fd.get());
    }
    remove_sidecars_only(tmp);
    if (!link_noreplace(tmp, dest)) {
      throw Error(ErrorCode::kInvalidArgument,
                  "backup destination appeared meanwhile: " + dest.string());
    }
    cleanup.armed = false;
    ::unlink(tmp.c_str());
    fsync_dir(dest.parent_path());
  }

  void rekey(const Key& new_key) {
    if (new_key.empty()) throw Error(ErrorCode::kInvalidArgument, "no new key");
    refuse_in_call("rekey()");
    ensure_connection();
    TurnHold hold(*this, true, Clock::now() + options_.retry.deadline);
    const Salt salt = conn_->salt();
    const SecretBytes raw = KeyCache::instance().key_for(new_key, salt);
    int rc;
    {
      const SecretBytes text = raw_key_text(raw, salt);
      rc = sqlite3_rekey_v2(conn_->db(), "main", text.data(), static_cast<int>(text.size()));
    }
    if (rc != SQLITE_OK) {
      const Error e = make_error(conn_->db(), rc, "rekey", {}, key_verified_);
      counters_.surfaced(e.code());
      throw e;
    }
    KeyCache::instance().forget_salt(salt);
    if (new_key.kind() == Key::Kind::kPassphrase) KeyCache::instance().remember(new_key, salt, raw);
    options_.key = new_key;
  }

  CheckResult check(bool full) {
    CheckResult out;
    run_transaction(
        [&](Transaction& tx) {
          out = CheckResult{};
          tx.query<std::string>(full ? "PRAGMA integrity_check" : "PRAGMA quick_check",
                                [&](const std::string& row) {
                                  if (row != "ok") out.problems.push_back(row);
                                });
          tx.query<std::string>("PRAGMA cipher_integrity_check", [&](const std::string& row) {
            out.problems.push_back("cipher: " + row);
          });
        },
        false);
    out.ok = out.problems.empty();
    return out;
  }

  Stats stats() {
    Stats s;
    run_transaction(
        [&](Transaction& tx) {
          s.page_count = tx.query_value<std::int64_t>("PRAGMA page_count").value_or(0);
          s.page_size = tx.query_value<std::int64_t>("PRAGMA page_size").value_or(0);
          s.freelist_count = tx.query_value<std::int64_t>("PRAGMA freelist_count").value_or(0);
          s.user_version = tx.query_value<std::int64_t>("PRAGMA user_version").value_or(0);
        },
        false);
    off_t size = 0;
    FileId id;
    if (file_id(options_.path.string() + "-wal", &id, &size)) s.wal_bytes = size;
    s.counters = counters();
    return s;
  }

  int user_version() {
    int v = 0;
    run_transaction(
        [&](Transaction& tx) { v = tx.query_value<int>("PRAGMA user_version").value_or(0); },
        false);
    return v;
  }

  void reconnect(bool forced) {
    refuse_in_call("reconnect()");
    if (forced) CountersCell::add(counters_.reconnects);
    conn_.reset();
    reopen();
  }

  void adopt_key(const Key& key) {
    refuse_in_call("adopt_key()");
    options_.key = key;
    conn_.reset();
    reopen();
  }

  const std::filesystem::path& path() const noexcept { return options_.path; }
  sqlite3* handle() noexcept { return conn_ ? conn_->db() : nullptr; }

 private:
  // TurnHold: the cross-process write turn for one transaction.
  class TurnHold {
   public:
    TurnHold(DatabaseState& st, bool want, Clock::time_point deadline) : st_(st) {
      if (!want || !st.options_.fair_write_turn) return;
      if (!st.turn_opened_) {
        st.turn_opened_ = true;
        st.turn_.open(st.options_.path.string(), st.options_.write_turn_lease);
      }
      bool got = false;
      const auto waited = st.turn_.acquire(deadline, &got);
      held_ = got;
      if (waited.count() > 0) {
        CountersCell::add(st.counters_.turn_waits);
        CountersCell::add(st.counters_.turn_wait_us, static_cast<std::uint64_t>(waited.count()));
      }
    }
    TurnHold(const TurnHold&) = delete;
    TurnHold& operator=(const TurnHold&) = delete;
    ~TurnHold() { release(); }
    // release: parks the turn (the lease may keep it for a next transaction).
    void release() noexcept {
      if (held_) st_.turn_.release();
      held_ = false;
    }
    // let_go: gives the turn up for real.
    void let_go() noexcept {
      if (held_) st_.turn_.let_go();
      held_ = false;
    }

   private:
    DatabaseState& st_;
    bool held_ = false;
  };

  explicit DatabaseState(Options options)
      : options_(std::move(options)),
        rng_(options_.retry.seed != 0 ? options_.retry.seed : std::random_device{}()) {
    std::sort(options_.migrations.begin(), options_.migrations.end(),
              [](const Migration& a, const Migration& b) { return a.version < b.version; });
    for (std::size_t i = 0; i < options_.migrations.size(); ++i) {
      const int v = options_.migrations[i].version;
      if (v <= 0 || (i > 0 && options_.migrations[i - 1].version == v)) {
        throw Error(ErrorCode::kInvalidArgument, "migration versions must be positive and unique");
      }
      max_version_ = v;
    }
  }

  ConnectionSetup setup_for(const std::string& path) {
    ConnectionSetup s;
    s.path = path;
    s.synchronous = options_.synchronous;
    s.busy_timeout = options_.retry.busy_timeout;
    // A WAL that a long reader made grow is cut back to twice the size the
    // checkpoints keep it at when it next starts over; in normal operation
    // it stays below that, so it is overwritten, never regrown.
    if (options_.wal_autocheckpoint_pages > 0) {
      s.journal_size_limit = 4LL * options_.wal_autocheckpoint_pages * kWalPageBytesEstimate;
    }
    s.counters = &counters_;
    return s;
  }

  // open_connection: opens and verifies; on kWrongKeyOrNotADatabase tries
  // once more (a salt read while the file was being replaced heals so),
  // reusing the derived key if the salt did not change.
  std::unique_ptr<Connection> open_connection(OpenedInfo* info) {
    DerivedHint hint;
    const ConnectionSetup setup = setup_for(options_.path.string());
    for (int attempt = 0;; ++attempt) {
      try {
        auto c = Connection::open(setup, options_.key, key_verified_, nullptr, info, &hint);
        key_verified_ = true;
        return c;
      } catch (const Error& e) {
        if (e.code() != ErrorCode::kWrongKeyOrNotADatabase || attempt >= 1) throw;
        sleep_for(std::chrono::milliseconds(2));
      }
    }
  }

  // reopen: a reconnection (the ladder's or a forced one).
  void reopen() {
    OpenedInfo info;
    conn_ = open_connection(&info);
    if (info.journal_mode != "wal") {
      // Someone switched the journal mode while we were away (the sqlcipher
      // shell, scenario 10): restore WAL under the init lock.
      conn_.reset();
      InitLock lock(options_.path.string(), Clock::now() + options_.retry.deadline);
      conn_ = open_connection(&info);
      if (info.journal_mode != "wal") set_wal(*conn_, Clock::now() + options_.retry.deadline);
    }
  }

  void ensure_connection() {
    if (!conn_) reopen();
  }

  void open_initial() {
    const std::string path = options_.path.string();
    FileId id;
    if (!file_id(path, &id)) {
      if (!options_.create_if_missing) {
        throw Error(ErrorCode::kNotInitialised, "database does not exist (yet): " + path);
      }
      initialise_under_lock();
      return;
    }
    OpenedInfo info;
    try {
      conn_ = open_connection(&info);
    } catch (const Error& e) {
      // Deleted between stat and open: start over once, under the lock.
      if (e.code() != ErrorCode::kCantOpen || file_id(path, &id)) throw;
      if (!options_.create_if_missing) {
        throw Error(ErrorCode::kNotInitialised, "database does not exist (yet): " + path);
      }
      initialise_under_lock();
      return;
    }
    if (info.user_version > max_version_) throw_too_new(info.user_version);
    if (info.journal_mode == "wal" && info.user_version == max_version_) return;
    conn_.reset();
    initialise_under_lock();
  }

  [[noreturn]] void throw_too_new(int found) const {
    throw Error(ErrorCode::kSchemaTooNew, "database schema version " + std::to_string(found) +
                                              " is newer than this program's " +
                                              std::to_string(max_version_));
  }

  // initialise_under_lock: create, restore WAL, migrate, with the exclusive
  // init lock held; every step re-checks, since another process may have
  // done it while we waited.
  void initialise_under_lock() {
    const std::string path = options_.path.string();
    const auto deadline = Clock::now() + options_.retry.deadline;
    InitLock lock(path, deadline);
    remove_stale_temps();
    FileId id;
    if (!file_id(path, &id)) {
      if (!options_.create_if_missing) {
        throw Error(ErrorCode::kNotInitialised, "database does not exist (yet): " + path);
      }
      create_atomically();
    }
    OpenedInfo info;
    conn_ = open_connection(&info);
    if (info.user_version > max_version_) throw_too_new(info.user_version);
    if (info.journal_mode != "wal") set_wal(*conn_, deadline);
    if (info.user_version < max_version_) {
      run_transaction([this](Transaction& tx) { migrate(tx); }, true);
    }
  }

  void migrate(Transaction& tx) {
    const int v = tx.query_value<int>("PRAGMA user_version").value_or(0);
    if (v > max_version_) throw_too_new(v);
    for (const Migration& m : options_.migrations) {
      if (m.version <= v) continue;
      if (!m.sql.empty()) tx.exec(m.sql);
      if (m.apply) m.apply(tx);
    }
    if (max_version_ > v) tx.exec("PRAGMA user_version = " + std::to_string(max_version_));
  }

  void set_wal(Connection& c, Clock::time_point deadline) {
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
      if (e.retry_class() != RetryClass::kRetrySameConnection || Clock::now() >= deadline) throw e;
      stmt = Stmt();
      backoff(step++, deadline);
    }
  }

  void create_atomically() {
    const std::filesystem::path tmp = temp_sibling(options_.path);
    struct Cleanup {
      std::filesystem::path p;
      bool armed = true;
      ~Cleanup() {
        if (armed) remove_db_files(p);
      }
    } cleanup{tmp};
    {
      ConnectionSetup setup = setup_for(tmp.string());
      setup.synchronous = Synchronous::kFull;
      const Salt salt = random_salt();
      auto c = Connection::open(setup, options_.key, false, &salt, nullptr, nullptr);
      set_wal(*c, Clock::now() + options_.retry.deadline);
      c->exec("BEGIN IMMEDIATE", true);
      try {
        Transaction tx = TransactionAccess::make(c->db(), &c->cache(), true, false);
        migrate(tx);
        // Writes page 1 even without migrations, so the file is complete.
        if (max_version_ == 0) tx.exec("PRAGMA user_version = 0");
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
    }
    {
      Fd fd = open_cloexec(tmp.string(), O_RDONLY);
      if (fd.valid()) ::fsync(fd.get());
    }
    remove_sidecars_only(tmp);
    if (link_noreplace(tmp, options_.path)) {
      cleanup.armed = false;
      fsync_dir(options_.path.parent_path());
    }
    // else: created meanwhile by someone outside the library; ours is removed.
  }

  static void remove_sidecars_only(const std::filesystem::path& p) noexcept {
    ::unlink((p.string() + "-wal").c_str());
    ::unlink((p.string() + "-shm").c_str());
  }

  // remove_stale_temps: temporaries of creators that died (every creator
  // holds the init lock, which we hold now).
  void remove_stale_temps() noexcept {
    std::error_code ec;
    const std::filesystem::path dir = options_.path.parent_path().empty()
                                          ? std::filesystem::path(".")
                                          : options_.path.parent_path();
    const std::string prefix = options_.path.filename().string() + ".coordkit-new-";
    std::vector<std::filesystem::path> stale;
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.compare(0, prefix.size(), prefix) == 0) stale.push_back(it->path());
    }
    for (const auto& p : stale) ::unlink(p.c_str());
  }

  // attempt: one run of the transaction. Errors propagate to the ladder.
  void attempt(FunctionRef<void(Transaction&)> fn, bool write, Clock::time_point deadline) {
    TurnHold hold(*this, write, deadline);
    Connection& c = *conn_;
    int rc = c.step_cached(write ? "BEGIN IMMEDIATE" : "BEGIN", key_verified_);
    if (rc != SQLITE_OK) {
      throw_error(c.db(), rc, write ? "BEGIN IMMEDIATE" : "BEGIN", {}, key_verified_);
    }
    try {
      Transaction tx = TransactionAccess::make(c.db(), &c.cache(), key_verified_, !write);
      fn(tx);
      if (sqlite3_get_autocommit(c.db()) != 0) {
        throw Error(ErrorCode::kMisuse,
                    "the transaction ended inside fn (COMMIT/ROLLBACK in fn, or an error that "
                    "rolled it back was caught and ignored)");
      }
      rc = c.step_cached("COMMIT", key_verified_);
      if (rc != SQLITE_OK) throw_error(c.db(), rc, "COMMIT", {}, key_verified_);
    } catch (...) {
      rollback();
      throw;
    }
    if (write) ++commits_;
    hold.release();
    // After the turn is released (kept only while the lease runs), so other
    // library writers are not held up by the copy and its fsyncs any longer
    // than the lease allows. Passing the turn on here instead would send this
    // writer to the back of the queue after every checkpoint.
    if (write) maybe_checkpoint();
  }

  // refuse_in_call: kMisuse for a call made from inside write()/read()'s
  // fn. Such a call would take the write turn a second time, behind this
  // transaction's own, and every writer would wait for the deadline.
  void refuse_in_call(const char* what) const {
    if (in_call_)
      throw Error(ErrorCode::kMisuse, std::string(what) + " called inside a transaction");
  }

  void rollback() noexcept {
    if (!conn_ || sqlite3_get_autocommit(conn_->db()) != 0) return;
    if (conn_->step_cached("ROLLBACK", key_verified_) != SQLITE_OK) {
      conn_.reset();  // a connection that cannot roll back is not reused
    }
  }

  // maybe_checkpoint: a PASSIVE checkpoint once the WAL has grown by the
  // autocheckpoint size since this connection's last checkpoint, run after
  // the write turn was released (SQLite's own autocheckpoint would run inside
  // COMMIT, with the write lock and the turn still held).
  // checkpoint_due counts frames appended since the last checkpoint, not
  // frames in the WAL: while readers keep the WAL from restarting, the WAL
  // stays above the limit, and counting all of it ran a checkpoint after
  // every commit. A connection that has committed only a few transactions
  // (a command-line process that opens, writes and closes) leaves the
  // checkpoint, which costs two fsyncs, to longer-lived connections, unless
  // the WAL has grown by four times the limit (then nobody else is doing it).
  bool checkpoint_due() noexcept {
    const int limit = options_.wal_autocheckpoint_pages;
    if (limit <= 0 || !conn_) return false;
    const int frames = conn_->wal_frames();
    if (frames < checkpointed_frames_) checkpointed_frames_ = 0;  // the WAL restarted
    const int grown = frames - checkpointed_frames_;
    if (grown >= 4 * limit) return true;
    return grown >= limit && commits_ >= kCheckpointAfterCommits;
  }

  // A WAL restarts only when a writer finds every frame copied and no
  // reader using it. Readers that come and go all the time (command-line
  // processes opening the file, a reader pool) keep it from restarting, and
  // readers whose snapshots always overlap also starve the PASSIVE copy
  // (scenario 11): either way the WAL grows without bound. So once it has
  // passed twice the limit, a RESTART checkpoint follows the PASSIVE one: it
  // waits (through the busy handler, at most kRestartBudget) for the readers
  // to move on to the newest snapshot and then to the database file, and
  // makes the next writer start the WAL from its beginning. It holds SQLite's
  // write lock while it waits, which is why it is the escalation and not the
  // rule. RESTART, not TRUNCATE: a truncated WAL has to grow again, and
  // extending a file on every append costs more than overwriting it; the
  // file stays at the size it reached, about twice the limit.
  void maybe_checkpoint() noexcept {
    if (!checkpoint_due()) return;
    // The turn is parked for this writer's next transaction; whoever waits
    // next may have gone to sleep while it was held. Wake it, so that it
    // takes the turn after the return window instead of at its next
    // timeout, and writes while the checkpoint copies and syncs.
    turn_.nudge();
    const int frames = conn_->wal_frames();
    checkpointed_frames_ = frames;
    const int rc = sqlite3_wal_checkpoint_v2(conn_->db(), nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                             nullptr, nullptr);
    if (rc == SQLITE_OK && frames >= 2 * options_.wal_autocheckpoint_pages) {
      // Within kRestartBudget, not busy_timeout: it holds SQLite's write
      // lock while it waits, so every writer waits with it. If the readers
      // do not leave a gap in time, the next checkpoint tries again.
      const auto saved = conn_->busy_timeout();
      conn_->set_busy_timeout(std::min(saved, kRestartBudget));
      if (sqlite3_wal_checkpoint_v2(conn_->db(), nullptr, SQLITE_CHECKPOINT_RESTART, nullptr,
                                    nullptr) == SQLITE_OK) {
        checkpointed_frames_ = 0;
      }
      conn_->set_busy_timeout(saved);
    }
  }

  void backoff(int step, Clock::time_point deadline) {
    const auto initial = options_.retry.initial_backoff.count();
    const auto cap_max = options_.retry.max_backoff.count();
    const int shift = std::min(step, 20);
    auto cap = initial << shift;
    if (cap > cap_max || cap <= 0) cap = cap_max;
    std::uniform_int_distribution<long long> dist(0, std::max<long long>(cap, 0));
    auto pause = std::chrono::microseconds(dist(rng_));
    const auto remaining =
        std::chrono::duration_cast<std::chrono::microseconds>(deadline - Clock::now());
    if (pause > remaining) pause = std::max(remaining, std::chrono::microseconds(0));
    CountersCell::add(counters_.waits);
    CountersCell::add(counters_.wait_us, static_cast<std::uint64_t>(pause.count()));
    sleep_for(pause);
  }

  [[noreturn]] void surface(const Error& e) {
    counters_.surfaced(e.code());
    throw e;
  }

  // surface_persistent: reconnect-class errors that reconnection did not
  // heal. If the key no longer reads the file, say so; otherwise run a
  // quick_check for the message and surface kCorrupt / kIo.
  [[noreturn]] void surface_persistent(const Error& e, bool failed_in_open) {
    if (failed_in_open &&
        (e.primary_code() == SQLITE_NOTADB || e.primary_code() == SQLITE_CORRUPT)) {
      surface(Error(ErrorCode::kWrongKeyOrNotADatabase, RetryClass::kPermanent, e.extended_code(),
                    "the key no longer reads this database (rekeyed, replaced or damaged "
                    "after it was opened): " +
                        std::string(e.what()),
                    e.sql()));
    }
    std::string detail;
    if (e.code() == ErrorCode::kCorrupt) {
      try {
        ensure_connection();
        sqlite3_stmt* raw = nullptr;
        if (sqlite3_prepare_v2(conn_->db(), "PRAGMA quick_check(5)", -1, &raw, nullptr) ==
            SQLITE_OK) {
          Stmt stmt(raw);
          while (sqlite3_step(stmt.get()) == SQLITE_ROW) {
            const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), 0));
            if (t != nullptr) {
              detail += detail.empty() ? "; quick_check: " : " | ";
              detail += t;
            }
          }
        }
      } catch (const Error&) {
        detail = "; quick_check could not run";
      }
    }
    surface(Error(e.code(), e.retry_class(), e.extended_code(),
                  "persisted after " + std::to_string(options_.retry.max_reconnects) +
                      " reconnections: " + std::string(e.what()) + detail,
                  e.sql()));
  }

  Options options_;
  int max_version_ = 0;
  std::unique_ptr<Connection> conn_;
  bool key_verified_ = false;
  bool in_call_ = false;
  CountersCell counters_;
  WriteTurn turn_;
  bool turn_opened_ = false;
  std::uint64_t commits_ = 0;
  int checkpointed_frames_ = 0;  // WAL frames at this connection's last automatic checkpoint
  static constexpr std::uint64_t kCheckpointAfterCommits = 16;
  static constexpr std::chrono::milliseconds kRestartBudget{100};
  // SQLCipher 4's default page size plus the WAL frame header; a database with
  // larger pages just gets a proportionally earlier cut.
  static constexpr std::int64_t kWalPageBytesEstimate = 4096 + 24;
  std::mt19937_64 rng_;
};

}  // namespace coordkit::db::internal

#endif  // COORDKIT_DB_INTERNAL_DATABASE_STATE_H_

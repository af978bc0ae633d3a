// Internal: one keyed, verified and configured SQLCipher connection.
//
// Opening order matters:
//   0. the library's crypto provider registered (crypto_provider.h), so that
//      this connection's codec copies it;
//   1. sqlite3_open_v2 (never SQLITE_OPEN_CREATE for an existing path);
//   2. SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE on, so that closing a connection
//      whose key turned out wrong never checkpoints into (writes) the file;
//   3. the 16-byte header through SQLite's own file handle (xRead): zero-byte
//      or short file -> kWrongKeyOrNotADatabase, "SQLite format 3" ->
//      kPlaintextDatabase, else it is the salt. No second descriptor is
//      opened on the database file, so no fcntl lock of this process is lost;
//   4. sqlite3_key_v2 with x'<key><salt>' (derived key from the cache);
//   5. per-connection set-up that does not read the file: busy handler,
//      foreign_keys, WAL hook (checkpointing is done by DatabaseState after
//      the write turn is released), SQLCipher logging off (a library never
//      prints; SQLCipher logs HMAC failures to stderr by default);
//   6. one statement reads the schema (verifies the key), user_version and
//      journal_mode; then PRAGMA synchronous (which reads the schema too);
//   7. only then NO_CKPT_ON_CLOSE is switched off again and a derived key is
//      cached.
#ifndef COORDKIT_DB_INTERNAL_CONNECTION_H_
#define COORDKIT_DB_INTERNAL_CONNECTION_H_

#include <sqlcipher/sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "coordkit/db/error.h"
#include "coordkit/db/internal/counters_cell.h"
#include "coordkit/db/internal/crypto_provider.h"
#include "coordkit/db/internal/key_cache.h"
#include "coordkit/db/internal/posix.h"
#include "coordkit/db/internal/statement.h"
#include "coordkit/db/key.h"
#include "coordkit/db/options.h"

namespace coordkit::db::internal {

// ConnectionSetup: what every connection of a Database is configured with.
struct ConnectionSetup {
  std::string path;
  Synchronous synchronous = Synchronous::kNormal;
  std::chrono::milliseconds busy_timeout{2000};
  // journal_size_limit: PRAGMA journal_size_limit (bytes; negative: none).
  std::int64_t journal_size_limit = -1;
  CountersCell* counters = nullptr;
  // deadline: the busy handler stops waiting by then while the connection
  // opens (the open's call deadline); after the open, set_deadline rules.
  Clock::time_point deadline = Clock::time_point::max();
};

// OpenedInfo: what open learned about the file.
struct OpenedInfo {
  Salt salt{};
  int user_version = 0;
  std::string journal_mode;
  FileId id;
};

// DerivedHint: a key derived by an earlier attempt of the same open, so a
// second attempt with the same salt does not run the KDF again.
struct DerivedHint {
  bool valid = false;
  Salt salt{};
  SecretBytes key;
};

inline constexpr char kPlaintextHeader[16] = "SQLite format 3";  // + the NUL

class Connection {
 public:
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() {
    cache_.clear();
    if (db_ != nullptr) sqlite3_close_v2(db_);
  }

  // open: see the file comment. `new_salt` set: create a new database file at
  // setup.path with that salt (the path must not exist). `key_verified` says
  // whether this Database already verified its key on this file (it decides
  // how NOTADB/CORRUPT are classified). Throws Error.
  static std::unique_ptr<Connection> open(const ConnectionSetup& setup, const Key& key,
                                          bool key_verified, const Salt* new_salt, OpenedInfo* info,
                                          DerivedHint* hint) {
    std::unique_ptr<Connection> c(new Connection(setup));
    open_attempts().fetch_add(1, std::memory_order_relaxed);
    // Once per process: the crypto provider that keeps OpenSSL's contexts.
    install_fast_crypto();
    const bool create = new_salt != nullptr;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
    if (create) flags |= SQLITE_OPEN_CREATE;
    int rc = sqlite3_open_v2(setup.path.c_str(), &c->db_, flags, nullptr);
    if (rc != SQLITE_OK) {
      const Error e = make_error(c->db_, rc, "open " + setup.path, {}, key_verified);
      throw e;
    }
    sqlite3_extended_result_codes(c->db_, 1);
    sqlite3_db_config(c->db_, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);

    Salt salt{};
    if (create) {
      salt = *new_salt;
    } else {
      salt = c->read_salt(setup.path);
    }

    // Key material: a hint from the previous attempt, the cache, or the KDF.
    bool derived = false;
    SecretBytes raw;
    if (key.kind() == Key::Kind::kPassphrase && hint != nullptr && hint->valid &&
        hint->salt == salt) {
      raw = hint->key;
    } else {
      raw = KeyCache::instance().key_for(key, salt, &derived);
    }
    if (hint != nullptr && derived) {
      // Kept for a second attempt of this open (not cached: not verified yet).
      hint->valid = true;
      hint->salt = salt;
      hint->key = raw;
    }
    {
      const SecretBytes text = raw_key_text(raw, salt);
      rc = sqlite3_key_v2(c->db_, "main", text.data(), static_cast<int>(text.size()));
    }
    if (rc != SQLITE_OK) throw make_error(c->db_, rc, "key", {}, key_verified);
    check_codec(c->db_);
    c->configure(key_verified);

    // Verify: the schema read fails with NOTADB (page 1) or CORRUPT
    // (truncated, other pages) when the key does not fit.
    int user_version = 0;
    std::string journal_mode;
    {
      static constexpr std::string_view kVerify =
          "SELECT (SELECT count(*) FROM sqlite_schema), "
          "(SELECT user_version FROM pragma_user_version), "
          "(SELECT journal_mode FROM pragma_journal_mode)";
      sqlite3_stmt* raw_stmt = nullptr;
      rc = sqlite3_prepare_v2(c->db_, kVerify.data(), static_cast<int>(kVerify.size()), &raw_stmt,
                              nullptr);
      Stmt stmt(raw_stmt);
      if (rc == SQLITE_OK) rc = sqlite3_step(stmt.get());
      if (rc != SQLITE_ROW) {
        const int primary = rc & 0xff;
        const bool locked = primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
        throw make_error(c->db_, rc,
                         (locked ? "the database stayed locked while verifying the key of "
                                 : "the key does not read the schema of ") +
                             setup.path,
                         {}, key_verified);
      }
      user_version = sqlite3_column_int(stmt.get(), 1);
      const auto* jm = reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), 2));
      journal_mode = jm != nullptr ? jm : "";
    }
    c->configure_verified();
    sqlite3_db_config(c->db_, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, nullptr);

    const FileId id = file_id_of(setup.path).value_or(FileId{});
    if (key.kind() == Key::Kind::kPassphrase) KeyCache::instance().remember(key, salt, raw);
    c->salt_ = salt;
    if (info != nullptr) {
      info->salt = salt;
      info->user_version = user_version;
      info->journal_mode = std::move(journal_mode);
      info->id = id;
    }
    return c;
  }

  // open_attempts: connections this process tried to open (tests).
  static std::atomic<std::uint64_t>& open_attempts() noexcept {
    static std::atomic<std::uint64_t> n{0};
    return n;
  }

  sqlite3* db() const noexcept { return db_; }
  StatementCache& cache() noexcept { return cache_; }
  const Salt& salt() const noexcept { return salt_; }

  // busy_timeout / set_busy_timeout: how long the busy handler waits inside
  // one statement (a checkpoint counts as one).
  std::chrono::milliseconds busy_timeout() const noexcept { return busy_timeout_; }
  void set_busy_timeout(std::chrono::milliseconds t) noexcept { busy_timeout_ = t; }

  // set_deadline: the busy handler also stops waiting at `deadline` (the
  // current call's), whatever is left of busy_timeout.
  void set_deadline(Clock::time_point deadline) noexcept { deadline_ = deadline; }

  // checkpoint: sqlite3_wal_checkpoint_v2 in `mode`, waiting for readers
  // and writers (all but SQLITE_CHECKPOINT_PASSIVE) for at most `budget`,
  // busy_timeout and the call's deadline, in attempts of at most
  // kCheckpointAttempt each; returns the last attempt's result. Not one
  // checkpoint with the whole budget: SQLite reads each reader slot's
  // snapshot mark once per checkpoint, then waits until nobody holds that
  // slot, and readers whose transactions overlap re-take the slot with a
  // newer mark as soon as its old reader leaves. One RESTART could so wait
  // out its whole busy timeout for readers long gone. Seen here: beside
  // three threads with overlapping 30 ms read transactions, a 2 s RESTART
  // after 500 commits failed in 2 to 4 of 20 rounds (busy handler polling
  // every 2 ms), where 100 ms attempts got through in 20 of 20, in at most
  // two; and under ubsan one 5 s RESTART of scenario 11 failed and let the
  // WAL reach 5000 frames. A new attempt reads the marks afresh, finds the
  // readers on the newest snapshot, copies every frame, and then waits only
  // for the readers that began before the copy ended (later ones read the
  // database file). Another connection's checkpoint makes an attempt fail
  // at once (SQLite does not wait for it): the next one follows a
  // millisecond later.
  int checkpoint(int mode, std::chrono::milliseconds budget, int* log_frames = nullptr,
                 int* checkpointed = nullptr) noexcept {
    if (mode == SQLITE_CHECKPOINT_PASSIVE) {
      return sqlite3_wal_checkpoint_v2(db_, nullptr, mode, log_frames, checkpointed);
    }
    const auto saved = busy_timeout_;
    const auto until = std::min(deadline_, Clock::now() + std::min(budget, saved));
    int rc = SQLITE_OK;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
      busy_timeout_ = std::clamp(left, std::chrono::milliseconds(0), kCheckpointAttempt);
      rc = sqlite3_wal_checkpoint_v2(db_, nullptr, mode, log_frames, checkpointed);
      if ((rc & 0xff) != SQLITE_BUSY || Clock::now() + std::chrono::milliseconds(1) >= until) {
        break;
      }
      sleep_for(std::chrono::microseconds(1000));
    }
    busy_timeout_ = saved;
    return rc;
  }

  // kCheckpointAttempt: see checkpoint().
  static constexpr std::chrono::milliseconds kCheckpointAttempt{100};

  // wal_frames: frames in the WAL after this connection's last commit.
  int wal_frames() const noexcept { return wal_frames_; }

  // step_cached: runs a cached statement without parameters to completion.
  int step_cached(std::string_view sql, bool key_verified) {
    sqlite3_stmt* s = cache_.get(db_, sql, key_verified);
    StmtUse use(s);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    }
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
  }

  // exec: sqlite3_exec, throwing a classified Error.
  void exec(const char* sql, bool key_verified) {
    char* err = nullptr;
    const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
    if (err != nullptr) sqlite3_free(err);
    if (rc != SQLITE_OK) throw_error(db_, rc, "exec", sql, key_verified);
  }

 private:
  explicit Connection(const ConnectionSetup& setup)
      : counters_(setup.counters),
        busy_timeout_(setup.busy_timeout),
        synchronous_(setup.synchronous),
        journal_size_limit_(setup.journal_size_limit),
        deadline_(setup.deadline) {}

  Salt read_salt(const std::string& path) {
    sqlite3_file* file = nullptr;
    if (sqlite3_file_control(db_, "main", SQLITE_FCNTL_FILE_POINTER, &file) != SQLITE_OK ||
        file == nullptr || file->pMethods == nullptr) {
      throw Error(ErrorCode::kInternal, "no file handle for " + path);
    }
    sqlite3_int64 size = 0;
    int rc = file->pMethods->xFileSize(file, &size);
    if (rc != SQLITE_OK) throw make_error(nullptr, rc, "size of " + path, {}, false);
    if (size == 0) {
      throw Error(ErrorCode::kWrongKeyOrNotADatabase, RetryClass::kPermanent, SQLITE_NOTADB,
                  "zero-byte file, not a database (this library never leaves one; delete it "
                  "to let the library create the database): " +
                      path,
                  std::string());
    }
    unsigned char header[16] = {};
    rc = file->pMethods->xRead(file, header, sizeof header, 0);
    if (rc == SQLITE_IOERR_SHORT_READ) {
      throw Error(ErrorCode::kWrongKeyOrNotADatabase, RetryClass::kPermanent, SQLITE_NOTADB,
                  "file shorter than a database header: " + path, std::string());
    }
    if (rc != SQLITE_OK) throw make_error(nullptr, rc, "read the header of " + path, {}, false);
    if (std::memcmp(header, kPlaintextHeader, sizeof header) == 0) {
      throw Error(ErrorCode::kPlaintextDatabase, RetryClass::kPermanent, 0,
                  "unencrypted SQLite database: " + path, std::string());
    }
    Salt salt{};
    std::memcpy(salt.data(), header, salt.size());
    return salt;
  }

  // check_codec: once per process, PRAGMA cipher_version must return a row.
  static void check_codec(sqlite3* db) {
    static std::atomic<int> state{0};  // 0 unknown, 1 present
    if (state.load(std::memory_order_acquire) == 1) return;
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(db, "PRAGMA cipher_version", -1, &raw, nullptr);
    Stmt stmt(raw);
    bool present = false;
    if (rc == SQLITE_OK && sqlite3_step(stmt.get()) == SQLITE_ROW) {
      const unsigned char* v = sqlite3_column_text(stmt.get(), 0);
      present = v != nullptr && *v != '\0';
    }
    if (!present) {
      throw Error(ErrorCode::kNoCodec,
                  "the linked SQLite has no SQLCipher codec (PRAGMA cipher_version is empty)");
    }
    state.store(1, std::memory_order_release);
  }

  // configure: the set-up that does not read the file (so a wrong key is
  // reported by the verification, not here).
  void configure(bool key_verified) {
    exec("PRAGMA cipher_log_level=NONE; PRAGMA foreign_keys=ON;", key_verified);
    sqlite3_busy_handler(db_, &Connection::busy_handler, this);
    sqlite3_wal_hook(db_, &Connection::wal_hook, this);
  }

  // configure_verified: the set-up that reads the schema.
  void configure_verified() {
    exec(synchronous_ == Synchronous::kFull ? "PRAGMA synchronous=FULL"
                                            : "PRAGMA synchronous=NORMAL",
         true);
    if (journal_size_limit_ >= 0) {
      const std::string sql = "PRAGMA journal_size_limit=" + std::to_string(journal_size_limit_);
      exec(sql.c_str(), true);
    }
  }

  // busy_handler: polls with short sleeps growing from 50 us to 2 ms until
  // busy_timeout. Fine-grained because, behind the write turn, it only waits
  // for processes outside the library and for checkpoints.
  static int busy_handler(void* ctx, int n) {
    auto* self = static_cast<Connection*>(ctx);
    const auto now = Clock::now();
    if (n == 0) self->busy_start_ = now;
    const auto elapsed = now - self->busy_start_;
    if (elapsed >= self->busy_timeout_ || now >= self->deadline_) return 0;
    auto pause = std::chrono::microseconds(50) * (1 << std::min(n, 6));
    pause = std::min(pause, std::chrono::microseconds(2000));
    const auto remaining = std::min(
        std::chrono::duration_cast<std::chrono::microseconds>(self->busy_timeout_ - elapsed),
        std::chrono::duration_cast<std::chrono::microseconds>(self->deadline_ - now));
    pause = std::min(pause, remaining + std::chrono::microseconds(1));
    sleep_for(pause);
    if (self->counters_ != nullptr) {
      CountersCell::add(self->counters_->busy_handler_waits);
      CountersCell::add(self->counters_->busy_handler_wait_us,
                        static_cast<std::uint64_t>(pause.count()));
    }
    return 1;
  }

  static int wal_hook(void* ctx, sqlite3*, const char*, int frames) {
    static_cast<Connection*>(ctx)->wal_frames_ = frames;
    return SQLITE_OK;
  }

  sqlite3* db_ = nullptr;
  StatementCache cache_;
  CountersCell* counters_;
  std::chrono::milliseconds busy_timeout_;
  Synchronous synchronous_;
  std::int64_t journal_size_limit_;
  Clock::time_point busy_start_{};
  Clock::time_point deadline_ = Clock::time_point::max();
  int wal_frames_ = 0;
  Salt salt_{};
};

}  // namespace coordkit::db::internal

#endif  // COORDKIT_DB_INTERNAL_CONNECTION_H_

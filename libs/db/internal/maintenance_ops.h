// Internal: the maintenance operations a Database runs on its connection:
// explicit checkpoints, online backup into a new encrypted file, rekey, the
// integrity checks and the stats.
#ifndef COORDKIT_DB_INTERNAL_MAINTENANCE_OPS_H_
#define COORDKIT_DB_INTERNAL_MAINTENANCE_OPS_H_

#include <sqlcipher/sqlite3.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>

#include "coordkit/db/error.h"
#include "coordkit/db/internal/atomic_file.h"
#include "coordkit/db/internal/connection.h"
#include "coordkit/db/internal/counters_cell.h"
#include "coordkit/db/internal/function_ref.h"
#include "coordkit/db/internal/key_cache.h"
#include "coordkit/db/internal/posix.h"
#include "coordkit/db/internal/statement.h"
#include "coordkit/db/key.h"
#include "coordkit/db/maintenance.h"
#include "coordkit/db/options.h"
#include "coordkit/db/transaction.h"

namespace coordkit::db::internal {

// checkpoint_connection: sqlite3_wal_checkpoint_v2 in `mode`. Contention is
// reported through CheckpointResult::busy; other failures throw (counted as
// surfaced).
inline CheckpointResult checkpoint_connection(Connection& conn, CheckpointMode mode,
                                              bool key_verified, CountersCell& counters) {
  CheckpointResult out;
  const int m = mode == CheckpointMode::kPassive   ? SQLITE_CHECKPOINT_PASSIVE
                : mode == CheckpointMode::kFull    ? SQLITE_CHECKPOINT_FULL
                : mode == CheckpointMode::kRestart ? SQLITE_CHECKPOINT_RESTART
                                                   : SQLITE_CHECKPOINT_TRUNCATE;
  const int rc =
      sqlite3_wal_checkpoint_v2(conn.db(), nullptr, m, &out.log_frames, &out.checkpointed_frames);
  if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) {
    out.busy = true;
  } else if (rc != SQLITE_OK) {
    const Error e = make_error(conn.db(), rc, "checkpoint", {}, key_verified);
    counters.surfaced(e.code());
    throw e;
  }
  return out;
}

// check_backup_arguments: kInvalidArgument for an empty key, or a
// destination that exists or has a -wal beside it (replacing a file under a
// possible reader, with a stale -wal beside it, would corrupt it).
inline void check_backup_arguments(const std::filesystem::path& dest, const Key& dest_key) {
  if (dest_key.empty()) throw Error(ErrorCode::kInvalidArgument, "no key for the backup");
  std::error_code ec;
  if (dest.empty() || std::filesystem::exists(dest, ec) ||
      std::filesystem::exists(dest.string() + "-wal", ec)) {
    throw Error(ErrorCode::kInvalidArgument,
                "backup destination exists (or has a -wal file): " + dest.string());
  }
}

// backup_connection: copies `source` (sqlite3_backup, one consistent
// snapshot) into a new file at `dest` keyed with `dest_key` and a fresh
// salt, checks that the copy opens with its key at `source_version()`, and
// publishes it with build_atomically. `setup_for(path)` gives the connection
// set-up for a path. Busy steps are retried until `deadline`.
inline void backup_connection(sqlite3* source, const std::filesystem::path& dest,
                              const Key& dest_key,
                              FunctionRef<ConnectionSetup(const std::string&)> setup_for,
                              Clock::time_point deadline, bool key_verified,
                              FunctionRef<int()> source_version) {
  const bool placed = build_atomically(dest, [&](const std::filesystem::path& tmp) {
    int version = 0;
    {
      ConnectionSetup setup = setup_for(tmp.string());
      setup.synchronous = Synchronous::kFull;
      const Salt salt = random_salt();
      auto dst = Connection::open(setup, dest_key, false, &salt, nullptr, nullptr);
      sqlite3_backup* b = sqlite3_backup_init(dst->db(), "main", source, "main");
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
        throw make_error(dst->db(), rc == SQLITE_OK ? finish : rc, "backup", {}, key_verified);
      }
      if (finish != SQLITE_OK) throw make_error(dst->db(), finish, "backup", {}, key_verified);
      int log = 0;
      int done = 0;
      rc = sqlite3_wal_checkpoint_v2(dst->db(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
      if (rc != SQLITE_OK) throw make_error(dst->db(), rc, "checkpoint the backup", {}, false);
      version = source_version();
    }
    // Verify that the copy opens with its key and has the same schema version.
    OpenedInfo info;
    auto check =
        Connection::open(setup_for(tmp.string()), dest_key, false, nullptr, &info, nullptr);
    if (info.user_version != version) {
      throw Error(ErrorCode::kInternal, "backup verification: user_version differs");
    }
  });
  if (!placed) {
    throw Error(ErrorCode::kInvalidArgument,
                "backup destination appeared meanwhile: " + dest.string());
  }
}

// rekey_connection: re-encrypts the file under `conn` with `new_key` (same
// salt) and updates the process's key cache. Throws a classified Error
// (counted as surfaced).
inline void rekey_connection(Connection& conn, const Key& new_key, bool key_verified,
                             CountersCell& counters) {
  const Salt salt = conn.salt();
  const SecretBytes raw = KeyCache::instance().key_for(new_key, salt);
  int rc;
  {
    const SecretBytes text = raw_key_text(raw, salt);
    rc = sqlite3_rekey_v2(conn.db(), "main", text.data(), static_cast<int>(text.size()));
  }
  if (rc != SQLITE_OK) {
    const Error e = make_error(conn.db(), rc, "rekey", {}, key_verified);
    counters.surfaced(e.code());
    throw e;
  }
  KeyCache::instance().forget_salt(salt);
  if (new_key.kind() == Key::Kind::kPassphrase) KeyCache::instance().remember(new_key, salt, raw);
}

// run_check: PRAGMA integrity_check (full) or quick_check, then PRAGMA
// cipher_integrity_check, inside the read transaction `tx`. May run again
// (the ladder retries), so it starts from an empty result.
inline CheckResult run_check(Transaction& tx, bool full) {
  CheckResult out;
  tx.query<std::string>(full ? "PRAGMA integrity_check" : "PRAGMA quick_check",
                        [&](const std::string& row) {
                          if (row != "ok") out.problems.push_back(row);
                        });
  tx.query<std::string>("PRAGMA cipher_integrity_check",
                        [&](const std::string& row) { out.problems.push_back("cipher: " + row); });
  out.ok = out.problems.empty();
  return out;
}

// read_stats: the file's shape, inside the read transaction `tx`.
inline void read_stats(Transaction& tx, Stats& s) {
  s.page_count = tx.query_value<std::int64_t>("PRAGMA page_count").value_or(0);
  s.page_size = tx.query_value<std::int64_t>("PRAGMA page_size").value_or(0);
  s.freelist_count = tx.query_value<std::int64_t>("PRAGMA freelist_count").value_or(0);
  s.user_version = tx.query_value<std::int64_t>("PRAGMA user_version").value_or(0);
}

// wal_bytes: the size of `db_path`'s -wal file, 0 when there is none.
inline std::int64_t wal_bytes(const std::filesystem::path& db_path) {
  return file_size(db_path.string() + "-wal").value_or(0);
}

}  // namespace coordkit::db::internal

#endif  // COORDKIT_DB_INTERNAL_MAINTENANCE_OPS_H_

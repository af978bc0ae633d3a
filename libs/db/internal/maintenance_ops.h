// Internal: the maintenance operations a Database runs on its connection:
// explicit checkpoints, online backup into a new encrypted file, rekey, the
// integrity checks (right under concurrent writers), VACUUM and the stats.
#ifndef COORDKIT_DB_INTERNAL_MAINTENANCE_OPS_H_
#define COORDKIT_DB_INTERNAL_MAINTENANCE_OPS_H_

#include <sqlcipher/sqlite3.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_set>
#include <vector>

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
  const int rc = conn.checkpoint(m, conn.busy_timeout(), &out.log_frames, &out.checkpointed_frames);
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

// The WAL file's format (sqlite.org/fileformat.html, "WAL file format"): a
// 32-byte header (magic, version, page size, checkpoint sequence, two salts,
// a checksum of the first 24 bytes), then frames of a 24-byte header (page
// number, database size after a commit or 0, the two salts, a running
// checksum over every frame so far) and one page. Header fields are
// big-endian; the checksum reads 32-bit words in the byte order the magic
// names (its lowest bit set: big-endian).
inline constexpr std::uint32_t kWalMagic = 0x377f0682;
inline constexpr int kWalHeaderBytes = 32;
inline constexpr int kWalFrameHeaderBytes = 24;

inline std::uint32_t load_be32(const unsigned char* p) noexcept {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

inline std::uint32_t load_le32(const unsigned char* p) noexcept {
  return (std::uint32_t{p[3]} << 24) | (std::uint32_t{p[2]} << 16) | (std::uint32_t{p[1]} << 8) |
         std::uint32_t{p[0]};
}

// wal_checksum: SQLite's WAL checksum over `n` bytes (a multiple of 8),
// continuing from `sum`.
inline void wal_checksum(bool big_endian, const unsigned char* data, std::size_t n,
                         std::uint32_t sum[2]) noexcept {
  for (std::size_t i = 0; i + 8 <= n; i += 8) {
    const std::uint32_t x0 = big_endian ? load_be32(data + i) : load_le32(data + i);
    const std::uint32_t x1 = big_endian ? load_be32(data + i + 4) : load_le32(data + i + 4);
    sum[0] += x0 + sum[1];
    sum[1] += x1 + sum[0];
  }
}

// wal_frame_pages: the pages that have a frame in the valid part of the
// connection's WAL file: frames from the start of the file that carry the
// WAL header's salts and continue its checksum chain, exactly the frames
// SQLite's own recovery would keep, plus any uncommitted tail that happens
// to continue the chain (a transaction being written). Read through
// SQLite's own handle of the -wal file (SQLITE_FCNTL_JOURNAL_POINTER), so no
// second descriptor is opened on a file of the database. Empty when there
// is no WAL or its header is not valid.
inline std::unordered_set<std::uint32_t> wal_frame_pages(sqlite3* db) {
  std::unordered_set<std::uint32_t> pages;
  sqlite3_file* wal = nullptr;
  if (sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) != SQLITE_OK ||
      wal == nullptr || wal->pMethods == nullptr) {
    return pages;
  }
  sqlite3_int64 size = 0;
  if (wal->pMethods->xFileSize(wal, &size) != SQLITE_OK || size < kWalHeaderBytes) return pages;
  unsigned char header[kWalHeaderBytes];
  if (wal->pMethods->xRead(wal, header, kWalHeaderBytes, 0) != SQLITE_OK) return pages;
  const std::uint32_t magic = load_be32(header);
  if (magic != kWalMagic && magic != (kWalMagic | 1)) return pages;
  const bool big_endian = (magic & 1) != 0;
  const std::uint32_t page_size = load_be32(header + 8);
  if (page_size < 512 || page_size > 65536 || (page_size & (page_size - 1)) != 0) return pages;
  std::uint32_t sum[2] = {0, 0};
  wal_checksum(big_endian, header, 24, sum);
  if (sum[0] != load_be32(header + 24) || sum[1] != load_be32(header + 28)) return pages;
  const std::size_t frame_bytes = kWalFrameHeaderBytes + page_size;
  std::vector<unsigned char> frame(frame_bytes);
  for (sqlite3_int64 offset = kWalHeaderBytes;
       offset + static_cast<sqlite3_int64>(frame_bytes) <= size;
       offset += static_cast<sqlite3_int64>(frame_bytes)) {
    if (wal->pMethods->xRead(wal, frame.data(), static_cast<int>(frame_bytes), offset) !=
        SQLITE_OK) {
      break;
    }
    const std::uint32_t pgno = load_be32(frame.data());
    if (pgno == 0 || std::memcmp(frame.data() + 8, header + 16, 8) != 0) break;
    wal_checksum(big_endian, frame.data(), 8, sum);
    wal_checksum(big_endian, frame.data() + kWalFrameHeaderBytes, page_size, sum);
    if (sum[0] != load_be32(frame.data() + 16) || sum[1] != load_be32(frame.data() + 20)) break;
    pages.insert(pgno);
  }
  return pages;
}

// page_of_problem: the page number a row of PRAGMA cipher_integrity_check
// names ("HMAC verification failed for page 7", "error reading 4096 bytes
// from file page 7 at offset ...", "page 7 has an invalid size of ..."), 0
// for a row about the whole file.
inline std::int64_t page_of_problem(std::string_view row) noexcept {
  const std::size_t at = row.find("page ");
  if (at == std::string_view::npos) return 0;
  std::int64_t page = 0;
  for (std::size_t i = at + 5; i < row.size() && row[i] >= '0' && row[i] <= '9'; ++i) {
    page = page * 10 + (row[i] - '0');
    if (page > (std::int64_t{1} << 40)) return 0;
  }
  return page;
}

// damage_error: whether an Error from a check's own statement is the
// damage being checked for: CORRUPT or NOTADB, or SQLITE_ERROR, which is
// what SQLCipher leaves the pager with once a page fails its HMAC (the
// check's SQL is fixed, so it is not a mistake in it).
inline bool damage_error(const Error& e) noexcept {
  const int primary = e.primary_code();
  return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB || primary == SQLITE_ERROR;
}

// run_check: the verdict on the database as of one read snapshot, inside
// the read transaction `tx` on the connection `db`. May run again (the
// ladder retries), so it starts from an empty result. `first_attempt`: a
// CORRUPT/NOTADB on the first attempt goes to the ladder, which reconnects
// and runs the check again (a connection keyed from a salt read while the
// file was replaced fails so and heals); on a later attempt it is damage.
//
// 1. PRAGMA integrity_check (full) or quick_check reads every page of every
//    b-tree as this snapshot sees it, from the WAL or the main file, through
//    the pager, which decrypts and verifies each page's HMAC. A page that
//    fails it stops the check with an error (SQLCipher puts the pager in an
//    error state until the transaction ends), which is reported as a
//    problem, not thrown: the check found what it looks for.
// 2. PRAGMA cipher_integrity_check verifies the HMAC of every page of the
//    main file only, read straight from the file. Under concurrent writers
//    that is not the committed state: a page whose newest frames are still
//    in the WAL (readers hold older snapshots, so checkpoints cannot copy
//    them yet) may be absent from the main file (zeros, when a checkpoint
//    wrote a later page first) or be being overwritten by a checkpoint
//    right now (a torn read), and fail its HMAC although the database is
//    whole. So a failure counts only for a page that has no frame in the
//    WAL and lies within this snapshot's page count. Why that is exact:
//    while this read transaction is open, a checkpoint by anyone copies
//    only frames this snapshot includes (SQLite never backfills past the
//    oldest reader's mark, and not at all while a reader reads the main
//    file alone) and truncates the main file to no fewer pages than this
//    snapshot has; the WAL cannot start over under a reader that uses it.
//    So a page within the page count with no frame in the WAL is exactly
//    what this snapshot reads from the main file, nobody writes it while we
//    look, and a failed HMAC there is damage. Every page that may be stale,
//    missing or torn in the main file has a frame in the WAL, committed and
//    whole, inside the part of the WAL whose checksums hold
//    (wal_frame_pages); its newest copy for this snapshot was verified by
//    step 1 if the page is in use. Pages past the page count are not part
//    of the database (a checkpoint may be cutting them off).
inline CheckResult run_check(Transaction& tx, sqlite3* db, bool full, bool first_attempt) {
  CheckResult out;
  const char* check_sql = full ? "PRAGMA integrity_check" : "PRAGMA quick_check";
  try {
    tx.query<std::string>(check_sql, [&](const std::string& row) {
      if (row != "ok") out.problems.push_back(row);
    });
  } catch (const Error& e) {
    if (!damage_error(e) || (first_attempt && e.retry_class() == RetryClass::kReconnect)) throw;
    out.problems.push_back(std::string(check_sql) + " stopped: a page failed to read (" +
                           std::string(code_name(e.code())) + ", SQLite code " +
                           std::to_string(e.extended_code()) + ")");
    // The pager refuses every page until this transaction ends.
    out.ok = false;
    return out;
  }
  std::vector<std::string> cipher;
  tx.query<std::string>("PRAGMA cipher_integrity_check",
                        [&](const std::string& row) { cipher.push_back(row); });
  if (!cipher.empty()) {
    const std::int64_t page_count = tx.query_value<std::int64_t>("PRAGMA page_count").value_or(0);
    const std::unordered_set<std::uint32_t> in_wal = wal_frame_pages(db);
    for (const std::string& row : cipher) {
      const std::int64_t page = page_of_problem(row);
      if (page > page_count) continue;
      if (page > 0 && in_wal.count(static_cast<std::uint32_t>(page)) != 0) continue;
      out.problems.push_back("cipher: " + row);
    }
  }
  out.ok = out.problems.empty();
  return out;
}

// pragma_value: the integer a PRAGMA returns, outside a transaction.
inline std::int64_t pragma_value(Connection& conn, const char* sql, bool key_verified) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(conn.db(), sql, -1, &raw, nullptr);
  Stmt stmt(raw);
  if (rc == SQLITE_OK) rc = sqlite3_step(stmt.get());
  if (rc != SQLITE_ROW) throw_error(conn.db(), rc, "step", sql, key_verified);
  return sqlite3_column_int64(stmt.get(), 0);
}

// vacuum_connection: VACUUM on `conn` (outside any transaction; it
// rewrites the whole database into the WAL), then a TRUNCATE checkpoint
// within the busy timeout, so that the main file shrinks at once unless
// readers hold older snapshots (then a later checkpoint shrinks it).
// `*log_frames` gets the frames left in the WAL. Throws the classified
// Error for the ladder; contention in the checkpoint is not an error.
inline VacuumResult vacuum_connection(Connection& conn, bool key_verified, int* log_frames) {
  VacuumResult out;
  out.pages_before = pragma_value(conn, "PRAGMA page_count", key_verified);
  conn.exec("VACUUM", key_verified);
  out.pages_after = pragma_value(conn, "PRAGMA page_count", key_verified);
  int done = 0;
  const int rc =
      conn.checkpoint(SQLITE_CHECKPOINT_TRUNCATE, conn.busy_timeout(), log_frames, &done);
  if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) {
    out.wal_truncated = false;
  } else if (rc != SQLITE_OK) {
    throw_error(conn.db(), rc, "checkpoint after VACUUM", {}, key_verified);
  } else {
    out.wal_truncated = true;
  }
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

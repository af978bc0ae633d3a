// coordkit/db/database.h: one encrypted SQLite (SQLCipher 4) connection that
// a long-running service and any number of short-lived command-line processes
// can use on the same file at the same time, with whole-transaction retries,
// cheap reconnection, fail-closed opening and a fair cross-process hand-off of
// the write lock.
//
// Example:
//   coordkit::db::Options options;
//   options.path = "app.db";
//   options.key = coordkit::db::Key::passphrase("secret");
//   options.migrations = {{1, "CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT NOT NULL);"}};
//   auto db = coordkit::db::Database::open(std::move(options));
//   db.write([](coordkit::db::Transaction& tx) {
//     tx.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", "greeting", "hello");
//   });
//   std::optional<std::string> v = db.read([](coordkit::db::Transaction& tx) {
//     return tx.query_value<std::string>("SELECT v FROM kv WHERE k = ?", "greeting");
//   });
//
// How it behaves, and why:
//
// Opening. open() keys every connection with the raw form x'<key><salt>'. The
// salt (and the "SQLite format 3" plaintext check) is read through the
// connection's own SQLite file handle, never with a separate open()/close() of
// the database file, because closing any descriptor of a file drops all of the
// process's fcntl locks on it. A passphrase is run through SQLCipher 4's KDF
// with OpenSSL at most once per process per (passphrase, salt): a cache keyed
// by the salt and a per-process keyed hash of the passphrase holds the derived
// key (zeroed when dropped), so reopening costs about 0.3 ms. Open fails
// closed: no codec -> kNoCodec; a plaintext SQLite file -> kPlaintextDatabase;
// a zero-byte, short, truncated or non-database file, or a wrong key ->
// kWrongKeyOrNotADatabase after at most one reconnection (re-reading the salt
// heals a salt read while the file was being replaced), never retried further.
// Until the key has read the schema, the connection runs with
// SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, so a failed open never writes the database
// file (it stays byte-for-byte unchanged).
//
// Creation and migration. A missing file is created under an exclusive flock
// on `<path>.coordkit-init.lock`: built complete in a temporary file in the
// same directory (new random salt, WAL, migrations), then linked into place
// without overwriting, so nobody ever sees a half-made database. An existing
// file is opened without that lock; only if it needs work (journal mode not
// WAL, for example after the `sqlcipher` shell changed it; user_version below
// the newest migration) does open take the lock, re-check, restore WAL and
// migrate inside one BEGIN IMMEDIATE. So K processes creating or migrating
// the same file at once all succeed, and every later open is lock-free.
//
// Per connection, once: busy handler, synchronous, foreign_keys=ON,
// wal_autocheckpoint. No probe query and no PRAGMA per statement.
//
// Transactions. write(fn) is BEGIN IMMEDIATE; fn; COMMIT and read(fn) is
// BEGIN; fn; COMMIT. A failed attempt is rolled back and classified with
// classify() (error.h): busy-class failures back off (full jitter, capped,
// under RetryPolicy::deadline) and run fn again; reconnect-class failures
// reconnect first (at most RetryPolicy::max_reconnects per call), then run a
// quick_check and surface; permanent failures surface at once. A single
// statement is never retried. fn may run more than once and must not have
// side effects outside the transaction that it cannot repeat. An exception of
// any other type thrown by fn rolls back and propagates, without retry.
//
// Fair write turn. SQLite's busy handler polls with sleeps, so a writer that
// commits and immediately begins again nearly always wins: measured here, a
// loop writer starved CLI processes to 82 ms p99 and 1 s worst case. So,
// before BEGIN IMMEDIATE, each library writer takes a ticket in a FIFO queue
// kept in a small shared-memory file, `<path>.coordkit-gate` (mmap'ed; all
// zero is a valid state, so nobody initialises it), and proceeds when its
// ticket is served. Design, and what measuring taught:
//  - Strict per-transaction FIFO was a lock convoy: every hand-off waits for
//    the next process to be scheduled (a millisecond and more on a busy
//    machine), so a loop writer and four CLIs alternated at a tenth of one
//    writer's rate. Hence leases: the holder keeps ("parks") the turn across
//    back-to-back transactions for Options::write_turn_lease (13 ms), then
//    passes it to the queue; the hand-off cost is paid once per lease, and a
//    waiter waits about one lease plus the transactions queued ahead of it.
//  - Only a holder that writes back to back (it came back within 100 us of
//    its previous release) parks the turn while others queue; a connection
//    that writes once (a command-line process) passes it on at its commit,
//    not when it closes.
//  - A parked turn whose holder does not come back within 100 us (it went
//    idle, or was preempted) is claimed by the next waiter: the turn goes to a
//    process that is running, and an idle holder never makes anyone wait out
//    its lease.
//  - Waiters sleep on a futex in their slot and never poll: with more
//    processes than cores, polling waiters took the CPU the holder needed
//    (four polling CLI processes left a loop writer under half a core). The
//    next in line wakes once when the return window ends, and otherwise
//    when the turn is passed to it or the lease ends.
//  - Automatic checkpoints run after the turn is released (the lease keeps
//    it) and count the frames added since the connection's last checkpoint:
//    giving the turn up for each checkpoint, and counting the whole WAL
//    (which readers keep from restarting), had a loop writer checkpoint after
//    nearly every commit and queue behind every CLI process each time: 0.25
//    of one writer's rate, against 0.98-1.02 after both changes.
//    Short-lived connections leave checkpoints to longer-lived ones.
// The turn is advisory: SQLite's locks still guarantee correctness, and
// processes that do not use the library (the `sqlcipher` shell) compete
// through the busy handler as before. Robustness: each slot is owned through
// an OFD byte-range lock on the gate file, which the kernel releases when its
// process dies (kill -9 included); a waiter that sees the serving ticket's
// owner gone, or no owner for 20 ms, passes the turn on itself, and waiting
// is bounded by RetryPolicy::deadline (then the writer proceeds on SQLite's
// locks alone). Options::fair_write_turn = false turns it off.
//
// Threads: a Database is one connection and belongs to one thread at a time
// (move it between threads freely). counters() alone may be called from any
// thread at any time. For many threads use Store (store.h).
#ifndef COORDKIT_DB_DATABASE_H_
#define COORDKIT_DB_DATABASE_H_

#include <sqlcipher/sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "coordkit/db/counters.h"
#include "coordkit/db/error.h"
#include "coordkit/db/internal/database_state.h"
#include "coordkit/db/internal/function_ref.h"
#include "coordkit/db/key.h"
#include "coordkit/db/maintenance.h"
#include "coordkit/db/options.h"
#include "coordkit/db/transaction.h"

namespace coordkit::db {

// Database: one connection with the retry ladder. Move-only; one thread at a
// time (see the file comment). Destruction closes the connection and never
// throws.
class Database {
 public:
  // open: creates the file if it is missing (atomically, under the cross-
  // process init lock) and options.create_if_missing is set, keys, verifies
  // the key, makes sure the journal mode is WAL, sets the connection up and
  // applies pending migrations. Throws Error: kInvalidArgument (empty key or
  // path), kNoCodec, kPlaintextDatabase, kWrongKeyOrNotADatabase,
  // kNotInitialised (missing file, create_if_missing false), kSchemaTooNew,
  // kBusy (lock not obtained within the deadline), kCantOpen, kPermission,
  // kReadOnly, kIo, kFull, or a migration's own error.
  static Database open(Options options) {
    return Database(internal::DatabaseState::open(std::move(options)));
  }

  Database(Database&&) noexcept = default;
  Database& operator=(Database&&) noexcept = default;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database() = default;

  // write: BEGIN IMMEDIATE; fn(Transaction&); COMMIT, retried as a whole per
  // the retry ladder. Returns what fn returns (by value). Throws Error when the
  // ladder gives up or the error is permanent; rethrows fn's own non-Error
  // exceptions after rolling back. Not reentrant: calling write()/read() from
  // inside fn throws Error{kMisuse}.
  template <class F>
  auto write(F&& fn) {
    return run<F>(std::forward<F>(fn), /*write=*/true);
  }

  // read: BEGIN; fn(Transaction&); COMMIT (a consistent snapshot), retried per
  // the retry ladder. fn must not write (statements that would write fail
  // with kReadOnly). Returns what fn returns.
  template <class F>
  auto read(F&& fn) {
    return run<F>(std::forward<F>(fn), /*write=*/false);
  }

  // counters: a snapshot of this connection's counters. Thread-safe, also
  // while another thread uses the Database.
  Counters counters() const { return state_->counters(); }

  // checkpoint: runs a WAL checkpoint. kPassive never waits; the others wait
  // up to the busy timeout and take the write turn. Throws Error on a real
  // failure; contention is reported through CheckpointResult::busy.
  CheckpointResult checkpoint(CheckpointMode mode) { return state_->checkpoint(mode); }

  // backup_to: copies the database online (sqlite3_backup, a consistent
  // snapshot; writers keep going) into a new encrypted file at `dest` keyed
  // with `dest_key` (its own fresh salt), verifies that the copy opens and
  // reads its schema, then links it into place. `dest` must not exist:
  // Error{kInvalidArgument} otherwise (replacing a file under a possible
  // reader, with a stale -wal beside it, would corrupt it).
  void backup_to(const std::filesystem::path& dest, const Key& dest_key) {
    state_->backup_to(dest, dest_key);
  }

  // rekey: re-encrypts the file with `new_key` (same salt), then keys this
  // connection with it for later reconnections. Needs the write turn and an
  // exclusive write transaction. Other connections keyed with the old key,
  // in this or any process, fail from then on: their reconnection reports
  // kWrongKeyOrNotADatabase. Use it when no one else holds the database open.
  void rekey(const Key& new_key) { state_->rekey(new_key); }

  // quick_check: PRAGMA quick_check plus PRAGMA cipher_integrity_check, as of
  // one read snapshot; right while other processes write (a page whose
  // newest copy is in the WAL is judged by that copy, not by the main file:
  // see run_check in internal/maintenance_ops.h). Damage is reported in the
  // result (ok false), not thrown.
  CheckResult quick_check() { return state_->check(/*full=*/false); }

  // integrity_check: as quick_check, with PRAGMA integrity_check.
  CheckResult integrity_check() { return state_->check(/*full=*/true); }

  // vacuum: VACUUM (rebuilds the file without its free pages), then a
  // TRUNCATE checkpoint so the file shrinks at once when no reader holds an
  // older snapshot. Takes the write turn; runs under the retry ladder like a
  // write (busy: backs off and runs again until RetryPolicy::deadline, then
  // Error{kBusy}). Readers in other processes keep reading their snapshots
  // meanwhile. Throws Error like write(); kMisuse inside a transaction.
  VacuumResult vacuum() { return state_->vacuum(); }

  // stats: pages, page size, freelist, WAL size, user_version, counters.
  Stats stats() { return state_->stats(); }

  // user_version: PRAGMA user_version (the schema version migrations reached).
  int user_version() { return state_->user_version(); }

  // reconnect: closes the connection and opens a new one (raw key, about
  // 0.3 ms). Throws like open() when the file no longer opens.
  void reconnect() { state_->reconnect(/*forced=*/true); }

  // path: the database file this connection opened.
  const std::filesystem::path& path() const noexcept { return state_->path(); }

  // native_handle: the underlying sqlite3 connection, for diagnostics and
  // tests. Do not close it, change its PRAGMAs or keep it across reconnect().
  sqlite3* native_handle() noexcept { return state_->handle(); }

 private:
  friend class Store;

  // adopt_key: after a Store rekeyed through its writer, its readers reconnect
  // with the new key.
  void adopt_key(const Key& key) { state_->adopt_key(key); }

  explicit Database(std::unique_ptr<internal::DatabaseState> state) : state_(std::move(state)) {}

  template <class F>
  auto run(F&& fn, bool write) {
    using R = std::remove_cvref_t<std::invoke_result_t<F&, Transaction&>>;
    if constexpr (std::is_void_v<R>) {
      state_->run_transaction([&fn](Transaction& tx) { fn(tx); }, write);
    } else {
      std::optional<R> out;
      state_->run_transaction([&fn, &out](Transaction& tx) { out.emplace(fn(tx)); }, write);
      return std::move(*out);
    }
  }

  std::unique_ptr<internal::DatabaseState> state_;
};

}  // namespace coordkit::db

#endif  // COORDKIT_DB_DATABASE_H_

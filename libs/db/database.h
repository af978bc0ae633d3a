// coordkit/db/database.h: Database, one encrypted SQLite (SQLCipher 4)
// connection that a long-running service and any number of short-lived
// command-line processes can use on the same file at the same time.
//
// Work runs as whole transactions: write(fn) is BEGIN IMMEDIATE; fn; COMMIT,
// read(fn) a read transaction. A transient failure rolls the transaction
// back, waits (full-jitter backoff under a deadline), reconnects where the
// error's class says so (error.h), and runs fn again from the start; a
// single statement is never retried. So fn may run more than once and must
// not have effects outside the transaction that it cannot repeat. Library
// writers of one file, in any process, take turns through a fair
// cross-process write turn before BEGIN IMMEDIATE (README.md, "Write turn").
//
// Opening fails closed: no codec (kNoCodec), a plaintext file
// (kPlaintextDatabase), a wrong key or a file that is not a database
// (kWrongKeyOrNotADatabase) are reported at once and never retried, and a
// failed open leaves the file byte-for-byte unchanged. A missing file is
// created complete or not at all.
//
// Threads: a Database is one connection and belongs to one thread at a time
// (move it between threads freely); counters() alone may be called from any
// thread at any time. For many threads use Store (store.h).
//
// Example:
//   coordkit::db::Options options;
//   options.path = dir / "app.db";
//   options.key = coordkit::db::Key::passphrase("secret");
//   options.migrations = {{1, "CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT NOT NULL);"}};
//   auto db = coordkit::db::Database::open(std::move(options));
//   db.write([](coordkit::db::Transaction& tx) {
//     tx.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", "greeting", "hello");
//   });
//   std::optional<std::string> v = db.read([](coordkit::db::Transaction& tx) {
//     return tx.query_value<std::string>("SELECT v FROM kv WHERE k = ?", "greeting");
//   });
//   // A call with its own deadline: every wait inside it ends by then.
//   db.write([](coordkit::db::Transaction& tx) { tx.execute("DELETE FROM kv"); },
//            coordkit::db::CallOptions::timeout(std::chrono::milliseconds(500)));
#ifndef COORDKIT_DB_DATABASE_H_
#define COORDKIT_DB_DATABASE_H_

#ifdef _WIN32
#error "libs/db is POSIX-only: Debian packages no SQLCipher for mingw"
#endif

#include <sqlcipher/sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "coordkit/db/counters.h"
#include "coordkit/db/error.h"
#include "coordkit/db/internal/database_state.h"
#include "coordkit/db/internal/deadline.h"
#include "coordkit/db/internal/function_ref.h"
#include "coordkit/db/key.h"
#include "coordkit/db/maintenance.h"
#include "coordkit/db/options.h"
#include "coordkit/db/transaction.h"

namespace coordkit::db {

// Database: one connection with the retry ladder. Move-only; one thread at a
// time. Destruction closes the connection, gives the write turn up and never
// throws.
//
// Every call that waits takes an optional CallOptions (options.h) last: its
// deadline bounds every wait inside the call (the write turn, SQLite's busy
// handler, the retries) and a miss throws Error{kTimeout}. Without one, the
// call's deadline is RetryPolicy::deadline after it began, and contention
// that outlives it throws Error{kBusy}. Calling any of them from inside a
// write()/read() fn of the same Database throws Error{kMisuse}.
class Database {
 public:
  // open: creates the file if it is missing and options.create_if_missing is
  // set (built complete in a temporary file under the cross-process init
  // lock, then linked into place), keys the connection, verifies the key,
  // makes sure the journal mode is WAL and applies pending migrations inside
  // one BEGIN IMMEDIATE. `call`'s deadline bounds every wait of the open:
  // the init lock, the busy retries of the key check and schema read, the
  // switch to WAL and the migrations' busy retries (a miss is kTimeout
  // naming the wait); without one, each of them waits up to
  // RetryPolicy::deadline. Throws Error: kInvalidArgument (empty key or
  // path, bad migration versions), kNoCodec, kPlaintextDatabase,
  // kWrongKeyOrNotADatabase, kNotInitialised (missing file,
  // create_if_missing false), kSchemaTooNew, kBusy (a lock not obtained
  // within RetryPolicy::deadline), kTimeout, kCantOpen (also: the directory
  // does not exist), kPermission, kReadOnly, kIo, kFull, or a migration's
  // own error.
  static Database open(Options options, const CallOptions& call = {}) {
    return Database(internal::DatabaseState::open(std::move(options), call));
  }

  Database(Database&&) noexcept = default;
  Database& operator=(Database&&) noexcept = default;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database() = default;

  // write: BEGIN IMMEDIATE; fn(Transaction&); COMMIT, retried as a whole.
  // Returns what fn returns (by value; fn may also return void). Throws
  // Error when retrying gives up (kBusy, kTimeout, kCorrupt, kIo) or the
  // error is permanent; rethrows fn's own non-Error exceptions after rolling
  // back, without a retry.
  template <class F>
  auto write(F&& fn, const CallOptions& call = {}) {
    return run<F>(std::forward<F>(fn), /*write=*/true, state_->deadline(call));
  }

  // read: BEGIN; fn(Transaction&); COMMIT, one consistent snapshot, retried
  // like write(). Statements that would write fail with kReadOnly. Returns
  // what fn returns.
  template <class F>
  auto read(F&& fn, const CallOptions& call = {}) {
    return run<F>(std::forward<F>(fn), /*write=*/false, state_->deadline(call));
  }

  // prepare: compiles `sql` into this connection's statement cache, the one
  // Transaction::execute and query use, so that a later write() that runs
  // it does not compile it while it holds the write turn and every other
  // writer of the file waits (a command-line process writes through a new
  // connection, whose first use of a statement compiles it). Optional:
  // execute prepares on first use anyway. The statement stays valid across
  // schema changes (SQLite compiles it again when it must). Throws Error:
  // what compiling `sql` throws (kSql for SQL that does not compile, as
  // execute would), kInvalidArgument for empty SQL, or what reopening a
  // dropped connection throws; a transient failure (another process holds
  // a lock the schema read needs) is not thrown: the write compiles the
  // statement under its retry ladder instead.
  void prepare(std::string_view sql, const CallOptions& call = {}) {
    state_->prepare(sql, state_->deadline(call));
  }

  // counters: a snapshot of this connection's counters. Thread-safe, also
  // while another thread uses the Database.
  Counters counters() const { return state_->counters(); }

  // checkpoint: runs a WAL checkpoint. kPassive never waits; the others wait
  // (busy handler, within the call's deadline) and take the write turn.
  // Contention is reported through CheckpointResult::busy, not thrown;
  // throws Error on a real failure.
  CheckpointResult checkpoint(CheckpointMode mode, const CallOptions& call = {}) {
    return state_->checkpoint(mode, state_->deadline(call));
  }

  // backup_to: copies the database online (sqlite3_backup: one consistent
  // snapshot; writers keep going) into a new encrypted file at `dest` keyed
  // with `dest_key` (its own fresh salt), checks that the copy opens with its
  // key, then links it into place. `dest` must not exist, nor its -wal:
  // Error{kInvalidArgument} otherwise.
  void backup_to(const std::filesystem::path& dest, const Key& dest_key,
                 const CallOptions& call = {}) {
    state_->backup_to(dest, dest_key, state_->deadline(call));
  }

  // rekey: re-encrypts the file with `new_key` (same salt) under the write
  // turn and an exclusive write transaction, then keys this connection's
  // later reconnections with it. Other connections keyed with the old key,
  // in this or any process, fail from then on (their reconnection reports
  // kWrongKeyOrNotADatabase): use it when no one else holds the file open.
  void rekey(const Key& new_key, const CallOptions& call = {}) {
    state_->rekey(new_key, state_->deadline(call));
  }

  // quick_check: PRAGMA quick_check plus PRAGMA cipher_integrity_check in a
  // read transaction, as of its snapshot, and right while other processes
  // write: a page whose newest copy is in the WAL is judged by that copy,
  // not by the main file (see run_check in internal/maintenance_ops.h).
  // Returns the verdict, damage included (ok false); throws Error when it
  // cannot run.
  CheckResult quick_check(const CallOptions& call = {}) {
    return state_->check(/*full=*/false, state_->deadline(call));
  }

  // integrity_check: PRAGMA integrity_check plus PRAGMA
  // cipher_integrity_check, like quick_check().
  CheckResult integrity_check(const CallOptions& call = {}) {
    return state_->check(/*full=*/true, state_->deadline(call));
  }

  // vacuum: VACUUM (rebuilds the file without its free pages), then a
  // TRUNCATE checkpoint so the file shrinks at once when no reader holds an
  // older snapshot. Takes the write turn and runs under the retry ladder
  // like a write (busy: backs off and runs again within the call's
  // deadline). Readers in other processes keep reading their snapshots
  // meanwhile. Throws Error like write(); kMisuse inside a transaction.
  VacuumResult vacuum(const CallOptions& call = {}) {
    return state_->vacuum(state_->deadline(call));
  }

  // stats: pages, page size, freelist, WAL size, user_version and the
  // counters. Its read counts in Counters::own_transactions.
  Stats stats(const CallOptions& call = {}) { return state_->stats(state_->deadline(call)); }

  // user_version: PRAGMA user_version (the schema version migrations
  // reached). Its read counts in Counters::own_transactions.
  int user_version(const CallOptions& call = {}) {
    return state_->user_version(state_->deadline(call));
  }

  // reconnect: closes the connection and opens a new one (raw key, about
  // 0.3 ms), its waits (busy retries of the key check, the init lock when
  // WAL must be restored) bounded like open()'s by `call`. Throws like
  // open() when the file no longer opens.
  void reconnect(const CallOptions& call = {}) {
    state_->reconnect(/*forced=*/true, state_->deadline(call));
  }

  // path: the database file this connection opened.
  const std::filesystem::path& path() const noexcept { return state_->path(); }

  // native_handle: the underlying sqlite3 connection, for diagnostics and
  // tests; owned by the Database. Do not close it, change its PRAGMAs or keep
  // it across reconnect().
  sqlite3* native_handle() noexcept { return state_->handle(); }

 private:
  friend class Store;

  // adopt_key: after a Store rekeyed through its writer, its readers reconnect
  // with the new key, within `call`'s deadline like reconnect().
  void adopt_key(const Key& key, const CallOptions& call = {}) {
    state_->adopt_key(key, state_->deadline(call));
  }

  explicit Database(std::unique_ptr<internal::DatabaseState> state) : state_(std::move(state)) {}

  template <class F>
  auto run(F&& fn, bool write, const internal::Deadline& deadline) {
    using R = std::remove_cvref_t<std::invoke_result_t<F&, Transaction&>>;
    if constexpr (std::is_void_v<R>) {
      state_->run_transaction([&fn](Transaction& tx) { fn(tx); }, write, deadline);
    } else {
      std::optional<R> out;
      state_->run_transaction([&fn, &out](Transaction& tx) { out.emplace(fn(tx)); }, write,
                              deadline);
      return std::move(*out);
    }
  }

  std::unique_ptr<internal::DatabaseState> state_;
};

}  // namespace coordkit::db

#endif  // COORDKIT_DB_DATABASE_H_

// coordkit/db/options.h: how a database is opened: path, key, creation,
// durability, the retry policy and the schema migrations.
//
// Example:
//   coordkit::db::Options options;
//   options.path = dir / "app.db";
//   options.key = coordkit::db::Key::passphrase("correct horse battery staple");
//   options.migrations = {
//       {1, "CREATE TABLE records(id INTEGER PRIMARY KEY, body TEXT NOT NULL, note TEXT);"},
//       {2, "CREATE INDEX records_body ON records(body);"},
//   };
//   coordkit::db::Database db = coordkit::db::Database::open(std::move(options));
#ifndef COORDKIT_DB_OPTIONS_H_
#define COORDKIT_DB_OPTIONS_H_

#ifdef _WIN32
#error "libs/db is POSIX-only: Debian packages no SQLCipher for mingw"
#endif

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "coordkit/db/key.h"

namespace coordkit::db {

class Transaction;

// Synchronous: PRAGMA synchronous for every connection. kNormal (default) can
// lose the last commits on power loss, never on a process crash; kFull syncs
// the WAL on every commit.
enum class Synchronous { kNormal, kFull };

// CheckpointMode: sqlite3_wal_checkpoint_v2's modes. kPassive never waits;
// kFull, kRestart and kTruncate wait (busy timeout) for writers and readers and
// take the cross-process write turn so that library writers queue instead of
// spinning. kTruncate also shrinks the WAL file to zero bytes.
enum class CheckpointMode { kPassive, kFull, kRestart, kTruncate };

// AutoVacuum: PRAGMA auto_vacuum of a new database file. SQLite takes it
// only before the first table exists (and, in WAL mode, before WAL is on), so
// the library applies it when it creates the file; changing it later needs a
// VACUUM. kNone (SQLite's default) keeps freed pages for reuse; kFull returns
// them to the file system at every commit; kIncremental on request
// (PRAGMA incremental_vacuum).
enum class AutoVacuum { kNone, kFull, kIncremental };

// RetryPolicy: the retry ladder's knobs, per Database (per connection).
//   1. SQLite's busy handler waits up to `busy_timeout` inside one statement
//      (polling with short, growing sleeps);
//   2. then the transaction is rolled back and run again from the start after
//      a full-jitter exponential backoff in [0, min(max_backoff,
//      initial_backoff * 2^n)], until `deadline` has passed since the call
//      began (then Error{kBusy});
//   3. reconnect-class errors reconnect first, at most `max_reconnects` times
//      per call; then a quick_check runs and the error is surfaced.
// A call's CallOptions::deadline takes the place of `deadline` (a miss is
// then kTimeout), and the busy handler stops at it too. Plain value.
struct RetryPolicy {
  // busy_timeout: the longest one statement waits in SQLite's busy handler.
  std::chrono::milliseconds busy_timeout{2000};
  // initial_backoff, max_backoff: the backoff's first cap and its largest.
  std::chrono::microseconds initial_backoff{200};
  std::chrono::microseconds max_backoff{50000};
  // deadline: how long a call without CallOptions keeps retrying and
  // waiting (also each step of an open or a reconnection: the init lock,
  // the key check, the migrations).
  std::chrono::milliseconds deadline{10000};
  // max_reconnects: reconnections per call before a reconnect-class error
  // is surfaced.
  int max_reconnects = 3;
  // seed: 0 = a random seed per Database; anything else makes the jitter
  // sequence reproducible (tests).
  std::uint64_t seed = 0;
};

// CallOptions: what bounds one call of a Database or a Store. Plain value.
//
// Example:
//   // A request handler with 200 ms left: every wait inside the call (the
//   // write turn, busy retries, a reader connection, the group commit) ends
//   // by then, with Error{kTimeout}.
//   store->write([&](coordkit::db::Transaction& tx) { tx.execute(sql, id); },
//                coordkit::db::CallOptions::timeout(std::chrono::milliseconds(200)));
struct CallOptions {
  // deadline: when the call gives up waiting, with Error{kTimeout}. Unset:
  // RetryPolicy::deadline after the call began (then contention surfaces as
  // kBusy, as without CallOptions).
  std::optional<std::chrono::steady_clock::time_point> deadline;

  // timeout: CallOptions whose deadline is `timeout` from now.
  static CallOptions timeout(std::chrono::steady_clock::duration timeout) {
    CallOptions c;
    c.deadline = std::chrono::steady_clock::now() + timeout;
    return c;
  }
};

// Migration: one step of the schema, applied when PRAGMA user_version is
// below `version` ({version, sql} is enough; `apply` is optional). `sql` (may
// hold several statements) runs first, then `apply` if set. All pending steps
// run in ascending version order inside one BEGIN IMMEDIATE, which also sets
// user_version to the highest version, so two processes starting together
// apply each step exactly once.
struct Migration {
  int version = 0;
  std::string sql;
  std::function<void(Transaction&)> apply = {};
};

// Options: everything Database::open needs. Plain value; copyable.
struct Options {
  // path: the database file. Its directory must be writable: SQLite keeps
  // `<path>-wal` and `<path>-shm` beside it, and the library keeps
  // `<path>.coordkit-init.lock` (the initialisation lock) and
  // `<path>.coordkit-gate` (the cross-process write turn) there too.
  std::filesystem::path path;
  // key: required (an empty Key is kInvalidArgument).
  Key key;
  // create_if_missing: create the file when it does not exist. Creation is
  // atomic (a temporary file, fully initialised, then linked into place), so a
  // database file is never seen half-made. When false, a missing file is
  // Error{kNotInitialised}. A zero-byte file is never initialised: it was not
  // made by this library, so it is Error{kWrongKeyOrNotADatabase} and left alone.
  bool create_if_missing = true;
  // auto_vacuum: applied when this open creates the file; an existing file
  // keeps its own.
  AutoVacuum auto_vacuum = AutoVacuum::kNone;
  Synchronous synchronous = Synchronous::kNormal;
  RetryPolicy retry;
  // wal_autocheckpoint_pages: PRAGMA wal_autocheckpoint (0 turns it off).
  int wal_autocheckpoint_pages = 1000;
  // fair_write_turn: take the cross-process write turn before BEGIN
  // IMMEDIATE (README.md, "Write turn"). Turn it off only to measure what it
  // buys.
  bool fair_write_turn = true;
  // write_turn_lease: how long a writer may keep the write turn across
  // back-to-back transactions while others queue for it. Longer: more
  // throughput for a busy writer, longer waits for the others (a waiter
  // waits about one lease plus the transactions queued ahead). A writer
  // that writes one at a time (a command-line process, a script's writes)
  // waits at most 2 ms of it (or the lease, if shorter). The default and its
  // measurements: README.md, "Write turn".
  std::chrono::microseconds write_turn_lease{13000};
  std::vector<Migration> migrations;
};

}  // namespace coordkit::db

#endif  // COORDKIT_DB_OPTIONS_H_

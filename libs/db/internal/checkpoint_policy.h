// Internal: when a Database runs its own WAL checkpoints. SQLite's
// autocheckpoint would run inside COMMIT, with the write lock and the write
// turn still held; this policy runs them after the turn is released.
#ifndef COORDKIT_DB_INTERNAL_CHECKPOINT_POLICY_H_
#define COORDKIT_DB_INTERNAL_CHECKPOINT_POLICY_H_

#include <sqlcipher/sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdint>

#include "coordkit/db/internal/connection.h"
#include "coordkit/db/internal/posix.h"
#include "coordkit/db/internal/turn_glue.h"

namespace coordkit::db::internal {

// CheckpointPolicy: one connection's checkpoint bookkeeping. One thread at a
// time (the Database's).
class CheckpointPolicy {
 public:
  explicit CheckpointPolicy(int wal_autocheckpoint_pages) noexcept
      : limit_(wal_autocheckpoint_pages) {}

  // journal_size_limit: PRAGMA journal_size_limit for every connection, in
  // bytes (negative: none). A WAL that a long reader made grow is cut back to
  // twice the size the checkpoints keep it at when it next starts over; in
  // normal operation it stays below that, so it is overwritten, never
  // regrown.
  std::int64_t journal_size_limit() const noexcept {
    return limit_ > 0 ? 4LL * limit_ * kWalPageBytesEstimate : -1;
  }

  // committed: one write transaction of this connection committed.
  void committed() noexcept { ++commits_; }

  // checkpointed: an explicit checkpoint left `log_frames` frames in the WAL.
  void checkpointed(int log_frames) noexcept { checkpointed_frames_ = std::max(log_frames, 0); }

  // after_commit: the checkpoint (if any) due after one of this
  // connection's commits, run after the write turn was released. Waits at
  // most until the call's deadline (the connection's, set_deadline). Never
  // throws: a checkpoint that does not get through is tried again after a
  // later commit.
  //
  // PASSIVE, once the WAL has grown by the autocheckpoint size (the limit,
  // L) since this connection's last checkpoint. due() counts frames appended
  // since the last checkpoint, not frames in the WAL: while readers keep the
  // WAL from restarting, the WAL stays above the limit, and counting all of
  // it ran a checkpoint after every commit. A connection that has committed
  // only a few transactions (a command-line process that opens, writes and
  // closes) leaves the checkpoint, which costs two fsyncs, to longer-lived
  // connections, unless the WAL has grown by 4L (then nobody else is doing
  // it).
  //
  // RESTART, the escalation. A WAL restarts only when a writer finds every
  // frame copied and no reader using it. Readers that come and go all the
  // time (command-line processes opening the file, a reader pool) keep it
  // from restarting, and readers whose snapshots always overlap also starve
  // the PASSIVE copy: either way the WAL grows without bound. A RESTART
  // checkpoint takes SQLite's write lock, waits (through the busy handler)
  // for the readers of older snapshots to finish so that it can copy every
  // frame, then for the readers that started meanwhile to finish (readers
  // that start once every frame is copied read the database file and do not
  // hold it up), and makes the next writer start the WAL from its beginning.
  // So it needs about two read transactions' time, and every writer waits
  // while it does. Hence two steps:
  //  - soft, once the WAL holds 2L frames: after the PASSIVE one, a RESTART
  //    within kSoftRestartBudget. Enough on a quiet machine (30 ms readers:
  //    30-60 ms, seen here), and if the readers do not leave a gap in time
  //    the writer goes on;
  //  - hard, after any commit that leaves 3L frames or more: a RESTART that
  //    waits as long as the busy timeout allows (and the call's deadline),
  //    in attempts of 100 ms (Connection::checkpoint says why).
  //    The soft budget is a guess about the speed of the readers, and it was
  //    wrong under sanitizers and on a loaded machine: with readers slowed
  //    down more than the writer (ubsan), soft restarts failed one after the
  //    other while the writer added L frames between them, and the WAL
  //    reached 6L (24.7 MB). The hard wait does not guess: the WAL cannot
  //    grow while it holds the write lock, and it ends as soon as the
  //    readers have moved on, however slowly they run. So the WAL stays
  //    below 3L frames plus the commits of other connections made before
  //    their own check (one transaction each), as long as read transactions
  //    are shorter than half the busy timeout.
  //  - A reader that holds one snapshot for longer than that (a long
  //    export, scenario 12) makes the hard wait fail; then the writer stops
  //    waiting for it, the WAL grows as plain SQLite's would (and
  //    journal_size_limit cuts it back once it restarts), and soft attempts
  //    go on after every L frames until one gets through; the hard step is
  //    armed again once the WAL has restarted. A long reader so costs a
  //    writer one wait of the busy timeout, not one per commit.
  // RESTART, not TRUNCATE: a truncated WAL has to grow again, and extending
  // a file on every append costs more than overwriting it; the file stays at
  // the size it reached.
  void after_commit(Connection& conn, TurnGlue& turn) noexcept {
    if (limit_ <= 0) return;
    const int frames = conn.wal_frames();
    if (frames < checkpointed_frames_) {
      // The WAL restarted (here or in another connection).
      checkpointed_frames_ = 0;
      hard_armed_ = true;
    }
    const bool hard = hard_armed_ && frames >= 3 * limit_;
    if (!hard && !due(frames)) return;
    // The turn is parked for this writer's next transaction; whoever waits
    // next may have gone to sleep while it was held. Wake it, so that it
    // takes the turn after the return window instead of at its next
    // timeout, and writes while the checkpoint copies and syncs.
    turn.nudge();
    checkpointed_frames_ = frames;
    const int rc =
        sqlite3_wal_checkpoint_v2(conn.db(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    if (rc != SQLITE_OK || frames < 2 * limit_) return;
    // Connection::checkpoint also stops at the busy timeout and the call's
    // deadline.
    const int restart =
        conn.checkpoint(SQLITE_CHECKPOINT_RESTART, hard ? conn.busy_timeout() : kSoftRestartBudget);
    if (restart == SQLITE_OK) {
      checkpointed_frames_ = 0;
      hard_armed_ = true;
    } else if (hard) {
      hard_armed_ = false;  // a reader longer than the busy timeout: see above
    }
  }

 private:
  bool due(int frames) const noexcept {
    const int grown = frames - checkpointed_frames_;
    if (grown >= 4 * limit_) return true;
    return grown >= limit_ && commits_ >= kCheckpointAfterCommits;
  }

  static constexpr std::uint64_t kCheckpointAfterCommits = 16;
  static constexpr std::chrono::milliseconds kSoftRestartBudget{100};
  // SQLCipher 4's default page size plus the WAL frame header; a database with
  // larger pages just gets a proportionally earlier cut.
  static constexpr std::int64_t kWalPageBytesEstimate = 4096 + 24;

  int limit_;
  std::uint64_t commits_ = 0;
  int checkpointed_frames_ = 0;  // WAL frames at this connection's last automatic checkpoint
  bool hard_armed_ = true;  // false after a hard RESTART ran out of time, until the WAL restarts
};

}  // namespace coordkit::db::internal

#endif  // COORDKIT_DB_INTERNAL_CHECKPOINT_POLICY_H_

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

  // after_commit: a PASSIVE checkpoint once the WAL has grown by the
  // autocheckpoint size since this connection's last checkpoint, run after
  // the write turn was released. Never throws.
  //
  // due() counts frames appended since the last checkpoint, not frames in
  // the WAL: while readers keep the WAL from restarting, the WAL stays above
  // the limit, and counting all of it ran a checkpoint after every commit. A
  // connection that has committed only a few transactions (a command-line
  // process that opens, writes and closes) leaves the checkpoint, which costs
  // two fsyncs, to longer-lived connections, unless the WAL has grown by four
  // times the limit (then nobody else is doing it).
  //
  // A WAL restarts only when a writer finds every frame copied and no reader
  // using it. Readers that come and go all the time (command-line processes
  // opening the file, a reader pool) keep it from restarting, and readers
  // whose snapshots always overlap also starve the PASSIVE copy: either way
  // the WAL grows without bound. So once it has passed twice the limit, a
  // RESTART checkpoint follows the PASSIVE one: it waits (through the busy
  // handler, at most kRestartBudget) for the readers to move on to the
  // newest snapshot and then to the database file, and makes the next writer
  // start the WAL from its beginning. It holds SQLite's write lock while it
  // waits, which is why it is the escalation and not the rule. RESTART, not
  // TRUNCATE: a truncated WAL has to grow again, and extending a file on
  // every append costs more than overwriting it; the file stays at the size
  // it reached, about twice the limit.
  void after_commit(Connection& conn, TurnGlue& turn) noexcept {
    if (!due(conn)) return;
    // The turn is parked for this writer's next transaction; whoever waits
    // next may have gone to sleep while it was held. Wake it, so that it
    // takes the turn after the return window instead of at its next
    // timeout, and writes while the checkpoint copies and syncs.
    turn.nudge();
    const int frames = conn.wal_frames();
    checkpointed_frames_ = frames;
    const int rc =
        sqlite3_wal_checkpoint_v2(conn.db(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    if (rc == SQLITE_OK && frames >= 2 * limit_) {
      // Within kRestartBudget, not busy_timeout: it holds SQLite's write
      // lock while it waits, so every writer waits with it. If the readers
      // do not leave a gap in time, the next checkpoint tries again.
      const auto saved = conn.busy_timeout();
      conn.set_busy_timeout(std::min(saved, kRestartBudget));
      if (sqlite3_wal_checkpoint_v2(conn.db(), nullptr, SQLITE_CHECKPOINT_RESTART, nullptr,
                                    nullptr) == SQLITE_OK) {
        checkpointed_frames_ = 0;
      }
      conn.set_busy_timeout(saved);
    }
  }

 private:
  bool due(const Connection& conn) noexcept {
    if (limit_ <= 0) return false;
    const int frames = conn.wal_frames();
    if (frames < checkpointed_frames_) checkpointed_frames_ = 0;  // the WAL restarted
    const int grown = frames - checkpointed_frames_;
    if (grown >= 4 * limit_) return true;
    return grown >= limit_ && commits_ >= kCheckpointAfterCommits;
  }

  static constexpr std::uint64_t kCheckpointAfterCommits = 16;
  static constexpr std::chrono::milliseconds kRestartBudget{100};
  // SQLCipher 4's default page size plus the WAL frame header; a database with
  // larger pages just gets a proportionally earlier cut.
  static constexpr std::int64_t kWalPageBytesEstimate = 4096 + 24;

  int limit_;
  std::uint64_t commits_ = 0;
  int checkpointed_frames_ = 0;  // WAL frames at this connection's last automatic checkpoint
};

}  // namespace coordkit::db::internal

#endif  // COORDKIT_DB_INTERNAL_CHECKPOINT_POLICY_H_

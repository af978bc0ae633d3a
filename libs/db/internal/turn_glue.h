// Internal: how a Database uses the cross-process write turn (write_turn.h):
// the gate file opened on the first write, the turn held around one
// transaction, the waits counted.
#ifndef COORDKIT_DB_INTERNAL_TURN_GLUE_H_
#define COORDKIT_DB_INTERNAL_TURN_GLUE_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

#include "coordkit/db/internal/counters_cell.h"
#include "coordkit/db/internal/deadline.h"
#include "coordkit/db/internal/posix.h"
#include "coordkit/db/internal/write_turn.h"

namespace coordkit::db::internal {

// TurnGlue: one Database's handle on the write turn. One thread at a time.
class TurnGlue {
 public:
  TurnGlue(std::string db_path, bool enabled, std::chrono::microseconds lease,
           CountersCell& counters)
      : db_path_(std::move(db_path)), enabled_(enabled), lease_(lease), counters_(counters) {}
  TurnGlue(const TurnGlue&) = delete;
  TurnGlue& operator=(const TurnGlue&) = delete;

  // enabled: whether writers take the turn (Options::fair_write_turn).
  bool enabled() const noexcept { return enabled_; }

  // turn: the handle, its gate file opened on first use.
  WriteTurn& turn() noexcept {
    if (!opened_) {
      opened_ = true;
      turn_.open(db_path_, lease_);
    }
    return turn_;
  }

  // nudge: see WriteTurn::nudge.
  void nudge() noexcept { turn_.nudge(); }

  // close: gives the turn up and unmaps the gate.
  void close() noexcept { turn_.close(); }

  CountersCell& counters() noexcept { return counters_; }

 private:
  std::string db_path_;
  bool enabled_;
  std::chrono::microseconds lease_;
  CountersCell& counters_;
  WriteTurn turn_;
  bool opened_ = false;
};

// TurnHold: the write turn for one transaction (or one checkpoint, one
// rekey). `want` false, or the turn switched off: holds nothing. A writer
// that runs without the turn is counted: no gate slot free, no gate file, or
// a wait that ran out at the deadline. A wait that ran out at the caller's
// own deadline throws Error{kTimeout}; at the policy's, the writer goes on
// under SQLite's locks alone (the turn is advisory).
class TurnHold {
 public:
  TurnHold(TurnGlue& glue, bool want, const Deadline& deadline) : glue_(glue) {
    if (!want || !glue.enabled()) return;
    WriteTurn& turn = glue.turn();
    CountersCell& counters = glue.counters();
    if (!turn.usable()) {
      CountersCell::add(turn.unusable() == WriteTurn::Unusable::kNoSlot
                            ? counters.turn_skipped_no_slot
                            : counters.turn_skipped_no_gate);
      return;
    }
    bool got = false;
    const auto waited = turn.acquire(deadline.at, &got);
    held_ = got;
    if (waited.count() > 0) {
      CountersCell::add(counters.turn_waits);
      CountersCell::add(counters.turn_wait_us, static_cast<std::uint64_t>(waited.count()));
    }
    if (!got) {
      CountersCell::add(counters.turn_timeouts);
      if (deadline.from_caller) throw timeout_error("the write turn");
    }
  }
  TurnHold(const TurnHold&) = delete;
  TurnHold& operator=(const TurnHold&) = delete;
  ~TurnHold() { release(); }

  // release: parks the turn (the lease may keep it for a next transaction).
  void release() noexcept {
    if (!held_) return;
    held_ = false;
    glue_.turn().release();
    count_held();
  }
  // let_go: gives the turn up for real.
  void let_go() noexcept {
    if (!held_) return;
    held_ = false;
    glue_.turn().let_go();
    count_held();
  }

 private:
  void count_held() noexcept {
    CountersCell::add(glue_.counters().turn_held_us,
                      static_cast<std::uint64_t>(glue_.turn().last_held().count()));
  }

  TurnGlue& glue_;
  bool held_ = false;
};

}  // namespace coordkit::db::internal

#endif  // COORDKIT_DB_INTERNAL_TURN_GLUE_H_

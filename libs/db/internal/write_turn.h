// Internal: the cross-process write turn, a FIFO ticket queue with short
// leases in the shared-memory file `<db>.coordkit-gate`, which library
// writers pass before BEGIN IMMEDIATE. Why it exists, why leases, and what
// measuring taught: README.md, "Write turn". This comment says how it works.
//
// Layout (4096 bytes, MAP_SHARED; all zero is the valid initial state, so the
// file needs no initialisation and a fresh or truncated file is fine):
//   next_ticket   the next ticket to hand out
//   serving       the ticket that owns the turn
//   parked        serving+1 while its owner is between transactions and keeps
//                 its lease (0 otherwise)
//   lease_start   CLOCK_MONOTONIC ns when `serving` got the turn
//   parked_at     CLOCK_MONOTONIC ns when the turn was last parked
//   62 slots      per handle: its ticket+1 (0 = none), a futex word it sleeps
//                 on, a "sleeping" flag, and `one_off`: its ticket+1 again
//                 when that ticket is for a write that comes one at a time
//                 (0 otherwise). The field sits in what used to be the
//                 slot's padding and the layout is otherwise unchanged, so
//                 handles that do not know it (built before it) share a gate
//                 with those that do: they leave it 0 and are served as
//                 before, and ignore it as holders.
// Slot ownership is an OFD write lock on byte i of the file (advisory, so it
// does not matter that the byte also holds data). OFD locks belong to the
// open file description: they neither disturb nor are disturbed by SQLite's
// fcntl locks on the database file, and the kernel drops them when the owner
// dies, so a slot whose lock is free belongs to nobody.
//
// Protocol.
//   acquire: if this handle parked the turn, take it back (CAS parked -> 0)
//     unless its lease is over and someone queued; else t = next_ticket++,
//     publish t in the slot, wait (futex; see "Hand-off watch") until serving >= t,
//     start a lease.
//   release (after COMMIT): while the lease is younger than `lease` and this
//     handle writes back to back (its previous release was within
//     kReturnWindow of this acquire), or while no one queued, park the turn;
//     otherwise CAS serving t -> t+1 and wake the owner of t+1. When the
//     next in line writes one at a time (`one_off`), the lease is
//     `one_off_lease` (2 ms) instead.
//   One at a time: a handle whose process, over its last few writes on this
//     gate, spent at least as long between writes as waiting for and
//     holding the turn (WritePace; a command-line process, a script's
//     writes, a service's occasional write, and a process that never wrote
//     on it) marks its ticket one_off. A loop that writes through a new
//     connection each time (its process is back for the turn a moment after
//     each release) does not, and competes under the full lease as before:
//     a 2 ms lease for every waiter took tools/bench/db's tight mix (a loop
//     writer and four such loops) from 0.72 to 0.56 of one writer's rate.
//   Hand-off watch: the next in line, when the holder is in a transaction
//     at whose end it passes the turn on (the holder writes one at a time;
//     or this waiter does and the holder's one-off lease is over), polls
//     `serving` awake, yielding the CPU between looks, for at most
//     kHandoffSpin (300 us), then sleeps as below. Only the next in line
//     does, once per holder's ticket: waiters further back never poll.
//   A waiter that finds the turn parked claims it (CAS parked -> 0, then
//     serving -> serving+1) once the lease (for a one-off waiter, the
//     one-off lease) has expired, once the owner has been away for
//     kReturnWindow, or when the owner died. Exactly one of the
//     owner's take-back and a waiter's claim wins the CAS. The next in line
//     sleeps until the return window ends, looks once, and if the owner came
//     back, sleeps until the lease ends.
// Liveness. A waiter that sees `serving` unchanged for kCheckInterval checks
// its owner: a slot whose OFD lock is free (owner died) is skipped at once; a
// ticket that no slot claims for kOrphanGrace (owner died between taking and
// publishing it, or gave up at its deadline) is skipped too; a turn parked by
// a live owner that stayed away is claimed by any waiter when the next in
// line, who would have claimed it, died or gave up. Skipping is safe because
// the turn is advisory: SQLite's own locks exclude writers. A process whose
// ticket was skipped finds `serving` past its ticket and queues again; it
// never holds or parks beside the real holder. A holder that parks and then
// runs a checkpoint wakes the next in line first (nudge).
#ifndef COORDKIT_DB_INTERNAL_WRITE_TURN_H_
#define COORDKIT_DB_INTERNAL_WRITE_TURN_H_

#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "coordkit/db/internal/posix.h"

namespace coordkit::db::internal {

inline std::string gate_path(const std::string& db_path) { return db_path + ".coordkit-gate"; }

struct alignas(64) GateSlot {
  std::atomic<std::uint64_t> ticket;  // ticket + 1, 0 = none
  std::atomic<std::uint32_t> wake;    // futex word
  std::atomic<std::uint32_t> sleeping;
  std::atomic<std::uint64_t> one_off;  // ticket + 1 while that ticket writes one at a time
};

struct GateShared {
  alignas(64) std::atomic<std::uint64_t> next_ticket;
  alignas(64) std::atomic<std::uint64_t> serving;
  std::atomic<std::uint64_t> parked;
  std::atomic<std::uint64_t> lease_start_ns;
  std::atomic<std::uint64_t> parked_at_ns;
  GateSlot slots[62];
};

inline constexpr std::size_t kGateBytes = 4096;
inline constexpr int kGateSlots = 62;
static_assert(sizeof(GateShared) == kGateBytes);
// The layout that handles built before `one_off` existed use too.
static_assert(sizeof(GateSlot) == 64);
static_assert(offsetof(GateSlot, ticket) == 0 && offsetof(GateSlot, wake) == 8 &&
              offsetof(GateSlot, sleeping) == 12 && offsetof(GateSlot, one_off) == 16);
static_assert(offsetof(GateShared, serving) == 64 && offsetof(GateShared, slots) == 128);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

// monotonic_ns: CLOCK_MONOTONIC, comparable across processes on one machine.
inline std::uint64_t monotonic_ns() noexcept {
  struct timespec ts {};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

// WritePace: how one process writes on one gate: when it last released the
// turn, and moving averages (each write weighs a quarter) of the time from
// a release to its next request for the turn (idle) and from a request to
// its release (waiting for and holding the turn). Kept for the process,
// not the handle, so that a process that writes through a new connection
// each time is known as a loop writer.
struct WritePace {
  std::uint64_t released_ns = 0;  // 0: this process never released the turn here
  std::uint64_t requested_ns = 0;
  std::uint64_t idle_ns = 0;
  std::uint64_t busy_ns = 0;

  // requested: a request for the turn at `now`; returns whether the process
  // writes one at a time.
  bool requested(std::uint64_t now) noexcept {
    requested_ns = now;
    if (released_ns == 0) return true;
    idle_ns = average(idle_ns, now - std::min(now, released_ns));
    return idle_ns >= busy_ns;
  }
  // released: the turn released at `now`, requested at requested_ns.
  void released(std::uint64_t now) noexcept {
    const std::uint64_t busy = now - std::min(now, requested_ns);
    busy_ns = released_ns == 0 ? busy : average(busy_ns, busy);
    if (released_ns == 0) idle_ns = busy;  // no idle sample yet: neither side wins at once
    released_ns = now;
  }

 private:
  static std::uint64_t average(std::uint64_t avg, std::uint64_t sample) noexcept {
    return avg - avg / 4 + sample / 4;
  }
};

// PaceRecord: each gate's WritePace as this process's handles left it when
// they closed. Thread-safe.
class PaceRecord {
 public:
  static WritePace get(const std::string& gate) noexcept {
    const std::lock_guard<std::mutex> lock(mu());
    const auto it = map().find(gate);
    return it == map().end() ? WritePace{} : it->second;
  }
  static void set(const std::string& gate, const WritePace& pace) noexcept {
    try {
      const std::lock_guard<std::mutex> lock(mu());
      WritePace& v = map()[gate];
      if (pace.released_ns >= v.released_ns) v = pace;
    } catch (...) {  // out of memory: the next handle looks like a one-off writer
    }
  }

 private:
  static std::mutex& mu() noexcept {
    static std::mutex m;
    return m;
  }
  static std::unordered_map<std::string, WritePace>& map() noexcept {
    static std::unordered_map<std::string, WritePace> m;
    return m;
  }
};

// WriteTurn: one handle's place in the queue. One thread at a time.
class WriteTurn {
 public:
  static constexpr std::chrono::microseconds kCheckInterval{5000};
  static constexpr std::chrono::microseconds kReturnWindow{100};
  static constexpr std::chrono::microseconds kOrphanGrace{20000};
  // kOneOffLease: the lease while the next in line writes one at a time.
  // Measured with tools/bench/db's paced mix (a loop writer and four
  // processes writing 100 times a second each, through a new connection
  // each time): with the 13 ms lease those processes waited for the turn
  // 5-9 ms at the median and 10-20 ms at their p99, nearly all of their
  // time; with 2 ms their p99 was 4.4 ms and the loop writer kept the same
  // share of its rate, which the writes themselves cost, not the hand-offs.
  static constexpr std::chrono::microseconds kOneOffLease{2000};
  // kHandoffSpin: how long the next in line watches, awake, for a hand-off
  // that is due at the end of the holder's transaction (see handoff_due).
  // Measured with tools/bench/db's paced mix: a command-line write holds the
  // turn for about 150 us, and a waiter woken from its futex sleep took tens
  // of microseconds more to run on this virtual machine, twice per write
  // (the command-line process when the loop writer passed it the turn, the
  // loop writer when it came back); watching for both hand-offs took the
  // loop writer's wait for the turn, in the mix's write quarters, from
  // 8-12% of its time to 5-8% (twelve rounds of each build, alternating).
  static constexpr std::chrono::microseconds kHandoffSpin{300};
  static constexpr std::uint64_t kHandoffSpinNs =
      static_cast<std::uint64_t>(kHandoffSpin.count()) * 1000u;
  static constexpr std::uint64_t kReturnWindowNs =
      static_cast<std::uint64_t>(kReturnWindow.count()) * 1000u;

  WriteTurn() = default;
  WriteTurn(const WriteTurn&) = delete;
  WriteTurn& operator=(const WriteTurn&) = delete;
  ~WriteTurn() { close(); }

  // open: maps the gate file and claims a free slot. `lease`: how long a
  // holder may keep the turn across consecutive transactions while others
  // wait (0: pass it on after every transaction); `one_off_lease`: the same
  // while the next in line writes one at a time (at most `lease`; equal to
  // it: no difference). Returns false (the handle stays unusable; writers
  // then rely on SQLite alone) when the file cannot be made or every slot is
  // taken. Never throws.
  bool open(const std::string& db_path, std::chrono::microseconds lease,
            std::chrono::microseconds one_off_lease = kOneOffLease) noexcept {
    close();
    lease_ns_ = static_cast<std::uint64_t>(lease.count()) * 1000u;
    one_off_lease_ns_ =
        std::min(lease_ns_, static_cast<std::uint64_t>(one_off_lease.count()) * 1000u);
    const std::string path = gate_path(db_path);
    gate_ = path;
    pace_ = PaceRecord::get(gate_);
    checked_next_ = 0;
    unusable_ = Unusable::kNoGate;
    fd_ = open_cloexec(path, O_RDWR | O_CREAT | O_NOFOLLOW, sidecar_mode(db_path));
    if (!fd_.valid()) return false;
    struct stat st {};
    if (::fstat(fd_.get(), &st) != 0) return fail();
    if (static_cast<std::size_t>(st.st_size) < kGateBytes &&
        ::ftruncate(fd_.get(), static_cast<off_t>(kGateBytes)) != 0) {
      return fail();
    }
    void* p = ::mmap(nullptr, kGateBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
    if (p == MAP_FAILED) return fail();
    shared_ = static_cast<GateShared*>(p);
    const int start = static_cast<int>(::getpid() % kGateSlots);
    for (int k = 0; k < kGateSlots; ++k) {
      const int i = (start + k) % kGateSlots;
      if (lock_byte(i)) {
        slot_ = i;
        break;
      }
    }
    if (slot_ < 0) {
      fail();
      unusable_ = Unusable::kNoSlot;
      return false;
    }
    unusable_ = Unusable::kNo;
    // A ticket left in this slot belongs to a dead owner; if it owns the
    // turn, pass it on now rather than after the orphan grace.
    my().sleeping.store(0);
    my().one_off.store(0);
    const std::uint64_t stale = my().ticket.exchange(0);
    if (stale != 0) {
      std::uint64_t p1 = stale;
      shared_->parked.compare_exchange_strong(p1, 0);
      advance_from(stale - 1);
    }
    return true;
  }

  bool usable() const noexcept { return shared_ != nullptr && slot_ >= 0; }

  // one_off: whether this handle's last acquire was for a write that comes
  // one at a time (see WritePace).
  bool one_off() const noexcept { return one_off_; }

  // Unusable: why open() left the handle unusable: kNoGate (the gate file
  // could not be opened, sized or mapped), kNoSlot (every slot was taken);
  // kNo after a successful open.
  enum class Unusable { kNo, kNoGate, kNoSlot };
  Unusable unusable() const noexcept { return unusable_; }

  // acquire: waits for this handle's turn until `deadline`. Returns the time
  // waited; `*got` says whether the turn was obtained (false: the deadline
  // passed, the ticket was withdrawn and the caller proceeds on SQLite's
  // locks alone).
  std::chrono::microseconds acquire(Clock::time_point deadline, bool* got) {
    *got = false;
    if (!usable()) return std::chrono::microseconds(0);
    GateShared& g = *shared_;
    GateSlot& me = my();
    // Writing back to back: this handle comes back within the return window
    // of its last release (a loop writer, a group-commit thread), so parking
    // the turn for it pays off. A handle that writes once and goes (a
    // command-line process) passes the turn on at once instead.
    const std::uint64_t now_ns = monotonic_ns();
    back_to_back_ = released_at_ns_ != 0 && now_ns - released_at_ns_ < kReturnWindowNs;
    one_off_ = pace_.requested(now_ns);
    if (parked_) {
      parked_ = false;
      std::uint64_t expected = ticket_ + 1;
      const bool keep = !(someone_queued(ticket_) && (lease_over() || one_off_due()));
      if (keep && g.parked.compare_exchange_strong(expected, 0)) {
        held_ = true;
        held_since_ns_ = now_ns;
        *got = true;
        return std::chrono::microseconds(0);
      }
      expected = ticket_ + 1;
      if (g.parked.compare_exchange_strong(expected, 0)) advance_from(ticket_);
      me.ticket.store(0);
    }
    const auto start = Clock::now();
    for (;;) {
      const std::uint64_t t = g.next_ticket.fetch_add(1);
      // Before the ticket, so a holder that finds the ticket sees the mark.
      me.one_off.store(one_off_ ? t + 1 : 0);
      me.ticket.store(t + 1);
      ticket_ = t;
      switch (wait_for(t, deadline)) {
        case Wait::kServed:
          return granted(got, elapsed(start));
        case Wait::kDeadline:
          withdraw();
          return elapsed(start);
        case Wait::kSkipped:
          // Taken for an orphan: this process was kept from publishing its
          // ticket for longer than kOrphanGrace. Queue again.
          me.ticket.store(0);
          break;
      }
    }
  }

  // release: after a transaction. Keeps (parks) the turn while the lease
  // runs or nobody queued; otherwise passes it to the next ticket. Never
  // throws.
  void release() noexcept {
    if (!held_) return;
    held_ = false;
    released_at_ns_ = monotonic_ns();
    last_held_ns_ = released_at_ns_ - std::min(released_at_ns_, held_since_ns_);
    pace_.released(released_at_ns_);
    if (shared_->serving.load() != ticket_) {
      // The turn moved on without us (a waiter took this handle for dead):
      // parking now would overwrite the real holder's state.
      my().ticket.store(0);
      return;
    }
    if (someone_queued(ticket_) && (lease_over() || !back_to_back_ || one_off_due())) {
      pass_on();
      return;
    }
    shared_->parked_at_ns.store(monotonic_ns());
    shared_->parked.store(ticket_ + 1);
    parked_ = true;
  }

  // nudge: the holder of a parked turn is about to be busy elsewhere for a
  // while (a checkpoint). Wakes the next in line, which may have gone to
  // sleep while the turn was held and would otherwise notice the parked
  // turn only at its next timeout; it claims the turn once the return window
  // ends. Never throws.
  void nudge() noexcept {
    if (parked_ && someone_queued(ticket_)) wake_owner(ticket_ + 1);
  }

  // let_go: gives the turn up for real (also a parked one), e.g. before the
  // connection closes or goes idle. Never throws.
  void let_go() noexcept {
    if (held_) {
      held_ = false;
      const std::uint64_t now = monotonic_ns();
      last_held_ns_ = now - std::min(now, held_since_ns_);
      pass_on();
    } else if (parked_) {
      parked_ = false;
      std::uint64_t expected = ticket_ + 1;
      if (shared_->parked.compare_exchange_strong(expected, 0)) advance_from(ticket_);
      my().ticket.store(0);
    }
  }

  // last_held: how long the turn was held for the last transaction, from
  // its grant (or its take-back from parked) to its release or let_go.
  std::chrono::microseconds last_held() const noexcept {
    return std::chrono::microseconds(last_held_ns_ / 1000);
  }

  // waiters: how many tickets are queued behind the current one (diagnostics).
  std::uint64_t waiters() const noexcept {
    if (!usable()) return 0;
    const std::uint64_t n = shared_->next_ticket.load();
    const std::uint64_t s = shared_->serving.load();
    return n > s + 1 ? n - s - 1 : 0;
  }

  void close() noexcept {
    if (usable()) {
      let_go();
      my().one_off.store(0);
      my().ticket.store(0);
    }
    if (pace_.released_ns != 0) PaceRecord::set(gate_, pace_);
    if (shared_ != nullptr) ::munmap(shared_, kGateBytes);
    shared_ = nullptr;
    slot_ = -1;
    fd_.reset();  // drops the OFD slot lock
  }

 private:
  enum class Wait { kServed, kSkipped, kDeadline };

  // wait_for: sleeps until ticket `t` is served, was skipped, or `deadline`.
  Wait wait_for(std::uint64_t t, Clock::time_point deadline) {
    GateShared& g = *shared_;
    GateSlot& me = my();
    std::uint64_t s = g.serving.load();
    if (s >= t) return s == t ? Wait::kServed : Wait::kSkipped;
    std::uint64_t watched = s;
    auto watched_since = Clock::now();
    auto orphan_since = Clock::time_point::max();
    // The lease for which this waiter already took its early look (at the
    // end of the return window) behind a parked turn: after that one look it
    // sleeps to the end of the lease, so a holder that writes back to back is
    // not polled every return window.
    std::uint64_t looked_early = 0;
    for (;;) {
      const std::uint32_t w = me.wake.load();
      me.sleeping.store(1);
      s = g.serving.load();
      if (s >= t) break;
      const auto now = Clock::now();
      if (now >= deadline) {
        me.sleeping.store(0);
        return Wait::kDeadline;
      }
      auto wait = std::chrono::duration_cast<std::chrono::microseconds>(deadline - now);
      if (wait > kCheckInterval) wait = kCheckInterval;
      if (t - s == 1 && handoff_due(s)) {
        // The holder passes the turn to us at the end of the transaction it
        // is in: watch for it awake instead of being woken (which costs a
        // scheduling delay while every other writer waits), for at most
        // kHandoffSpin.
        me.sleeping.store(0);
        if (spin_for(t, deadline)) {
          s = g.serving.load();
          break;
        }
        continue;
      }
      if (t - s == 1 && g.parked.load() == s + 1) {
        // Next in line behind a parked turn: claim it once its lease is over
        // or its holder has stayed away for the return window; else sleep
        // until then (passing the turn on wakes us sooner).
        const std::uint64_t now_ns = monotonic_ns();
        const std::uint64_t lease_start = g.lease_start_ns.load();
        const std::uint64_t lease_end = lease_start + waiter_lease_ns();
        const std::uint64_t claim_at = parked_claimable_at();
        if (now_ns >= claim_at) {
          me.sleeping.store(0);
          claim_parked(s);
          continue;
        }
        std::uint64_t until = lease_end;
        if (looked_early != lease_start) {
          looked_early = lease_start;
          until = claim_at;
        }
        const auto left = std::chrono::microseconds((until - now_ns) / 1000 + 1);
        if (left < wait) wait = left;
      }
      futex_wait(&me.wake, w, wait);
      me.sleeping.store(0);
      s = g.serving.load();
      if (s >= t) break;
      const auto after = Clock::now();
      if (s != watched) {
        watched = s;
        watched_since = after;
        orphan_since = Clock::time_point::max();
        continue;
      }
      if (after - watched_since < kCheckInterval) continue;
      // The serving ticket has not moved for a while: is its owner alive?
      const int owner = find_owner(s);
      if (owner >= 0) {
        orphan_since = Clock::time_point::max();
        if (!owner_alive(owner)) {
          claim_parked(s);
          advance_from(s);
        } else if (g.parked.load() == s + 1 && monotonic_ns() >= parked_claimable_at() &&
                   !ticket_owner_alive(s + 1)) {
          // Parked by a live holder that stayed away, and the next in line,
          // who would claim it, died or gave up: any waiter claims it. (While
          // the next in line lives, claiming is left to it: it takes one
          // early look per lease, where waiters further back, polling, would
          // take the turn from a busy holder preempted for a moment.)
          claim_parked(s);
        }
      } else if (orphan_since == Clock::time_point::max()) {
        orphan_since = after;
      } else if (after - orphan_since >= kOrphanGrace) {
        claim_parked(s);
        advance_from(s);
        orphan_since = Clock::time_point::max();
      }
    }
    me.sleeping.store(0);
    return s == t ? Wait::kServed : Wait::kSkipped;
  }

  // handoff_due: this handle is next in line and the holder of ticket `s`,
  // in a transaction (not parked), passes the turn on at the end of it:
  // either this handle writes one at a time and the holder's one-off lease
  // is over (a holder built before the mark ignores it and keeps its full
  // lease; spin_for then gives up), or the holder writes one at a time (one
  // transaction, then it passes the turn on). Once per ticket.
  bool handoff_due(std::uint64_t s) noexcept {
    if (spun_for_ == s + 1 || shared_->parked.load() == s + 1) return false;
    if (one_off_) {
      if (monotonic_ns() - shared_->lease_start_ns.load() < one_off_lease_ns_) return false;
    } else {
      const int i = find_owner(s);
      if (i < 0 || shared_->slots[i].one_off.load() != s + 1) return false;
    }
    spun_for_ = s + 1;
    return true;
  }

  // spin_for: polls `serving` for ticket `t` for at most kHandoffSpin, and
  // not past `deadline`. Returns whether it was served.
  bool spin_for(std::uint64_t t, Clock::time_point deadline) noexcept {
    const std::uint64_t until = monotonic_ns() + kHandoffSpinNs;
    for (;;) {
      const std::uint64_t s = shared_->serving.load();
      if (s >= t) return s == t;
      if (shared_->parked.load() == s + 1 || monotonic_ns() >= until || Clock::now() >= deadline) {
        return false;
      }
      for (int k = 0; k < 8; ++k) cpu_relax();
      // Lets whatever else is ready on this CPU run (the holder, if it was
      // woken here), at the cost of a system call when nothing is.
      ::sched_yield();
    }
  }

  static void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  }

  // parked_claimable_at: when a waiter may claim the parked turn: once its
  // lease is over, or once its holder has been away for the return window.
  std::uint64_t parked_claimable_at() const noexcept {
    return std::min(shared_->lease_start_ns.load() + waiter_lease_ns(),
                    shared_->parked_at_ns.load() + kReturnWindowNs);
  }

  // waiter_lease_ns: the lease this handle, waiting, lets a parked holder have.
  std::uint64_t waiter_lease_ns() const noexcept {
    return one_off_ ? one_off_lease_ns_ : lease_ns_;
  }

  // one_off_due: the holder's one-off lease is over and the next in line
  // writes one at a time. (Checked on every release while someone waits: a
  // scan of the slots, once the one-off lease is over; the answer for a
  // ticket whose owner was found is kept.)
  bool one_off_due() noexcept {
    if (monotonic_ns() - shared_->lease_start_ns.load() < one_off_lease_ns_) return false;
    const std::uint64_t next = ticket_ + 1;
    if (checked_next_ == next + 1) return next_one_off_;
    const int i = find_owner(next);
    if (i < 0) return false;  // not published yet
    next_one_off_ = shared_->slots[i].one_off.load() == next + 1;
    checked_next_ = next + 1;
    return next_one_off_;
  }

  static std::chrono::microseconds elapsed(Clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
  }

  std::chrono::microseconds granted(bool* got, std::chrono::microseconds waited) noexcept {
    held_since_ns_ = monotonic_ns();
    shared_->lease_start_ns.store(held_since_ns_);
    held_ = true;
    *got = true;
    return waited;
  }

  bool someone_queued(std::uint64_t t) const noexcept {
    return shared_->next_ticket.load() > t + 1;
  }

  bool lease_over() const noexcept {
    return monotonic_ns() - shared_->lease_start_ns.load() >= lease_ns_;
  }

  void pass_on() noexcept {
    advance_from(ticket_);
    my().ticket.store(0);
  }

  // claim_parked: takes a parked turn of ticket `s` away from its owner and
  // passes it on.
  void claim_parked(std::uint64_t s) noexcept {
    std::uint64_t expected = s + 1;
    if (shared_->parked.compare_exchange_strong(expected, 0)) advance_from(s);
  }

  bool fail() noexcept {
    if (shared_ != nullptr) ::munmap(shared_, kGateBytes);
    shared_ = nullptr;
    slot_ = -1;
    fd_.reset();
    return false;
  }

  GateSlot& my() noexcept { return shared_->slots[slot_]; }

  bool lock_byte(int i) noexcept {
    struct flock fl {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = i;
    fl.l_len = 1;
    fl.l_pid = 0;
    return ::fcntl(fd_.get(), F_OFD_SETLK, &fl) == 0;
  }

  bool owner_alive(int i) noexcept {
    if (i == slot_) return true;
    struct flock fl {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = i;
    fl.l_len = 1;
    fl.l_pid = 0;
    if (::fcntl(fd_.get(), F_OFD_GETLK, &fl) != 0) return true;  // cannot tell: assume alive
    return fl.l_type != F_UNLCK;
  }

  bool ticket_owner_alive(std::uint64_t ticket) noexcept {
    const int i = find_owner(ticket);
    return i >= 0 && owner_alive(i);
  }

  int find_owner(std::uint64_t ticket) noexcept {
    for (int i = 0; i < kGateSlots; ++i) {
      if (shared_->slots[i].ticket.load() == ticket + 1) return i;
    }
    return -1;
  }

  // advance_from: if `ticket` owns the turn, pass it to the next ticket and
  // wake that one's owner.
  void advance_from(std::uint64_t ticket) noexcept {
    std::uint64_t expected = ticket;
    if (!shared_->serving.compare_exchange_strong(expected, ticket + 1)) return;
    wake_owner(ticket + 1);
  }

  void wake_owner(std::uint64_t ticket) noexcept {
    const int i = find_owner(ticket);
    if (i < 0) return;  // not published yet: its owner reads `serving` after publishing
    GateSlot& s = shared_->slots[i];
    s.wake.fetch_add(1);
    if (s.sleeping.load() != 0) futex_wake(&s.wake, 1);
  }

  // withdraw: gives up a ticket that was not served before the deadline.
  void withdraw() noexcept {
    my().ticket.store(0);
    advance_from(ticket_);  // in case it became our turn meanwhile
  }

  UniqueFd fd_;
  GateShared* shared_ = nullptr;
  int slot_ = -1;
  std::uint64_t ticket_ = 0;
  std::uint64_t lease_ns_ = 0;
  bool held_ = false;
  bool parked_ = false;
  bool back_to_back_ = false;
  std::uint64_t released_at_ns_ = 0;
  std::uint64_t held_since_ns_ = 0;  // when the current hold began
  std::uint64_t last_held_ns_ = 0;
  std::uint64_t one_off_lease_ns_ = 0;
  bool one_off_ = false;            // this handle's current ticket writes one at a time
  WritePace pace_;                  // this process's, as of this handle's open
  std::uint64_t checked_next_ = 0;  // the next ticket + 1 whose mark was read (0: none)
  std::uint64_t spun_for_ = 0;      // the holder's ticket + 1 spin_for last watched
  bool next_one_off_ = false;
  std::string gate_;
  Unusable unusable_ = Unusable::kNoGate;
};

}  // namespace coordkit::db::internal

#endif  // COORDKIT_DB_INTERNAL_WRITE_TURN_H_

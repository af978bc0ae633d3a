// Internal: the cross-process write turn, a FIFO ticket queue in a small
// shared-memory file `<db>.coordkit-gate` that library writers pass before
// BEGIN IMMEDIATE (see database.h, "Fair write turn", for why).
//
// Layout (4096 bytes, MAP_SHARED; all zero is the valid initial state, so the
// file needs no initialisation and a truncated or fresh file is fine):
//   [0, 64)     next_ticket  the next ticket to hand out
//   [64, 128)   serving      the ticket that may write now
//   [128, 4096) 62 slots of 64 bytes: ticket+1 of the handle that owns the
//               slot (0 = none), a futex word it sleeps on, a "sleeping" flag
// Slot ownership is an OFD write lock on byte i of the file (advisory, so it
// does not care that the byte also holds data). OFD locks belong to the open
// file description, so they neither disturb nor are disturbed by SQLite's
// fcntl locks on the database file, and the kernel drops them when the owner
// dies: a slot whose lock is free belongs to nobody.
//
// Protocol. acquire: t = next_ticket++; slot.ticket = t+1; wait until
// serving >= t. release: CAS serving t -> t+1, then wake the slot that holds
// ticket t+1 (one futex wake, only if it sleeps). Publishing the ticket and
// reading `serving` are sequentially consistent on both sides, so a waiter
// either sees its turn or is woken.
// Liveness. A waiter that sees `serving` unchanged for kCheckInterval checks
// who holds it: a slot whose OFD lock is free (owner died) is skipped at once;
// a ticket that no slot claims for kOrphanGrace (owner died between taking
// and publishing it, or gave up) is skipped too. Skipping is safe because the
// turn is only advisory: SQLite's own locks still exclude writers.
#ifndef COORDKIT_DB_INTERNAL_WRITE_TURN_H_
#define COORDKIT_DB_INTERNAL_WRITE_TURN_H_

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "coordkit/db/internal/posix.h"

namespace coordkit::db::internal {

inline std::string gate_path(const std::string& db_path) { return db_path + ".coordkit-gate"; }

struct alignas(64) GateSlot {
  std::atomic<std::uint64_t> ticket;  // ticket + 1, 0 = none
  std::atomic<std::uint32_t> wake;    // futex word
  std::atomic<std::uint32_t> sleeping;
};

struct GateShared {
  alignas(64) std::atomic<std::uint64_t> next_ticket;
  alignas(64) std::atomic<std::uint64_t> serving;
  GateSlot slots[62];
};

inline constexpr std::size_t kGateBytes = 4096;
inline constexpr int kGateSlots = 62;
static_assert(sizeof(GateShared) == kGateBytes);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

// WriteTurn: one handle's place in the queue. One thread at a time.
class WriteTurn {
 public:
  static constexpr std::chrono::microseconds kCheckInterval{5000};
  static constexpr std::chrono::microseconds kOrphanGrace{20000};

  WriteTurn() = default;
  WriteTurn(const WriteTurn&) = delete;
  WriteTurn& operator=(const WriteTurn&) = delete;
  ~WriteTurn() { close(); }

  // open: maps the gate file and claims a free slot. Returns false (and the
  // handle stays unusable, writers then rely on SQLite alone) when the file
  // cannot be made or every slot is taken. Never throws.
  bool open(const std::string& db_path) noexcept {
    close();
    const std::string path = gate_path(db_path);
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
      if (lock_byte(i, F_WRLCK, F_OFD_SETLK)) {
        slot_ = i;
        break;
      }
    }
    if (slot_ < 0) return fail();
    // A ticket left in this slot belongs to a dead owner; if it is being
    // served, pass the turn on now rather than after the orphan grace.
    const std::uint64_t stale = my().ticket.exchange(0);
    if (stale != 0) advance_from(stale - 1);
    return true;
  }

  bool usable() const noexcept { return shared_ != nullptr && slot_ >= 0; }

  // acquire: waits for this handle's turn until `deadline`. Returns the time
  // waited; `*got` says whether the turn was obtained (false: the deadline
  // passed, the ticket was withdrawn and the caller proceeds on SQLite's
  // locks alone).
  std::chrono::microseconds acquire(Clock::time_point deadline, bool* got) {
    *got = false;
    if (!usable()) return std::chrono::microseconds(0);
    GateShared& g = *shared_;
    GateSlot& me = my();
    const std::uint64_t t = g.next_ticket.fetch_add(1);
    me.ticket.store(t + 1);
    ticket_ = t;
    std::uint64_t s = g.serving.load();
    if (s >= t) {
      held_ = true;
      *got = true;
      return std::chrono::microseconds(0);
    }
    const auto start = Clock::now();
    // Spin briefly: a transaction takes tens of microseconds, and staying on
    // the CPU avoids a wake-up latency on the critical path.
    for (int i = 0; i < kSpins; ++i) {
      cpu_relax();
      if (g.serving.load() >= t) {
        held_ = true;
        *got = true;
        return elapsed(start);
      }
    }
    std::uint64_t watched = s;
    auto watched_since = Clock::now();
    auto orphan_since = Clock::time_point::max();
    for (;;) {
      const std::uint32_t w = me.wake.load();
      me.sleeping.store(1);
      s = g.serving.load();
      if (s >= t) break;
      const auto now = Clock::now();
      if (now >= deadline) {
        me.sleeping.store(0);
        withdraw();
        return elapsed(start);
      }
      auto wait = std::chrono::duration_cast<std::chrono::microseconds>(deadline - now);
      if (wait > kCheckInterval) wait = kCheckInterval;
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
        if (!owner_alive(owner)) advance_from(s);
      } else if (orphan_since == Clock::time_point::max()) {
        orphan_since = after;
      } else if (after - orphan_since >= kOrphanGrace) {
        advance_from(s);
        orphan_since = Clock::time_point::max();
      }
    }
    me.sleeping.store(0);
    held_ = true;
    *got = true;
    return elapsed(start);
  }

  // release: passes the turn to the next ticket. Never throws.
  void release() noexcept {
    if (!held_) return;
    held_ = false;
    advance_from(ticket_);
    my().ticket.store(0);
  }

  // waiters: how many tickets are queued behind the current one (diagnostics).
  std::uint64_t waiters() const noexcept {
    if (!usable()) return 0;
    const std::uint64_t n = shared_->next_ticket.load();
    const std::uint64_t s = shared_->serving.load();
    return n > s + 1 ? n - s - 1 : 0;
  }

  void close() noexcept {
    release();
    if (shared_ != nullptr) {
      if (slot_ >= 0) my().ticket.store(0);
      ::munmap(shared_, kGateBytes);
    }
    shared_ = nullptr;
    slot_ = -1;
    fd_.reset();  // drops the OFD slot lock
  }

 private:
  static constexpr int kSpins = 2000;

  static void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  }

  static std::chrono::microseconds elapsed(Clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
  }

  bool fail() noexcept {
    if (shared_ != nullptr) ::munmap(shared_, kGateBytes);
    shared_ = nullptr;
    slot_ = -1;
    fd_.reset();
    return false;
  }

  GateSlot& my() noexcept { return shared_->slots[slot_]; }

  bool lock_byte(int i, short type, int cmd) noexcept {
    struct flock fl {};
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = i;
    fl.l_len = 1;
    fl.l_pid = 0;
    return ::fcntl(fd_.get(), cmd, &fl) == 0;
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

  int find_owner(std::uint64_t ticket) noexcept {
    for (int i = 0; i < kGateSlots; ++i) {
      if (shared_->slots[i].ticket.load() == ticket + 1) return i;
    }
    return -1;
  }

  // advance_from: if `ticket` is being served, serve the next one and wake
  // its owner.
  void advance_from(std::uint64_t ticket) noexcept {
    std::uint64_t expected = ticket;
    if (!shared_->serving.compare_exchange_strong(expected, ticket + 1)) return;
    const int next = find_owner(ticket + 1);
    if (next < 0) return;  // not published yet: its owner reads `serving` after publishing
    GateSlot& s = shared_->slots[next];
    s.wake.fetch_add(1);
    if (s.sleeping.load() != 0) futex_wake(&s.wake, 1);
  }

  // withdraw: gives up a ticket that was not served before the deadline.
  void withdraw() noexcept {
    my().ticket.store(0);
    advance_from(ticket_);  // in case it became our turn meanwhile
  }

  Fd fd_;
  GateShared* shared_ = nullptr;
  int slot_ = -1;
  std::uint64_t ticket_ = 0;
  bool held_ = false;
};

}  // namespace coordkit::db::internal

#endif  // COORDKIT_DB_INTERNAL_WRITE_TURN_H_

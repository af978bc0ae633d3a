// Internal: the live counters, updated with relaxed atomics by the thread
// that owns the connection and read as a Counters snapshot by any thread.
#ifndef COORDKIT_DB_INTERNAL_COUNTERS_CELL_H_
#define COORDKIT_DB_INTERNAL_COUNTERS_CELL_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "coordkit/db/counters.h"
#include "coordkit/db/error.h"

namespace coordkit::db::internal {

class CountersCell {
 public:
  using U = std::atomic<std::uint64_t>;
  U transactions{0}, attempts{0}, retries_same{0}, reconnects{0}, waits{0}, wait_us{0};
  U busy_handler_waits{0}, busy_handler_wait_us{0}, turn_waits{0}, turn_wait_us{0};
  U surfaced_errors{0};
  std::array<U, kRetryClassCount> failures_by_class{};
  std::array<U, kErrorCodeCount> surfaced_by_code{};

  static void add(U& u, std::uint64_t n = 1) noexcept { u.fetch_add(n, std::memory_order_relaxed); }

  void failure(RetryClass c) noexcept { add(failures_by_class[static_cast<std::size_t>(c)]); }
  void surfaced(ErrorCode c) noexcept {
    add(surfaced_errors);
    add(surfaced_by_code[static_cast<std::size_t>(c)]);
  }

  Counters snapshot() const noexcept {
    Counters c;
    auto ld = [](const U& u) { return u.load(std::memory_order_relaxed); };
    c.transactions = ld(transactions);
    c.attempts = ld(attempts);
    c.retries_same = ld(retries_same);
    c.reconnects = ld(reconnects);
    c.waits = ld(waits);
    c.wait_us = ld(wait_us);
    c.busy_handler_waits = ld(busy_handler_waits);
    c.busy_handler_wait_us = ld(busy_handler_wait_us);
    c.turn_waits = ld(turn_waits);
    c.turn_wait_us = ld(turn_wait_us);
    c.surfaced_errors = ld(surfaced_errors);
    for (std::size_t i = 0; i < kRetryClassCount; ++i)
      c.failures_by_class[i] = ld(failures_by_class[i]);
    for (std::size_t i = 0; i < kErrorCodeCount; ++i)
      c.surfaced_by_code[i] = ld(surfaced_by_code[i]);
    return c;
  }
};

}  // namespace coordkit::db::internal

#endif  // COORDKIT_DB_INTERNAL_COUNTERS_CELL_H_

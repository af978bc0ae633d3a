// Internal: the live counters, updated with relaxed atomics by the thread
// that owns the connection and read as a Counters snapshot by any thread.
// Its fields come from COORDKIT_DB_COUNTER_FIELDS (counters.h).
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
#define COORDKIT_DB_COUNTER_CELL(name, description) U name{0};
  COORDKIT_DB_COUNTER_FIELDS(COORDKIT_DB_COUNTER_CELL)
#undef COORDKIT_DB_COUNTER_CELL
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
#define COORDKIT_DB_COUNTER_LOAD(name, description) c.name = ld(name);
    COORDKIT_DB_COUNTER_FIELDS(COORDKIT_DB_COUNTER_LOAD)
#undef COORDKIT_DB_COUNTER_LOAD
    for (std::size_t i = 0; i < kRetryClassCount; ++i)
      c.failures_by_class[i] = ld(failures_by_class[i]);
    for (std::size_t i = 0; i < kErrorCodeCount; ++i)
      c.surfaced_by_code[i] = ld(surfaced_by_code[i]);
    return c;
  }
};

}  // namespace coordkit::db::internal

#endif  // COORDKIT_DB_INTERNAL_COUNTERS_CELL_H_

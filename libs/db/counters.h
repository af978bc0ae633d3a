// coordkit/db/counters.h: what the retry ladder did, as a plain struct that a
// server or a stress tester can print or export at any time.
//
// Example:
//   coordkit::db::Counters c = db.counters();
//   std::printf("%llu retries, %llu reconnects\n",
//               static_cast<unsigned long long>(c.retries_same),
//               static_cast<unsigned long long>(c.reconnects));
#ifndef COORDKIT_DB_COUNTERS_H_
#define COORDKIT_DB_COUNTERS_H_

#include <array>
#include <cstddef>
#include <cstdint>

#include "coordkit/db/error.h"

namespace coordkit::db {

// Counters: monotonic totals since the Database (or Store) was opened. A
// snapshot: reading it never blocks the writer.
struct Counters {
  std::uint64_t transactions = 0;        // write()/read() calls that committed
  std::uint64_t attempts = 0;            // runs of a transaction (fn runs, including retries)
  std::uint64_t retries_same = 0;        // whole-transaction retries on the same connection
  std::uint64_t reconnects = 0;          // reconnections by the retry ladder (and forced ones)
  std::uint64_t waits = 0;               // backoff sleeps between attempts
  std::uint64_t wait_us = 0;             // total backoff sleep time
  std::uint64_t busy_handler_waits = 0;  // sleeps inside SQLite's busy handler
  std::uint64_t busy_handler_wait_us = 0;
  std::uint64_t turn_waits = 0;       // write-turn acquisitions that had to wait for another writer
  std::uint64_t turn_wait_us = 0;     // total time waited for the write turn
  std::uint64_t surfaced_errors = 0;  // errors thrown to callers (database errors only)
  std::uint64_t group_commits = 0;    // Store: batch transactions committed
  std::uint64_t group_commit_writes = 0;  // Store: caller writes inside those batches
  // failures_by_class: failed attempts by the retry class of their error.
  std::array<std::uint64_t, kRetryClassCount> failures_by_class{};
  // surfaced_by_code: surfaced errors by ErrorCode.
  std::array<std::uint64_t, kErrorCodeCount> surfaced_by_code{};

  // failures: failed attempts of class `c`.
  std::uint64_t failures(RetryClass c) const noexcept {
    return failures_by_class[static_cast<std::size_t>(c)];
  }
  // surfaced: surfaced errors with code `c`.
  std::uint64_t surfaced(ErrorCode c) const noexcept {
    return surfaced_by_code[static_cast<std::size_t>(c)];
  }

  // operator+=: sums two snapshots (a Store adds its writer's and readers').
  Counters& operator+=(const Counters& o) noexcept {
    transactions += o.transactions;
    attempts += o.attempts;
    retries_same += o.retries_same;
    reconnects += o.reconnects;
    waits += o.waits;
    wait_us += o.wait_us;
    busy_handler_waits += o.busy_handler_waits;
    busy_handler_wait_us += o.busy_handler_wait_us;
    turn_waits += o.turn_waits;
    turn_wait_us += o.turn_wait_us;
    surfaced_errors += o.surfaced_errors;
    group_commits += o.group_commits;
    group_commit_writes += o.group_commit_writes;
    for (std::size_t i = 0; i < failures_by_class.size(); ++i) {
      failures_by_class[i] += o.failures_by_class[i];
    }
    for (std::size_t i = 0; i < surfaced_by_code.size(); ++i) {
      surfaced_by_code[i] += o.surfaced_by_code[i];
    }
    return *this;
  }
};

}  // namespace coordkit::db

#endif  // COORDKIT_DB_COUNTERS_H_

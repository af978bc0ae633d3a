// coordkit/db/counters.h: what the retry ladder, the write turn and the
// Store did, as a plain struct that a server or a stress tester can print or
// export at any time.
//
// Example:
//   coordkit::db::Counters c = db.counters();
//   std::printf("%llu retries, %llu reconnects\n",
//               static_cast<unsigned long long>(c.retries_same),
//               static_cast<unsigned long long>(c.reconnects));
//   for (const coordkit::db::CounterField& f : coordkit::db::kCounterFields) {
//     std::printf("%.*s=%llu\n", static_cast<int>(f.name.size()), f.name.data(),
//                 static_cast<unsigned long long>(c.*f.member));
//   }
#ifndef COORDKIT_DB_COUNTERS_H_
#define COORDKIT_DB_COUNTERS_H_

#ifdef _WIN32
#error "libs/db is POSIX-only: Debian packages no SQLCipher for mingw"
#endif

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "coordkit/db/error.h"

// COORDKIT_DB_COUNTER_FIELDS: the one list of the scalar counters, as
// X(name, description). Counters, its field table kCounterFields and the
// library's live counters are all generated from it: adding a counter is
// adding a line here.
#define COORDKIT_DB_COUNTER_FIELDS(X)                                                           \
  X(transactions, "write()/read() calls of the caller that committed")                          \
  X(own_transactions, "the library's own read transactions: stats(), user_version(), checks")   \
  X(attempts, "runs of a transaction (fn runs, including retries)")                             \
  X(retries_same, "whole-transaction retries on the same connection")                           \
  X(reconnects, "reconnections by the retry ladder (and forced ones)")                          \
  X(waits, "backoff sleeps between attempts")                                                   \
  X(wait_us, "total backoff sleep time, microseconds")                                          \
  X(busy_handler_waits, "sleeps inside SQLite's busy handler")                                  \
  X(busy_handler_wait_us, "total busy handler sleep time, microseconds")                        \
  X(turn_waits, "write-turn acquisitions that had to wait for another writer")                  \
  X(turn_wait_us, "total time waited for the write turn, microseconds")                         \
  X(turn_held_us,                                                                               \
    "total time the write turn was held, from each grant to its release, microseconds")         \
  X(turn_timeouts, "write-turn waits that ran out at the call's deadline")                      \
  X(turn_skipped_no_slot, "writes that ran without the write turn: every gate slot was taken")  \
  X(turn_skipped_no_gate, "writes that ran without the write turn: the gate file did not open") \
  X(surfaced_errors, "errors thrown to callers (database errors only)")                         \
  X(group_commits, "Store: batch transactions committed")                                       \
  X(group_commit_writes, "Store: caller writes inside those batches")

namespace coordkit::db {

// Counters: monotonic totals since the Database (or Store) was opened. A
// snapshot: reading it never blocks the writer. Plain value; copyable.
struct Counters {
#define COORDKIT_DB_COUNTER_MEMBER(name, description) std::uint64_t name = 0;
  COORDKIT_DB_COUNTER_FIELDS(COORDKIT_DB_COUNTER_MEMBER)
#undef COORDKIT_DB_COUNTER_MEMBER
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
  Counters& operator+=(const Counters& o) noexcept;
};

// CounterField: one scalar counter: its name (as in the struct), the member,
// and what it counts.
struct CounterField {
  std::string_view name;
  std::uint64_t Counters::*member;
  std::string_view description;
};

// kCounterFields: every scalar counter of Counters, in declaration order,
// for exporters (JSON, metrics) that must not miss a new one.
inline constexpr CounterField kCounterFields[] = {
#define COORDKIT_DB_COUNTER_ENTRY(name, description) {#name, &Counters::name, description},
    COORDKIT_DB_COUNTER_FIELDS(COORDKIT_DB_COUNTER_ENTRY)
#undef COORDKIT_DB_COUNTER_ENTRY
};

inline Counters& Counters::operator+=(const Counters& o) noexcept {
  for (const CounterField& f : kCounterFields) this->*f.member += o.*f.member;
  for (std::size_t i = 0; i < failures_by_class.size(); ++i) {
    failures_by_class[i] += o.failures_by_class[i];
  }
  for (std::size_t i = 0; i < surfaced_by_code.size(); ++i) {
    surfaced_by_code[i] += o.surfaced_by_code[i];
  }
  return *this;
}

}  // namespace coordkit::db

#endif  // COORDKIT_DB_COUNTERS_H_

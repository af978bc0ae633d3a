// Internal: the retry ladder, the one loop that runs a transaction again
// after a transient failure: classify the error (error.h), back off with full
// jitter under the call's deadline, reconnect where the class says so, and
// surface what retrying cannot heal.
#ifndef COORDKIT_DB_INTERNAL_RETRY_H_
#define COORDKIT_DB_INTERNAL_RETRY_H_

#include <sqlcipher/sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>

#include "coordkit/db/error.h"
#include "coordkit/db/internal/counters_cell.h"
#include "coordkit/db/internal/deadline.h"
#include "coordkit/db/internal/function_ref.h"
#include "coordkit/db/internal/posix.h"
#include "coordkit/db/options.h"

namespace coordkit::db::internal {

// RetryLadder: a Database's retry policy and jitter source. One thread at a
// time (the Database's).
class RetryLadder {
 public:
  RetryLadder(const RetryPolicy& policy, CountersCell& counters)
      : policy_(policy),
        counters_(counters),
        rng_(policy.seed != 0 ? policy.seed : std::random_device{}()) {}

  // Attempt: one run of the transaction; sets `*in_open` while it reopens the
  // connection (so that NOTADB there is read as "the key no longer fits").
  using Attempt = FunctionRef<void(bool* in_open)>;

  // run: calls `attempt` until it returns, retrying transient Errors until
  // `deadline` (then kTimeout if the caller chose the deadline, kBusy if the
  // policy did); `drop_connection` closes the connection before a
  // reconnect-class retry; `diagnose` returns extra detail (a quick_check)
  // for a corruption that persisted. An Error{kTimeout} from `attempt` (a
  // wait inside it ran out) surfaces at once. Throws the surfaced Error
  // (counted); exceptions of other types from `attempt` propagate untouched.
  void run(const Deadline& deadline, Attempt attempt, FunctionRef<void()> drop_connection,
           FunctionRef<std::string()> diagnose) {
    int reconnects = 0;
    int backoff_step = 0;
    for (;;) {
      CountersCell::add(counters_.attempts);
      bool in_open = false;
      try {
        attempt(&in_open);
        return;
      } catch (const Error& e) {
        counters_.failure(e.retry_class());
        if (e.code() == ErrorCode::kTimeout) surface(e);
        switch (e.retry_class()) {
          case RetryClass::kPermanent:
            surface(e);
          case RetryClass::kRetrySameConnection:
            if (deadline.passed()) {
              if (deadline.from_caller) {
                surface(timeout_error("busy retries (" + std::string(e.what()) + ")",
                                      e.extended_code(), e.sql()));
              }
              surface(Error(ErrorCode::kBusy, e.retry_class(), e.extended_code(),
                            "gave up after the retry deadline: " + std::string(e.what()), e.sql()));
            }
            CountersCell::add(counters_.retries_same);
            backoff(backoff_step++, deadline.at);
            break;
          case RetryClass::kReconnect:
            if (reconnects >= policy_.max_reconnects || deadline.passed()) {
              surface_persistent(e, in_open, diagnose);
            }
            ++reconnects;
            CountersCell::add(counters_.reconnects);
            drop_connection();
            if (reconnects > 1) backoff(backoff_step++, deadline.at);
            break;
        }
      }
    }
  }

  // backoff: sleeps a full-jitter pause in [0, min(max_backoff,
  // initial_backoff * 2^step)], never past `deadline`.
  void backoff(int step, Clock::time_point deadline) {
    const auto initial = policy_.initial_backoff.count();
    const auto cap_max = policy_.max_backoff.count();
    const int shift = std::min(step, 20);
    auto cap = initial << shift;
    if (cap > cap_max || cap <= 0) cap = cap_max;
    std::uniform_int_distribution<long long> dist(0, std::max<long long>(cap, 0));
    auto pause = std::chrono::microseconds(dist(rng_));
    const auto remaining =
        std::chrono::duration_cast<std::chrono::microseconds>(deadline - Clock::now());
    if (pause > remaining) pause = std::max(remaining, std::chrono::microseconds(0));
    CountersCell::add(counters_.waits);
    CountersCell::add(counters_.wait_us, static_cast<std::uint64_t>(pause.count()));
    sleep_for(pause);
  }

  // surface: counts `e` as surfaced and throws it.
  [[noreturn]] void surface(const Error& e) {
    counters_.surfaced(e.code());
    throw e;
  }

 private:
  // surface_persistent: reconnect-class errors that reconnection did not
  // heal. If the key no longer reads the file, say so; otherwise add the
  // diagnosis for corruption and surface kCorrupt / kIo.
  [[noreturn]] void surface_persistent(const Error& e, bool failed_in_open,
                                       FunctionRef<std::string()> diagnose) {
    if (failed_in_open &&
        (e.primary_code() == SQLITE_NOTADB || e.primary_code() == SQLITE_CORRUPT)) {
      surface(Error(ErrorCode::kWrongKeyOrNotADatabase, RetryClass::kPermanent, e.extended_code(),
                    "the key no longer reads this database (rekeyed, replaced or damaged "
                    "after it was opened): " +
                        std::string(e.what()),
                    e.sql()));
    }
    const std::string detail = e.code() == ErrorCode::kCorrupt ? diagnose() : std::string();
    surface(Error(e.code(), e.retry_class(), e.extended_code(),
                  "persisted after " + std::to_string(policy_.max_reconnects) +
                      " reconnections: " + std::string(e.what()) + detail,
                  e.sql()));
  }

  const RetryPolicy& policy_;
  CountersCell& counters_;
  std::mt19937_64 rng_;
};

}  // namespace coordkit::db::internal

#endif  // COORDKIT_DB_INTERNAL_RETRY_H_

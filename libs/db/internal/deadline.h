// Internal: one call's deadline, resolved once from its CallOptions, and the
// timeout error every wait throws when it passes.
#ifndef COORDKIT_DB_INTERNAL_DEADLINE_H_
#define COORDKIT_DB_INTERNAL_DEADLINE_H_

#include <chrono>
#include <string>
#include <string_view>
#include <utility>

#include "coordkit/db/error.h"
#include "coordkit/db/internal/posix.h"
#include "coordkit/db/options.h"

namespace coordkit::db::internal {

// Deadline: when a call stops waiting, and whether the caller chose it
// (CallOptions::deadline: a miss is kTimeout) or the RetryPolicy did (busy
// contention that outlives it surfaces as kBusy).
struct Deadline {
  Clock::time_point at = Clock::time_point::max();
  bool from_caller = false;

  // passed: whether the deadline is behind us.
  bool passed() const noexcept { return Clock::now() >= at; }

  // resolve: the deadline of a call that starts now.
  static Deadline resolve(const CallOptions& call, std::chrono::milliseconds policy_deadline) {
    if (call.deadline) return Deadline{*call.deadline, true};
    return Deadline{Clock::now() + policy_deadline, false};
  }
};

// timeout_error: Error{kTimeout} for a call whose deadline passed while it
// waited for `waiting_for`; transient (retry class kRetrySameConnection).
inline Error timeout_error(std::string_view waiting_for, int extended_code = 0,
                           std::string sql = std::string()) {
  return Error(ErrorCode::kTimeout, RetryClass::kRetrySameConnection, extended_code,
               "the call's deadline passed while waiting for " + std::string(waiting_for),
               std::move(sql));
}

}  // namespace coordkit::db::internal

#endif  // COORDKIT_DB_INTERNAL_DEADLINE_H_

// coordkit/testing/deadline.h: a bound on a test's own run time and a
// bounded poll, `eventually(...)`, for conditions another process or thread
// makes true (testonly).
//
// Example:
//   const coordkit::testing::Deadline deadline(std::chrono::seconds(30));
//   REQUIRE(coordkit::testing::eventually([&] { return std::filesystem::exists(ready); }));
//   CHECK(child.wait_for(deadline.remaining()).has_value());
#ifndef COORDKIT_TESTING_DEADLINE_H_
#define COORDKIT_TESTING_DEADLINE_H_

#include <algorithm>
#include <chrono>
#include <thread>

namespace coordkit::testing {

// Deadline: a point in time `budget` after construction, on the steady
// clock. Copyable; thread-safe to read.
class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Deadline(std::chrono::milliseconds budget) : end_(Clock::now() + budget) {}

  // remaining: the time left, never negative (zero once passed).
  std::chrono::milliseconds remaining() const {
    return std::max(std::chrono::duration_cast<std::chrono::milliseconds>(end_ - Clock::now()),
                    std::chrono::milliseconds(0));
  }
  // expired: whether the deadline has passed.
  bool expired() const { return Clock::now() >= end_; }
  // time_point: the deadline itself.
  Clock::time_point time_point() const { return end_; }

 private:
  Clock::time_point end_;
};

// kEventuallyTimeout: the default bound of eventually(): long enough for a
// loaded machine under a sanitizer, short enough that a hang fails the test
// well before Bazel's own timeout.
inline constexpr std::chrono::milliseconds kEventuallyTimeout{10000};

// eventually: calls `condition` (a callable returning something
// bool-convertible) every `interval` until it returns true or `deadline`
// passes; returns whether it held. The condition is always checked once
// more after the deadline, so a condition that holds at the end is never
// reported as false. Sleeps between checks; never throws itself (what the
// condition throws propagates).
template <typename Condition>
bool eventually(Condition&& condition, const Deadline& deadline,
                std::chrono::milliseconds interval = std::chrono::milliseconds(2)) {
  while (!deadline.expired()) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::min(interval, deadline.remaining()));
  }
  return static_cast<bool>(condition());
}

template <typename Condition>
bool eventually(Condition&& condition, std::chrono::milliseconds timeout = kEventuallyTimeout,
                std::chrono::milliseconds interval = std::chrono::milliseconds(2)) {
  return eventually(condition, Deadline(timeout), interval);
}

}  // namespace coordkit::testing

#endif  // COORDKIT_TESTING_DEADLINE_H_

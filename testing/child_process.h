// coordkit/testing/child_process.h: processes a test starts, always stopped
// and reaped, even when a REQUIRE throws (testonly). Built on coordkit::spawn.
//
// ChildProcess owns a child: its destructor asks it to stop (SIGTERM), waits
// a bounded grace period, then kills it (SIGKILL) and reaps it. ProcessGuard
// does the same for a process that is not our child (a detached server a
// child started), through a PID-reuse-safe handle.
//
// Example:
//   coordkit::testing::ChildProcess server({
//       .executable = coordkit::testing::runfile("tests/ipc/test_server"),
//       .args = {"--runtime-dir", dir.string()},
//       .err = coordkit::spawn::Stdio::file(dir / "server.stderr"),
//   });
//   REQUIRE(coordkit::testing::eventually([&] { return ready(dir); }));
//   CHECK(server.stop().signal == SIGTERM);   // or: leave it to the destructor
#ifndef COORDKIT_TESTING_CHILD_PROCESS_H_
#define COORDKIT_TESTING_CHILD_PROCESS_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <utility>

#include "coordkit/spawn/spawn.h"

namespace coordkit::testing {

// kStopGrace: how long stop() and the destructors wait after SIGTERM before
// SIGKILL.
inline constexpr std::chrono::milliseconds kStopGrace{5000};

// ChildProcess: one spawned child. Move-only; use from one thread at a time.
class ChildProcess {
 public:
  // ChildProcess: spawns `command` (coordkit::spawn::spawn; throws its
  // spawn::Error when the program cannot start). `grace` bounds the
  // destructor's wait between SIGTERM and SIGKILL.
  explicit ChildProcess(const spawn::Command& command, std::chrono::milliseconds grace = kStopGrace)
      : child_(spawn::spawn(command)), grace_(grace) {}
  ChildProcess(ChildProcess&&) noexcept = default;
  ChildProcess& operator=(ChildProcess&& other) noexcept {
    if (this != &other) {
      stop_noexcept();
      child_ = std::move(other.child_);
      grace_ = other.grace_;
    }
    return *this;
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  // ~ChildProcess: stop(grace) unless the child already exited; never throws.
  ~ChildProcess() { stop_noexcept(); }

  // child: the spawn::Child, for its pipes and waits. Do not release() it.
  spawn::Child& child() { return child_; }
  // pid: for logs and for what the child reports; never for kill(2).
  std::int64_t pid() const noexcept { return child_.pid(); }

  // wait_for: the exit status, or nullopt if it still runs after `timeout`.
  std::optional<spawn::ExitStatus> wait_for(std::chrono::milliseconds timeout) {
    return child_.wait_for(timeout);
  }

  // stop: SIGTERM, up to `grace` for it to exit, then SIGKILL; always reaps
  // and returns how it ended (the first status if it had already exited).
  // Throws spawn::Error only for a moved-from ChildProcess.
  spawn::ExitStatus stop(std::chrono::milliseconds grace = kStopGrace) {
    if (std::optional<spawn::ExitStatus> done = child_.try_wait()) return *done;
    child_.terminate();
    if (std::optional<spawn::ExitStatus> done = child_.wait_for(grace)) return *done;
    child_.kill();
    return child_.wait();
  }

 private:
  void stop_noexcept() noexcept {
    if (child_.pid() == 0) return;
    try {
      stop(grace_);
    } catch (...) {
      // The spawn::Child destructor still kills and reaps it.
    }
  }

  spawn::Child child_;
  std::chrono::milliseconds grace_;
};

// ProcessGuard: stops a process that is not our child (it cannot be reaped
// here: its parent or init does) when the scope ends: SIGTERM, a bounded
// wait, SIGKILL, a bounded wait. Verified by identity (pid, start time,
// boot id), so a reused PID is never signalled. Move-only.
class ProcessGuard {
 public:
  ProcessGuard() = default;
  explicit ProcessGuard(spawn::ProcessIdentity identity,
                        std::chrono::milliseconds grace = kStopGrace)
      : identity_(std::move(identity)), grace_(grace) {}
  ProcessGuard(ProcessGuard&& other) noexcept
      : identity_(std::exchange(other.identity_, std::nullopt)), grace_(other.grace_) {}
  ProcessGuard& operator=(ProcessGuard&& other) noexcept {
    if (this != &other) {
      stop();
      identity_ = std::exchange(other.identity_, std::nullopt);
      grace_ = other.grace_;
    }
    return *this;
  }
  ProcessGuard(const ProcessGuard&) = delete;
  ProcessGuard& operator=(const ProcessGuard&) = delete;
  ~ProcessGuard() { stop(); }

  // guard: watch `identity` from now on (stopping the one guarded before).
  void guard(spawn::ProcessIdentity identity) {
    stop();
    identity_ = std::move(identity);
  }
  // dismiss: stop guarding (the test stopped it another way).
  void dismiss() noexcept { identity_.reset(); }

  // stop: stops the guarded process now, if it still runs; true if it is
  // gone afterwards (or was never there). Never throws.
  bool stop() noexcept {
    if (!identity_) return true;
    bool gone = true;
    try {
      if (std::optional<spawn::Process> process = spawn::Process::open(*identity_)) {
        process->terminate();
        gone = process->wait_for_exit(grace_);
        if (!gone) {
          process->kill();
          gone = process->wait_for_exit(grace_);
        }
      }
    } catch (...) {
      gone = false;
    }
    identity_.reset();
    return gone;
  }

 private:
  std::optional<spawn::ProcessIdentity> identity_;
  std::chrono::milliseconds grace_ = kStopGrace;
};

}  // namespace coordkit::testing

#endif  // COORDKIT_TESTING_CHILD_PROCESS_H_

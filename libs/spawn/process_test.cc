// coordkit::spawn::Process and the identity helpers: opening a process by
// identity, refusing a reused pid, stopping it; with and without pidfds.
#include "coordkit/spawn/process.h"

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <chrono>
#include <optional>

#include "coordkit/spawn/spawn.h"
#include "libs/spawn/spawn_test_util.h"

namespace sp = coordkit::spawn;
using namespace std::chrono_literals;
using sp::testing::helper;

namespace {

// PidfdMode: runs a test with pidfds (the normal Linux 5.3+ path) or as on
// an older kernel (start-time verification), restoring the mode after.
class PidfdMode {
 public:
  explicit PidfdMode(bool fallback) { sp::internal::pidfd_fallback_for_testing() = fallback; }
  ~PidfdMode() { sp::internal::pidfd_fallback_for_testing() = false; }
  PidfdMode(const PidfdMode&) = delete;
  PidfdMode& operator=(const PidfdMode&) = delete;
};

}  // namespace

TEST_CASE("self_identity names this process, this boot", "[process]") {
  sp::ProcessIdentity self = sp::self_identity();
  CHECK(self.pid == getpid());
  CHECK(self.start_time > 0);
  CHECK(self.boot_id == sp::current_boot_id());
  CHECK(self.boot_id.size() == 36);  // a UUID
  CHECK(sp::identity_of(getpid()) == self);
}

TEST_CASE("identity_of is nullopt for a pid with no live process", "[process]") {
  CHECK_FALSE(sp::identity_of(0).has_value());
  CHECK_FALSE(sp::identity_of(-1).has_value());
  CHECK_FALSE(sp::identity_of(std::int64_t{1} << 40).has_value());
  sp::Child child = sp::spawn(helper({"exit", "0"}));
  const std::int64_t pid = child.pid();
  REQUIRE(child.wait_for(20s).has_value());
  CHECK_FALSE(sp::identity_of(pid).has_value());
}

TEST_CASE("Process::open finds a live process and stops it through a verified handle",
          "[process]") {
  const bool fallback = GENERATE(false, true);
  CAPTURE(fallback);
  PidfdMode mode(fallback);
  sp::Child child = sp::spawn(helper({"sleep", "20000"}));
  std::optional<sp::Process> process = sp::Process::open(child.identity());
  REQUIRE(process.has_value());
  CHECK(process->pid() == child.pid());
  CHECK(process->running());
  auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(process->wait_for_exit(100ms));
  CHECK(std::chrono::steady_clock::now() - start >= 100ms);
  const bool use_kill = GENERATE(false, true);
  CHECK((use_kill ? process->kill() : process->terminate()));
  CHECK(process->wait_for_exit(20s));
  CHECK_FALSE(process->running());
  CHECK_FALSE(process->terminate());  // exited: nothing is signalled
  CHECK_FALSE(process->kill());
  CHECK(child.wait().signal == (use_kill ? SIGKILL : SIGTERM));
}

TEST_CASE(
    "Process::open refuses an identity whose start time or boot id does not match (a reused pid)",
    "[process]") {
  const bool fallback = GENERATE(false, true);
  CAPTURE(fallback);
  PidfdMode mode(fallback);
  // A live process holds the pid; the identity claims an older process.
  sp::Child stranger = sp::spawn(helper({"sleep", "20000"}));
  sp::ProcessIdentity real = stranger.identity();
  REQUIRE(sp::Process::open(real).has_value());  // control: the true identity opens

  sp::ProcessIdentity wrong_start = real;
  wrong_start.start_time -= 1;
  CHECK_FALSE(sp::Process::open(wrong_start).has_value());
  sp::ProcessIdentity wrong_boot = real;
  wrong_boot.boot_id = "00000000-0000-0000-0000-000000000000";
  CHECK_FALSE(sp::Process::open(wrong_boot).has_value());
  sp::ProcessIdentity no_boot = real;
  no_boot.boot_id.clear();  // unknown boot id: not checked
  CHECK(sp::Process::open(no_boot).has_value());

  CHECK_FALSE(stranger.wait_for(200ms).has_value());  // never signalled
  CHECK(stranger.kill());
  CHECK(stranger.wait().signal == SIGKILL);
}

TEST_CASE("Process::open of an exited process returns nullopt, zombie or reaped", "[process]") {
  const bool fallback = GENERATE(false, true);
  CAPTURE(fallback);
  PidfdMode mode(fallback);
  sp::Child child = sp::spawn(helper({"exit", "0"}));
  sp::ProcessIdentity id = child.identity();
  // Wait for it to become a zombie without reaping it.
  siginfo_t info{};
  REQUIRE(waitid(P_PID, static_cast<id_t>(child.pid()), &info, WEXITED | WNOWAIT) == 0);
  CHECK_FALSE(sp::Process::open(id).has_value());
  CHECK(child.wait().success());
  CHECK_FALSE(sp::Process::open(id).has_value());
  CHECK_FALSE(sp::Process::open(sp::ProcessIdentity{}).has_value());
}

TEST_CASE("a Child still works without pidfds: wait_for, terminate, kill after reaping",
          "[process]") {
  PidfdMode mode(true);
  sp::Child child = sp::spawn(helper({"sleep", "20000"}));
  CHECK_FALSE(child.wait_for(50ms).has_value());
  CHECK(child.terminate());
  std::optional<sp::ExitStatus> status = child.wait_for(20s);
  REQUIRE(status.has_value());
  CHECK(status->signal == SIGTERM);
  CHECK_FALSE(child.kill());
}

TEST_CASE("/proc/<pid>/stat parsing survives a command name with spaces and parentheses",
          "[process]") {
  std::optional<sp::internal::ProcStat> stat = sp::internal::parse_proc_stat(
      "123 (a) b (c)) S 1 123 123 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 1000 10");
  REQUIRE(stat.has_value());
  CHECK(stat->ppid == 1);
  CHECK(stat->pgrp == 123);
  CHECK(stat->session == 123);
  CHECK(stat->tty_nr == 0);
  CHECK(stat->start_time == 987654);
  CHECK_FALSE(stat->exited);
  CHECK(
      sp::internal::parse_proc_stat("1 (x) Z 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0")->exited);
  CHECK_FALSE(sp::internal::parse_proc_stat("garbage").has_value());
  CHECK_FALSE(sp::internal::parse_proc_stat("1 (x) S 1 2").has_value());
}

// Multi-process behaviour of coordkit::ipc with real test_server processes.
// Every process a test starts is a spawn::Child (killed and reaped when it
// goes out of scope) or sits in a ProcessGuard, so a failing CHECK or
// REQUIRE leaks nothing. Every wait is bounded.
#include "coordkit/ipc/ipc.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <chrono>
#include <filesystem>
#include <latch>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "coordkit/spawn/spawn.h"
#include "coordkit/testing/error_matchers.h"
#include "tests/ipc/test_support.h"

namespace fs = std::filesystem;
namespace ipc = coordkit::ipc;
namespace spawn = coordkit::spawn;
using coordkit::testing::has_code;
using coordkit::testing::thrown;
using namespace coordkit::ipc_test;
using namespace std::chrono_literals;

namespace {

// make_private_dir: a 0700 runtime dir the test controls.
fs::path make_private_dir(const fs::path& p) {
  fs::create_directories(p);
  fs::permissions(p, fs::perms::owner_all, fs::perm_options::replace);
  return p;
}

spawn::Child start_sleeper() { return spawn::spawn({.executable = "/bin/sleep", .args = {"300"}}); }

// kill_server: kill -9 and reap.
spawn::ExitStatus kill_server(ServerProcess& server) {
  server.child().kill();
  return server.child().wait();
}

int count_prefix(const std::vector<std::string>& lines, std::string_view prefix) {
  int n = 0;
  for (const auto& l : lines) n += l.rfind(prefix, 0) == 0 ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE(
    "Of eight servers started at once on one runtime dir exactly one runs, the others exit "
    "already-running without touching its files",
    "[ipc][multiprocess]") {
  const fs::path work = scratch_dir("eight");
  const fs::path run = work / "run";
  const fs::path barrier = work / "go";

  // Wave 1: eight racers released together. A long start-up keeps the
  // winner in `starting` while the losers fail, so its files must not
  // change between its own write and the last loser's exit.
  std::vector<std::unique_ptr<ServerProcess>> racers;
  for (int i = 0; i < 8; ++i) {
    racers.push_back(std::make_unique<ServerProcess>(
        work, "racer" + std::to_string(i), run,
        std::vector<std::string>{"--barrier", barrier.string(), "--start-delay-ms", "4000"}));
  }
  write_file(barrier, "go");

  std::optional<std::size_t> winner;
  REQUIRE(eventually([&] {
    for (std::size_t i = 0; i < racers.size(); ++i) {
      if (racers[i]->has_event_prefix("started ")) winner = i;
    }
    return winner.has_value();
  }));
  const FileSnapshot status_at_start = snapshot(run / "testsrv.status");
  const FileSnapshot lock_at_start = snapshot(run / "testsrv.lock");

  int already_running = 0;
  for (std::size_t i = 0; i < racers.size(); ++i) {
    if (i == *winner) continue;
    const auto status = racers[i]->wait_exit(20s);
    REQUIRE(status.has_value());
    CHECK(status->exit_code == kExitAlreadyRunning);
    CHECK_FALSE(racers[i]->has_event_prefix("started "));
    already_running += status->exit_code == kExitAlreadyRunning ? 1 : 0;
  }
  CHECK(already_running == 7);
  CHECK_FALSE(racers[*winner]->child().try_wait().has_value());
  CHECK(snapshot(run / "testsrv.status") == status_at_start);
  CHECK(snapshot(run / "testsrv.lock") == lock_at_start);
  const auto record = ipc::parse_status(status_at_start.content);
  REQUIRE(record.has_value());
  CHECK(record->pid == racers[*winner]->pid());

  // Wave 2: seven more against the server once it is ready; its files stay
  // byte-for-byte, inode and mtime the same.
  REQUIRE(racers[*winner]->wait_event("ready", 20s));
  const ipc::Status ready = client_for(run).status();
  CHECK(ready.state == ipc::ServerState::kReady);
  CHECK(ready.lock_holder_pid == racers[*winner]->pid());
  const FileSnapshot status_ready = snapshot(run / "testsrv.status");
  const FileSnapshot lock_ready = snapshot(run / "testsrv.lock");
  const auto entries = dir_entries(run);
  const fs::path barrier2 = work / "go2";
  std::vector<std::unique_ptr<ServerProcess>> late;
  for (int i = 0; i < 7; ++i) {
    late.push_back(
        std::make_unique<ServerProcess>(work, "late" + std::to_string(i), run,
                                        std::vector<std::string>{"--barrier", barrier2.string()}));
  }
  write_file(barrier2, "go");
  for (auto& p : late) {
    const auto status = p->wait_exit(20s);
    REQUIRE(status.has_value());
    CHECK(status->exit_code == kExitAlreadyRunning);
  }
  CHECK(snapshot(run / "testsrv.status") == status_ready);
  CHECK(snapshot(run / "testsrv.lock") == lock_ready);
  CHECK(dir_entries(run) == entries);
  CHECK(client_for(run).status().state == ipc::ServerState::kReady);

  const ipc::StopResult stopped = client_for(run).stop({.deadline = 10s});
  CHECK(stopped.outcome == ipc::StopOutcome::kStopped);
  const auto exit = racers[*winner]->wait_exit(10s);
  REQUIRE(exit.has_value());
  CHECK(exit->exit_code == kExitOk);
}

TEST_CASE("After kill -9 of a running server the status says stale at once and a new server starts",
          "[ipc][multiprocess]") {
  const fs::path work = scratch_dir("kill9");
  const fs::path run = work / "run";
  ServerProcess first(work, "first", run);
  REQUIRE(first.wait_event("ready"));
  const std::string old_token = client_for(run).status().record->token;

  const spawn::ExitStatus killed = kill_server(first);
  CHECK(killed.signal == SIGKILL);
  // No waiting: the kernel dropped the fcntl lock when the process died.
  const ipc::Status after = client_for(run).status();
  CHECK(after.state == ipc::ServerState::kStale);
  CHECK_FALSE(after.running());
  REQUIRE(after.record.has_value());
  CHECK(after.record->pid == first.pid());
  CHECK(client_for(run).stop({.deadline = 1s}).outcome == ipc::StopOutcome::kNotRunning);

  ServerProcess second(work, "second", run);
  REQUIRE(second.wait_event("ready"));
  const ipc::Status now = client_for(run).status();
  CHECK(now.state == ipc::ServerState::kReady);
  CHECK(now.record->pid == second.pid());
  CHECK(now.record->token != old_token);
  CHECK(client_for(run).stop({.deadline = 10s}).outcome == ipc::StopOutcome::kStopped);
  CHECK(second.wait_exit()->exit_code == kExitOk);
}

TEST_CASE("A child the server spawned does not hold the instance lock after the server dies",
          "[ipc][multiprocess]") {
  const fs::path work = scratch_dir("grandchild");
  const fs::path run = work / "run";
  const fs::path control = work / "control.flock";
  // --spawn-child-raw: a bare posix_spawn that inherits every descriptor not
  // marked close-on-exec (libs/spawn would close them all anyway).
  ServerProcess server(
      work, "server", run,
      {"--spawn-child", "/bin/sleep", "--spawn-child-raw", "--control-flock", control.string()});
  // Whatever fails below, the grandchild is killed: found through the
  // server's events file, checked by its command line.
  struct GrandchildReaper {
    const ServerProcess& server;
    ~GrandchildReaper() {
      try {
        const auto pid = server.event_with_prefix("child ");
        if (!pid) return;
        const std::string expected = std::string("/bin/sleep") + '\0' + "300" + '\0';
        if (read_file("/proc/" + *pid + "/cmdline") != expected) return;
        if (auto id = spawn::identity_of(std::stoll(*pid))) ProcessGuard kill_it(*id);
      } catch (...) {
      }
    }
  } reaper{server};
  REQUIRE(server.wait_event("ready"));
  const auto child_pid = server.event_with_prefix("child ");
  REQUIRE(child_pid.has_value());
  const auto child_id = spawn::identity_of(std::stoll(*child_pid));
  REQUIRE(child_id.has_value());

  kill_server(server);
  REQUIRE(spawn::identity_of(child_id->pid).has_value());  // the grandchild lives on

  // The instance lock is free at once although the grandchild still runs.
  CHECK_FALSE(client_for(run).status().running());
  // Its descriptor table holds the control file but not the lock file: the
  // lock file was close-on-exec.
  std::set<std::string> targets;
  for (const auto& e : fs::directory_iterator("/proc/" + *child_pid + "/fd")) {
    std::error_code ec;
    const fs::path target = fs::read_symlink(e.path(), ec);
    if (!ec) targets.insert(target.string());
  }
  CHECK(targets.count(fs::canonical(run / "testsrv.lock").string()) == 0);
  CHECK(targets.count(fs::canonical(control).string()) == 1);
  // Control: the flock() lock on the inherited descriptor outlived the
  // server in the grandchild. That is the failure an fcntl lock on a
  // close-on-exec descriptor avoids.
  {
    const int fd = ::open(control.c_str(), O_RDWR | O_CLOEXEC);
    REQUIRE(fd >= 0);
    CHECK(::flock(fd, LOCK_EX | LOCK_NB) != 0);
    CHECK(errno == EWOULDBLOCK);
    ::close(fd);
  }
  // And a new server starts while the grandchild is still alive.
  ServerProcess next(work, "next", run);
  REQUIRE(next.wait_event("ready"));
  CHECK(spawn::identity_of(child_id->pid).has_value());
  CHECK(client_for(run).stop({.deadline = 10s}).outcome == ipc::StopOutcome::kStopped);
  CHECK(next.wait_exit()->exit_code == kExitOk);
}

TEST_CASE("A shutdown requested while the server is still starting is honoured before ready",
          "[ipc][multiprocess]") {
  const fs::path work = scratch_dir("during_start");
  const fs::path run = work / "run";
  ServerProcess server(work, "server", run, {"--start-delay-ms", "8000"});
  const ipc::Client client = client_for(run);
  REQUIRE(eventually([&] {
    const ipc::Status s = client.status();
    return s.state == ipc::ServerState::kStarting && s.verified;
  }));
  const auto t0 = std::chrono::steady_clock::now();
  client.request_shutdown(ipc::ShutdownMode::kGraceful, 5s);
  const auto exit = server.wait_exit(6s);
  REQUIRE(exit.has_value());
  CHECK(exit->exit_code == kExitOk);
  CHECK(std::chrono::steady_clock::now() - t0 < 6s);  // long before the 8 s start-up ends
  CHECK(server.has_event("shutdown_during_start"));
  CHECK_FALSE(server.has_event("ready"));
  CHECK(client.status().state == ipc::ServerState::kStopped);
}

TEST_CASE(
    "A shutdown file left from an earlier run or carrying a wrong token does not stop a new "
    "server; it is logged and removed",
    "[ipc][multiprocess]") {
  const fs::path work = scratch_dir("stale_request");
  const fs::path run = work / "run";
  const fs::path request = run / "testsrv.shutdown";

  // An earlier run: its token, and a request for it left behind.
  std::string old_token;
  {
    ServerProcess earlier(work, "earlier", run);
    REQUIRE(earlier.wait_event("ready"));
    old_token = client_for(run).status().record->token;
    REQUIRE(client_for(run).stop({.deadline = 10s}).outcome == ipc::StopOutcome::kStopped);
    REQUIRE(earlier.wait_exit()->exit_code == kExitOk);
  }
  write_file(request, ipc::format_shutdown_file({old_token, ipc::ShutdownMode::kFast, 1s}));
  ::chmod(request.c_str(), 0600);

  ServerProcess server(work, "server", run);
  REQUIRE(server.wait_event("ready"));
  CHECK_FALSE(fs::exists(request));
  CHECK(server.log_text().find("event=shutdown_file_rejected reason=wrong_token") !=
        std::string::npos);

  SECTION("a wrong token while it runs") {
    write_file(request,
               ipc::format_shutdown_file({std::string(32, '0'), ipc::ShutdownMode::kFast, 1s}));
    CHECK(eventually([&] { return !fs::exists(request); }));
  }
  SECTION("garbage while it runs") {
    write_file(request, "please stop");
    CHECK(eventually([&] { return !fs::exists(request); }));
    CHECK(eventually(
        [&] { return server.log_text().find("reason=malformed") != std::string::npos; }));
  }
  std::this_thread::sleep_for(300ms);
  CHECK_FALSE(server.child().try_wait().has_value());
  CHECK(client_for(run).status().state == ipc::ServerState::kReady);
  CHECK_FALSE(server.has_event_prefix("shutdown "));
  // Control: a request with this instance's token does stop it.
  CHECK(client_for(run).stop({.deadline = 10s}).outcome == ipc::StopOutcome::kStopped);
  CHECK(server.wait_exit()->exit_code == kExitOk);
}

TEST_CASE(
    "A status file naming a live process that is not the server reads as not running and "
    "stop never signals that process",
    "[ipc][multiprocess]") {
  const fs::path work = scratch_dir("reused_pid");
  const fs::path run = make_private_dir(work / "run");
  spawn::Child sleeper = start_sleeper();
  const auto sleeper_id = spawn::identity_of(sleeper.pid());
  REQUIRE(sleeper_id.has_value());

  ipc::StatusRecord forged;
  forged.app = kApp;
  forged.pid = sleeper_id->pid;
  forged.start_time = sleeper_id->start_time + 12345;  // the PID's earlier owner
  forged.boot_id = sleeper_id->boot_id;
  forged.token = std::string(32, 'a');
  forged.set_phase(ipc::Phase::kReady);

  SECTION("no server holds the lock") {
    write_file(run / "testsrv.status", ipc::format_status(forged));
    const ipc::Status s = client_for(run).status();
    CHECK(s.state == ipc::ServerState::kStale);
    CHECK_FALSE(s.running());
    CHECK_FALSE(s.verified);
    const ipc::StopResult r = client_for(run).stop({.deadline = 300ms, .terminate_grace = 300ms});
    CHECK(r.outcome == ipc::StopOutcome::kNotRunning);
    CHECK_FALSE(r.escalated());
  }
  SECTION("a real server holds the lock but the status names the other process") {
    ServerProcess server(work, "server", run);
    REQUIRE(server.wait_event("ready"));
    forged.token = client_for(run).status().record->token;
    const bool right_start_time = GENERATE(false, true);
    CAPTURE(right_start_time);
    if (right_start_time) {
      // Control: pid, start time and boot id alone would verify the
      // sleeper; only the lock holder check stops the escalation.
      forged.start_time = sleeper_id->start_time;
      REQUIRE(spawn::Process::open(*sleeper_id).has_value());
    }
    write_file(run / "testsrv.status", ipc::format_status(forged));
    const ipc::Status s = client_for(run).status();
    CHECK(s.running());  // the lock is held: by the server, not the sleeper
    CHECK_FALSE(s.verified);
    CHECK(s.lock_holder_pid == server.pid());
    const ipc::StopResult r = client_for(run).stop({.deadline = 300ms, .terminate_grace = 300ms});
    CHECK(r.outcome == ipc::StopOutcome::kTimedOut);
    CHECK_FALSE(r.escalated());
    CHECK_FALSE(server.child().try_wait().has_value());
  }
  CHECK_FALSE(sleeper.try_wait().has_value());  // never signalled
}

TEST_CASE("A partial or empty status file reads as stale or starting and never crashes a reader",
          "[ipc][multiprocess]") {
  const std::string content =
      GENERATE(std::string(""), std::string("{"), std::string("{\"pid\": 1"),
               std::string("{\"pid\":1,\"token\":\"x\",\"sta"), std::string("\0\0\0\0", 4),
               std::string(70000, '{'), std::string("[1,2,3]"));
  CAPTURE(content.size());
  const fs::path work = scratch_dir("partial");
  const fs::path run = make_private_dir(work / "run");

  SECTION("no server: stale") {
    write_file(run / "testsrv.status", content);
    const ipc::Status s = client_for(run).status();
    CHECK(s.state == ipc::ServerState::kStale);
    CHECK_FALSE(s.record.has_value());
    CHECK(client_for(run).stop({.deadline = 200ms}).outcome == ipc::StopOutcome::kNotRunning);
  }
  SECTION("a server holds the lock: starting") {
    ServerProcess server(work, "server", run);
    REQUIRE(server.wait_event("ready"));
    const std::string good = read_file(run / "testsrv.status");
    write_file(run / "testsrv.status", content);
    const ipc::Status s = client_for(run).status();
    CHECK(s.state == ipc::ServerState::kStarting);
    CHECK(s.running());
    CHECK_FALSE(s.verified);
    CHECK_THROWS_AS(client_for(run).request_shutdown(ipc::ShutdownMode::kFast, 1s), ipc::Error);
    write_file(run / "testsrv.status", good);
    CHECK(client_for(run).status().state == ipc::ServerState::kReady);
  }
}

TEST_CASE("Two stops at once, and a stop during draining, all return once the server is gone",
          "[ipc][multiprocess]") {
  const fs::path work = scratch_dir("two_stops");
  const fs::path run = work / "run";

  SECTION("two concurrent stops") {
    ServerProcess server(work, "server", run, {"--jobs", "2", "--job-ms", "300"});
    REQUIRE(server.wait_event("ready"));
    std::latch start(2);
    ipc::StopResult results[2];
    std::vector<std::thread> threads;
    for (int i = 0; i < 2; ++i) {
      threads.emplace_back([&, i] {
        start.arrive_and_wait();
        results[i] = client_for(run).stop({.deadline = 10s});
      });
    }
    for (auto& t : threads) t.join();
    for (const auto& r : results) {
      CHECK(r.outcome == ipc::StopOutcome::kStopped);
      CHECK_FALSE(r.escalated());
    }
    // Gone: the lock is free, the process exits 0.
    CHECK_FALSE(client_for(run).status().running());
    const auto exit = server.wait_exit(5s);
    REQUIRE(exit.has_value());
    CHECK(exit->exit_code == kExitOk);
  }
  SECTION("a stop while the server drains") {
    ServerProcess server(work, "server", run, {"--jobs", "2", "--job-ms", "1500"});
    REQUIRE(server.wait_event("ready"));
    client_for(run).request_shutdown(ipc::ShutdownMode::kGraceful, 10s);
    REQUIRE(wait_state(run, ipc::ServerState::kDraining));
    const ipc::StopResult r = client_for(run).stop({.deadline = 10s});
    CHECK(r.outcome == ipc::StopOutcome::kStopped);
    CHECK_FALSE(r.request_written);  // already draining gracefully: just waits
    CHECK_FALSE(client_for(run).status().running());
    const auto exit = server.wait_exit(5s);
    REQUIRE(exit.has_value());
    CHECK(exit->exit_code == kExitOk);
    CHECK(count_prefix(server.events(), "job_done ") == 2);
  }
}

TEST_CASE("A server that ignores the request is escalated against at the deadline and stop says so",
          "[ipc][multiprocess]") {
  const fs::path work = scratch_dir("escalate");
  const fs::path run = work / "run";
  spawn::Child bystander = start_sleeper();

  SECTION("it ignores the file but honours SIGTERM") {
    ServerProcess server(work, "server", run, {"--ignore-shutdown-file"});
    REQUIRE(server.wait_event("ready"));
    const ipc::StopResult r = client_for(run).stop({.deadline = 500ms, .terminate_grace = 10s});
    CHECK(r.request_written);
    CHECK(r.outcome == ipc::StopOutcome::kTerminated);
    CHECK(r.escalated());
    CHECK(r.elapsed >= 500ms);
    const auto exit = server.wait_exit(5s);
    REQUIRE(exit.has_value());
    CHECK(exit->exit_code == kExitOk);  // SIGTERM took the graceful path
    CHECK(server.has_event("ignored file graceful"));
    CHECK(server.has_event("shutdown signal fast"));
  }
  SECTION("it ignores the file and SIGTERM") {
    ServerProcess server(work, "server", run, {"--ignore-shutdown-file", "--ignore-signals"});
    REQUIRE(server.wait_event("ready"));
    const ipc::StopResult r = client_for(run).stop({.deadline = 300ms, .terminate_grace = 300ms});
    CHECK(r.outcome == ipc::StopOutcome::kKilled);
    CHECK(r.escalated());
    const auto exit = server.wait_exit(5s);
    REQUIRE(exit.has_value());
    CHECK(exit->signal == SIGKILL);
  }
  SECTION("without escalation it only reports the time-out") {
    ServerProcess server(work, "server", run, {"--ignore-shutdown-file"});
    REQUIRE(server.wait_event("ready"));
    const ipc::StopResult r = client_for(run).stop({.deadline = 300ms, .escalate = false});
    CHECK(r.outcome == ipc::StopOutcome::kTimedOut);
    CHECK_FALSE(r.escalated());
    CHECK_FALSE(server.child().try_wait().has_value());
  }
  CHECK_FALSE(bystander.try_wait().has_value());
}

TEST_CASE("A server whose runtime dir is removed notices and shuts down cleanly",
          "[ipc][multiprocess]") {
  const bool poll_only = GENERATE(false, true);
  CAPTURE(poll_only);
  const fs::path work = scratch_dir("dir_removed");
  const fs::path run = work / "run";
  std::vector<std::string> args = {"--poll-interval-ms", "100"};
  if (poll_only) args.push_back("--force-poll");
  ServerProcess server(work, "server", run, args);
  REQUIRE(server.wait_event("ready"));

  SECTION("the whole directory") { fs::remove_all(run); }
  SECTION("only the lock file") { fs::remove(run / "testsrv.lock"); }

  const auto exit = server.wait_exit(10s);
  REQUIRE(exit.has_value());
  CHECK(exit->exit_code == kExitOk);
  CHECK(server.has_event("shutdown runtime_dir_lost graceful"));
  CHECK(server.log_text().find("event=runtime_dir_lost") != std::string::npos);
  // It did not recreate anything: a new server starts cleanly on its own.
  ServerProcess next(work, "next", run);
  REQUIRE(next.wait_event("ready"));
  CHECK(client_for(run).stop({.deadline = 10s}).outcome == ipc::StopOutcome::kStopped);
}

TEST_CASE("A runtime dir that is group- or world-writable, someone else's, or a symlink is refused",
          "[ipc][multiprocess]") {
  const fs::path work = scratch_dir("unsafe_dir");
  const fs::path run = work / "run";
  ipc::ErrorCode expected = ipc::ErrorCode::kSystem;

  SECTION("group-writable") {
    fs::create_directory(run);
    ::chmod(run.c_str(), 0770);
    expected = ipc::ErrorCode::kRuntimeDirTooOpen;
  }
  SECTION("world-writable") {
    fs::create_directory(run);
    ::chmod(run.c_str(), 0777);
    expected = ipc::ErrorCode::kRuntimeDirTooOpen;
  }
  SECTION("a symlink to a private directory") {
    make_private_dir(work / "real");
    fs::create_directory_symlink(work / "real", run);
    expected = ipc::ErrorCode::kRuntimeDirIsSymlink;
  }
  SECTION("owned by another user") {
    make_private_dir(run);
    if (::geteuid() != 0 || ::chown(run.c_str(), 65534, 65534) != 0) {
      SKIP("needs root outside a user namespace to hand a directory to another user");
    }
    expected = ipc::ErrorCode::kRuntimeDirNotOwned;
  }

  ServerProcess server(work, "server", run);
  const auto exit = server.wait_exit(10s);
  REQUIRE(exit.has_value());
  CHECK(exit->exit_code == kExitUnsafeRuntimeDir);
  CHECK(server.log_text().find("code=" + std::string(ipc::code_name(expected))) !=
        std::string::npos);
  CHECK_THROWS_MATCHES(client_for(run).status(), ipc::Error, has_code(expected));
  // Nothing was written into the refused directory.
  if (!fs::is_symlink(run)) CHECK(fs::is_empty(run));
  // Control: once the directory is private and ours, the same server runs.
  fs::remove_all(run);
  make_private_dir(run);
  ServerProcess good(work, "good", run);
  REQUIRE(good.wait_event("ready"));
  CHECK(client_for(run).stop({.deadline = 10s}).outcome == ipc::StopOutcome::kStopped);
}

TEST_CASE("With inotify forced off the shutdown is still seen within the poll interval",
          "[ipc][multiprocess]") {
  const fs::path work = scratch_dir("polling");
  const fs::path run = work / "run";
  constexpr auto kInterval = 300ms;
  ServerProcess server(work, "server", run,
                       {"--force-poll", "--poll-interval-ms", std::to_string(kInterval.count())});
  REQUIRE(server.wait_event("ready"));
  CHECK(server.log_text().find("watch=poll") != std::string::npos);

  const auto t0 = std::chrono::steady_clock::now();
  client_for(run).request_shutdown(ipc::ShutdownMode::kGraceful, 5s);
  const auto exit = server.wait_exit(10s);
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  REQUIRE(exit.has_value());
  CHECK(exit->exit_code == kExitOk);
  CHECK(server.has_event("shutdown file graceful"));
  // Seen at the next poll (at most one interval), plus the exit itself; the
  // extra allowance is for a loaded 2-core machine and sanitizer builds.
  CHECK(elapsed < kInterval + 700ms);
}

TEST_CASE("A graceful shutdown under load finishes every in-flight job before exiting 0",
          "[ipc][multiprocess]") {
  const fs::path work = scratch_dir("load");
  const fs::path run = work / "run";
  ServerProcess server(work, "server", run, {"--jobs", "4", "--job-ms", "400"});
  REQUIRE(server.wait_event("ready"));
  REQUIRE(eventually([&] { return count_prefix(server.events(), "job_done ") >= 4; }));

  const ipc::ShutdownMode mode = GENERATE(ipc::ShutdownMode::kGraceful, ipc::ShutdownMode::kFast);
  CAPTURE(ipc::to_string(mode));
  const auto before = server.events();
  REQUIRE(count_prefix(before, "job_started ") > count_prefix(before, "job_done "));  // in flight
  const ipc::StopResult r = client_for(run).stop({.mode = mode, .deadline = 10s});
  CHECK(r.outcome == ipc::StopOutcome::kStopped);
  const auto exit = server.wait_exit(5s);
  REQUIRE(exit.has_value());
  CHECK(exit->exit_code == kExitOk);

  const auto events = server.events();
  const int started = count_prefix(events, "job_started ");
  const int done = count_prefix(events, "job_done ");
  const int aborted = count_prefix(events, "job_aborted ");
  CHECK(started == done + aborted);
  if (mode == ipc::ShutdownMode::kGraceful) {
    CHECK(aborted == 0);
    CHECK(done == started);
  } else {
    // Control: a fast stop abandons the jobs in flight, which a test of
    // draining must be able to see.
    CHECK(aborted > 0);
  }
}

TEST_CASE("wait_until_ready returns the verified ready status of a server that becomes ready",
          "[ipc][multiprocess][ready]") {
  const bool with_child = GENERATE(true, false);
  CAPTURE(with_child);
  const fs::path work = scratch_dir("ready");
  const fs::path run = work / "run";
  ServerProcess server(work, "server", run, {"--start-delay-ms", "300"});
  const ipc::Client client = client_for(run);
  const ipc::Status s =
      with_child ? client.wait_until_ready(20s, server.child()) : client.wait_until_ready(20s);
  CHECK(s.state == ipc::ServerState::kReady);
  CHECK(s.verified);
  REQUIRE(s.record.has_value());
  CHECK(s.record->pid == server.pid());
  CHECK(s.record->version == "test-1");
  CHECK(server.wait_event("ready"));  // the server logs it right after publishing
  CHECK(client.stop({.deadline = 10s}).outcome == ipc::StopOutcome::kStopped);
}

TEST_CASE("wait_until_ready fails at once with exited_before_ready when the server exits first",
          "[ipc][multiprocess][ready]") {
  const fs::path work = scratch_dir("exits_first");
  const fs::path run = work / "run";
  const ipc::Client client = client_for(run);

  SECTION("a server that refuses its command line (a Child)") {
    ServerProcess server(work, "server", run, {"--jobs", "-1"});
    const ipc::Error exited =
        thrown<ipc::Error>([&] { client.wait_until_ready(60s, server.child()); });
    CHECK(exited.code() == ipc::ErrorCode::kExitedBeforeReady);
    CHECK(exited.code_name() == "exited_before_ready");
    // The Child is reaped already; its exit status says why.
    const auto exit = server.wait_exit(0ms);
    REQUIRE(exit.has_value());
    CHECK(exit->exit_code == 2);
  }
  SECTION("a server killed during its start-up (a verified Process handle)") {
    ServerProcess server(work, "server", run, {"--start-delay-ms", "60000"});
    REQUIRE(eventually([&] { return client.status().verified; }));
    std::optional<spawn::Process> process = spawn::Process::open(server.child().identity());
    REQUIRE(process.has_value());
    std::latch waiting(1);
    std::thread killer([&] {
      waiting.wait();
      std::this_thread::sleep_for(50ms);
      server.child().kill();
    });
    std::optional<ipc::ErrorCode> code;
    try {
      waiting.count_down();
      client.wait_until_ready(60s, *process);
    } catch (const ipc::Error& e) {
      code = e.code();
    }
    killer.join();
    CHECK(code == ipc::ErrorCode::kExitedBeforeReady);
    const auto exit = server.wait_exit(10s);
    REQUIRE(exit.has_value());
    CHECK(exit->signal == SIGKILL);
    CHECK_FALSE(server.has_event("ready"));
  }
}

TEST_CASE("wait_until_ready times out while a server is still starting or none was started",
          "[ipc][multiprocess][ready]") {
  const fs::path work = scratch_dir("ready_timeout");
  const fs::path run = work / "run";
  const ipc::Client client = client_for(run);
  SECTION("no server at all") {
    CHECK_THROWS_MATCHES(client.wait_until_ready(100ms), ipc::Error,
                         has_code(ipc::ErrorCode::kTimedOut));
  }
  SECTION("a server that is still starting") {
    ServerProcess server(work, "server", run, {"--start-delay-ms", "60000"});
    REQUIRE(eventually([&] { return client.status().verified; }));
    CHECK_THROWS_MATCHES(client.wait_until_ready(200ms, server.child()), ipc::Error,
                         has_code(ipc::ErrorCode::kTimedOut));
    CHECK(client.status().state == ipc::ServerState::kStarting);
    CHECK_FALSE(server.wait_exit(0ms).has_value());  // still running: the wait did not end it
    CHECK(client.stop({.deadline = 10s}).outcome == ipc::StopOutcome::kStopped);
  }
}

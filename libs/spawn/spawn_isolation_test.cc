// coordkit::spawn: what a child must not inherit (descriptors, signal
// state, the session), under load and from many threads at once.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "coordkit/spawn/spawn.h"
#include "libs/spawn/spawn_test_util.h"

namespace sp = coordkit::spawn;
using namespace std::chrono_literals;
using sp::testing::helper;
using sp::testing::Report;
using sp::testing::run_helper;

namespace {

// raw_spawn_report: the helper started with a bare posix_spawn (no file
// actions, no attributes): the control for what the library changes.
Report raw_spawn_report(std::vector<std::string> script) {
  int out[2];
  REQUIRE(pipe2(out, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  std::string exe = sp::testing::helper_path().string();
  std::vector<char*> argv{exe.data()};
  for (std::string& s : script) argv.push_back(s.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int err = posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  REQUIRE(err == 0);
  sp::testing::RawChild raw(pid);
  std::string text;
  char buffer[4096];
  for (ssize_t n; (n = read(out[0], buffer, sizeof buffer)) > 0;)
    text.append(buffer, static_cast<std::size_t>(n));
  close(out[0]);
  raw.wait();
  return Report(text);
}

// Restores this thread's signal mask and the SIGINT/SIGPIPE dispositions.
class SignalStateGuard {
 public:
  SignalStateGuard() {
    pthread_sigmask(SIG_SETMASK, nullptr, &mask_);
    sigaction(SIGINT, nullptr, &sigint_);
    sigaction(SIGPIPE, nullptr, &sigpipe_);
  }
  ~SignalStateGuard() {
    sigaction(SIGPIPE, &sigpipe_, nullptr);
    sigaction(SIGINT, &sigint_, nullptr);
    pthread_sigmask(SIG_SETMASK, &mask_, nullptr);
  }

 private:
  sigset_t mask_;
  struct sigaction sigint_ {};
  struct sigaction sigpipe_ {};
};

}  // namespace

TEST_CASE("1000 spawns leak no descriptors in the parent", "[spawn]") {
  std::filesystem::path dir = sp::testing::scratch_dir("leak");
  const int before = sp::testing::open_fd_count();
  // Control: the count does notice one leaked descriptor.
  {
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    REQUIRE(sp::testing::open_fd_count() == before + 1);
    close(fd);
  }
  for (int i = 0; i < 1000; ++i) {
    if (i % 10 == 9) {  // the failure paths must not leak either
      CHECK_THROWS_AS(sp::spawn({.executable = "/nonexistent/x",
                                 .in = sp::Stdio::pipe(),
                                 .out = sp::Stdio::pipe(),
                                 .err = sp::Stdio::file(dir / "err")}),
                      sp::Error);
      continue;
    }
    sp::Command command{.executable = "/bin/true"};
    switch (i % 3) {
      case 0:
        command.in = sp::Stdio::pipe();
        command.out = sp::Stdio::pipe();
        command.err = sp::Stdio::pipe();
        break;
      case 1:
        command.out = sp::Stdio::file(dir / "out");
        command.err = sp::Stdio::null();
        break;
      default:
        break;
    }
    sp::Child child = sp::spawn(command);
    if (i % 3 == 0) child.communicate();
    REQUIRE(child.wait_for(20s).value_or(sp::ExitStatus{}).success());
  }
  CHECK(sp::testing::open_fd_count() == before);
  CHECK(sp::testing::children_of_this_process().empty());
}

TEST_CASE("children spawned from 8 threads at once each see only their own pipes", "[spawn]") {
  constexpr int kThreads = 8;
  constexpr int kRounds = 10;
  std::mutex mutex;
  std::condition_variable cv;
  int waiting = 0;
  std::vector<std::string> failures;
  auto worker = [&](int thread_index) {
    {  // start barrier: every thread spawns at the same moment
      std::unique_lock lock(mutex);
      ++waiting;
      cv.notify_all();
      cv.wait(lock, [&] { return waiting == kThreads; });
    }
    for (int round = 0; round < kRounds; ++round) {
      const std::string token =
          "thread-" + std::to_string(thread_index) + "-round-" + std::to_string(round);
      try {
        sp::Command command = helper({"fds", "echo"});
        command.in = sp::Stdio::pipe();
        command.out = sp::Stdio::pipe();
        command.err = sp::Stdio::pipe();
        sp::Child child = sp::spawn(command);
        sp::Child::Output output = child.communicate(token, 20s);
        std::optional<sp::ExitStatus> status = child.wait_for(20s);
        const std::string expected = "fds=0,1,2\n" + token;
        if (output.out != expected || !output.err.empty() || !status || !status->success()) {
          std::lock_guard lock(mutex);
          failures.push_back(token + ": got '" + output.out + "' err '" + output.err + "'");
        }
      } catch (const std::exception& e) {
        std::lock_guard lock(mutex);
        failures.push_back(token + ": " + e.what());
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, t);
  for (std::thread& t : threads) t.join();
  CHECK(failures.empty());
  for (const std::string& f : failures) UNSCOPED_INFO(f);
  CHECK(sp::testing::children_of_this_process().empty());
}

TEST_CASE("a descriptor the parent opened without O_CLOEXEC does not reach the child", "[spawn]") {
  int leaky = open("/dev/null", O_RDONLY);  // deliberately inheritable
  REQUIRE(leaky > 2);
  const std::string leaky_text = "," + std::to_string(leaky);
  // Control: a bare posix_spawn hands it to the child.
  CHECK(raw_spawn_report({"fds"}).get("fds").find(leaky_text) != std::string::npos);
  CHECK(run_helper(helper({"fds"})).get("fds") == "0,1,2");
  close(leaky);
}

TEST_CASE(
    "a parent with blocked and ignored signals gives its child an empty mask and default "
    "dispositions",
    "[spawn]") {
  SignalStateGuard restore;
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGCHLD);
  REQUIRE(pthread_sigmask(SIG_BLOCK, &block, nullptr) == 0);
  REQUIRE(signal(SIGINT, SIG_IGN) != SIG_ERR);
  REQUIRE(signal(SIGPIPE, SIG_IGN) != SIG_ERR);

  // Control: a bare posix_spawn inherits all of it.
  Report raw = raw_spawn_report({"signals"});
  CHECK(raw.get("sigblk") != "0000000000000000");
  CHECK(raw.get("sigign") != "0000000000000000");
  CHECK(raw.get("sigint") == "ignore");
  CHECK(raw.get("sigpipe") == "ignore");

  Report report = run_helper(helper({"signals"}));
  CHECK(report.get("sigblk") == "0000000000000000");
  CHECK(report.get("sigign") == "0000000000000000");
  CHECK(report.get("sigint") == "default");
  CHECK(report.get("sigpipe") == "default");
  CHECK(report.get("sigterm") == "default");
}

TEST_CASE(
    "a detached child survives its parent, leads its own session and is stopped through its "
    "identity",
    "[spawn]") {
  // Become the subreaper so the orphaned grandchild is reparented to us and
  // can be reaped here, whatever this container's init does.
  REQUIRE(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  struct SubreaperOff {
    ~SubreaperOff() { prctl(PR_SET_CHILD_SUBREAPER, 0); }
  } subreaper_off;

  const pid_t my_sid = getsid(0);
  // Control: a child that is not detached stays in our session.
  Report attached = run_helper(helper({"session"}));
  CHECK(std::stol(attached.get("sid")) == my_sid);

  // The intermediate spawns a detached grandchild (sleep 20 s), prints its
  // identity and exits.
  Report intermediate = run_helper(helper({"spawn-detached", "20000"}));
  sp::ProcessIdentity id{std::stoll(intermediate.get("grandchild_pid")),
                         std::stoull(intermediate.get("grandchild_start_time")),
                         intermediate.get("grandchild_boot_id")};
  struct Reaper {  // stops and reaps the grandchild even if a CHECK fails
    sp::ProcessIdentity id;
    ~Reaper() {
      if (id.pid <= 0) return;  // never waitpid(0): that is "any child"
      try {
        if (std::optional<sp::Process> p = sp::Process::open(id)) p->kill();
      } catch (const sp::Error&) {
      }
      ::waitpid(static_cast<pid_t>(id.pid), nullptr, 0);
    }
  } reaper{id};

  REQUIRE(id.pid > 0);
  std::optional<sp::ProcessIdentity> now = sp::identity_of(id.pid);
  REQUIRE(now.has_value());  // alive after its parent exited
  CHECK(*now == id);
  std::optional<sp::internal::ProcStat> stat = sp::internal::read_proc_stat(id.pid);
  REQUIRE(stat.has_value());
  CHECK(stat->session == id.pid);  // setsid: it leads a new session
  CHECK(stat->pgrp == id.pid);
  CHECK(stat->session != my_sid);
  CHECK(stat->tty_nr == 0);       // no controlling terminal
  CHECK(stat->ppid == getpid());  // orphaned, reparented to us (the subreaper)
  CHECK(std::filesystem::read_symlink("/proc/" + std::to_string(id.pid) + "/fd/1") == "/dev/null");

  std::optional<sp::Process> process = sp::Process::open(id);
  REQUIRE(process.has_value());
  CHECK(process->terminate());
  CHECK(process->wait_for_exit(20s));
  int status = 0;
  REQUIRE(::waitpid(static_cast<pid_t>(id.pid), &status, 0) == id.pid);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGTERM);
  CHECK_FALSE(sp::identity_of(id.pid).has_value());
  CHECK_FALSE(sp::Process::open(id).has_value());
}

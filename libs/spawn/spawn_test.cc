// coordkit::spawn: commands, stdio, pipes, waiting and signals, with real
// child processes (spawn_test_child).
#include "coordkit/spawn/spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "libs/spawn/spawn_test_util.h"

namespace sp = coordkit::spawn;
using namespace std::chrono_literals;
using sp::testing::helper;
using sp::testing::Report;
using sp::testing::run_helper;

namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string content(std::filesystem::file_size(path), '\0');
  in.read(content.data(), static_cast<std::streamsize>(content.size()));
  return content;
}

template <class F>
sp::ErrorCode code_of(F&& f) {
  try {
    f();
  } catch (const sp::Error& e) {
    return e.code();
  }
  FAIL("no coordkit::spawn::Error thrown");
  return sp::ErrorCode::kSystem;
}

}  // namespace

TEST_CASE("spawn reports a missing or non-executable program as kNotFound and leaves no zombie",
          "[spawn]") {
  std::filesystem::path dir = sp::testing::scratch_dir("missing");
  {
    std::ofstream(dir / "not_executable") << "#!/bin/sh\nexit 0\n";
    std::filesystem::permissions(dir / "not_executable", std::filesystem::perms::owner_read);
  }
  // Control: the /proc scan does see a child that exited and was not reaped.
  {
    REQUIRE(sp::testing::children_of_this_process().empty());
    pid_t pid = 0;
    char* const argv[] = {const_cast<char*>("/bin/true"), nullptr};
    REQUIRE(posix_spawn(&pid, "/bin/true", nullptr, nullptr, argv, environ) == 0);
    sp::testing::RawChild raw(pid);
    for (int i = 0; i < 200 && sp::testing::children_of_this_process().empty(); ++i) usleep(1000);
    auto seen = sp::testing::children_of_this_process();
    REQUIRE(seen.size() == 1);
    raw.wait();
    CHECK(sp::testing::children_of_this_process().empty());
  }

  sp::Command command = GENERATE_COPY(
      sp::Command{.executable = "/nonexistent/coordkit-no-such-program"},
      sp::Command{.executable = "no-such-program-here"},
      sp::Command{.executable = "coordkit-no-such-program", .search_path = true},
      sp::Command{.executable = dir / "not_executable"}, sp::Command{.executable = dir});
  CAPTURE(command.executable.string());
  CHECK(code_of([&] { sp::spawn(command); }) == sp::ErrorCode::kNotFound);
  CHECK(sp::testing::children_of_this_process().empty());
}

TEST_CASE("spawn rejects a malformed command with kInvalidArgument", "[spawn]") {
  sp::Command command = GENERATE(
      sp::Command{}, sp::Command{.executable = "/bin/true", .args = {std::string("a\0b", 3)}},
      sp::Command{.executable = "/bin/true", .env = {{"A=B", "x"}}},
      sp::Command{.executable = "/bin/true", .env = {{"", "x"}}},
      sp::Command{.executable = "/bin/true", .env = {{"A", std::string("x\0y", 3)}}});
  CHECK(code_of([&] { sp::spawn(command); }) == sp::ErrorCode::kInvalidArgument);
}

TEST_CASE("arguments with spaces, quotes and empty strings arrive verbatim", "[spawn]") {
  const std::vector<std::string> tricky = {
      "plain",         "two words", "",          "\"double\"",       "'single'",
      "back\\slash\\", "a\\\"b",    "new\nline", "tab\there",        "  ",
      "--flag=x y",    "$HOME",     "*",         "\xc3\xa9t\xc3\xa9"};
  sp::Command command = helper({"args"});
  command.args.insert(command.args.end(), tricky.begin(), tricky.end());
  Report report = run_helper(command);
  std::vector<std::string> argv;
  for (const std::string& h : report.all("arg")) argv.push_back(sp::testing::unhex(h));
  REQUIRE(argv.size() == tricky.size() + 2);
  CHECK(argv[0] == sp::testing::helper_path().string());
  CHECK(argv[1] == "args");
  CHECK(std::vector<std::string>(argv.begin() + 2, argv.end()) == tricky);
}

TEST_CASE("env overrides add and replace variables, nullopt removes one, the rest is inherited",
          "[spawn]") {
  // COORDKIT_TEST=1 is set for every test by .bazelrc; PATH always is.
  REQUIRE(std::getenv("COORDKIT_TEST") != nullptr);
  const std::string path = std::getenv("PATH");
  sp::Command command = helper({"env", "COORDKIT_SPAWN_ADDED", "env", "PATH", "env",
                                "COORDKIT_TEST", "env", "COORDKIT_SPAWN_EMPTY"});
  SECTION("control: without overrides the parent's variables arrive") {
    Report report = run_helper(command);
    CHECK(report.has("unset:COORDKIT_SPAWN_ADDED"));
    CHECK(sp::testing::unhex(report.get("env:COORDKIT_TEST")) == std::getenv("COORDKIT_TEST"));
    CHECK(sp::testing::unhex(report.get("env:PATH")) == path);
  }
  SECTION("with overrides") {
    command.env = {{"COORDKIT_SPAWN_ADDED", "a value with spaces = and equals"},
                   {"COORDKIT_TEST", std::nullopt},
                   {"COORDKIT_SPAWN_EMPTY", ""}};
    Report report = run_helper(command);
    CHECK(sp::testing::unhex(report.get("env:COORDKIT_SPAWN_ADDED")) ==
          "a value with spaces = and equals");
    CHECK(report.has("unset:COORDKIT_TEST"));
    CHECK(report.has("env:COORDKIT_SPAWN_EMPTY"));
    CHECK(report.get("env:COORDKIT_SPAWN_EMPTY").empty());
    CHECK(sp::testing::unhex(report.get("env:PATH")) == path);
    CHECK(std::getenv("COORDKIT_TEST") != nullptr);  // the parent is untouched
  }
}

TEST_CASE(
    "cwd sets the child's working directory; a relative executable resolves against the parent's",
    "[spawn]") {
  std::filesystem::path dir = std::filesystem::canonical(sp::testing::scratch_dir("cwd"));
  SECTION("absolute executable") {
    sp::Command command = helper({"cwd"});
    command.cwd = dir;
    CHECK(run_helper(command).get("cwd") == dir.string());
  }
  SECTION("relative executable and relative cwd") {
    std::filesystem::path here = std::filesystem::current_path();
    sp::Command command = helper({"cwd"});
    command.executable = std::filesystem::relative(sp::testing::helper_path(), here);
    REQUIRE(command.executable.is_relative());
    command.cwd = std::filesystem::relative(dir, here);
    CHECK(run_helper(command).get("cwd") == dir.string());
  }
  SECTION("a missing directory is kNotFound") {
    sp::Command command = helper({"cwd"});
    command.cwd = dir / "no-such-dir";
    CHECK(code_of([&] { sp::spawn(command); }) == sp::ErrorCode::kNotFound);
    CHECK(sp::testing::children_of_this_process().empty());
  }
}

TEST_CASE("search_path finds a program in the PATH of the child's environment", "[spawn]") {
  std::filesystem::path dir = sp::testing::scratch_dir("search");
  std::filesystem::copy_file(sp::testing::helper_path(), dir / "coordkit-helper-copy");
  sp::Command command{
      .executable = "coordkit-helper-copy", .args = {"out", "found"}, .search_path = true};
  SECTION("not in the parent's PATH") {
    CHECK(code_of([&] { sp::spawn(command); }) == sp::ErrorCode::kNotFound);
  }
  SECTION("in the overridden PATH") {
    command.env = {{"PATH", "/nonexistent:" + dir.string()}};
    command.out = sp::Stdio::pipe();
    sp::Child child = sp::spawn(command);
    CHECK(child.read_stdout_all(20s) == "found\n");
    CHECK(child.wait().success());
  }
}

TEST_CASE("Stdio::file appends: two runs add to the same files, created 0600", "[spawn]") {
  std::filesystem::path dir = sp::testing::scratch_dir("files");
  std::ofstream(dir / "out.log") << "before\n";
  for (const char* run : {"first", "second"}) {
    sp::Command command = helper({"out", run, "err", std::string(run) + "-err"});
    command.out = sp::Stdio::file(dir / "out.log");
    command.err = sp::Stdio::file(dir / "err.log");
    sp::Child child = sp::spawn(command);
    REQUIRE(child.wait_for(20s).value_or(sp::ExitStatus{}).success());
  }
  CHECK(read_file(dir / "out.log") == "before\nfirst\nsecond\n");
  CHECK(read_file(dir / "err.log") == "first-err\nsecond-err\n");
  struct stat info {};
  REQUIRE(::stat((dir / "err.log").c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0600);

  SECTION("stdin from a file") {
    std::ofstream(dir / "in.txt") << "from a file";
    sp::Command command = helper({"echo"});
    command.in = sp::Stdio::file(dir / "in.txt");
    command.out = sp::Stdio::pipe();
    sp::Child child = sp::spawn(command);
    CHECK(child.read_stdout_all(20s) == "from a file");
    CHECK(child.wait().success());
  }
  SECTION("a missing stdin file is kNotFound") {
    sp::Command command = helper({"echo"});
    command.in = sp::Stdio::file(dir / "missing.txt");
    CHECK(code_of([&] { sp::spawn(command); }) == sp::ErrorCode::kNotFound);
  }
}

TEST_CASE("Stdio::null gives the child EOF on stdin and discards its output", "[spawn]") {
  sp::Command command = helper({"echo", "out", "done"});
  command.in = sp::Stdio::null();
  command.out = sp::Stdio::pipe();
  command.err = sp::Stdio::null();
  sp::Child child = sp::spawn(command);
  CHECK(child.read_stdout_all(20s) == "done\n");
  CHECK(child.wait().success());
  CHECK(code_of([&] { child.read_stderr_all(); }) == sp::ErrorCode::kInvalidArgument);
  CHECK(code_of([&] { child.write_stdin("x"); }) == sp::ErrorCode::kInvalidArgument);
}

TEST_CASE("reading a child's stdout and stderr pipes cannot deadlock", "[spawn]") {
  constexpr std::size_t kBytes = 1 << 20;  // far more than a pipe holds
  sp::Command command = helper({"flood", std::to_string(kBytes)});
  command.out = sp::Stdio::pipe();
  command.err = sp::Stdio::pipe();

  SECTION("control: reading only stdout stalls once stderr's pipe is full") {
    int out_pipe[2], err_pipe[2];
    REQUIRE(pipe2(out_pipe, O_CLOEXEC) == 0);
    REQUIRE(pipe2(err_pipe, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
    std::string exe = sp::testing::helper_path().string();
    std::string size = std::to_string(kBytes);
    char* const argv[] = {exe.data(), const_cast<char*>("flood"), size.data(), nullptr};
    pid_t pid = 0;
    REQUIRE(posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv, environ) == 0);
    posix_spawn_file_actions_destroy(&actions);
    sp::testing::RawChild raw(pid);
    close(out_pipe[1]);
    close(err_pipe[1]);
    std::size_t got = 0;
    char buffer[65536];
    for (;;) {
      pollfd p{out_pipe[0], POLLIN, 0};
      if (poll(&p, 1, 300) <= 0) break;  // no progress for 300 ms: stalled
      ssize_t n = read(out_pipe[0], buffer, sizeof buffer);
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    CHECK(got < kBytes);
    close(out_pipe[0]);
    close(err_pipe[0]);
  }
  SECTION("communicate") {
    sp::Child child = sp::spawn(command);
    sp::Child::Output output = child.communicate({}, 20s);
    CHECK(output.out.size() == kBytes);
    CHECK(output.err.size() == kBytes);
    CHECK(child.wait().success());
  }
  SECTION("read_stdout_all, then read_stderr_all") {
    sp::Child child = sp::spawn(command);
    CHECK(child.read_stdout_all(20s).size() == kBytes);
    CHECK(child.read_stderr_all(20s).size() == kBytes);
    CHECK(child.wait().success());
  }
  SECTION("write_stdin of 4 MiB to a child echoing it back") {
    sp::Command echo = helper({"echo"});
    echo.in = sp::Stdio::pipe();
    echo.out = sp::Stdio::pipe();
    sp::Child child = sp::spawn(echo);
    std::string data(4 << 20, 'e');
    child.write_stdin(data, 20s);
    child.close_stdin();
    CHECK(child.read_stdout_all(20s) == data);
    CHECK(child.wait().success());
  }
}

TEST_CASE("writing to a child that closed its stdin reports EPIPE, never SIGPIPE", "[spawn]") {
  sp::Command command = helper({"exit", "0"});
  command.in = sp::Stdio::pipe();
  sp::Child child = sp::spawn(command);
  REQUIRE(child.wait_for(20s).has_value());
  try {
    child.write_stdin(std::string(1 << 20, 'x'), 20s);
    FAIL("write_stdin to a dead child succeeded");
  } catch (const sp::Error& e) {
    CHECK(e.code() == sp::ErrorCode::kSystem);
    CHECK(e.os_error() == EPIPE);
  }
  sigset_t pending;
  sigpending(&pending);
  CHECK(sigismember(&pending, SIGPIPE) == 0);
}

TEST_CASE("read_stdout_line returns lines while the child keeps running", "[spawn]") {
  sp::Command command = helper({"out", "starting", "out", "ready", "sleep", "20000"});
  command.out = sp::Stdio::pipe();
  sp::Child child = sp::spawn(command);
  CHECK(child.read_stdout_line(20s) == "starting");
  CHECK(child.read_stdout_line(20s) == "ready");
  CHECK_FALSE(child.try_wait().has_value());
  CHECK(code_of([&] { child.read_stdout_line(50ms); }) == sp::ErrorCode::kTimedOut);
  CHECK(child.kill());
  CHECK(child.read_stdout_line(20s) == std::nullopt);
  CHECK(child.wait().signal == SIGKILL);
}

TEST_CASE("wait_for returns nullopt at its timeout and a later wait gets the status", "[spawn]") {
  sp::Child child = sp::spawn(helper({"sleep", "2000", "exit", "7"}));
  auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(child.wait_for(100ms).has_value());
  auto waited = std::chrono::steady_clock::now() - start;
  CHECK(waited >= 100ms);
  CHECK(waited < 1500ms);  // returned at its timeout, not at the child's exit
  CHECK_FALSE(child.try_wait().has_value());
  sp::ExitStatus status = child.wait();
  CHECK(status.exit_code == 7);
  CHECK_FALSE(status.signal.has_value());
  CHECK(child.try_wait() == status);  // reaped once, remembered
  CHECK(child.wait_for(0ms) == status);
}

TEST_CASE("the exit code or the terminating signal is reported", "[spawn]") {
  auto [script, expected] = GENERATE(table<std::vector<std::string>, sp::ExitStatus>({
      {{"exit", "0"}, sp::ExitStatus{0, std::nullopt}},
      {{"exit", "3"}, sp::ExitStatus{3, std::nullopt}},
      {{"exit", "255"}, sp::ExitStatus{255, std::nullopt}},
      {{"raise", "15"}, sp::ExitStatus{std::nullopt, SIGTERM}},
      {{"raise", "9"}, sp::ExitStatus{std::nullopt, SIGKILL}},
      {{"raise", "6"}, sp::ExitStatus{std::nullopt, SIGABRT}},
  }));
  sp::Child child = sp::spawn(helper(script));
  std::optional<sp::ExitStatus> status = child.wait_for(20s);
  REQUIRE(status.has_value());
  CHECK(*status == expected);
  CHECK(status->success() == (expected.exit_code == 0));
}

TEST_CASE("terminate and kill stop a running child and the signal is reported", "[spawn]") {
  const bool use_kill = GENERATE(false, true);
  sp::Child child = sp::spawn(helper({"sleep", "20000"}));
  CHECK((use_kill ? child.kill() : child.terminate()));
  std::optional<sp::ExitStatus> status = child.wait_for(20s);
  REQUIRE(status.has_value());
  CHECK(status->signal == (use_kill ? SIGKILL : SIGTERM));
}

TEST_CASE(
    "terminate and kill after the child was reaped signal nothing, even when its pid is reused",
    "[spawn]") {
  sp::Child child = sp::spawn(helper({"exit", "0"}));
  const std::int64_t old_pid = child.pid();
  REQUIRE(child.wait_for(20s).has_value());
  CHECK_FALSE(child.terminate());
  CHECK_FALSE(child.kill());

  // Make the kernel hand the same pid to a new process (ns_last_pid), so a
  // stale pid would now name a live stranger.
  std::optional<sp::Child> stranger;
  for (int attempt = 0; attempt < 50 && !stranger; ++attempt) {
    std::ofstream last("/proc/sys/kernel/ns_last_pid");
    if (!last) break;
    last << (old_pid - 1) << std::flush;
    if (!last) break;
    last.close();
    sp::Child candidate = sp::spawn(helper({"sleep", "20000"}));
    if (candidate.pid() == old_pid) stranger = std::move(candidate);
  }
  if (!stranger) {
    WARN("could not reuse pid " << old_pid
                                << " (ns_last_pid not writable or raced); checked without reuse");
    return;
  }
  // Control: the old pid now names a live process a plain kill() would hit.
  REQUIRE(::kill(static_cast<pid_t>(old_pid), 0) == 0);
  CHECK_FALSE(child.terminate());
  CHECK_FALSE(child.kill());
  CHECK_FALSE(stranger->wait_for(200ms).has_value());  // still running, unsignalled
  CHECK(stranger->kill());
  CHECK(stranger->wait().signal == SIGKILL);
}

TEST_CASE("destroying a running Child kills and reaps it; release leaves it running", "[spawn]") {
  std::int64_t pid = 0;
  std::optional<sp::ProcessIdentity> id;
  SECTION("destroyed") {
    {
      sp::Child child = sp::spawn(helper({"sleep", "20000"}));
      pid = child.pid();
      id = sp::identity_of(pid);
      REQUIRE(id.has_value());
    }
    CHECK_FALSE(sp::identity_of(pid).has_value());
    CHECK(sp::testing::children_of_this_process().empty());
  }
  SECTION("moved, then destroyed") {
    std::optional<sp::Child> holder;
    {
      sp::Child child = sp::spawn(helper({"sleep", "20000"}));
      pid = child.pid();
      holder = std::move(child);
      // A moved-from Child has pid() 0 (spawn.h): reading it after the move
      // is what this section checks, so the use after move is deliberate.
      // NOLINTNEXTLINE(bugprone-use-after-move)
      CHECK(child.pid() == 0);
    }
    CHECK(sp::identity_of(pid).has_value());  // the moved-from Child did not kill it
    holder.reset();
    CHECK(sp::testing::children_of_this_process().empty());
  }
  SECTION("released") {
    {
      sp::Child child = sp::spawn(helper({"sleep", "20000"}));
      id = child.identity();
      child.release();
      CHECK_FALSE(child.kill());
    }
    std::optional<sp::Process> process = sp::Process::open(*id);
    REQUIRE(process.has_value());
    CHECK(process->running());
    CHECK(process->kill());
    CHECK(process->wait_for_exit(20s));
    ::waitpid(static_cast<pid_t>(id->pid), nullptr, 0);  // still our child: reap it
    CHECK(sp::testing::children_of_this_process().empty());
  }
}

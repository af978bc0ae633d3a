// The `// Example:` blocks of libs/spawn's public headers, compiled (with
// -Wall -Wextra -Werror) and run, so they cannot rot. Paths under /tmp
// become paths under TEST_TMPDIR, and the identity a CLI would read from a
// status file is that of a real child; everything else is as in the headers.
#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>

#include "coordkit/spawn/spawn.h"
#include "coordkit/testing/scratch_dir.h"

namespace fs = std::filesystem;

namespace {

// tmp: `name` in a fresh scratch directory.
fs::path tmp(const std::string& name) {
  return coordkit::testing::scratch_dir("spawn-examples") / name;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("the spawn.h example holds", "[spawn][examples]") {
  namespace sp = coordkit::spawn;
  sp::Child child =
      sp::spawn({.executable = "/bin/echo", .args = {"hello"}, .out = sp::Stdio::pipe()});
  std::string text = child.read_stdout_all();  // "hello\n"
  sp::ExitStatus status = child.wait();        // status.success()
  CHECK(text == "hello\n");
  CHECK(status.success());
}

TEST_CASE("the error.h example holds", "[spawn][examples]") {
  bool told = false;
  try {
    coordkit::spawn::Child child = coordkit::spawn::spawn({.executable = "/no/such/tool"});
  } catch (const coordkit::spawn::Error& e) {
    if (e.code() == coordkit::spawn::ErrorCode::kNotFound) { /* tell the user */
      told = true;
    }
  }
  CHECK(told);
}

TEST_CASE("the command.h example holds", "[spawn][examples]") {
  const fs::path log = tmp("env.log");
  fs::remove(log);
  coordkit::spawn::Command command{
      .executable = "/usr/bin/printenv",
      .args = {"LANG"},
      .env = {{"LANG", "C"}, {"LC_ALL", std::nullopt}},
      .out = coordkit::spawn::Stdio::file(log),
      .detached = true,
  };
  coordkit::spawn::Child child = coordkit::spawn::spawn(command);
  CHECK(child.wait().success());
  CHECK(read_file(log) == "C\n");
}

TEST_CASE("the exit_status.h example holds", "[spawn][examples]") {
  coordkit::spawn::Child child = coordkit::spawn::spawn({.executable = "/bin/false"});
  coordkit::spawn::ExitStatus status = child.wait();
  if (!status.success()) std::cerr << status.to_string() << "\n";
  CHECK(status.to_string() == "exit code 1");
}

TEST_CASE("the process.h example holds", "[spawn][examples]") {
  // The server a status file would name: a real process of ours.
  coordkit::spawn::Child sleeper =
      coordkit::spawn::spawn({.executable = "/bin/sleep", .args = {"300"}});
  const coordkit::spawn::ProcessIdentity recorded = sleeper.identity();

  // A CLI stopping the server named in a status file:
  coordkit::spawn::ProcessIdentity id{
      .pid = recorded.pid, .start_time = recorded.start_time, .boot_id = recorded.boot_id};
  bool stopped = false;
  if (std::optional<coordkit::spawn::Process> server = coordkit::spawn::Process::open(id)) {
    server->terminate();
    if (!server->wait_for_exit(std::chrono::seconds(5))) server->kill();
    stopped = true;
  }
  CHECK(stopped);
  const coordkit::spawn::ExitStatus status = sleeper.wait();
  CHECK(status.signal == SIGTERM);
}

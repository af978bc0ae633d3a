// demo_controller: drives the Windows demo end to end, as a CLI drives the
// gateway: start demo_server through coordkit::spawn detached with no
// console, wait until its status file says ready, check its log, stop it
// through its shutdown file. Every step is a check; any failure makes the
// exit code non-zero (ctest runs it under Wine).
//
// Guards against a false pass: "no console" is believed only after the
// same check (the server's own CONOUT$ test, written to its log) has
// reported a console where Windows gives one: the same server started with
// default flags from this controller, which owns a console. The stop must
// come from the shutdown file (the server logs the source, and stop() must
// not have escalated), and the log must hold the emoji as ASCII escapes,
// so a server that logged nothing cannot pass the ASCII check; its log
// file (FileSink) must hold the very same bytes.
#include <windows.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "common/check.h"
#include "common/console.h"
#include "common/win.h"
#include "coordkit/ipc/ipc.h"
#include "coordkit/spawn/spawn.h"

namespace {

namespace fs = std::filesystem;
namespace ipc = coordkit::ipc;
namespace spawn = coordkit::spawn;
namespace wt = coordkit::windows_test;
using namespace std::chrono_literals;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

bool all_ascii(const std::string& bytes) {
  for (unsigned char c : bytes) {
    if (c >= 0x80) return false;
  }
  return true;
}

// run_server: starts demo_server for `dir` with stdout and stderr appended
// to `log`, waits until it is ready, stops it through its shutdown file and
// returns its log. `detached`: no console at all (DETACHED_PROCESS).
std::string run_server(const fs::path& dir, const fs::path& log, bool detached) {
  spawn::Command command{
      .executable = fs::path(wt::helper(L"demo_server.exe")),
      .args = {dir.string()},
      .in = spawn::Stdio::null(),
      .out = spawn::Stdio::file(log),
      .err = spawn::Stdio::file(log),
      .detached = detached,
      .windows_detached_process = detached,
  };
  spawn::Child child = spawn::spawn(command);
  ipc::Client client({.app = "demo", .runtime_dir = dir});
  try {
    const ipc::Status ready = client.wait_until_ready(30s, child);
    CHECK(ready.verified);
    REQUIRE(ready.record.has_value());
    CHECK_EQ(ready.record->pid, static_cast<std::int64_t>(child.pid()));
  } catch (const ipc::Error& e) {
    wt::note(std::string("not ready: ") + e.what() + "; log: " + wt::read_file(log.wstring()));
    child.kill();
    child.wait();
    REQUIRE(false);
  }
  const ipc::StopResult stopped = client.stop({.deadline = 20s});
  CHECK(stopped.outcome == ipc::StopOutcome::kStopped);
  CHECK(stopped.request_written);
  CHECK(!stopped.escalated());
  const std::optional<spawn::ExitStatus> exit = child.wait_for(20s);
  REQUIRE(exit.has_value());
  CHECK(exit->success());
  CHECK(client.status().state == ipc::ServerState::kStopped);
  return wt::read_file(log.wstring());
}

COORDKIT_TEST("control: started with default flags from a console, the server reports one") {
  if (!wt::has_console()) {
    ::FreeConsole();
    REQUIRE(::AllocConsole());
  }
  REQUIRE(wt::has_console());
  wt::ScratchDir scratch;
  const fs::path log = fs::path(scratch.path()) / "control.log";
  const std::string text = run_server(fs::path(scratch.path()) / "rt", log, /*detached=*/false);
  CHECK(contains(text, "conout=yes"));
  CHECK(contains(text, "source=file"));
}

COORDKIT_TEST(
    "detached: no console, emoji logged as ASCII, ready by status file, stopped by file") {
  REQUIRE(wt::has_console());  // the controller still has one: none is inherited
  wt::ScratchDir scratch;
  const fs::path log = fs::path(scratch.path()) / "server.log";
  const std::string text = run_server(fs::path(scratch.path()) / "rt", log, /*detached=*/true);
  wt::note("server log:\n" + text);
  CHECK(contains(text, "conout=no"));
  CHECK(contains(text, "window=no"));
  CHECK(all_ascii(text));
  CHECK(contains(text, "\\u{1F680}"));  // the rocket, escaped
  CHECK(contains(text, "caf\\u{E9}"));
  CHECK(contains(text, "tab\\there"));
  CHECK(contains(text, "\\u{2705}"));
  CHECK(contains(text, "source=file"));
  CHECK(contains(text, "stopped"));
  // The server's own log file (FileSink) holds the same lines.
  const std::string file = wt::read_file((fs::path(scratch.path()) / "demo-server.log").wstring());
  CHECK(all_ascii(file));
  CHECK(contains(file, "\\u{1F680}"));
  CHECK(contains(file, "source=file"));
  CHECK(contains(file, "stopped"));
  CHECK_EQ(file, text);
}

}  // namespace

int main() { return coordkit::windows_test::run_all(); }

// coordctl gateway start|stop|status|logs against fake_gateway, a server
// built on the same libs/ipc runtime directory, lock, status file and
// shutdown file as coordkit-gateway. Every test stops what it started.
#include <signal.h>

#include <algorithm>
#include <catch2/catch_test_macros.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/cli/cli_test_support.h"

using namespace coordkit::cli_test;
namespace spawn = coordkit::spawn;
using nlohmann::json;
namespace ipc = coordkit::ipc;

namespace {

std::int64_t start_ready(const World& w, const std::vector<std::string>& gateway_args = {}) {
  return w.start_gateway(gateway_args, 20)["pid"].get<std::int64_t>();
}

}  // namespace

TEST_CASE("gateway start returns once ready; status shows it; stop stops it", "[cli][gateway]") {
  World w("lifecycle");
  GatewayGuard guard(w);
  const std::int64_t pid = start_ready(w);
  const ipc::Status s = w.client().status();
  REQUIRE(s.state == ipc::ServerState::kReady);
  CHECK(s.record->pid == pid);

  Result r = w.run({"gateway", "status", "--json"});
  CHECK(r.code == 0);
  json j = json_line(r.out);
  CHECK(j["state"] == "ready");
  CHECK(j["pid"] == pid);
  CHECK(j["address"] == "127.0.0.1:18080");
  CHECK(j["version"] == "fake-1.0");
  CHECK(j["database"] == w.db.string());
  CHECK(j["uptime_seconds"].get<std::int64_t>() >= 0);
  r = w.run({"gateway", "status"});
  CHECK(r.code == 0);
  CHECK(r.out.find("pid:      " + std::to_string(pid)) != std::string::npos);

  SECTION("a second start exits 6 and leaves the first alone") {
    r = w.run({"gateway", "start", "--json"});
    CHECK(r.code == 6);
    CHECK(json_line(r.out)["error"]["code"] == "already_running");
    CHECK(w.client().status().record->pid == pid);
  }
  SECTION("rekey while the gateway runs is refused, the file unchanged") {
    w.init();
    const std::string before = read_file(w.db);
    r = w.run(w.with_key({"db", "rekey", "--new-key-file", w.other_key_file.string(), "--json"}));
    CHECK(r.code == 1);
    CHECK(json_line(r.out)["error"]["code"] == "unavailable");
    CHECK(read_file(w.db) == before);
  }
  r = w.run({"gateway", "stop", "--json"});
  CHECK(r.code == 0);
  j = json_line(r.out);
  CHECK(j["outcome"] == "stopped");
  CHECK(j["escalated"] == false);
  CHECK_FALSE(w.client().status().running());
  CHECK(read_file(w.dir / "gateway.log").find("shutdown (file, graceful)") != std::string::npos);

  r = w.run({"gateway", "status", "--json"});
  CHECK(r.code == 3);
  CHECK(json_line(r.out)["running"] == false);
}

TEST_CASE("gateway stop when nothing runs exits 0 and says so", "[cli][gateway]") {
  World w("stop-nothing");
  Result r = w.run({"gateway", "stop", "--json"});
  CHECK(r.code == 0);
  CHECK(json_line(r.out)["outcome"] == "not_running");
  r = w.run({"gateway", "stop"});
  CHECK(r.code == 0);
  CHECK(r.out.find("not running") != std::string::npos);
}

TEST_CASE("a gateway that dies at start-up: its last log lines and a non-zero exit",
          "[cli][gateway]") {
  World w("start-fails");
  GatewayGuard guard(w);
  const Result r = w.run({"gateway", "start", "--json", "--", "--fail-at-start"});
  CHECK(r.code == 1);
  CHECK(json_line(r.out)["error"]["code"] == "gateway_failed");
  CHECK(r.err.find("simulated start-up failure") != std::string::npos);
  CHECK(all_ascii(r.err));
  CHECK_FALSE(w.client().status().running());
}

TEST_CASE("gateway start gives up after --wait with exit 5", "[cli][gateway]") {
  World w("start-slow");
  GatewayGuard guard(w);
  const Result r = w.run({"gateway", "start", "--wait", "0.3", "--", "--start-delay-ms", "20000"});
  CHECK(r.code == 5);
  CHECK(w.client().status().running());  // still starting; the guard stops it
}

TEST_CASE("gateway start without a gateway executable exits 2", "[cli][gateway]") {
  World w("no-bin");
  CHECK(w.run({"gateway", "start", "--gateway-bin", (w.dir / "nothing").string()}).code == 2);
}

TEST_CASE("stop of a gateway that ignores the request escalates after the timeout or with --force",
          "[cli][gateway]") {
  World w("deaf");
  GatewayGuard guard(w);
  SECTION("after the timeout: SIGTERM") {
    const std::int64_t pid = start_ready(w, {"--ignore-shutdown"});
    const Result r = w.run({"gateway", "stop", "--timeout", "1", "--json"});
    CHECK(r.code == 0);
    const json j = json_line(r.out);
    CHECK(j["outcome"] == "terminated");
    CHECK(j["escalated"] == true);
    CHECK(j["forced"] == false);
    CHECK(j["pid"] == pid);
    CHECK(j["request_written"] == true);
    CHECK(j["elapsed_ms"].get<std::int64_t>() >= 1000);  // not before the timeout
    CHECK(read_file(w.dir / "gateway.log").find("ignoring the shutdown request") !=
          std::string::npos);
  }
  SECTION("--force: at once") {
    start_ready(w, {"--ignore-shutdown"});
    const Result r = w.run({"gateway", "stop", "--force", "--json"});
    CHECK(r.code == 0);
    const json j = json_line(r.out);
    CHECK(j["outcome"] == "terminated");
    CHECK(j["forced"] == true);
    CHECK(j["elapsed_ms"].get<std::int64_t>() < 10000);
  }
  SECTION("deaf to SIGTERM too: SIGKILL, and the text says so") {
    start_ready(w, {"--ignore-shutdown", "--ignore-sigterm"});
    const Result r = w.run({"gateway", "stop", "--force"});
    CHECK(r.code == 0);
    CHECK(r.out.find("SIGKILL") != std::string::npos);
  }
  CHECK_FALSE(w.client().status().running());
}

TEST_CASE("after kill -9: status reports the stale file (exit 3) and start works again",
          "[cli][gateway]") {
  World w("kill9");
  GatewayGuard guard(w);
  const std::int64_t pid = start_ready(w);
  REQUIRE(::kill(static_cast<pid_t>(pid), SIGKILL) == 0);
  // The lock is free the moment the process is gone.
  for (int i = 0; i < 500 && w.client().status().running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Result r = w.run({"gateway", "status", "--json"});
  CHECK(r.code == 3);
  json j = json_line(r.out);
  CHECK(j["state"] == "stale");
  CHECK(j["stale_pid"] == pid);
  r = w.run({"gateway", "status"});
  CHECK(r.code == 3);
  CHECK(r.out.find("stale") != std::string::npos);
  CHECK(w.run({"gateway", "stop"}).code == 0);

  const std::int64_t again = start_ready(w);
  CHECK(again != pid);
  CHECK(w.run({"gateway", "stop"}).code == 0);
}

TEST_CASE("status with a status file that names a process that is not the gateway: exit 3",
          "[cli][gateway]") {
  World w("foreign-status");
  fs::create_directories(w.runtime);
  fs::permissions(w.runtime, fs::perms::owner_all);
  ipc::StatusRecord record;
  record.app = "gateway";
  record.pid = ::getpid();  // alive, but holds no lock
  record.token = std::string(32, 'a');
  record.set_phase(ipc::Phase::kReady);
  write_file(w.runtime / "gateway.status", ipc::format_status(record));
  Result r = w.run({"gateway", "status", "--json"});
  CHECK(r.code == 3);
  CHECK(json_line(r.out)["state"] == "stale");
  // Nothing is signalled: stop sees nothing running.
  r = w.run({"gateway", "stop", "--json"});
  CHECK(r.code == 0);
  CHECK(json_line(r.out)["outcome"] == "not_running");
}

TEST_CASE("gateway logs shows the last lines; --follow shows new ones and ends on SIGINT with 0",
          "[cli][gateway]") {
  World w("logs");
  GatewayGuard guard(w);
  CHECK(w.run({"gateway", "logs"}).code == 1);  // no log yet
  start_ready(w, {"--tick-ms", "50"});
  const fs::path log = w.dir / "gateway.log";
  for (int i = 0; i < 1000; ++i) {
    const std::string text = read_file(log);
    if (std::count(text.begin(), text.end(), '\n') >= 5) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Result r = w.run({"gateway", "logs", "--lines", "3"});
  CHECK(r.code == 0);
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 3);

  Env e = w.env;
  spawn::Child follower = spawn::spawn({.executable = coordctl_path(),
                                        .args = {"gateway", "logs", "--follow", "--lines", "0"},
                                        .env = e,
                                        .out = spawn::Stdio::pipe(),
                                        .err = spawn::Stdio::pipe()});
  const std::optional<std::string> first =
      follower.read_stdout_line(std::chrono::milliseconds(20000));
  REQUIRE(first.has_value());
  CHECK(first->rfind("tick ", 0) == 0);
  const std::optional<std::string> second =
      follower.read_stdout_line(std::chrono::milliseconds(20000));
  REQUIRE(second.has_value());
  CHECK(std::stol(second->substr(5)) > std::stol(first->substr(5)));
  REQUIRE(::kill(static_cast<pid_t>(follower.pid()), SIGINT) == 0);
  const auto status = follower.wait_for(std::chrono::milliseconds(20000));
  REQUIRE(status.has_value());
  CHECK(status->exit_code == 0);
  CHECK(w.run({"gateway", "stop"}).code == 0);
}

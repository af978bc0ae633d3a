// The `// Example:` blocks of libs/ipc's public headers, compiled (with
// -Wall -Wextra -Werror: designated initializers of the option structs stay
// warning-free) and run, so they cannot rot. The runtime dir comes from
// COORDKIT_RUNTIME_DIR under TEST_TMPDIR; where an example blocks until
// another process acts (a shutdown request), a thread of the test plays that
// process. Everything else is as in the headers.
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "coordkit/ipc/ipc.h"
#include "coordkit/log/log.h"
#include "coordkit/testing/deadline.h"
#include "coordkit/testing/scratch_dir.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// use_runtime_dir: points COORDKIT_RUNTIME_DIR at a directory that does not
// exist yet (the Server creates it), in a scratch directory of its own.
fs::path use_runtime_dir(const std::string& name) {
  fs::path dir = coordkit::testing::scratch_dir(name) / "run";
  ::setenv("COORDKIT_RUNTIME_DIR", dir.c_str(), 1);  // NOLINT(concurrency-mt-unsafe)
  return dir;
}

// Requester: another process of the same user asking "gateway" to stop, once
// it runs.
class Requester {
 public:
  explicit Requester(coordkit::ipc::ShutdownMode mode = coordkit::ipc::ShutdownMode::kGraceful)
      : thread_([mode] {
          const coordkit::ipc::Client client({.app = "gateway"});
          coordkit::testing::eventually(
              [&] {
                try {
                  client.request_shutdown(mode, 5s);
                  return true;
                } catch (const coordkit::ipc::Error&) {
                  return false;  // not running or no status yet
                }
              },
              20s, 5ms);
        }) {}
  Requester(const Requester&) = delete;
  Requester& operator=(const Requester&) = delete;
  ~Requester() { thread_.join(); }

 private:
  std::thread thread_;
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The error.h example, as a function that returns the exit code.
int start_gateway() {
  try {
    coordkit::ipc::Server server({.app = "gateway"});
  } catch (const coordkit::ipc::Error& e) {
    if (e.code() == coordkit::ipc::ErrorCode::kAlreadyRunning) return 3;
    throw;
  }
  return 0;
}

}  // namespace

TEST_CASE("the ipc.h example holds", "[ipc][examples]") {
  use_runtime_dir("ipc");
  std::optional<coordkit::ipc::StopResult> result;
  std::thread other;
  {
    // Server side (first thing in main):
    coordkit::ipc::Server server({.app = "gateway", .version = "1.0"});
    server.set_ready();
    // Client side (any other process of the same user):
    other = std::thread([&result] {
      coordkit::ipc::Client client({.app = "gateway"});
      coordkit::ipc::Status status = client.status();  // ready, draining, stale, ...
      CHECK(status.state == coordkit::ipc::ServerState::kReady);
      coordkit::ipc::StopResult stop_result = client.stop();  // file, wait, escalate if needed
      result = stop_result;
    });
    coordkit::ipc::ShutdownRequest request = server.wait_for_shutdown();
    CHECK(request.source == coordkit::ipc::ShutdownSource::kFile);
  }  // ~Server: the client's stop() sees the lock released
  other.join();
  REQUIRE(result.has_value());
  CHECK(result->outcome == coordkit::ipc::StopOutcome::kStopped);
}

TEST_CASE("the server.h examples hold", "[ipc][examples]") {
  use_runtime_dir("server");
  SECTION("the header example") {
    Requester other;
    coordkit::ipc::Server server({.app = "gateway", .version = "1.0"});
    // ... start-up work; abort early if server.shutdown_request() is set ...
    // (The requester may already have asked: it needs only the starting
    // server's token.)
    server.set_ready();
    coordkit::ipc::ShutdownRequest request = server.wait_for_shutdown();
    // ... drain in-flight work (request.mode, request.deadline) ...
    CHECK(request.mode == coordkit::ipc::ShutdownMode::kGraceful);
    CHECK(request.deadline == 5s);
    // ~Server removes the status file and releases the lock.
  }
  SECTION("shutdown_handle_dup in an io_context") {
    Requester other(coordkit::ipc::ShutdownMode::kFast);
    coordkit::ipc::Server server({.app = "gateway"});
    boost::asio::io_context io;
    bool draining = false;
    auto begin_drain = [&] { draining = true; };
    boost::asio::posix::stream_descriptor shutdown(io, server.shutdown_handle_dup().release());
    shutdown.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                        [&](boost::system::error_code) { begin_drain(); });
    io.run_for(20s);
    CHECK(draining);
    REQUIRE(server.shutdown_request().has_value());
    CHECK(server.shutdown_request()->mode == coordkit::ipc::ShutdownMode::kFast);
  }
}

TEST_CASE("the client.h example holds", "[ipc][examples]") {
  use_runtime_dir("client");
  // The server, in another thread: it honours the request and goes away.
  std::optional<coordkit::ipc::Server> server;
  server.emplace(coordkit::ipc::ServerOptions{.app = "gateway"});
  server->set_ready();
  std::thread serving([&server] {
    server->wait_for_shutdown();
    server.reset();
  });

  bool stopped = false;
  bool escalated = true;
  coordkit::ipc::Client client({.app = "gateway"});
  if (client.status().running()) {
    coordkit::ipc::StopResult r = client.stop({.deadline = std::chrono::seconds(10)});
    if (r.escalated()) { /* the server ignored the request */
    }
    stopped = r.outcome == coordkit::ipc::StopOutcome::kStopped;
    escalated = r.escalated();
  }
  serving.join();
  CHECK(stopped);
  CHECK_FALSE(escalated);
}

TEST_CASE("the error.h example holds", "[ipc][examples]") {
  use_runtime_dir("error");
  CHECK(start_gateway() == 0);
  coordkit::ipc::Server running({.app = "gateway"});
  CHECK(start_gateway() == 3);
}

TEST_CASE("the events.h example holds", "[ipc][examples]") {
  const fs::path dir = use_runtime_dir("events");
  const fs::path log_path = dir.parent_path() / "events.log";
  fs::remove(log_path);
  {
    auto file = std::make_shared<coordkit::log::FileSink>(
        coordkit::log::FileSinkOptions{.path = log_path.string(), .buffer_bytes = 0});
    coordkit::log::Logger logger("gateway", {file});
    coordkit::ipc::ServerOptions options{.app = "gateway", .handle_signals = false};
    options.on_event = [&](const coordkit::ipc::Event& e) {
      if (e.severity == coordkit::ipc::EventSeverity::kInfo) {
        logger.info("ipc event", {{"event", coordkit::ipc::to_string(e.kind)}});
      } else {
        logger.warn("ipc problem",
                    {{"event", coordkit::ipc::to_string(e.kind)}, {"detail", e.detail}});
      }
    };
    // A stale request left by an earlier run (a problem), then a valid one
    // (routine).
    fs::create_directories(dir);
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace);
    std::ofstream(dir / "gateway.shutdown")
        << R"({"token":"00000000000000000000000000000000","mode":"fast"})";
    coordkit::ipc::Server server(std::move(options));
    coordkit::ipc::Client({.app = "gateway"})
        .request_shutdown(coordkit::ipc::ShutdownMode::kFast, 1s);
    REQUIRE(server.wait_for_shutdown(20s).has_value());
  }
  const std::string text = read_file(log_path);
  CHECK(text.find("WARN  gateway: ipc problem event=shutdown_file_rejected") != std::string::npos);
  CHECK(text.find("INFO  gateway: ipc event event=shutdown_accepted") != std::string::npos);
}

TEST_CASE("the runtime_dir.h example holds", "[ipc][examples]") {
  const fs::path dir = use_runtime_dir("runtime_dir");
  coordkit::ipc::RuntimeDirLocation where = coordkit::ipc::resolve_runtime_dir("gateway");
  coordkit::ipc::ensure_runtime_dir(where);  // throws on an unsafe directory
  CHECK(where.path == dir);
  CHECK(where.source == coordkit::ipc::RuntimeDirSource::kEnvironment);
  CHECK((fs::status(dir).permissions() & fs::perms::all) == fs::perms::owner_all);
}

TEST_CASE("the status.h example holds", "[ipc][examples]") {
  coordkit::ipc::StatusRecord record;
  record.pid = 4242;
  record.set_phase(coordkit::ipc::Phase::kReady);
  std::string json = coordkit::ipc::format_status(record);
  std::optional<coordkit::ipc::StatusRecord> back = coordkit::ipc::parse_status(json);
  REQUIRE(back.has_value());
  CHECK(back->pid == 4242);
  CHECK(back->phase() == coordkit::ipc::Phase::kReady);
}

TEST_CASE("the shutdown.h example holds", "[ipc][examples]") {
  const std::string token = "0123456789abcdef0123456789abcdef";
  std::string text =
      coordkit::ipc::format_shutdown_file({.token = token,
                                           .mode = coordkit::ipc::ShutdownMode::kGraceful,
                                           .deadline = std::chrono::seconds(10)});
  const auto back = coordkit::ipc::parse_shutdown_file(text);
  REQUIRE(back.has_value());
  CHECK(back->token == token);
  CHECK(back->mode == coordkit::ipc::ShutdownMode::kGraceful);
  CHECK(back->deadline == 10s);
}

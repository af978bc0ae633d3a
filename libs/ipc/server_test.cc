// In-process checks of the Server object and a Client in the same process.
// Multi-process behaviour (eight servers racing, kill -9, escalation, ...)
// is in tests/ipc.
#include "coordkit/ipc/server.h"

#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "coordkit/ipc/client.h"
#include "coordkit/testing/deadline.h"
#include "coordkit/testing/error_matchers.h"
#include "coordkit/testing/scratch_dir.h"

namespace fs = std::filesystem;
namespace ipc = coordkit::ipc;
using namespace std::chrono_literals;

namespace {

using coordkit::testing::eventually;

// fresh_dir: a runtime dir that does not exist yet (the Server creates it),
// in a scratch directory of its own.
fs::path fresh_dir(const std::string& name) { return coordkit::testing::scratch_dir(name) / "run"; }

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const fs::path& p, const std::string& content) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << content;
}

// Collects events from the watcher thread.
struct EventLog {
  std::mutex mutex;
  std::vector<ipc::Event> events;
  void add(const ipc::Event& e) {
    std::lock_guard<std::mutex> g(mutex);
    events.push_back(e);
  }
  std::size_t count(ipc::EventKind kind) {
    std::lock_guard<std::mutex> g(mutex);
    std::size_t n = 0;
    for (const auto& e : events) n += e.kind == kind ? 1 : 0;
    return n;
  }
  // severities: the severity of every event of `kind` seen.
  std::vector<ipc::EventSeverity> severities(ipc::EventKind kind) {
    std::lock_guard<std::mutex> g(mutex);
    std::vector<ipc::EventSeverity> out;
    for (const auto& e : events) {
      if (e.kind == kind) out.push_back(e.severity);
    }
    return out;
  }
  std::optional<ipc::RejectReason> last_reason() {
    std::lock_guard<std::mutex> g(mutex);
    for (auto it = events.rbegin(); it != events.rend(); ++it) {
      if (it->kind == ipc::EventKind::kShutdownFileRejected) return it->reason;
    }
    return std::nullopt;
  }
};

ipc::ServerOptions options_for(const fs::path& dir, EventLog* log = nullptr) {
  ipc::ServerOptions o;
  o.app = "unit";
  o.runtime_dir = dir;
  o.version = "9.9";
  o.handle_signals = false;
  o.poll_interval = 100ms;
  if (log != nullptr) o.on_event = [log](const ipc::Event& e) { log->add(e); };
  return o;
}

// construct_error: the code of the error a Server built from `o` throws.
ipc::ErrorCode construct_error(const ipc::ServerOptions& o) {
  return coordkit::testing::thrown<ipc::Error>([&] { const ipc::Server s(o); }).code();
}

}  // namespace

TEST_CASE("A server publishes starting, then ready, in a 0600 status file it removes at the end",
          "[ipc][server]") {
  const fs::path dir = fresh_dir("lifecycle");
  const fs::path status = dir / "unit.status";
  {
    ipc::Server server(options_for(dir));
    REQUIRE(fs::exists(status));
    struct stat st {};
    REQUIRE(::stat(status.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
    auto record = ipc::parse_status(read_file(status));
    REQUIRE(record.has_value());
    CHECK(record->phase() == ipc::Phase::kStarting);
    CHECK(record->pid == ::getpid());
    CHECK(record->token == server.instance_token());
    CHECK(record->token.size() == 32);
    CHECK(record->version == "9.9");
    CHECK_FALSE(record->boot_id.empty());
    CHECK(record->start_time > 0);

    ipc::Client client({"unit", dir});
    CHECK(client.status().state == ipc::ServerState::kStarting);
    CHECK(server.set_ready());
    const ipc::Status s = client.status();
    CHECK(s.state == ipc::ServerState::kReady);
    CHECK(s.verified);
    CHECK(s.lock_holder_pid == ::getpid());
    server.set_address("127.0.0.1:1");
    CHECK(client.status().record->address == "127.0.0.1:1");
  }
  CHECK_FALSE(fs::exists(status));
  CHECK(fs::exists(dir / "unit.lock"));  // the lock file stays; the lock is gone
  CHECK(ipc::Client({"unit", dir}).status().state == ipc::ServerState::kStopped);
}

TEST_CASE("A second server in the same process is refused and does not drop the first's lock",
          "[ipc][server]") {
  const fs::path dir = fresh_dir("twice");
  auto first = std::make_unique<ipc::Server>(options_for(dir));
  const std::string before = read_file(dir / "unit.status");
  CHECK(construct_error(options_for(dir)) == ipc::ErrorCode::kAlreadyRunning);
  // Probing from the same process must not open (and by closing, release)
  // the lock file either.
  CHECK(ipc::Client({"unit", dir}).status().running());
  CHECK(construct_error(options_for(dir)) == ipc::ErrorCode::kAlreadyRunning);
  CHECK(read_file(dir / "unit.status") == before);
  first.reset();
  CHECK_NOTHROW(ipc::Server(options_for(dir)));
}

TEST_CASE("A shutdown file with the instance token is honoured and acknowledged", "[ipc][server]") {
  const fs::path dir = fresh_dir("honour");
  EventLog log;
  ipc::Server server(options_for(dir, &log));
  server.set_ready();
  CHECK_FALSE(server.shutdown_request().has_value());
  CHECK_FALSE(server.wait_for_shutdown(10ms).has_value());

  ipc::Client({"unit", dir}).request_shutdown(ipc::ShutdownMode::kFast, 1234ms);
  const auto request = server.wait_for_shutdown(5s);
  REQUIRE(request.has_value());
  CHECK(request->source == ipc::ShutdownSource::kFile);
  CHECK(request->mode == ipc::ShutdownMode::kFast);
  CHECK(request->deadline == 1234ms);
  CHECK(server.phase() == ipc::Phase::kDraining);
  CHECK(eventually([&] { return !fs::exists(dir / "unit.shutdown"); }));
  CHECK(ipc::Client({"unit", dir}).status().state == ipc::ServerState::kDraining);
  // Draining is final.
  CHECK_FALSE(server.set_ready());
  // The native handle is readable now and stays so.
  for (int i = 0; i < 2; ++i) {
    pollfd p{static_cast<int>(server.shutdown_native_handle()), POLLIN, 0};
    CHECK(::poll(&p, 1, 0) == 1);
  }
  // The accepted event follows the wake-up of the waiters: wait for it.
  CHECK(eventually([&] { return log.count(ipc::EventKind::kShutdownAccepted) == 1; }));
  // Routine: an accepted request is an info event, not a problem.
  CHECK(log.severities(ipc::EventKind::kShutdownAccepted) ==
        std::vector<ipc::EventSeverity>{ipc::EventSeverity::kInfo});
}

TEST_CASE("A shutdown file that is not a valid request for this instance is removed and reported",
          "[ipc][server]") {
  const fs::path dir = fresh_dir("reject");
  EventLog log;
  ipc::Server server(options_for(dir, &log));
  const fs::path file = dir / "unit.shutdown";

  using Maker = void (*)(const fs::path&, const std::string&);
  struct Row {
    const char* name;
    Maker make;
    ipc::RejectReason reason;
  };
  const Row row = GENERATE(
      Row{"wrong token",
          [](const fs::path& f, const std::string&) {
            write_file(f, R"({"token":"00000000000000000000000000000000","mode":"fast"})");
          },
          ipc::RejectReason::kWrongToken},
      Row{"garbage", [](const fs::path& f, const std::string&) { write_file(f, "stop!"); },
          ipc::RejectReason::kMalformed},
      Row{"empty", [](const fs::path& f, const std::string&) { write_file(f, ""); },
          ipc::RejectReason::kMalformed},
      Row{"too large",
          [](const fs::path& f, const std::string&) { write_file(f, std::string(5000, ' ')); },
          ipc::RejectReason::kTooLarge},
      Row{"symlink to a valid request",
          [](const fs::path& f, const std::string& token) {
            const fs::path target = f.parent_path().parent_path() / "valid-request";
            write_file(target, R"({"token":")" + token + R"(","mode":"fast"})");
            fs::create_symlink(target, f);
          },
          ipc::RejectReason::kSymlink},
      Row{"hard link to a valid request",
          [](const fs::path& f, const std::string& token) {
            const fs::path target = f.parent_path() / "other";
            write_file(target, R"({"token":")" + token + R"(","mode":"fast"})");
            fs::create_hard_link(target, f);
          },
          ipc::RejectReason::kHardLinked},
      Row{"directory", [](const fs::path& f, const std::string&) { fs::create_directory(f); },
          ipc::RejectReason::kNotRegularFile},
      Row{"fifo",
          [](const fs::path& f, const std::string&) { REQUIRE(::mkfifo(f.c_str(), 0600) == 0); },
          ipc::RejectReason::kNotRegularFile});
  CAPTURE(row.name);
  row.make(file, server.instance_token());
  CHECK(eventually([&] { return !fs::exists(fs::symlink_status(file)); }));
  CHECK(eventually([&] { return log.count(ipc::EventKind::kShutdownFileRejected) == 1; }));
  CHECK(log.last_reason() == row.reason);
  // A refused file is a problem the server works around: a warning.
  CHECK(log.severities(ipc::EventKind::kShutdownFileRejected) ==
        std::vector<ipc::EventSeverity>{ipc::EventSeverity::kWarn});
  CHECK_FALSE(server.wait_for_shutdown(150ms).has_value());
  CHECK(server.phase() == ipc::Phase::kStarting);
  // Control: a valid request for this instance does stop it.
  ipc::Client({"unit", dir}).request_shutdown(ipc::ShutdownMode::kGraceful, 1s);
  CHECK(server.wait_for_shutdown(5s).has_value());
}

TEST_CASE("Programmatic and signal requests share the path; a second one upgrades to fast",
          "[ipc][server]") {
  const fs::path dir = fresh_dir("signals");
  std::vector<ipc::ShutdownRequest> seen;
  std::mutex mutex;
  auto options = options_for(dir);
  options.on_shutdown = [&](const ipc::ShutdownRequest& r) {
    std::lock_guard<std::mutex> g(mutex);
    seen.push_back(r);
  };
  SECTION("programmatic") {
    ipc::Server server(options);
    server.request_shutdown();
    server.request_shutdown(ipc::ShutdownMode::kFast);
    server.request_shutdown(ipc::ShutdownMode::kGraceful);  // no downgrade
    const auto r = server.shutdown_request();
    REQUIRE(r.has_value());
    CHECK(r->mode == ipc::ShutdownMode::kFast);
    std::lock_guard<std::mutex> g(mutex);
    CHECK(seen.size() == 2);
  }
  SECTION("SIGTERM, then SIGINT") {
    options.handle_signals = true;
    ipc::Server server(options);
    REQUIRE(::raise(SIGTERM) == 0);
    auto r = server.wait_for_shutdown(5s);
    REQUIRE(r.has_value());
    CHECK(r->source == ipc::ShutdownSource::kSignal);
    CHECK(r->mode == ipc::ShutdownMode::kGraceful);
    REQUIRE(::raise(SIGINT) == 0);
    CHECK(eventually([&] { return server.shutdown_request()->mode == ipc::ShutdownMode::kFast; }));
    // Only one server per process may own the signals.
    auto second = options_for(fresh_dir("signals2"));
    second.handle_signals = true;
    CHECK(construct_error(second) == ipc::ErrorCode::kInvalidArgument);
  }
  SECTION("dispositions are restored after the server is gone") {
    options.handle_signals = true;
    struct sigaction before {};
    REQUIRE(::sigaction(SIGTERM, nullptr, &before) == 0);
    { ipc::Server server(options); }
    struct sigaction after {};
    REQUIRE(::sigaction(SIGTERM, nullptr, &after) == 0);
    CHECK(after.sa_handler == before.sa_handler);
  }
}

TEST_CASE("The watcher sees a request by inotify and by the poll alone", "[ipc][server]") {
  const bool inotify = GENERATE(true, false);
  CAPTURE(inotify);
  const fs::path dir = fresh_dir("watch");
  auto options = options_for(dir);
  options.use_inotify = inotify;
  ipc::Server server(options);
  CHECK(server.using_inotify() == inotify);
  ipc::Client({"unit", dir}).request_shutdown(ipc::ShutdownMode::kGraceful, 1s);
  CHECK(server.wait_for_shutdown(5s).has_value());
}

TEST_CASE("A verified server with a state word this version does not know reads as unknown_state",
          "[ipc][server]") {
  const fs::path dir = fresh_dir("newer");
  ipc::Server server(options_for(dir));
  auto record = ipc::parse_status(read_file(dir / "unit.status"));
  REQUIRE(record.has_value());
  record->state_word = "warming_up";  // what a newer server might publish
  write_file(dir / "unit.status", ipc::format_status(*record));
  const ipc::Status s = ipc::Client({"unit", dir}).status();
  CHECK(s.state == ipc::ServerState::kUnknownState);
  CHECK(ipc::to_string(s.state) == "unknown_state");
  CHECK(s.verified);
  CHECK(s.running());                          // it holds the lock ...
  CHECK(s.state != ipc::ServerState::kReady);  // ... but is not known to serve
}

TEST_CASE("Every event kind has one severity: routine events info, problems warn or error",
          "[ipc][events]") {
  CHECK(ipc::severity_of(ipc::EventKind::kShutdownAccepted) == ipc::EventSeverity::kInfo);
  CHECK(ipc::severity_of(ipc::EventKind::kShutdownFileRejected) == ipc::EventSeverity::kWarn);
  CHECK(ipc::severity_of(ipc::EventKind::kInotifyUnavailable) == ipc::EventSeverity::kWarn);
  CHECK(ipc::severity_of(ipc::EventKind::kRuntimeDirLost) == ipc::EventSeverity::kError);
  CHECK(ipc::severity_of(ipc::EventKind::kStatusWriteFailed) == ipc::EventSeverity::kError);
  CHECK(ipc::severity_of(ipc::EventKind::kWatcherError) == ipc::EventSeverity::kError);
  CHECK(ipc::to_string(ipc::EventSeverity::kWarn) == "warn");
}

TEST_CASE("A lost runtime dir is reported as an error event and ends the server",
          "[ipc][server][events]") {
  const fs::path dir = fresh_dir("lost");
  EventLog log;
  ipc::Server server(options_for(dir, &log));
  fs::remove(dir / "unit.lock");
  const auto request = server.wait_for_shutdown(5s);
  REQUIRE(request.has_value());
  CHECK(request->source == ipc::ShutdownSource::kRuntimeDirLost);
  CHECK(log.severities(ipc::EventKind::kRuntimeDirLost) ==
        std::vector<ipc::EventSeverity>{ipc::EventSeverity::kError});
  // The accepted event follows the wake-up of the waiters: wait for it.
  CHECK(eventually([&] { return log.count(ipc::EventKind::kShutdownAccepted) == 1; }));
  CHECK(log.severities(ipc::EventKind::kShutdownAccepted) ==
        std::vector<ipc::EventSeverity>{ipc::EventSeverity::kInfo});
}

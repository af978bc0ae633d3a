// fake_gateway: a stand-in for coordkit-gateway in coordctl's tests, built
// from the same parts (libs/ipc for the runtime directory, the lock, the
// status and the shutdown file). It takes the arguments coordctl passes
// (--runtime-dir, --data-dir, --database, --key-file) and writes its log lines to stdout,
// which `coordctl gateway start` sends to the log file.
//
// Variants for the tests:
//   --start-delay-ms N     stay `starting` for N ms before `ready`
//   --fail-at-start        log a fatal line and exit 1 before taking the lock
//   --ignore-shutdown      ignore shutdown files (a SIGTERM still ends it)
//   --ignore-sigterm       ignore SIGTERM too (only SIGKILL ends it)
//   --tick-ms N            log "tick <n>" every N ms while running
//
// Exit codes: 0 clean shutdown, 1 start-up failure, 2 usage, 6 already running.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <thread>

#include "coordkit/ipc/ipc.h"

namespace {

namespace ipc = coordkit::ipc;

std::atomic<bool> g_terminate{false};
extern "C" void on_term(int) { g_terminate = true; }

void say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

int run(int argc, char** argv) {
  CLI::App app("fake_gateway: a stand-in for coordkit-gateway in tests", "fake_gateway");
  std::string runtime_dir, data_dir, db, key_file, address = "127.0.0.1:18080";
  int start_delay_ms = 0, tick_ms = 0;
  bool fail_at_start = false, ignore_shutdown = false, ignore_sigterm = false;
  app.add_option("--runtime-dir", runtime_dir);
  app.add_option("--data-dir", data_dir);
  app.add_option("--database", db);
  app.add_option("--key-file", key_file);
  app.add_option("--address", address);
  app.add_option("--start-delay-ms", start_delay_ms);
  app.add_option("--tick-ms", tick_ms);
  app.add_flag("--fail-at-start", fail_at_start);
  app.add_flag("--ignore-shutdown", ignore_shutdown);
  app.add_flag("--ignore-sigterm", ignore_sigterm);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  say("fake-gateway: starting, pid " + std::to_string(::getpid()) + ", db " + db);
  if (fail_at_start) {
    say("fake-gateway: fatal: cannot open the database (simulated start-up failure)");
    return 1;
  }
  ipc::ServerOptions options;
  options.app = "gateway";
  if (!runtime_dir.empty()) options.runtime_dir = runtime_dir;
  options.version = "fake-1.0";
  options.address = address;
  options.handle_signals = !ignore_shutdown;
  std::optional<ipc::Server> server;
  try {
    server.emplace(std::move(options));
  } catch (const ipc::Error& e) {
    say(std::string("fake-gateway: ") + e.what());
    return e.code() == ipc::ErrorCode::kAlreadyRunning ? 6 : 1;
  }
  if (ignore_shutdown) {
    struct sigaction sa {};
    sa.sa_handler = ignore_sigterm ? SIG_IGN : on_term;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGTERM, &sa, nullptr);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(start_delay_ms));
  server->set_ready();
  say("fake-gateway: ready on " + address);
  const auto slice = std::chrono::milliseconds(tick_ms > 0 ? tick_ms : 50);
  long tick = 0;
  bool told = false;
  while (!g_terminate) {
    if (std::optional<ipc::ShutdownRequest> r = server->wait_for_shutdown(slice)) {
      if (!ignore_shutdown) {
        say("fake-gateway: shutdown (" + std::string(ipc::to_string(r->source)) + ", " +
            std::string(ipc::to_string(r->mode)) + ")");
        break;
      }
      if (!told) say("fake-gateway: ignoring the shutdown request");
      told = true;
      std::this_thread::sleep_for(slice);  // the request stays accepted: do not spin
    }
    if (tick_ms > 0) say("tick " + std::to_string(++tick));
  }
  if (g_terminate) say("fake-gateway: SIGTERM");
  say("fake-gateway: exit 0");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::printf("fake-gateway: %s\n", e.what());
    return 1;
  }
}

// demo_server: a small reference server built for Windows, the way the
// gateway is built on Linux minus the database: the ipc server loop
// (runtime dir, instance lock, status file, shutdown file, console events)
// and a log sink. Its log lines carry emoji and a control character; the
// console sink turns every one into ASCII, so the line survives any code
// page, and its log files (stderr redirected by the launcher, and the
// rotating demo-server.log beside the runtime dir) hold ASCII bytes only. It also logs whether it
// has a console, so the launcher can check that "detached" really meant none.
//
//   demo_server <runtime dir>
// Exit codes: 0 stopped cleanly, 1 error, 2 usage, 3 already running,
// 5 no shutdown request within two minutes.
#include <windows.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "common/console.h"
#include "coordkit/ipc/ipc.h"
#include "coordkit/log/log.h"

namespace {

namespace ipc = coordkit::ipc;
namespace wt = coordkit::windows_test;

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  // The console sink (stderr, redirected by the launcher) and, from the
  // first line on, a rotating log file beside the runtime dir.
  const std::filesystem::path log_file =
      std::filesystem::path(argv[1]).parent_path() / "demo-server.log";
  coordkit::log::Logger logger(
      "demo", {std::make_shared<coordkit::log::ConsoleSink>(),
               std::make_shared<coordkit::log::FileSink>(coordkit::log::FileSinkOptions{
                   .path = log_file.string(), .max_bytes = 1 << 20, .max_files = 3})});
  logger.info("demo server starting \xF0\x9F\x9A\x80 (caf\xC3\xA9, tab\there)",
              {{"pid", static_cast<std::int64_t>(::GetCurrentProcessId())}});
  logger.info("console", {{"conout", wt::has_console() ? "yes" : "no"},
                          {"window", ::GetConsoleWindow() != nullptr ? "yes" : "no"}});
  std::optional<ipc::Server> server;
  try {
    server.emplace(ipc::ServerOptions{
        .app = "demo",
        .runtime_dir = std::filesystem::path(argv[1]),
        .version = "1",
        .on_event = [&](const ipc::Event& e) {
          const coordkit::log::Level level = e.severity == ipc::EventSeverity::kInfo
                                                 ? coordkit::log::Level::kInfo
                                                 : coordkit::log::Level::kWarn;
          logger.log(level, "ipc event", {{"event", ipc::to_string(e.kind)}, {"detail", e.detail}});
        }});
  } catch (const ipc::Error& e) {
    logger.error("cannot start", {{"error", e.code_name()}});
    return e.code() == ipc::ErrorCode::kAlreadyRunning ? 3 : 1;
  }
  server->set_ready();
  logger.info("ready \xE2\x9C\x85", {{"runtime_dir", server->runtime_dir().string()}});
  const std::optional<ipc::ShutdownRequest> request =
      server->wait_for_shutdown(std::chrono::minutes(2));
  if (!request) {
    logger.error("no shutdown request within two minutes");
    return 5;
  }
  logger.info("stopping \xF0\x9F\x91\x8B", {{"source", ipc::to_string(request->source)},
                                            {"mode", ipc::to_string(request->mode)}});
  server.reset();
  logger.info("stopped");
  return 0;
}

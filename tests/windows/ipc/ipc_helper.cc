// The programs the Windows ipc tests start: a server built the way a real
// one is (coordkit::ipc::Server), a writer that keeps replacing a status
// file, and a process that only sleeps (a victim that must not be
// stopped). Exit codes: 0 clean, 1 error, 2 usage, 3 already running,
// 5 no shutdown within a minute.
//
//   ipc_helper serve <runtime dir> <result file> [no-signals] [poll-only] [deaf]
//   ipc_helper replace-status <runtime dir> <count>
//   ipc_helper sleep <ms>
#include <windows.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>

#include "coordkit/ipc/internal/names.h"
#include "coordkit/ipc/internal/windows.h"
#include "coordkit/ipc/ipc.h"

namespace {

namespace ipc = coordkit::ipc;

bool has_flag(int argc, char** argv, std::string_view flag) {
  for (int i = 4; i < argc; ++i) {
    if (flag == argv[i]) return true;
  }
  return false;
}

int serve(int argc, char** argv) {
  const bool deaf = has_flag(argc, argv, "deaf");
  std::optional<ipc::Server> server;
  try {
    server.emplace(ipc::ServerOptions{.app = "winipc",
                                      .runtime_dir = std::filesystem::path(argv[2]),
                                      .version = "1",
                                      .use_inotify = !has_flag(argc, argv, "poll-only"),
                                      .handle_signals = !has_flag(argc, argv, "no-signals")});
  } catch (const ipc::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return e.code() == ipc::ErrorCode::kAlreadyRunning ? 3 : 1;
  }
  server->set_ready();
  if (deaf) {
    // Ignores every request: only escalation ends it.
    ::Sleep(120000);
    return 5;
  }
  const std::optional<ipc::ShutdownRequest> request =
      server->wait_for_shutdown(std::chrono::seconds(60));
  if (!request) return 5;
  server.reset();  // the status file goes and the lock is released
  std::ofstream(argv[3], std::ios::binary)
      << "source=" << to_string(request->source) << " mode=" << to_string(request->mode) << "\n";
  return 0;
}

int replace_status(char** argv) {
  const int count = std::atoi(argv[3]);
  ipc::internal::WinDir dir = ipc::internal::open_runtime_dir(argv[2], {}, /*create=*/true);
  ipc::StatusRecord record;
  record.app = "winipc";
  record.pid = ::GetCurrentProcessId();
  record.token = std::string(32, 'a');
  // Large enough that a torn read would show: several ReadFile calls.
  record.address = std::string(20000, 'x');
  for (int i = 0; i < count; ++i) {
    record.set_phase(i % 2 == 0 ? ipc::Phase::kReady : ipc::Phase::kStarting);
    record.version = std::to_string(i);
    const std::string name = ipc::internal::status_file_name("winipc");
    ipc::internal::write_file_atomically(
        dir, name, ipc::internal::temp_file_name(name, record.pid, std::to_string(i)),
        ipc::format_status(record), /*sync=*/false);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string_view mode = argc > 1 ? argv[1] : "";
    if (mode == "serve" && argc >= 4) return serve(argc, argv);
    if (mode == "replace-status" && argc == 4) return replace_status(argv);
    if (mode == "sleep" && argc == 3) {
      ::Sleep(static_cast<DWORD>(std::atoi(argv[2])));
      return 0;
    }
    std::fprintf(stderr, "usage: ipc_helper serve|replace-status|sleep ...\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ipc_helper: %s\n", e.what());
    return 1;
  }
}

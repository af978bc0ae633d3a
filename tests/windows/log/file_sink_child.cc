// file_sink_child: the child of file_sink_test's process-end cases. Opens a
// FileSink on argv[2] with its default buffer and no background flusher,
// writes one info line (buffered), then by argv[1]:
//   exit       calls std::exit(0) with the sink still alive (never destroyed)
//   kill       ends itself with TerminateProcess (no atexit handler runs)
//   error-kill writes an error-level line, then ends with TerminateProcess
#include <windows.h>

#include <chrono>
#include <cstdlib>
#include <string_view>

#include "coordkit/log/file_sink.h"

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  namespace lg = coordkit::log;
  const std::string_view mode = argv[1];
  // Leaked on purpose: only the process end may flush it.
  auto* sink = new lg::FileSink({.path = argv[2], .flush_interval = std::chrono::milliseconds(0)});
  const auto now = std::chrono::system_clock::now();
  sink->write({now, lg::Level::kInfo, "child", "buffered line", {}});
  if (mode == "exit") std::exit(0);
  if (mode == "error-kill") sink->write({now, lg::Level::kError, "child", "last words", {}});
  if (mode == "kill" || mode == "error-kill") ::TerminateProcess(::GetCurrentProcess(), 9);
  return 3;
}

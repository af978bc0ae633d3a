// Internal (Windows): placeholders with the same names and shapes as the
// POSIX layer (posix_*.h). Every operation throws Error{kUnsupported} until
// the Windows layer implements them with CreateProcessW (CREATE_NO_WINDOW or
// DETACHED_PROCESS, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, a command line built
// by windows_command_line.h), job-free process handles for waiting
// (WaitForSingleObject) and TerminateProcess, and
// GetProcessTimes' creation time as the start time.
#ifndef COORDKIT_SPAWN_INTERNAL_WINDOWS_STUB_H_
#define COORDKIT_SPAWN_INTERNAL_WINDOWS_STUB_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "coordkit/spawn/command.h"
#include "coordkit/spawn/error.h"
#include "coordkit/spawn/exit_status.h"
#include "coordkit/spawn/internal/native_handle.h"
#include "coordkit/spawn/internal/types.h"
#include "coordkit/spawn/internal/windows_command_line.h"

namespace coordkit::spawn::internal {

[[noreturn]] inline void unsupported(const char* what) {
  throw Error(ErrorCode::kUnsupported, std::string(what) + " is not implemented on Windows yet");
}

inline std::int64_t current_pid() { return static_cast<std::int64_t>(::GetCurrentProcessId()); }
inline std::optional<ProcStat> read_proc_stat(std::int64_t) { unsupported("process identity"); }
inline std::string boot_id() { unsupported("boot id"); }
inline std::optional<NativeHandle> open_process_handle(std::int64_t) {
  unsupported("Process::open");
}
inline bool wait_process_exit(const NativeHandle&, std::int64_t, std::uint64_t,
                              std::chrono::milliseconds) {
  unsupported("Process::wait_for_exit");
}
inline bool signal_process(const NativeHandle&, std::int64_t, std::uint64_t, Signal) {
  unsupported("Process::terminate/kill");
}

class ChildPipes {
 public:
  enum class Stream { kOut, kErr };
  void write_in(std::string_view, std::optional<std::chrono::milliseconds>) {
    unsupported("pipes");
  }
  void close_in() noexcept {}
  std::string read_all(Stream, std::optional<std::chrono::milliseconds>) { unsupported("pipes"); }
  std::optional<std::string> read_line(Stream, std::optional<std::chrono::milliseconds>) {
    unsupported("pipes");
  }
  void communicate(std::string_view, std::optional<std::chrono::milliseconds>, std::string&,
                   std::string&) {
    unsupported("pipes");
  }
};

struct SpawnedChild {
  ChildState state;
  ChildPipes pipes;
};

inline SpawnedChild spawn_child(const Command&) { unsupported("spawn"); }
inline std::optional<ExitStatus> wait_child(ChildState&, std::optional<std::chrono::milliseconds>) {
  unsupported("Child::wait");
}
inline bool signal_child(ChildState&, Signal) { unsupported("Child::terminate/kill"); }
inline void kill_and_reap(ChildState&) noexcept {}

}  // namespace coordkit::spawn::internal

#endif  // COORDKIT_SPAWN_INTERNAL_WINDOWS_STUB_H_

// Internal (Windows): process identities, waits and stops through process
// handles; the same functions as posix_process.h.
//
// A process's identity is its PID plus its creation time (GetProcessTimes,
// 100 ns FILETIME units since 1601, UTC). That time is absolute, so it also
// tells boots apart: boot_id() is empty on Windows and is never compared.
// A PID is not reused while any handle to the process is open, so every
// check made through a handle we hold is free of PID-reuse races.
#ifndef COORDKIT_SPAWN_INTERNAL_WINDOWS_PROCESS_H_
#define COORDKIT_SPAWN_INTERNAL_WINDOWS_PROCESS_H_

#include <windows.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdint>
#include <optional>
#include <string>

#include "coordkit/spawn/error.h"
#include "coordkit/spawn/exit_status.h"
#include "coordkit/spawn/internal/native_handle.h"
#include "coordkit/spawn/internal/types.h"

namespace coordkit::spawn::internal {

using Clock = std::chrono::steady_clock;
using Deadline = std::optional<Clock::time_point>;

inline Deadline deadline_after(std::optional<std::chrono::milliseconds> timeout) {
  if (!timeout) return std::nullopt;
  return Clock::now() + std::max(*timeout, std::chrono::milliseconds(0));
}

// wait_ms: what to pass to WaitFor*Object(s) for `deadline`: INFINITE for
// none, otherwise the milliseconds left, rounded up.
inline DWORD wait_ms(const Deadline& deadline) {
  if (!deadline) return INFINITE;
  auto left = *deadline - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<DWORD>(std::min<decltype(ms)>(ms, INFINITE - 1));
}

// windows_error: an Error for GetLastError() value `error`, classified.
inline Error windows_error(DWORD error, const std::string& what) {
  ErrorCode code = ErrorCode::kSystem;
  switch (error) {
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
    case ERROR_INVALID_NAME:
    case ERROR_DIRECTORY:
    case ERROR_BAD_EXE_FORMAT:
    case ERROR_EXE_MACHINE_TYPE_MISMATCH:
      code = ErrorCode::kNotFound;
      break;
    case ERROR_ACCESS_DENIED:
    case ERROR_SHARING_VIOLATION:
      code = ErrorCode::kPermissionDenied;
      break;
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
    case ERROR_NO_SYSTEM_RESOURCES:
    case ERROR_TOO_MANY_OPEN_FILES:
    case ERROR_NO_PROC_SLOTS:
      code = ErrorCode::kResourceExhausted;
      break;
    default:
      break;
  }
  return Error(code, what, static_cast<int>(error));
}

inline std::int64_t current_pid() { return static_cast<std::int64_t>(::GetCurrentProcessId()); }

// boot_id: empty on Windows (the creation time is absolute; see above).
inline std::string boot_id() { return {}; }

// creation_time: the process's creation time as a 64-bit FILETIME; 0 if
// the handle does not allow the query.
inline std::uint64_t creation_time(HANDLE process) {
  FILETIME created{}, exited{}, kernel{}, user{};
  if (!::GetProcessTimes(process, &created, &exited, &kernel, &user)) return 0;
  return (static_cast<std::uint64_t>(created.dwHighDateTime) << 32) | created.dwLowDateTime;
}

// has_exited: true once the process `handle` names has exited.
inline bool has_exited(HANDLE process) {
  return ::WaitForSingleObject(process, 0) == WAIT_OBJECT_0;
}

// open_process_handle: a handle (query, wait, terminate) to process `pid`,
// nullopt if there is none. Falls back to query-and-wait rights when
// terminate is refused (then a stop fails with kPermissionDenied).
inline std::optional<NativeHandle> open_process_handle(std::int64_t pid) {
  if (pid <= 0 || pid > UINT32_MAX) return std::nullopt;
  const DWORD id = static_cast<DWORD>(pid);
  HANDLE h =
      ::OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | SYNCHRONIZE | PROCESS_TERMINATE, FALSE, id);
  if (h == nullptr && ::GetLastError() == ERROR_ACCESS_DENIED) {
    h = ::OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | SYNCHRONIZE, FALSE, id);
  }
  if (h == nullptr) {
    const DWORD error = ::GetLastError();
    if (error == ERROR_INVALID_PARAMETER) return std::nullopt;  // no such process
    if (error == ERROR_ACCESS_DENIED) return std::nullopt;      // not ours to see
    throw windows_error(error, "OpenProcess");
  }
  return NativeHandle(h);
}

// read_proc_stat: what the POSIX layer reads from /proc, from a handle:
// the creation time and whether the process has exited (ppid, group and
// terminal are not tracked on Windows and stay 0).
inline std::optional<ProcStat> read_proc_stat(std::int64_t pid) {
  std::optional<NativeHandle> handle = open_process_handle(pid);
  if (!handle) return std::nullopt;
  ProcStat stat;
  stat.start_time = creation_time(handle->get());
  stat.exited = has_exited(handle->get());
  return stat;
}

inline bool wait_process_exit(const NativeHandle& handle, std::int64_t, std::uint64_t,
                              std::chrono::milliseconds timeout) {
  if (!handle) return true;
  const DWORD r = ::WaitForSingleObject(handle.get(), wait_ms(deadline_after(timeout)));
  if (r == WAIT_FAILED) throw windows_error(::GetLastError(), "WaitForSingleObject(process)");
  return r == WAIT_OBJECT_0;
}

// kTerminatedExitCode: the exit code TerminateProcess gives a process that
// terminate() or kill() stopped (as Python's Popen.terminate does).
inline constexpr UINT kTerminatedExitCode = 1;

// terminate_handle: TerminateProcess unless the process has already exited;
// true if it was stopped by this call.
inline bool terminate_handle(HANDLE process) {
  if (has_exited(process)) return false;
  if (::TerminateProcess(process, kTerminatedExitCode)) return true;
  const DWORD error = ::GetLastError();
  if (has_exited(process)) return false;  // it exited meanwhile
  throw windows_error(error, "TerminateProcess");
}

// signal_process: both signals are TerminateProcess (Windows has no SIGTERM
// for a process without a console or window; a graceful stop goes through
// ipc's shutdown file).
inline bool signal_process(const NativeHandle& handle, std::int64_t, std::uint64_t, Signal) {
  if (!handle) return false;
  return terminate_handle(handle.get());
}

inline std::optional<ExitStatus> wait_child(ChildState& state,
                                            std::optional<std::chrono::milliseconds> timeout) {
  const DWORD r = ::WaitForSingleObject(state.process.get(), wait_ms(deadline_after(timeout)));
  if (r == WAIT_TIMEOUT) return std::nullopt;
  if (r != WAIT_OBJECT_0) throw windows_error(::GetLastError(), "WaitForSingleObject(child)");
  DWORD code = 0;
  if (!::GetExitCodeProcess(state.process.get(), &code)) {
    throw windows_error(::GetLastError(), "GetExitCodeProcess");
  }
  return ExitStatus{.exit_code = static_cast<int>(code)};
}

inline bool signal_child(ChildState& state, Signal) {
  return terminate_handle(state.process.get());
}

// kill_and_reap: the Child destructor's stop; bounded, never throws.
inline void kill_and_reap(ChildState& state) noexcept {
  if (!state.process) return;
  if (!has_exited(state.process.get()))
    ::TerminateProcess(state.process.get(), kTerminatedExitCode);
  ::WaitForSingleObject(state.process.get(), 10000);
  state.process.reset();
}

}  // namespace coordkit::spawn::internal

#endif  // COORDKIT_SPAWN_INTERNAL_WINDOWS_PROCESS_H_

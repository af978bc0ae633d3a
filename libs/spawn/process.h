// coordkit/spawn/process.h: naming and stopping a process that is not
// (necessarily) our child, without ever signalling a reused PID.
//
// A PID alone is not an identity: a freed PID comes back after some tens of
// thousands of forks. A `ProcessIdentity` adds the process start time and the
// boot id; `Process::open()` turns an identity into a handle only while that
// very process is alive (Linux: a pidfd opened and then re-verified;
// Windows: a process handle, which keeps the PID from being reused), and
// every later signal goes through that handle.
//
// Example (a CLI stopping the server named in a status file):
//   coordkit::spawn::ProcessIdentity id{.pid = 4242, .start_time = 1234567, .boot_id = "..."};
//   if (std::optional<coordkit::spawn::Process> server = coordkit::spawn::Process::open(id)) {
//     server->terminate();
//     if (!server->wait_for_exit(std::chrono::seconds(5))) server->kill();
//   }
#ifndef COORDKIT_SPAWN_PROCESS_H_
#define COORDKIT_SPAWN_PROCESS_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "coordkit/spawn/error.h"
#include "coordkit/spawn/internal/native_handle.h"
#include "coordkit/spawn/internal/platform.h"

namespace coordkit::spawn {

// ProcessIdentity: a process, told apart from any later holder of its PID.
// Write all three fields into a status file; read them back to open().
struct ProcessIdentity {
  std::int64_t pid = 0;
  // start_time: Linux: /proc/<pid>/stat field 22, clock ticks since boot.
  // Windows: the creation time (GetProcessTimes, a FILETIME), absolute, so
  // boot_id is empty there.
  std::uint64_t start_time = 0;
  // boot_id: Linux: /proc/sys/kernel/random/boot_id (empty on Windows). An empty boot_id is not
  // checked (identities from a source that did not record it).
  std::string boot_id{};

  friend bool operator==(const ProcessIdentity&, const ProcessIdentity&) = default;
};

// current_boot_id: this boot's id (read once, then cached). Throws
// Error{kSystem} if the OS does not provide it. Thread-safe.
inline std::string current_boot_id() { return internal::boot_id(); }

// identity_of: the identity of the live process `pid`, or nullopt when there
// is none (no such process, or one that has exited and awaits reaping).
// The answer can be stale the moment it returns; use Process::open() to act
// on it. Throws Error{kSystem} only if the boot id is unreadable.
// Thread-safe.
inline std::optional<ProcessIdentity> identity_of(std::int64_t pid) {
  std::optional<internal::ProcStat> stat = internal::read_proc_stat(pid);
  if (!stat || stat->exited) return std::nullopt;
  return ProcessIdentity{pid, stat->start_time, internal::boot_id()};
}

// self_identity: this process's identity. Throws Error{kSystem} if /proc is
// unreadable. Thread-safe.
inline ProcessIdentity self_identity() {
  std::optional<ProcessIdentity> self = identity_of(internal::current_pid());
  if (!self) throw Error(ErrorCode::kSystem, "cannot read this process's own identity");
  return *self;
}

// Process: a verified handle to a live process. Move-only; not thread-safe
// (one thread at a time). Holding it does not keep the process alive, but
// it does guarantee that terminate()/kill() reach that process or nothing.
class Process {
 public:
  // open: a handle to the process `identity` names, or nullopt when no live
  // process matches it (gone, exited, PID reused: start time or boot id
  // differ). Linux 5.3+: pidfd_open(), then the identity is re-checked, so a
  // PID reused before the pidfd was opened is caught; later signals go
  // through the pidfd and cannot reach another process. Older kernels: the
  // start time is re-verified immediately before each signal (a tiny
  // window remains). Throws Error{kResourceExhausted} when out of
  // descriptors, Error{kSystem} for other OS failures.
  static std::optional<Process> open(const ProcessIdentity& identity) {
    if (identity.pid <= 0) return std::nullopt;
    if (!identity.boot_id.empty() && identity.boot_id != internal::boot_id()) return std::nullopt;
    std::optional<internal::NativeHandle> handle = internal::open_process_handle(identity.pid);
    if (!handle) return std::nullopt;
    // Verify after opening: if the PID was reused before pidfd_open, the
    // start time read now belongs to the newcomer and differs.
    std::optional<internal::ProcStat> stat = internal::read_proc_stat(identity.pid);
    if (!stat || stat->exited || stat->start_time != identity.start_time) return std::nullopt;
    return Process(identity, std::move(*handle));
  }

  Process(Process&&) noexcept = default;
  Process& operator=(Process&&) noexcept = default;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process() = default;

  std::int64_t pid() const noexcept { return identity_.pid; }
  const ProcessIdentity& identity() const noexcept { return identity_; }

  // running: true while the process has not exited. Never blocks.
  bool running() { return !wait_for_exit(std::chrono::milliseconds(0)); }

  // wait_for_exit: waits up to `timeout` for the process to exit; true if it
  // has. Linux 5.3+: poll() on the pidfd (no sleep loop). Older kernels: a
  // short backoff poll of /proc. Exit status is not available for a process
  // that is not our child.
  bool wait_for_exit(std::chrono::milliseconds timeout) {
    return internal::wait_process_exit(handle_, identity_.pid, identity_.start_time, timeout);
  }

  // terminate: asks the process to stop (SIGTERM). kill: forces it (SIGKILL).
  // Both return true if the signal was sent, false if the process had
  // already exited (then nothing is signalled). Throw Error{kPermissionDenied}
  // when the process belongs to someone we may not signal.
  bool terminate() { return signal(internal::Signal::kTerminate); }
  bool kill() { return signal(internal::Signal::kKill); }

 private:
  Process(ProcessIdentity identity, internal::NativeHandle handle)
      : identity_(std::move(identity)), handle_(std::move(handle)) {}

  bool signal(internal::Signal sig) {
    return internal::signal_process(handle_, identity_.pid, identity_.start_time, sig);
  }

  ProcessIdentity identity_;
  internal::NativeHandle handle_;  // pidfd; invalid when the kernel has none
};

}  // namespace coordkit::spawn

#endif  // COORDKIT_SPAWN_PROCESS_H_

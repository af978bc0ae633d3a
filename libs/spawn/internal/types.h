// Internal: plain types shared by the platform layers and the public classes.
#ifndef COORDKIT_SPAWN_INTERNAL_TYPES_H_
#define COORDKIT_SPAWN_INTERNAL_TYPES_H_

#include <cstdint>
#include <optional>

#include "coordkit/spawn/exit_status.h"
#include "coordkit/spawn/internal/native_handle.h"

namespace coordkit::spawn::internal {

// Signal: the two stop requests the public API offers. Windows maps both
// to TerminateProcess (kTerminate may later become a shutdown-file request
// made by ipc, never a console event).
enum class Signal { kTerminate, kKill };

// ProcStat: what /proc/<pid>/stat says about a process that matters here.
struct ProcStat {
  std::int64_t ppid = 0;
  std::int64_t pgrp = 0;
  std::int64_t session = 0;
  std::int64_t tty_nr = 0;       // 0: no controlling terminal
  std::uint64_t start_time = 0;  // clock ticks since boot
  bool exited = false;           // zombie (Z) or dead (X): exited, awaiting reaping
};

// ChildState: a spawned child's bookkeeping, owned by coordkit::spawn::Child.
struct ChildState {
  std::int64_t pid = 0;
  std::uint64_t start_time = 0;
  NativeHandle process;              // pidfd; invalid without kernel support
  std::optional<ExitStatus> status;  // set once reaped
  bool released = false;
};

}  // namespace coordkit::spawn::internal

#endif  // COORDKIT_SPAWN_INTERNAL_TYPES_H_

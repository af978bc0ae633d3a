// coordkit/ipc/client.h: seeing and stopping a server from any process.
//
// A Client reads the same runtime directory the server uses. Whether a server
// runs is decided by the instance lock (tested with F_GETLK, never taken, so
// a probing client cannot make a starting server fail); the status file then
// says what state it is in, once it verifiably describes the lock holder
// (pid, process start time and boot id match a live process, and that
// process holds the lock). A status naming any other process, such as a
// reused PID, never counts as running and is never signalled.
//
// stop() writes a shutdown request (temp file + rename), waits for the lock
// to be released, and at the deadline escalates (SIGTERM, then SIGKILL) only
// against the verified server process, through a pidfd-backed
// coordkit::spawn::Process.
//
// Windows: the lock is probed with a momentary shared LockFileEx, the
// process is verified by its creation time (GetProcessTimes) through a
// handle, and escalation is TerminateProcess through that same handle.
//
// wait_until_ready() is the other direction: after spawning a server, wait
// until it publishes `ready`, and fail at once if it exits first.
//
// Example:
//   coordkit::ipc::Client client({.app = "gateway"});
//   if (client.status().running()) {
//     coordkit::ipc::StopResult r = client.stop({.deadline = std::chrono::seconds(10)});
//     if (r.escalated()) { /* the server ignored the request */ }
//   }
#ifndef COORDKIT_IPC_CLIENT_H_
#define COORDKIT_IPC_CLIENT_H_

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "coordkit/ipc/error.h"
#include "coordkit/ipc/runtime_dir.h"
#include "coordkit/ipc/shutdown.h"
#include "coordkit/ipc/status.h"
#include "coordkit/spawn/process.h"
#include "coordkit/spawn/spawn.h"

#if defined(_WIN32)
#include "coordkit/ipc/internal/names.h"
#include "coordkit/ipc/internal/token.h"
#include "coordkit/ipc/internal/windows.h"
#include "coordkit/ipc/internal/windows_lock.h"
#else
#include <unistd.h>

#include "coordkit/base/unique_fd.h"
#include "coordkit/ipc/internal/instance_lock.h"
#include "coordkit/ipc/internal/names.h"
#include "coordkit/ipc/internal/posix.h"
#include "coordkit/ipc/internal/token.h"
#endif

namespace coordkit::ipc {

// ClientOptions: which server to talk to; resolved like ServerOptions.
struct ClientOptions {
  std::string app{};
  std::optional<std::filesystem::path> runtime_dir{};
};

// Status: one reading of the runtime directory.
struct Status {
  ServerState state = ServerState::kStopped;
  // record: the parsed status file, when there is one (also for kStale:
  // what the last server, or whatever wrote the file, said).
  std::optional<StatusRecord> record{};
  // verified: `record` describes the live process that holds the lock.
  bool verified = false;
  // lock_holder_pid: the holder of the lock as the OS reports it; 0 if none
  // or unknown (a holder in another PID namespace).
  std::int64_t lock_holder_pid = 0;

  // running: a server holds the lock: true for kStarting, kReady,
  // kDraining and kUnknownState alike (see is_running). Use
  // `state == ServerState::kReady` to ask whether it serves.
  bool running() const noexcept { return is_running(state); }
};

// StopOutcome: how stop() ended.
enum class StopOutcome {
  kNotRunning,  // no server held the lock when stop() started
  kStopped,     // the server released the lock after the request (or on its own)
  kTerminated,  // the deadline passed; SIGTERM to the verified server ended it
  kKilled,      // SIGTERM did not end it within terminate_grace; SIGKILL did
  kTimedOut,    // still running: escalation off, the server could not be
                // verified (never signalled), or even SIGKILL did not free the lock
};

constexpr std::string_view to_string(StopOutcome outcome) noexcept {
  switch (outcome) {
    case StopOutcome::kNotRunning:
      return "not_running";
    case StopOutcome::kStopped:
      return "stopped";
    case StopOutcome::kTerminated:
      return "terminated";
    case StopOutcome::kKilled:
      return "killed";
    case StopOutcome::kTimedOut:
      return "timed_out";
  }
  return "timed_out";
}

// StopOptions: how hard and how long stop() tries.
struct StopOptions {
  ShutdownMode mode = ShutdownMode::kGraceful;
  // deadline: how long to wait for the server to stop by itself (also sent
  // to the server so it can bound its drain).
  std::chrono::milliseconds deadline{10000};
  bool escalate = true;                             // signal the verified server after the deadline
  std::chrono::milliseconds terminate_grace{2000};  // SIGTERM to SIGKILL
  std::chrono::milliseconds kill_wait{5000};        // after SIGKILL, for the lock
};

// StopResult: what stop() did.
struct StopResult {
  StopOutcome outcome = StopOutcome::kNotRunning;
  bool request_written = false;  // a shutdown file was published
  std::chrono::milliseconds elapsed{0};
  // escalated: a signal had to be sent.
  bool escalated() const noexcept {
    return outcome == StopOutcome::kTerminated || outcome == StopOutcome::kKilled;
  }
  // stopped: the server is gone (or was never there).
  bool stopped() const noexcept { return outcome != StopOutcome::kTimedOut; }
};

// Client: the client side. Cheap to create; holds no descriptors between
// calls. Thread-safe: concurrent calls (two stop()s at once) are fine.
class Client {
 public:
  // Client: resolves the runtime directory (without creating it). Throws
  // Error{kInvalidArgument} for a bad app name, Error{kNoRuntimeDir}.
  explicit Client(ClientOptions options)
      : app_(std::move(options.app)), location_(resolve_runtime_dir(app_, options.runtime_dir)) {}

  const std::filesystem::path& runtime_dir() const noexcept { return location_.path; }

  // status: reads the lock and the status file. Never creates anything.
  // Tolerates a missing directory (kStopped) and a missing, empty, partial
  // or foreign status file. Throws the kRuntimeDir* errors when the
  // directory exists but is unsafe (its content is not to be trusted),
  // Error{kSystem} on other OS failures.
  Status status() const {
    RuntimeDir dir = open_dir();
    if (!dir) return Status{};
    return read_status(dir.get());
  }

  // request_shutdown: publishes a shutdown request carrying the running
  // server's token; returns without waiting. Throws Error{kNotRunning} when
  // no server holds the lock, Error{kNoStatus} when one does but has not
  // published a verifiable status yet (retry shortly), the kRuntimeDir*
  // errors, Error{kSystem}.
  void request_shutdown(ShutdownMode mode, std::chrono::milliseconds deadline) const {
    RuntimeDir dir = open_dir();
    if (!dir) throw Error(ErrorCode::kNotRunning, "no runtime dir " + location_.path.string());
    const Status s = read_status(dir.get());
    if (!s.running()) throw Error(ErrorCode::kNotRunning, "'" + app_ + "' is not running");
    if (!s.verified || !s.record) {
      throw Error(ErrorCode::kNoStatus, "'" + app_ + "' holds its lock but has no status yet");
    }
    write_request(dir.get(), s.record->token, mode, deadline);
  }

  // wait_until_stopped: waits up to `timeout` for the lock to be free;
  // true when it is. Sleeps on the verified server process (pidfd) in 10 ms
  // slices when there is one, otherwise checks the lock with a backoff from
  // 1 to 20 ms.
  bool wait_until_stopped(std::chrono::milliseconds timeout) const {
    const auto until = Clock::now() + timeout;
    std::optional<ServerProcess> process;
    bool tried_open = false;
    auto pause = std::chrono::milliseconds(1);
    while (true) {
      RuntimeDir dir = open_dir();
      if (!dir) return true;
      const Status s = read_status(dir.get());
      if (!s.running()) return true;
      const auto now = Clock::now();
      if (now >= until) return false;
      if (!tried_open && s.verified && s.record) {
        tried_open = true;
        process = open_process(*s.record);
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - now);
      if (process) {
        // Sleep on the server's pidfd, in short slices: a server releases
        // its lock a little before its process is gone, and the lock is
        // what counts.
        const auto slice =
            std::clamp(left, std::chrono::milliseconds(1), std::chrono::milliseconds(10));
        if (process->wait_for_exit(slice)) process.reset();
        continue;
      }
      std::this_thread::sleep_for(std::min(pause, left));
      pause = std::min(pause * 2, std::chrono::milliseconds(20));
    }
  }

  // wait_until_ready: waits up to `timeout` until a verified server says
  // ready, and returns that Status (state kReady, verified, with its
  // record). Checks with a backoff from 1 to 20 ms. Throws
  // Error{kTimedOut} when the time runs out first (the server may still be
  // starting, or none was started), the kRuntimeDir* errors for an unsafe
  // directory, Error{kSystem}. A server that is starting, draining or not
  // there yet is waited for: a CLI may call this right after spawning one.
  Status wait_until_ready(std::chrono::milliseconds timeout) const {
    return wait_ready(timeout, [](std::chrono::milliseconds slice) -> std::optional<std::string> {
      std::this_thread::sleep_for(slice);
      return std::nullopt;
    });
  }

  // wait_until_ready: the same, for a server this process started as
  // `server`: throws Error{kExitedBeforeReady} as soon as that child exits
  // without a verified ready status (a bad flag, an unsafe runtime dir,
  // another instance running, a crash); `server.wait()` then returns its
  // exit status at once. Sleeps on the child (its pidfd), so the exit is
  // seen when it happens. Pass the server process itself, not a launcher
  // that exits once it has started the server. Throws Error{kInvalidArgument}
  // for a moved-from or released Child.
  Status wait_until_ready(std::chrono::milliseconds timeout, spawn::Child& server) const {
    return wait_ready(timeout, [&](std::chrono::milliseconds slice) -> std::optional<std::string> {
      try {
        if (std::optional<spawn::ExitStatus> exited = server.wait_for(slice)) {
          return "pid " + std::to_string(server.pid()) + ", " + exited->to_string();
        }
        return std::nullopt;
      } catch (const spawn::Error& e) {
        throw Error(ErrorCode::kInvalidArgument,
                    "wait_until_ready: the server Child has no process (spawn " +
                        std::string(e.code_name()) + ")");
      }
    });
  }

  // wait_until_ready: the same, for a server known by a verified handle
  // (spawn::Process::open of its identity): throws Error{kExitedBeforeReady}
  // as soon as that process exits without a verified ready status.
  Status wait_until_ready(std::chrono::milliseconds timeout, spawn::Process& server) const {
    return wait_ready(timeout, [&](std::chrono::milliseconds slice) -> std::optional<std::string> {
      if (server.wait_for_exit(slice)) return "pid " + std::to_string(server.pid());
      return std::nullopt;
    });
  }

  // stop: asks the server to stop and waits up to options.deadline; then,
  // if options.escalate, sends SIGTERM to the verified server process,
  // waits terminate_grace, sends SIGKILL and waits kill_wait for the lock.
  // Never signals a process that is not verified as the lock holder. A
  // server that is draining already (after a graceful request) is waited
  // for without a new request. Safe to call from several processes or
  // threads at once: each returns once the server is gone. Throws the
  // kRuntimeDir* errors and Error{kSystem}; a server that stops by itself
  // meanwhile is not an error.
  StopResult stop(const StopOptions& options = {}) const {
    const auto start = Clock::now();
    const auto until = start + options.deadline;
    StopResult result;
    auto finish = [&](StopOutcome outcome) {
      result.outcome = outcome;
      result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
      return result;
    };
    Status s = status();
    if (!s.running()) return finish(StopOutcome::kNotRunning);
    // A server that has the lock but has not published its status yet (it
    // is starting) gets a moment: we need its token to ask it.
    while (s.running() && !s.verified && Clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      s = status();
    }
    if (!s.running()) return finish(StopOutcome::kStopped);
    if (s.verified && s.record) {
      const bool draining_gracefully =
          s.state == ServerState::kDraining && options.mode == ShutdownMode::kGraceful;
      if (!draining_gracefully) {
        RuntimeDir dir = open_dir();
        if (dir) {
          try {
            write_request(dir.get(), s.record->token, options.mode, options.deadline);
            result.request_written = true;
          } catch (const Error&) {
            // The directory went away (the server notices and stops) or is
            // full: fall through to waiting and, if need be, escalation.
          }
        }
      }
    }
    const auto left =
        std::max(std::chrono::milliseconds(0),
                 std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()));
    if (wait_until_stopped(left)) return finish(StopOutcome::kStopped);
    if (!options.escalate) return finish(StopOutcome::kTimedOut);

    // Escalation: only against the process the status names, and only if
    // it is alive with the recorded start time and boot id and holds the lock.
    s = status();
    if (!s.running()) return finish(StopOutcome::kStopped);
    if (!s.verified || !s.record) return finish(StopOutcome::kTimedOut);
    std::optional<ServerProcess> process = open_process(*s.record);
    if (!process) {
      return finish(wait_until_stopped(std::chrono::milliseconds(50)) ? StopOutcome::kStopped
                                                                      : StopOutcome::kTimedOut);
    }
    try {
      process->terminate();
    } catch (const spawn::Error& e) {
      throw Error(ErrorCode::kSystem, "SIGTERM to the server: spawn " + std::string(e.code_name()),
                  e.os_error());
    }
    if (wait_until_stopped(options.terminate_grace)) return finish(StopOutcome::kTerminated);
    try {
      process->kill();
    } catch (const spawn::Error& e) {
      throw Error(ErrorCode::kSystem, "SIGKILL to the server: spawn " + std::string(e.code_name()),
                  e.os_error());
    }
    if (wait_until_stopped(options.kill_wait)) return finish(StopOutcome::kKilled);
    return finish(StopOutcome::kTimedOut);
  }

 private:
  using Clock = std::chrono::steady_clock;
#if defined(_WIN32)
  // ServerProcess: the verified server process that escalation acts on.
  using ServerProcess = internal::VerifiedProcess;
  // RuntimeDir: an open runtime directory (invalid when it does not exist).
  using RuntimeDir = internal::WinDir;
#else
  using ServerProcess = spawn::Process;
  using RuntimeDir = UniqueFd;
#endif

  RuntimeDir open_dir() const {
    return internal::open_runtime_dir(location_.path, location_.trusted_base, /*create=*/false);
  }

  // wait_ready: the loop behind wait_until_ready. `sleep_or_exit(slice)`
  // waits up to `slice` and returns a description of the exit when the
  // watched process has exited.
  template <typename SleepOrExit>
  Status wait_ready(std::chrono::milliseconds timeout, SleepOrExit sleep_or_exit) const {
    const auto until = Clock::now() + timeout;
    auto pause = std::chrono::milliseconds(1);
    while (true) {
      Status s = status();
      if (s.state == ServerState::kReady && s.verified && s.record) return s;
      const auto now = Clock::now();
      if (now >= until) {
        throw Error(ErrorCode::kTimedOut, "'" + app_ + "' was not ready within " +
                                              std::to_string(timeout.count()) + " ms (it is " +
                                              std::string(to_string(s.state)) + ")");
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - now);
      if (std::optional<std::string> exited =
              sleep_or_exit(std::clamp(left, std::chrono::milliseconds(1), pause))) {
        // A server that became ready after the status read and exited
        // since is reported as exited too: it no longer serves.
        throw Error(
            ErrorCode::kExitedBeforeReady,
            "the '" + app_ + "' server process exited before it was ready (" + *exited + ")");
      }
      pause = std::min(pause * 2, std::chrono::milliseconds(20));
    }
  }

#if defined(_WIN32)
  static std::optional<ServerProcess> open_process(const StatusRecord& record) {
    return internal::VerifiedProcess::open(record.pid, record.start_time);
  }

  // read_status (Windows): the lock by a momentary shared LockFileEx, the
  // status file read sharing delete access; a status counts once the
  // process it names is alive with the recorded creation time (the lock
  // holder's PID is not known on Windows).
  Status read_status(const internal::WinDir& dir) const {
    Status out;
    const internal::LockProbe probe =
        internal::InstanceLock::probe(dir, internal::lock_file_name(app_));
    out.lock_holder_pid = probe.holder_pid;
    std::optional<internal::SmallFile> file;
    try {
      file =
          internal::read_small_file(dir.file(internal::status_file_name(app_)), kMaxStatusFileSize);
    } catch (const Error&) {
      file = internal::SmallFile{};  // an unreadable entry: garbage
    }
    if (file && !file->reparse_point && file->facts.disk_file &&
        (file->facts.attributes & FILE_ATTRIBUTE_DIRECTORY) == 0 && !file->truncated) {
      out.record = parse_status(file->content);
    }
    if (!probe.held) {
      out.state = file ? ServerState::kStale : ServerState::kStopped;
      return out;
    }
    out.state = ServerState::kStarting;
    if (!out.record) return out;
    const StatusRecord& r = *out.record;
    if (!internal::VerifiedProcess::open(r.pid, r.start_time)) return out;
    out.verified = true;
    const std::optional<Phase> phase = r.phase();
    if (!phase) {
      out.state = ServerState::kUnknownState;
    } else if (*phase == Phase::kReady) {
      out.state = ServerState::kReady;
    } else if (*phase == Phase::kDraining) {
      out.state = ServerState::kDraining;
    }
    return out;
  }

  void write_request(const internal::WinDir& dir, const std::string& token, ShutdownMode mode,
                     std::chrono::milliseconds deadline) const {
    const std::string name = internal::shutdown_file_name(app_);
    const std::string temp =
        internal::temp_file_name(name, internal::current_pid(), internal::random_hex(6));
    internal::write_file_atomically(dir, name, temp, format_shutdown_file({token, mode, deadline}),
                                    /*sync=*/false);
  }
#else
  static std::optional<spawn::Process> open_process(const StatusRecord& record) {
    try {
      return spawn::Process::open({record.pid, record.start_time, record.boot_id});
    } catch (const spawn::Error& e) {
      throw Error(ErrorCode::kSystem,
                  "open the server process " + std::to_string(record.pid) + ": spawn " +
                      std::string(e.code_name()),
                  e.os_error());
    }
  }

  Status read_status(int dir_fd) const {
    Status out;
    const internal::LockProbe probe =
        internal::InstanceLock::probe(dir_fd, internal::lock_file_name(app_));
    out.lock_holder_pid = probe.holder_pid;
    std::optional<internal::SmallFile> file;
    try {
      file = internal::read_small_file_at(dir_fd, internal::status_file_name(app_),
                                          kMaxStatusFileSize);
    } catch (const Error&) {
      file = internal::SmallFile{};  // a symlink or unreadable entry: garbage
    }
    if (file && S_ISREG(file->st.st_mode) && !file->truncated) {
      out.record = parse_status(file->content);
    }
    if (!probe.held) {
      out.state = file ? ServerState::kStale : ServerState::kStopped;
      return out;
    }
    out.state = ServerState::kStarting;  // until the status names the holder
    if (!out.record) return out;
    const StatusRecord& r = *out.record;
    if (probe.holder_pid != 0 && probe.holder_pid != r.pid) return out;
    std::optional<spawn::ProcessIdentity> live;
    try {
      live = spawn::identity_of(r.pid);
    } catch (const spawn::Error&) {
      live.reset();
    }
    if (!live || live->start_time != r.start_time ||
        (!r.boot_id.empty() && live->boot_id != r.boot_id)) {
      return out;
    }
    out.verified = true;
    const std::optional<Phase> phase = r.phase();
    if (!phase) {
      out.state = ServerState::kUnknownState;
    } else if (*phase == Phase::kReady) {
      out.state = ServerState::kReady;
    } else if (*phase == Phase::kDraining) {
      out.state = ServerState::kDraining;
    }
    return out;
  }

  void write_request(int dir_fd, const std::string& token, ShutdownMode mode,
                     std::chrono::milliseconds deadline) const {
    const std::string name = internal::shutdown_file_name(app_);
    const std::string temp =
        internal::temp_file_name(name, static_cast<long>(::getpid()), internal::random_hex(6));
    // No fsync: the request matters only while the server runs; a crash of
    // the machine ends the server anyway.
    internal::write_file_atomically_at(dir_fd, name, temp,
                                       format_shutdown_file({token, mode, deadline}), 0600,
                                       /*sync=*/false);
  }
#endif

  std::string app_;
  RuntimeDirLocation location_;
};

}  // namespace coordkit::ipc

#endif  // COORDKIT_IPC_CLIENT_H_

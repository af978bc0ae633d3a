// coordkit/spawn/spawn.h: starting child processes, talking to them through
// pipes, waiting for them with a timeout and stopping them safely. Also the
// umbrella header of coordkit::spawn (includes command.h, error.h,
// exit_status.h and process.h).
//
// POSIX: posix_spawn (never fork: its cost grows with the parent's memory),
// the child's signal mask emptied and every signal disposition reset, only
// descriptors 0/1/2 open in the child, a new session when detached. Linux
// 5.3+: a pidfd is opened right after the spawn, so waiting is poll() on it
// and terminate()/kill() can never reach a process that reused the PID.
// Windows: CreateProcessW with a handle list (the child inherits only its
// stdio), detached as CREATE_NO_WINDOW or DETACHED_PROCESS in a new process
// group, waits and stops through the process handle (TerminateProcess, exit
// code 1, for both terminate() and kill()); see internal/windows_spawn.h.
//
// Example:
//   namespace sp = coordkit::spawn;
//   sp::Child child = sp::spawn({.executable = "/bin/echo", .args = {"hello"},
//                                .out = sp::Stdio::pipe()});
//   std::string text = child.read_stdout_all();   // "hello\n"
//   sp::ExitStatus status = child.wait();          // status.success()
#ifndef COORDKIT_SPAWN_SPAWN_H_
#define COORDKIT_SPAWN_SPAWN_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "coordkit/spawn/command.h"
#include "coordkit/spawn/error.h"
#include "coordkit/spawn/exit_status.h"
#include "coordkit/spawn/internal/native_handle.h"
#include "coordkit/spawn/internal/platform.h"
#include "coordkit/spawn/process.h"

namespace coordkit::spawn {

class Child;
Child spawn(const Command& command);

// Child: a process this process spawned. Move-only; not thread-safe (use one
// Child from one thread at a time; different Child objects are independent).
//
// Destruction: a child that is still running and was not release()d is
// killed (SIGKILL) and reaped, so a failing test never leaks a process; a
// child that has exited is reaped. Pipe ends are closed. A detached child
// that should outlive this object must be release()d.
class Child {
 public:
  // Output: what communicate() collected.
  struct Output {
    std::string out{};
    std::string err{};
  };

  Child(Child&& other) noexcept
      : state_(std::exchange(other.state_, {})), pipes_(std::move(other.pipes_)) {}
  Child& operator=(Child&& other) noexcept {
    if (this != &other) {
      finish();
      state_ = std::exchange(other.state_, {});
      pipes_ = std::move(other.pipes_);
    }
    return *this;
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() { finish(); }

  // pid: the child's process id (0 for a moved-from Child). After the child
  // is reaped the number may belong to another process: use it for logs,
  // never for kill(2).
  std::int64_t pid() const noexcept { return state_.pid; }

  // identity: the child's ProcessIdentity, captured at spawn time, e.g. for
  // a status file. Throws Error{kSystem} if the boot id is unreadable.
  ProcessIdentity identity() const { return {state_.pid, state_.start_time, internal::boot_id()}; }

  // try_wait: the exit status if the child has exited (reaping it), nullopt
  // while it runs. Never blocks. Once reaped, every wait returns the same
  // status. Like every wait, throws Error{kNoSuchProcess} on a moved-from
  // or released Child.
  std::optional<ExitStatus> try_wait() { return wait_impl(std::chrono::milliseconds(0)); }

  // wait_for: waits up to `timeout` for the child to exit. Linux 5.3+:
  // poll() on the pidfd, no sleep loop; older kernels: waitpid(WNOHANG) with
  // a short backoff. Returns nullopt on timeout (the child keeps running).
  std::optional<ExitStatus> wait_for(std::chrono::milliseconds timeout) {
    return wait_impl(timeout);
  }

  // wait: blocks until the child exits and returns how it ended. Pipes the
  // child writes to are not drained by wait(): read them first (or use
  // communicate()) if the child may write more than a pipe holds (64 KiB).
  ExitStatus wait() { return *wait_impl(std::nullopt); }

  // terminate: SIGTERM (a graceful stop request); kill: SIGKILL. Both return
  // true if the signal was sent and false, signalling nothing, once the
  // child has exited or been reaped; they never reach a process that reused
  // the PID (a pidfd; without one, the unreaped zombie holds the PID).
  bool terminate() { return signal_impl(internal::Signal::kTerminate); }
  bool kill() { return signal_impl(internal::Signal::kKill); }

  // release: forget the child without killing or reaping it; closes the pipe
  // ends and the pidfd. Once this process exits, init (or a subreaper)
  // reaps it; until then an exited released child remains a zombie of ours.
  void release() noexcept {
    state_.released = true;
    state_.process.reset();
    pipes_ = internal::ChildPipes();
  }

  // --- Pipes (only for streams set up with Stdio::pipe()) -----------------
  // Every call below services all of the child's pipes at once with poll():
  // while it waits to write stdin or to read one stream, whatever arrives on
  // the other output stream is buffered, so no order of calls can deadlock
  // on a full pipe. `timeout` (nullopt: none) bounds the whole call; on
  // expiry they throw Error{kTimedOut} and keep what was read buffered.
  // Throw Error{kInvalidArgument} when the stream is not a pipe (or stdin
  // was already closed). SIGPIPE is never raised in this process.

  // write_stdin: writes all of `data` to the child's stdin. Throws
  // Error{kSystem} with os_error() == EPIPE if the child closed its stdin.
  void write_stdin(std::string_view data,
                   std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
    pipes_.write_in(data, timeout);
  }
  // close_stdin: closes our end of stdin, so the child reads EOF. Idempotent.
  void close_stdin() noexcept { pipes_.close_in(); }

  // read_stdout_all / read_stderr_all: everything the child writes to that
  // stream until it closes it (usually at exit), including what earlier
  // calls buffered.
  std::string read_stdout_all(std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
    return pipes_.read_all(internal::ChildPipes::Stream::kOut, timeout);
  }
  std::string read_stderr_all(std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
    return pipes_.read_all(internal::ChildPipes::Stream::kErr, timeout);
  }

  // read_stdout_line: the next line of stdout without its '\n'; the last
  // unterminated piece at EOF; nullopt at EOF with nothing left. For children
  // that announce readiness on stdout and keep running.
  std::optional<std::string> read_stdout_line(
      std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
    return pipes_.read_line(internal::ChildPipes::Stream::kOut, timeout);
  }

  // communicate: writes `input` to stdin (if stdin is a pipe), closes it,
  // and reads stdout and stderr (those that are pipes) to EOF. Does not wait
  // for the exit: call wait() afterwards.
  Output communicate(std::string_view input = {},
                     std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
    Output output;
    pipes_.communicate(input, timeout, output.out, output.err);
    return output;
  }

 private:
  friend Child spawn(const Command& command);

  Child(internal::ChildState state, internal::ChildPipes pipes) noexcept
      : state_(std::move(state)), pipes_(std::move(pipes)) {}

  std::optional<ExitStatus> wait_impl(std::optional<std::chrono::milliseconds> timeout) {
    if (state_.status) return state_.status;
    if (state_.pid == 0 || state_.released) {
      throw Error(ErrorCode::kNoSuchProcess, "Child has no process (moved from or released)");
    }
    state_.status = internal::wait_child(state_, timeout);
    if (state_.status) state_.process.reset();
    return state_.status;
  }

  bool signal_impl(internal::Signal sig) {
    if (state_.pid == 0 || state_.released || state_.status) return false;
    return internal::signal_child(state_, sig);
  }

  // finish: the destructor's work; never throws.
  void finish() noexcept {
    pipes_ = internal::ChildPipes();
    if (state_.pid != 0 && !state_.released && !state_.status) internal::kill_and_reap(state_);
    state_ = {};
  }

  internal::ChildState state_;
  internal::ChildPipes pipes_;
};

// spawn: starts `command` and returns its Child. Throws Error:
// kInvalidArgument for a malformed command; kNotFound when the executable
// (or cwd, or a Stdio::file for stdin) is missing or not executable —
// exec failures are reported here, not as exit code 127, and leave no
// zombie; kPermissionDenied; kResourceExhausted (EAGAIN, EMFILE, ENOMEM);
// kSystem otherwise. Thread-safe: descriptors are opened O_CLOEXEC and the
// child closes everything above 2, so concurrent spawns from many threads
// never hand one child another's pipes. Reads the parent's environment:
// do not call setenv() concurrently.
inline Child spawn(const Command& command) {
  internal::SpawnedChild spawned = internal::spawn_child(command);
  return Child(std::move(spawned.state), std::move(spawned.pipes));
}

}  // namespace coordkit::spawn

#endif  // COORDKIT_SPAWN_SPAWN_H_

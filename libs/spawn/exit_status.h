// coordkit/spawn/exit_status.h: how a process ended.
//
// Example:
//   coordkit::spawn::ExitStatus status = child.wait();
//   if (!status.success()) std::cerr << status.to_string() << "\n";
#ifndef COORDKIT_SPAWN_EXIT_STATUS_H_
#define COORDKIT_SPAWN_EXIT_STATUS_H_

#include <optional>
#include <string>

namespace coordkit::spawn {

// ExitStatus: exactly one of `exit_code` and `signal` is set for a child we
// reaped ourselves. Both are empty only when someone else reaped the child
// first (SIGCHLD set to SIG_IGN, or a waitpid(-1) elsewhere in the process):
// then the status is unknowable and success() is false.
struct ExitStatus {
  std::optional<int> exit_code{};  // set when the child called exit(); Windows: the exit code
  std::optional<int> signal{};     // set when a signal ended it (POSIX only)

  // success: the child exited with code 0.
  bool success() const noexcept { return exit_code == 0; }

  // to_string: "exit code 3", "signal 9", or "unknown", for messages.
  std::string to_string() const {
    if (exit_code) return "exit code " + std::to_string(*exit_code);
    if (signal) return "signal " + std::to_string(*signal);
    return "unknown";
  }

  friend bool operator==(const ExitStatus&, const ExitStatus&) = default;
};

}  // namespace coordkit::spawn

#endif  // COORDKIT_SPAWN_EXIT_STATUS_H_

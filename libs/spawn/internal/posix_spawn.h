// Internal (POSIX): starting, waiting for and signalling children with
// posix_spawn. See coordkit/spawn/spawn.h for the public contract.
#ifndef COORDKIT_SPAWN_INTERNAL_POSIX_SPAWN_H_
#define COORDKIT_SPAWN_INTERNAL_POSIX_SPAWN_H_

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "coordkit/spawn/command.h"
#include "coordkit/spawn/error.h"
#include "coordkit/spawn/exit_status.h"
#include "coordkit/spawn/internal/native_handle.h"
#include "coordkit/spawn/internal/posix_error.h"
#include "coordkit/spawn/internal/posix_pipes.h"
#include "coordkit/spawn/internal/posix_process.h"
#include "coordkit/spawn/internal/types.h"

namespace coordkit::spawn::internal {

// SpawnedChild: what spawn_child() hands to the public Child.
struct SpawnedChild {
  ChildState state;
  ChildPipes pipes;
};

// --- validation and argument building ----------------------------------------

inline bool has_nul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

inline void validate(const Command& command) {
  auto invalid = [](const std::string& what) { throw Error(ErrorCode::kInvalidArgument, what); };
  const std::string& exe = command.executable.native();
  if (exe.empty()) invalid("empty executable");
  if (has_nul(exe)) invalid("NUL in the executable path");
  for (const std::string& arg : command.args) {
    if (has_nul(arg)) invalid("NUL in an argument");
  }
  for (const auto& [name, value] : command.env) {
    if (name.empty() || name.find('=') != std::string::npos || has_nul(name)) {
      invalid("bad environment variable name '" + name + "'");
    }
    if (value && has_nul(*value)) invalid("NUL in the value of " + name);
  }
  if (command.cwd && (command.cwd->empty() || has_nul(command.cwd->native()))) {
    invalid("bad working directory");
  }
  for (const Stdio* stdio : {&command.in, &command.out, &command.err}) {
    if (stdio->kind() == Stdio::Kind::kFile &&
        (stdio->path().empty() || has_nul(stdio->path().native()))) {
      invalid("bad Stdio::file path");
    }
  }
}

// child_environment: the parent's environment with the overrides applied,
// as "NAME=value" strings.
inline std::vector<std::string> child_environment(
    const std::map<std::string, std::optional<std::string>>& overrides) {
  std::vector<std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view item(*entry);
    std::string_view name = item.substr(0, item.find('='));
    if (overrides.find(std::string(name)) != overrides.end()) continue;
    env.emplace_back(item);
  }
  for (const auto& [name, value] : overrides) {
    if (value) env.push_back(name + "=" + *value);
  }
  return env;
}

// lookup_env: the value of `name` in a "NAME=value" list.
inline std::optional<std::string> lookup_env(const std::vector<std::string>& env,
                                             std::string_view name) {
  for (const std::string& item : env) {
    if (item.size() > name.size() && item.compare(0, name.size(), name) == 0 &&
        item[name.size()] == '=') {
      return item.substr(name.size() + 1);
    }
  }
  return std::nullopt;
}

// resolve_executable: the absolute path to exec. Relative paths are
// resolved against the parent's current directory (so Command::cwd never
// changes which program runs); with search_path, a bare name is looked up
// in the child's PATH (confstr's default path when it has none).
inline std::filesystem::path resolve_executable(const Command& command,
                                                const std::vector<std::string>& env) {
  const std::filesystem::path& exe = command.executable;
  std::error_code ec;
  if (!command.search_path || exe.native().find('/') != std::string::npos) {
    std::filesystem::path absolute = std::filesystem::absolute(exe, ec);
    if (ec) throw errno_error(ec.value(), "cannot resolve " + exe.native());
    return absolute;
  }
  std::string path_list = lookup_env(env, "PATH").value_or("/bin:/usr/bin");
  std::size_t start = 0;
  int first_error = ENOENT;
  for (;;) {
    std::size_t end = path_list.find(':', start);
    std::string dir =
        path_list.substr(start, end == std::string::npos ? std::string::npos : end - start);
    std::filesystem::path candidate =
        std::filesystem::absolute(std::filesystem::path(dir.empty() ? "." : dir) / exe, ec);
    struct stat info {};
    if (!ec && ::stat(candidate.c_str(), &info) == 0 && S_ISREG(info.st_mode)) {
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
      first_error = EACCES;
    }
    if (end == std::string::npos) break;
    start = end + 1;
  }
  throw errno_error(first_error, "cannot find " + exe.native() + " in PATH");
}

// --- descriptors ----------------------------------------------------------------

// above_stdio: moves a descriptor to 3 or higher (still close-on-exec), so
// that dup2 onto 0/1/2 in the child can never clobber another source fd and
// dup2(fd, fd) (which would keep FD_CLOEXEC) cannot happen. Only needed when
// the parent itself runs with 0/1/2 closed.
inline NativeHandle above_stdio(NativeHandle fd) {
  if (fd.get() > 2) return fd;
  NativeHandle moved(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3));
  if (!moved.valid()) throw errno_error(errno, "fcntl(F_DUPFD_CLOEXEC)");
  return moved;
}

inline NativeHandle open_cloexec(const std::filesystem::path& path, int flags, const char* what) {
  NativeHandle fd(::open(path.c_str(), flags | O_CLOEXEC, 0600));
  if (!fd.valid()) {
    int err = errno;
    // EACCES opening a file is a permission problem (at exec it means
    // "not executable", hence kNotFound there).
    if (err == EACCES) {
      throw Error(ErrorCode::kPermissionDenied,
                  std::string(what) + " " + path.native() + ": permission denied", err);
    }
    throw errno_error(err, std::string(what) + " " + path.native());
  }
  return above_stdio(std::move(fd));
}

struct Pipe {
  NativeHandle read, write;
};

inline Pipe make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw errno_error(errno, "pipe2");
  return Pipe{NativeHandle(fds[0]), NativeHandle(fds[1])};
}

inline void set_nonblocking(const NativeHandle& fd) {
  int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
    throw errno_error(errno, "fcntl(O_NONBLOCK)");
  }
}

// --- RAII for the posix_spawn objects ---------------------------------------

class FileActions {
 public:
  FileActions() {
    if (int err = posix_spawn_file_actions_init(&actions_); err != 0) {
      throw errno_error(err, "posix_spawn_file_actions_init");
    }
  }
  ~FileActions() { posix_spawn_file_actions_destroy(&actions_); }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;
  posix_spawn_file_actions_t* get() { return &actions_; }

 private:
  posix_spawn_file_actions_t actions_;
};

class SpawnAttr {
 public:
  SpawnAttr() {
    if (int err = posix_spawnattr_init(&attr_); err != 0)
      throw errno_error(err, "posix_spawnattr_init");
  }
  ~SpawnAttr() { posix_spawnattr_destroy(&attr_); }
  SpawnAttr(const SpawnAttr&) = delete;
  SpawnAttr& operator=(const SpawnAttr&) = delete;
  posix_spawnattr_t* get() { return &attr_; }

 private:
  posix_spawnattr_t attr_;
};

inline void check(int err, const char* what) {
  if (err != 0) throw errno_error(err, what);
}

// close_other_descriptors: the file action that leaves the child only 0/1/2.
inline void close_other_descriptors(FileActions& actions) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  check(posix_spawn_file_actions_addclosefrom_np(actions.get(), 3),
        "posix_spawn_file_actions_addclosefrom_np");
#else
  // Without closefrom: close what is open now and not close-on-exec (every
  // descriptor this library opens is O_CLOEXEC; this catches the caller's).
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    int fd = std::stoi(entry.path().filename().native());
    if (fd < 3) continue;
    int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0 && (flags & FD_CLOEXEC) == 0) {
      check(posix_spawn_file_actions_addclose(actions.get(), fd),
            "posix_spawn_file_actions_addclose");
    }
  }
#endif
}

// every_signal: the set for posix_spawnattr_setsigdefault. sigfillset()
// leaves out the C library's reserved real-time signals (glibc: 32 and 33,
// SIGCANCEL and SIGSETXID), and glibc's posix_spawn sets those to SIG_IGN in
// the child for the vfork window; SIG_IGN survives exec, so every spawned
// program would start with signals 32 and 33 ignored (fork+exec gives
// SIG_DFL). Their bits are set directly so that posix_spawn resets them to
// SIG_DFL too. Safe: the child keeps every signal blocked until the moment
// it execs, and nothing sends these signals to a process it did not create.
inline sigset_t every_signal() {
  sigset_t set;
  sigfillset(&set);
#if defined(__GLIBC__) && defined(__SIGRTMIN)
  constexpr int kBitsPerWord = static_cast<int>(8 * sizeof(set.__val[0]));
  for (int sig = __SIGRTMIN; sig < SIGRTMIN; ++sig) {
    set.__val[(sig - 1) / kBitsPerWord] |= 1UL << ((sig - 1) % kBitsPerWord);
  }
#endif
  return set;
}

// --- spawn ------------------------------------------------------------------------

inline SpawnedChild spawn_child(const Command& command) {
  validate(command);
  std::vector<std::string> env = child_environment(command.env);
  std::filesystem::path program = resolve_executable(command, env);

  if (command.cwd) {
    struct stat info {};
    if (::stat(command.cwd->c_str(), &info) != 0) {
      throw errno_error(errno, "working directory " + command.cwd->native());
    }
    if (!S_ISDIR(info.st_mode)) {
      throw errno_error(ENOTDIR, "working directory " + command.cwd->native());
    }
  }

  // Source descriptors for the child's 0/1/2, all >= 3 and close-on-exec;
  // they close in the parent when this function returns.
  std::array<NativeHandle, 3> child_ends;
  std::array<NativeHandle, 3> parent_ends;
  NativeHandle dev_null;
  const std::array<const Stdio*, 3> streams = {&command.in, &command.out, &command.err};
  for (int target = 0; target < 3; ++target) {
    const Stdio& stdio = *streams[static_cast<std::size_t>(target)];
    NativeHandle& child_end = child_ends[static_cast<std::size_t>(target)];
    switch (stdio.kind()) {
      case Stdio::Kind::kInherit:
        break;
      case Stdio::Kind::kNull:
        if (!dev_null.valid()) dev_null = open_cloexec("/dev/null", O_RDWR, "opening");
        child_end = NativeHandle(::fcntl(dev_null.get(), F_DUPFD_CLOEXEC, 3));
        if (!child_end.valid()) throw errno_error(errno, "fcntl(F_DUPFD_CLOEXEC)");
        break;
      case Stdio::Kind::kFile:
        child_end = target == 0 ? open_cloexec(stdio.path(), O_RDONLY, "opening stdin file")
                                : open_cloexec(stdio.path(), O_WRONLY | O_APPEND | O_CREAT,
                                               "opening output file");
        break;
      case Stdio::Kind::kPipe: {
        Pipe pipe = make_pipe();
        NativeHandle& parent_end = parent_ends[static_cast<std::size_t>(target)];
        if (target == 0) {
          child_end = above_stdio(std::move(pipe.read));
          parent_end = std::move(pipe.write);
        } else {
          child_end = above_stdio(std::move(pipe.write));
          parent_end = std::move(pipe.read);
        }
        set_nonblocking(parent_end);
        break;
      }
    }
  }

  FileActions actions;
  for (int target = 0; target < 3; ++target) {
    const NativeHandle& child_end = child_ends[static_cast<std::size_t>(target)];
    if (child_end.valid()) {
      check(posix_spawn_file_actions_adddup2(actions.get(), child_end.get(), target),
            "posix_spawn_file_actions_adddup2");
    }
  }
  close_other_descriptors(actions);
  if (command.cwd) {
    check(posix_spawn_file_actions_addchdir_np(actions.get(), command.cwd->c_str()),
          "posix_spawn_file_actions_addchdir_np");
  }

  SpawnAttr attr;
  sigset_t empty_mask;
  sigemptyset(&empty_mask);
  sigset_t all_signals = every_signal();
  check(posix_spawnattr_setsigmask(attr.get(), &empty_mask), "posix_spawnattr_setsigmask");
  check(posix_spawnattr_setsigdefault(attr.get(), &all_signals), "posix_spawnattr_setsigdefault");
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (command.detached) {
#ifdef POSIX_SPAWN_SETSID
    flags |= POSIX_SPAWN_SETSID;  // glibc 2.26+
#else
    throw Error(ErrorCode::kUnsupported, "detached spawn needs POSIX_SPAWN_SETSID (glibc 2.26+)");
#endif
  }
  check(posix_spawnattr_setflags(attr.get(), flags), "posix_spawnattr_setflags");

  std::vector<char*> argv;
  std::string argv0 = command.executable.native();
  argv.reserve(command.args.size() + 2);
  argv.push_back(argv0.data());
  std::vector<std::string> args = command.args;  // posix_spawn takes char* const*
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  envp.reserve(env.size() + 1);
  for (std::string& item : env) envp.push_back(item.data());
  envp.push_back(nullptr);

  pid_t pid = 0;
  // glibc reports exec failures here (the child runs with CLONE_VFORK and
  // passes errno back) and reaps the failed child itself: no zombie.
  int err =
      ::posix_spawn(&pid, program.c_str(), actions.get(), attr.get(), argv.data(), envp.data());
  if (err != 0) throw errno_error(err, "cannot run " + program.native());

  SpawnedChild spawned;
  spawned.state.pid = pid;
  // Open the pidfd at once: until we reap the child its PID cannot be
  // reused (the zombie holds it), so this pidfd names our child for sure.
  if (pidfd_supported()) {
    spawned.state.process = NativeHandle(raw_pidfd_open(pid));
    if (!spawned.state.process.valid()) {
      int open_err = errno;
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
      throw errno_error(open_err, "pidfd_open for the new child");
    }
  }
  if (std::optional<ProcStat> stat = read_proc_stat(pid))
    spawned.state.start_time = stat->start_time;
  spawned.pipes =
      ChildPipes(std::move(parent_ends[0]), std::move(parent_ends[1]), std::move(parent_ends[2]));
  return spawned;
}

// --- wait / signal / cleanup ------------------------------------------------------

inline ExitStatus decode_wait_status(int status) {
  ExitStatus result;
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  return result;
}

// reap: waitpid for our child. ECHILD means someone else reaped it (SIGCHLD
// ignored, or waitpid(-1) elsewhere): the status is then unknown.
inline std::optional<ExitStatus> reap(std::int64_t pid, bool block) {
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(static_cast<pid_t>(pid), &status, block ? 0 : WNOHANG);
    if (r == static_cast<pid_t>(pid)) return decode_wait_status(status);
    if (r == 0) return std::nullopt;
    if (errno == EINTR) continue;
    if (errno == ECHILD) return ExitStatus{};
    throw errno_error(errno, "waitpid(" + std::to_string(pid) + ")");
  }
}

// wait_child: with a pidfd, poll() on it until it turns readable, then reap.
// Without one (pre-5.3 kernels): waitpid(WNOHANG) with a 1..32 ms backoff.
inline std::optional<ExitStatus> wait_child(ChildState& state,
                                            std::optional<std::chrono::milliseconds> timeout) {
  Deadline deadline = deadline_after(timeout);
  if (state.process.valid()) {
    if (!pidfd_exited(state.process, deadline)) return std::nullopt;
    return reap(state.pid, true);
  }
  if (!deadline) return reap(state.pid, true);
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    if (std::optional<ExitStatus> status = reap(state.pid, false)) return status;
    auto now = Clock::now();
    if (now >= *deadline) return std::nullopt;
    std::this_thread::sleep_for(std::min<Clock::duration>(pause, *deadline - now));
    pause = std::min(pause * 2, std::chrono::milliseconds(32));
  }
}

// signal_child: through the pidfd; without one, the unreaped child still
// holds its PID, and the start time is re-checked in case SIGCHLD was
// ignored (the kernel then reaps children by itself).
inline bool signal_child(ChildState& state, Signal sig) {
  if (state.process.valid() || state.start_time != 0) {
    return signal_process(state.process, state.pid, state.start_time, sig);
  }
  // No /proc to read the start time from: the unreaped child holds its PID.
  if (::kill(static_cast<pid_t>(state.pid), signal_number(sig)) == 0) return true;
  if (errno == ESRCH) return false;
  throw errno_error(errno, "kill(" + std::to_string(state.pid) + ")");
}

// kill_and_reap: for Child's destructor; never throws.
inline void kill_and_reap(ChildState& state) noexcept {
  try {
    signal_child(state, Signal::kKill);
    reap(state.pid, true);
  } catch (...) {
    // Nothing sensible is left to do in a destructor.
  }
}

}  // namespace coordkit::spawn::internal

#endif  // COORDKIT_SPAWN_INTERNAL_POSIX_SPAWN_H_

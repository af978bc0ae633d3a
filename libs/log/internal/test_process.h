// Test support for coordkit::log's process tests (testonly). Not API.
//
// ChildProcess starts a binary with posix_spawn, with its descriptors 0-2 set
// up as the test asks (closed, a pipe, /dev/full, ...) and every signal at
// its default action and unblocked, so a SIGPIPE would really kill it. The
// destructor kills and reaps a child that is still running, so a failing
// test never leaves a process behind.

#ifndef COORDKIT_LOG_INTERNAL_TEST_PROCESS_H_
#define COORDKIT_LOG_INTERNAL_TEST_PROCESS_H_

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "coordkit/testing/runfiles.h"
#include "coordkit/testing/scratch_dir.h"

extern char** environ;

namespace coordkit::log::internal {

// runfile: the path of a data dependency, e.g. "libs/log/log_test_child".
inline std::string runfile(std::string_view path) {
  return coordkit::testing::runfile(path).string();
}

// test_tmpdir: a fresh directory for this test's files under TEST_TMPDIR.
inline std::string test_tmpdir(std::string_view name) {
  return coordkit::testing::scratch_dir(name).string();
}

// read_file: the whole file, or "" if it does not exist.
inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// read_report: the key=value pairs a child wrote (separated by spaces or
// newlines).
inline std::map<std::string, std::string> read_report(const std::string& path) {
  std::map<std::string, std::string> report;
  std::istringstream in(read_file(path));
  std::string token;
  while (in >> token) {
    const auto eq = token.find('=');
    if (eq != std::string::npos) report[token.substr(0, eq)] = token.substr(eq + 1);
  }
  return report;
}

class ChildProcess {
 public:
  struct Exit {
    bool timed_out = false;
    bool exited = false;  // normal exit; then `code` is valid
    int code = -1;
    int signal = 0;  // the signal that killed it, if any
  };

  // ChildProcess: starts argv[0] with `fds` applied to its file actions
  // (dup2/close/open). Throws std::runtime_error if it cannot start.
  ChildProcess(const std::vector<std::string>& argv,
               const std::function<void(posix_spawn_file_actions_t*)>& fds) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (fds) fds(&actions);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t all;
    sigfillset(&all);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int rc = posix_spawn(&pid_, args[0], &actions, &attr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) throw std::runtime_error("posix_spawn failed: " + std::to_string(rc));
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  ~ChildProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
    }
  }

  // wait: waits up to `timeout` for the child to end; on timeout kills it
  // (and reaps it) and reports timed_out.
  Exit wait(std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    Exit result;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (true) {
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) break;
      if (r < 0 && errno != EINTR) return result;
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        result.timed_out = true;
        return result;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    pid_ = -1;
    if (WIFEXITED(status)) {
      result.exited = true;
      result.code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      result.signal = WTERMSIG(status);
    }
    return result;
  }

 private:
  pid_t pid_ = -1;
};

}  // namespace coordkit::log::internal

#endif  // COORDKIT_LOG_INTERNAL_TEST_PROCESS_H_

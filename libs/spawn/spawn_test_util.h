// Test support for coordkit::spawn's tests (testonly): finding the helper
// child, reading its "key=value" reports, counting descriptors and children.
#ifndef COORDKIT_SPAWN_SPAWN_TEST_UTIL_H_
#define COORDKIT_SPAWN_SPAWN_TEST_UTIL_H_

#include <dirent.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "coordkit/spawn/spawn.h"
#include "coordkit/testing/runfiles.h"
#include "coordkit/testing/scratch_dir.h"

namespace coordkit::spawn::testing {

// helper_path: the spawn_test_child binary from the test's runfiles.
inline std::filesystem::path helper_path() {
  return coordkit::testing::runfile("libs/spawn/spawn_test_child");
}

// helper: a Command running the helper with `script` as its arguments.
inline Command helper(std::vector<std::string> script) {
  Command command;
  command.executable = helper_path();
  command.args = std::move(script);
  return command;
}

// scratch_dir: a fresh directory under TEST_TMPDIR.
using coordkit::testing::scratch_dir;

// Report: the helper's "key=value" lines.
class Report {
 public:
  explicit Report(const std::string& text) {
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
      std::size_t eq = line.find('=');
      if (eq == std::string::npos) {
        entries_.emplace(line, "");
      } else {
        entries_.emplace(line.substr(0, eq), line.substr(eq + 1));
      }
    }
  }
  bool has(const std::string& key) const { return entries_.count(key) != 0; }
  std::string get(const std::string& key) const {
    auto it = entries_.find(key);
    return it == entries_.end() ? std::string("<missing " + key + ">") : it->second;
  }
  std::vector<std::string> all(const std::string& key) const {
    std::vector<std::string> values;
    auto [first, last] = entries_.equal_range(key);
    for (auto it = first; it != last; ++it) values.push_back(it->second);
    return values;
  }

 private:
  std::multimap<std::string, std::string> entries_;
};

inline std::string unhex(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i + 1 < text.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(text.substr(i, 2), nullptr, 16)));
  }
  return out;
}

// run_helper: runs the helper with stdout captured (bounded to 20 s) and
// returns its report; fails if it does not exit 0.
inline Report run_helper(Command command) {
  command.out = Stdio::pipe();
  Child child = spawn(command);
  std::string out = child.read_stdout_all(std::chrono::seconds(20));
  std::optional<ExitStatus> status = child.wait_for(std::chrono::seconds(20));
  if (!status || !status->success()) {
    throw std::runtime_error("helper failed: " +
                             (status ? status->to_string() : std::string("still running")));
  }
  return Report(out);
}

// open_fd_count: descriptors open in this process now.
inline int open_fd_count() {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    (void)entry;
    ++count;
  }
  return count - 1;  // the iterator's own descriptor
}

// children_of_this_process: pids (with their state letter) whose parent is
// us, zombies included, read from /proc.
inline std::vector<std::pair<std::int64_t, char>> children_of_this_process() {
  std::vector<std::pair<std::int64_t, char>> children;
  const std::string self = std::to_string(getpid());
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    std::size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(line.substr(close + 2));
    char state = '?';
    std::string ppid;
    fields >> state >> ppid;
    if (ppid == self) children.emplace_back(std::stoll(name), state);
  }
  return children;
}

// RawChild: a pid from a raw posix_spawn in a control run; killed and
// reaped on destruction.
class RawChild {
 public:
  explicit RawChild(pid_t pid) : pid_(pid) {}
  RawChild(const RawChild&) = delete;
  RawChild& operator=(const RawChild&) = delete;
  ~RawChild() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  pid_t get() const { return pid_; }
  int wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_;
};

}  // namespace coordkit::spawn::testing

#endif  // COORDKIT_SPAWN_SPAWN_TEST_UTIL_H_

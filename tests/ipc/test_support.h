// Helpers for the multi-process ipc tests and the lifecycle benchmark:
// starting the test server as a child, reading its events file, waiting
// with a bound, and guards that stop every process a test starts.
#ifndef COORDKIT_TESTS_IPC_TEST_SUPPORT_H_
#define COORDKIT_TESTS_IPC_TEST_SUPPORT_H_

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "coordkit/ipc/ipc.h"
#include "coordkit/spawn/spawn.h"
#include "coordkit/testing/child_process.h"
#include "coordkit/testing/deadline.h"
#include "coordkit/testing/runfiles.h"
#include "coordkit/testing/scratch_dir.h"

namespace coordkit::ipc_test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Exit codes of test_server (see test_server.cc).
inline constexpr int kExitOk = 0;
inline constexpr int kExitAlreadyRunning = 3;
inline constexpr int kExitUnsafeRuntimeDir = 4;

inline constexpr const char* kApp = "testsrv";

// test_server_path: the helper binary, from the runfiles of the test (or of
// the benchmark under `bazel run`).
inline fs::path test_server_path() { return coordkit::testing::runfile("tests/ipc/test_server"); }

// scratch_dir: a fresh directory for one test under TEST_TMPDIR.
using coordkit::testing::scratch_dir;

inline std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_file(const fs::path& p, std::string_view content) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << content;
}

inline std::vector<std::string> read_lines(const fs::path& p) {
  std::vector<std::string> lines;
  std::istringstream in(read_file(p));
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// eventually: polls a condition until it holds or its bound passes.
using coordkit::testing::eventually;

// ProcessGuard: stops a process that is not our child (a grandchild) when
// the scope ends, through a verified handle, so a failing test leaks nothing.
using coordkit::testing::ProcessGuard;

// ServerProcess: one test_server child with its own events and log files.
// The spawn::Child kills and reaps it on destruction.
class ServerProcess {
 public:
  ServerProcess(const fs::path& work, const std::string& name, const fs::path& runtime_dir,
                std::vector<std::string> extra = {})
      : events_(work / (name + ".events")), log_(work / (name + ".log")) {
    std::vector<std::string> args = {"--app",      kApp,         "--runtime-dir",
                                     runtime_dir,  "--events",   events_.string(),
                                     "--log-file", log_.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    child_.emplace(spawn::spawn({.executable = test_server_path(),
                                 .args = std::move(args),
                                 .out = spawn::Stdio::file(work / (name + ".stderr")),
                                 .err = spawn::Stdio::file(work / (name + ".stderr"))}));
  }

  spawn::Child& child() { return *child_; }
  std::int64_t pid() const { return child_->pid(); }
  std::vector<std::string> events() const { return read_lines(events_); }
  std::string log_text() const { return read_file(log_); }
  const fs::path& events_path() const { return events_; }

  bool has_event(std::string_view line) const {
    for (const auto& e : events()) {
      if (e == line) return true;
    }
    return false;
  }
  bool has_event_prefix(std::string_view prefix) const {
    for (const auto& e : events()) {
      if (e.rfind(prefix, 0) == 0) return true;
    }
    return false;
  }
  std::optional<std::string> event_with_prefix(std::string_view prefix) const {
    for (const auto& e : events()) {
      if (e.rfind(prefix, 0) == 0) return e.substr(prefix.size());
    }
    return std::nullopt;
  }
  bool wait_event(std::string_view line, std::chrono::milliseconds limit = 10s) const {
    return eventually([&] { return has_event(line); }, limit);
  }
  // wait_exit: the exit status within `limit`, or nullopt (still running).
  std::optional<spawn::ExitStatus> wait_exit(std::chrono::milliseconds limit = 10s) {
    return child_->wait_for(limit);
  }

 private:
  fs::path events_;
  fs::path log_;
  std::optional<spawn::Child> child_;
};

inline ipc::Client client_for(const fs::path& runtime_dir) {
  return ipc::Client({kApp, runtime_dir});
}

// wait_state: waits until the client reads `state`.
inline bool wait_state(const fs::path& runtime_dir, ipc::ServerState state,
                       std::chrono::milliseconds limit = 10s) {
  const ipc::Client client = client_for(runtime_dir);
  return eventually([&] { return client.status().state == state; }, limit);
}

// FileSnapshot: what "nobody touched this file" is checked against.
struct FileSnapshot {
  std::string content;
  std::uint64_t inode = 0;
  std::int64_t mtime_ns = 0;
  bool operator==(const FileSnapshot&) const = default;
};

inline FileSnapshot snapshot(const fs::path& p) {
  struct ::stat st {};
  FileSnapshot s;
  if (::stat(p.c_str(), &st) != 0) return s;
  s.content = read_file(p);
  s.inode = st.st_ino;
  s.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return s;
}

inline std::vector<std::string> dir_entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace coordkit::ipc_test

#endif  // COORDKIT_TESTS_IPC_TEST_SUPPORT_H_

// coordkit/testing/runfiles.h: the path of a test's data dependency (a child
// program, a fixture) in Bazel's runfiles tree (testonly).
//
// Example:
//   // BUILD: coordkit_test(name = "spawn_test", data = [":spawn_test_child"], ...)
//   const std::filesystem::path child = coordkit::testing::runfile("libs/spawn/spawn_test_child");
#ifndef COORDKIT_TESTING_RUNFILES_H_
#define COORDKIT_TESTING_RUNFILES_H_

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace coordkit::testing {

// runfiles_root: the runfiles directory of the running program: $TEST_SRCDIR
// under `bazel test`, $RUNFILES_DIR when a launcher set it, else
// `<this executable>.runfiles` (a program started by `bazel run` or by hand).
// Empty when none exists.
inline std::filesystem::path runfiles_root() {
  for (const char* var : {"TEST_SRCDIR", "RUNFILES_DIR"}) {
    const char* dir = std::getenv(var);
    if (dir != nullptr && *dir != '\0') return dir;
  }
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    std::filesystem::path dir = self;
    dir += ".runfiles";
    if (std::filesystem::is_directory(dir, ec)) return dir;
  }
  return {};
}

// runfile: `path` (workspace-relative, e.g. "tests/ipc/test_server") in the
// runfiles of the workspace named `workspace` (the running test's own
// workspace, $TEST_WORKSPACE, when empty; "coordkit" outside `bazel test`).
// Throws std::runtime_error, naming the path, when the file is not there:
// usually a missing `data = [...]` entry in the BUILD file.
inline std::filesystem::path runfile(std::string_view path, std::string_view workspace = {}) {
  std::string ws(workspace);
  if (ws.empty()) {
    const char* env = std::getenv("TEST_WORKSPACE");
    ws = env != nullptr && *env != '\0' ? env : "coordkit";
  }
  const std::filesystem::path root = runfiles_root();
  std::filesystem::path file = root / ws / path;
  std::error_code ec;
  if (root.empty() || !std::filesystem::exists(file, ec)) {
    throw std::runtime_error("runfile not found: " + file.string() +
                             " (is it in the target's data?)");
  }
  return file;
}

}  // namespace coordkit::testing

#endif  // COORDKIT_TESTING_RUNFILES_H_

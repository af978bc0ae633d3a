// coordkit/testing/scratch_dir.h: a fresh directory for one test's files,
// under Bazel's TEST_TMPDIR (testonly).
//
// Example:
//   const std::filesystem::path dir = coordkit::testing::scratch_dir("rekey");
//   // dir is empty, e.g. $TEST_TMPDIR/rekey.1234.0, and only this call returned it
#ifndef COORDKIT_TESTING_SCRATCH_DIR_H_
#define COORDKIT_TESTING_SCRATCH_DIR_H_

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

namespace coordkit::testing {

// test_tmpdir: $TEST_TMPDIR (set by `bazel test`), or the system temporary
// directory outside Bazel.
inline std::filesystem::path test_tmpdir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr && *dir != '\0' ? std::filesystem::path(dir)
                                        : std::filesystem::temp_directory_path();
}

// scratch_dir: creates and returns a new, empty directory
// `<test_tmpdir>/<name>.<pid>.<n>` (mode 0700 by the umask Bazel sets; the
// pid and a per-process counter keep two calls, two threads and two test
// processes apart). `name` says what the test uses it for and must not
// contain '/'. Throws std::filesystem::filesystem_error if it cannot be
// created. Thread-safe. The directory is left behind for inspection; Bazel
// removes TEST_TMPDIR.
inline std::filesystem::path scratch_dir(std::string_view name) {
  static std::atomic<unsigned> counter{0};
  std::filesystem::path dir =
      test_tmpdir() / (std::string(name) + "." + std::to_string(::getpid()) + "." +
                       std::to_string(counter.fetch_add(1)));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace coordkit::testing

#endif  // COORDKIT_TESTING_SCRATCH_DIR_H_

// Internal, tests only: scratch directories and the paths of test helper
// binaries in the runfiles.
#ifndef COORDKIT_APPS_COMMON_INTERNAL_TESTING_H_
#define COORDKIT_APPS_COMMON_INTERNAL_TESTING_H_

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace coordkit::apps::testing {

// scratch_dir: a fresh directory under TEST_TMPDIR (or /tmp) for one test.
inline std::filesystem::path scratch_dir(const std::string& name) {
  static std::atomic<int> counter{0};
  const char* base = std::getenv("TEST_TMPDIR");
  std::filesystem::path dir = std::filesystem::path(base != nullptr ? base : "/tmp") /
                              ("apps-" + name + "-" + std::to_string(::getpid()) + "-" +
                               std::to_string(counter.fetch_add(1)));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// runfile: a binary of this package from the test's runfiles.
inline std::filesystem::path runfile(const std::string& name) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  if (srcdir == nullptr) throw std::runtime_error("TEST_SRCDIR is not set: run under bazel test");
  return std::filesystem::path(srcdir) / "coordkit/apps/common" / name;
}

// kTestKeyHex: the raw key of the tests' databases (a test value, not a secret).
inline constexpr const char* kTestKeyHex =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

}  // namespace coordkit::apps::testing

#endif  // COORDKIT_APPS_COMMON_INTERNAL_TESTING_H_

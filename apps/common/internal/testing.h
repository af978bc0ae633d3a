// Internal, tests only: scratch directories and the paths of test helper
// binaries in the runfiles.
#ifndef COORDKIT_APPS_COMMON_INTERNAL_TESTING_H_
#define COORDKIT_APPS_COMMON_INTERNAL_TESTING_H_

#include <filesystem>
#include <string>

#include "coordkit/testing/runfiles.h"
#include "coordkit/testing/scratch_dir.h"

namespace coordkit::apps::testing {

// scratch_dir: a fresh directory under TEST_TMPDIR for one test.
using ::coordkit::testing::scratch_dir;

// runfile: a binary of this package (apps/common) from the test's runfiles.
inline std::filesystem::path runfile(const std::string& name) {
  return ::coordkit::testing::runfile("apps/common/" + name);
}

// kTestKeyHex: the raw key of the tests' databases (a test value, not a secret).
inline constexpr const char* kTestKeyHex =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

}  // namespace coordkit::apps::testing

#endif  // COORDKIT_APPS_COMMON_INTERNAL_TESTING_H_

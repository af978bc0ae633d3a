#include "coordkit/cli/log_tail.h"

#include <catch2/catch_test_macros.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "coordkit/testing/scratch_dir.h"

namespace {
// scratch: `name` in a fresh scratch directory.
std::filesystem::path scratch(const std::string& name) {
  return coordkit::testing::scratch_dir("log-tail") / name;
}
}  // namespace

TEST_CASE("tail_lines returns the last lines, after an offset, and nothing for a missing file",
          "[cli]") {
  const auto path = scratch("tail.log");
  {
    std::ofstream out(path);
    for (int i = 1; i <= 10; ++i) out << "line " << i << "\n";
    out << "partial";
  }
  const auto last3 = coordkit::cli::tail_lines(path, 3);
  REQUIRE(last3.size() == 3);
  CHECK(last3[0] == "line 9");
  CHECK(last3[1] == "line 10");
  CHECK(last3[2] == "partial");
  // From the offset of "line 10": only what follows it.
  const std::int64_t offset = static_cast<std::int64_t>(
      std::string("line 1\nline 2\nline 3\nline 4\nline 5\nline 6\nline 7\nline 8\nline 9\n")
          .size());
  const auto after = coordkit::cli::tail_lines(path, 100, offset);
  REQUIRE(after.size() == 2);
  CHECK(after[0] == "line 10");
  CHECK(coordkit::cli::tail_lines(path.string() + ".missing", 5).empty());
  CHECK(coordkit::cli::log_size(path.string() + ".missing") == -1);
}

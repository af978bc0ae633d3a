// coordkit::log::Error is a coordkit::Error: library "log", a stable
// snake_case name per code, the OS error behind it.
#include "coordkit/log/error.h"

#include <catch2/catch_test_macros.hpp>
#include <cerrno>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "coordkit/base/error.h"
#include "coordkit/log/file_sink.h"
#include "coordkit/testing/scratch_dir.h"

namespace cklog = coordkit::log;

TEST_CASE("Every log error code has its own stable snake_case name", "[log][error]") {
  std::set<std::string_view> seen;
  for (const auto code : {cklog::ErrorCode::kInvalidArgument, cklog::ErrorCode::kOpenFailed}) {
    const std::string_view name = cklog::code_name(code);
    CAPTURE(name);
    CHECK(seen.insert(name).second);
    const cklog::Error e(code, "m");
    CHECK(e.code_name() == name);
    CHECK(e.library() == "log");
  }
  CHECK(cklog::code_name(cklog::ErrorCode::kInvalidArgument) == "invalid_argument");
  CHECK(cklog::code_name(cklog::ErrorCode::kOpenFailed) == "open_failed");
}

TEST_CASE("A log set-up failure is caught as coordkit::Error with its code name and OS error",
          "[log][error]") {
  const std::string path =
      (coordkit::testing::scratch_dir("log-error") / "no/such/dir/app.log").string();
  bool caught = false;
  try {
    auto sink = std::make_shared<cklog::FileSink>(cklog::FileSinkOptions{.path = path});
  } catch (const coordkit::Error& e) {
    caught = true;
    CHECK(e.library() == "log");
    CHECK(e.code_name() == "open_failed");
    CHECK(e.os_error() == ENOENT);
    const auto* derived = dynamic_cast<const cklog::Error*>(&e);
    REQUIRE(derived != nullptr);
    CHECK(derived->code() == cklog::ErrorCode::kOpenFailed);
  }
  CHECK(caught);
}

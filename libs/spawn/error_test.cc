// coordkit::spawn::Error is a coordkit::Error: library "spawn", a stable
// snake_case name per code, the OS error behind it.
#include "coordkit/spawn/error.h"

#include <catch2/catch_test_macros.hpp>
#include <cerrno>
#include <set>
#include <string_view>

#include "coordkit/base/error.h"
#include "coordkit/spawn/spawn.h"
#include "coordkit/testing/error_matchers.h"

namespace sp = coordkit::spawn;

using coordkit::testing::is_snake_case;

TEST_CASE("Every spawn error code has its own stable snake_case name", "[spawn][error]") {
  std::set<std::string_view> seen;
  for (int i = 0; i <= static_cast<int>(sp::ErrorCode::kSystem); ++i) {
    const auto code = static_cast<sp::ErrorCode>(i);
    const std::string_view name = sp::code_name(code);
    CAPTURE(i, name);
    CHECK(is_snake_case(name));
    CHECK(name != "unknown");
    CHECK(seen.insert(name).second);
    const sp::Error e(code, "m", EIO);
    CHECK(e.code() == code);
    CHECK(e.code_name() == name);
    CHECK(e.library() == "spawn");
    CHECK(e.os_error() == EIO);
  }
  CHECK(sp::code_name(sp::ErrorCode::kNotFound) == "not_found");
  CHECK(sp::code_name(sp::ErrorCode::kNoSuchProcess) == "no_such_process");
}

TEST_CASE("A spawn failure is caught as coordkit::Error with its code name and OS error",
          "[spawn][error]") {
  bool caught = false;
  try {
    sp::Child child = sp::spawn({.executable = "/no/such/tool"});
  } catch (const coordkit::Error& e) {
    caught = true;
    CHECK(e.library() == "spawn");
    CHECK(e.code_name() == "not_found");
    CHECK(e.os_error() == ENOENT);
    const auto* derived = dynamic_cast<const sp::Error*>(&e);
    REQUIRE(derived != nullptr);
    CHECK(derived->code() == sp::ErrorCode::kNotFound);
  }
  CHECK(caught);
}

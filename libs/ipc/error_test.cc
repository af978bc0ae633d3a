// coordkit::ipc::Error is a coordkit::Error: library "ipc", a stable
// snake_case name per code, the OS error behind it.
#include "coordkit/ipc/error.h"

#include <catch2/catch_test_macros.hpp>
#include <cerrno>
#include <filesystem>
#include <set>
#include <string>
#include <string_view>

#include "coordkit/base/error.h"
#include "coordkit/ipc/runtime_dir.h"
#include "coordkit/testing/error_matchers.h"
#include "coordkit/testing/scratch_dir.h"

namespace ipc = coordkit::ipc;
namespace fs = std::filesystem;

using coordkit::testing::is_snake_case;

TEST_CASE("Every ipc error code has its own stable snake_case name", "[ipc][error]") {
  std::set<std::string_view> seen;
  for (int i = 0; i <= static_cast<int>(ipc::ErrorCode::kSystem); ++i) {
    const auto code = static_cast<ipc::ErrorCode>(i);
    const std::string_view name = ipc::code_name(code);
    CAPTURE(i, name);
    CHECK(is_snake_case(name));
    CHECK(name != "unknown");
    CHECK(seen.insert(name).second);
    const ipc::Error e(code, "m");
    CHECK(e.code() == code);
    CHECK(e.code_name() == name);
    CHECK(e.library() == "ipc");
    CHECK(e.os_error() == 0);
  }
  CHECK(ipc::code_name(ipc::ErrorCode::kAlreadyRunning) == "already_running");
  CHECK(ipc::code_name(ipc::ErrorCode::kRuntimeDirTooOpen) == "runtime_dir_too_open");
  CHECK(ipc::code_name(ipc::ErrorCode::kSystem) == "system");
}

TEST_CASE("An ipc failure is caught as coordkit::Error with its code name and OS error",
          "[ipc][error]") {
  const fs::path base = coordkit::testing::scratch_dir("ipc_error_test");
  // A runtime dir whose name is longer than the file system allows: the OS
  // says ENAMETOOLONG.
  const ipc::RuntimeDirLocation where{base / std::string(300, 'r'), base,
                                      ipc::RuntimeDirSource::kExplicit};
  bool caught = false;
  try {
    ipc::ensure_runtime_dir(where);
  } catch (const coordkit::Error& e) {
    caught = true;
    CHECK(e.library() == "ipc");
    CHECK(e.code_name() == "system");
    CHECK(e.os_error() == ENAMETOOLONG);
    const auto* derived = dynamic_cast<const ipc::Error*>(&e);
    REQUIRE(derived != nullptr);
    CHECK(derived->code() == ipc::ErrorCode::kSystem);
  }
  CHECK(caught);

  const ipc::Error escape =
      coordkit::testing::thrown<ipc::Error>([] { ipc::resolve_runtime_dir("../escape"); });
  CHECK(escape.code() == ipc::ErrorCode::kInvalidArgument);
  CHECK(escape.code_name() == "invalid_argument");
  CHECK(escape.os_error() == 0);
}

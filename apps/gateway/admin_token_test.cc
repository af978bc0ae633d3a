#include "coordkit/gateway/admin_token.h"

#include <sys/stat.h>

#include <catch2/catch_test_macros.hpp>

#include "coordkit/gateway/internal/testing.h"

namespace gw = coordkit::gateway;

TEST_CASE("The admin token is created 0600 once and read back after", "[gateway]") {
  const auto dir = gw::testing::scratch_dir("token");
  const std::string first = gw::load_or_create_admin_token(dir);
  CHECK(first.size() == 64);
  struct stat st {};
  REQUIRE(::stat((dir / gw::kAdminTokenFile).c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(gw::load_or_create_admin_token(dir) == first);
  CHECK(gw::constant_time_equal(first, first));
  CHECK_FALSE(gw::constant_time_equal(first, std::string(64, '0')));
}

TEST_CASE("An admin token file others can read, or a garbage one, is refused", "[gateway]") {
  const auto dir = gw::testing::scratch_dir("token-bad");
  SECTION("mode 0644") {
    gw::testing::write_file(dir / gw::kAdminTokenFile, std::string(64, 'a') + "\n", 0644);
  }
  SECTION("not hex") { gw::testing::write_file(dir / gw::kAdminTokenFile, "hello\n", 0600); }
  SECTION("a symlink") {
    gw::testing::write_file(dir / "real", std::string(64, 'a') + "\n", 0600);
    std::filesystem::create_symlink(dir / "real", dir / gw::kAdminTokenFile);
  }
  try {
    gw::load_or_create_admin_token(dir);
    FAIL("an unsafe token file was used");
  } catch (const gw::Error& e) {
    CHECK(e.code() == gw::ErrorCode::kInvalidArgument);
  }
}

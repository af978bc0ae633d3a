#include "coordkit/ipc/runtime_dir.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "coordkit/testing/error_matchers.h"
#include "coordkit/testing/scratch_dir.h"

namespace fs = std::filesystem;
namespace ipc = coordkit::ipc;

namespace {

using coordkit::testing::has_code;
using coordkit::testing::scratch_dir;
using coordkit::testing::thrown;

// Sets or clears an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value->c_str(), 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// error_of: the code of the error ensure_runtime_dir throws for `dir`.
ipc::ErrorCode error_of(const fs::path& dir) {
  INFO("ensure_runtime_dir(" << dir << ")");
  return thrown<ipc::Error>([&] { ipc::ensure_runtime_dir(ipc::resolve_runtime_dir("app", dir)); })
      .code();
}

}  // namespace

TEST_CASE("The runtime dir comes from the flag, then COORDKIT_RUNTIME_DIR, then XDG, then HOME",
          "[ipc][runtime_dir]") {
  const fs::path base = scratch_dir("resolve");
  fs::create_directories(base / "xdg");
  ScopedEnv env_dir(ipc::kEnvRuntimeDir, base / "env");
  ScopedEnv xdg("XDG_RUNTIME_DIR", (base / "xdg").string());
  ScopedEnv state("XDG_STATE_HOME", (base / "state").string());
  ScopedEnv home("HOME", (base / "home").string());

  CHECK(ipc::resolve_runtime_dir("app", base / "flag").path == base / "flag");
  CHECK(ipc::resolve_runtime_dir("app", base / "flag").source == ipc::RuntimeDirSource::kExplicit);
  CHECK(ipc::resolve_runtime_dir("app").path == base / "env");
  {
    ScopedEnv no_env(ipc::kEnvRuntimeDir, std::nullopt);
    CHECK(ipc::resolve_runtime_dir("app").path == base / "xdg" / "coordkit" / "app");
    {
      ScopedEnv no_xdg("XDG_RUNTIME_DIR", std::nullopt);
      CHECK(ipc::resolve_runtime_dir("app").path == base / "state" / "coordkit" / "app");
      ScopedEnv no_state("XDG_STATE_HOME", std::nullopt);
      CHECK(ipc::resolve_runtime_dir("app").path ==
            base / "home" / ".local" / "state" / "coordkit" / "app");
      ScopedEnv no_home("HOME", std::nullopt);
      CHECK_THROWS_MATCHES(ipc::resolve_runtime_dir("app"), ipc::Error,
                           has_code(ipc::ErrorCode::kNoRuntimeDir));
    }
    SECTION("an XDG_RUNTIME_DIR that does not exist is skipped") {
      ScopedEnv gone("XDG_RUNTIME_DIR", (base / "missing").string());
      CHECK(ipc::resolve_runtime_dir("app").path == base / "state" / "coordkit" / "app");
    }
  }
}

TEST_CASE("App names that would escape the runtime dir are refused", "[ipc][runtime_dir]") {
  const std::string bad =
      GENERATE(std::string(""), std::string(".."), std::string("a/b"), std::string(".hidden"),
               std::string("-x"), std::string("sp ace"), std::string(65, 'a'));
  CAPTURE(bad);
  CHECK_FALSE(ipc::is_valid_app_name(bad));
  CHECK_THROWS_AS(ipc::resolve_runtime_dir(bad, fs::path("/tmp/x")), ipc::Error);
  CHECK(ipc::is_valid_app_name("coordkit-gateway_2.0"));
}

TEST_CASE("A missing runtime dir and its missing parents are created 0700 whatever the umask",
          "[ipc][runtime_dir]") {
  const fs::path base = scratch_dir("create");
  const mode_t old = ::umask(0);
  ipc::ensure_runtime_dir(ipc::resolve_runtime_dir("app", base / "a" / "b" / "run"));
  ::umask(old);
  CHECK(mode_of(base / "a") == 0700);
  CHECK(mode_of(base / "a" / "b") == 0700);
  CHECK(mode_of(base / "a" / "b" / "run") == 0700);
  // A second call accepts what the first made.
  CHECK_NOTHROW(ipc::ensure_runtime_dir(ipc::resolve_runtime_dir("app", base / "a" / "b" / "run")));
  CHECK(ipc::check_runtime_dir(ipc::resolve_runtime_dir("app", base / "a" / "b" / "run")));
  CHECK_FALSE(ipc::check_runtime_dir(ipc::resolve_runtime_dir("app", base / "nothing")));
  CHECK_FALSE(fs::exists(base / "nothing"));
}

TEST_CASE("The XDG layout creates coordkit/<app> below XDG_RUNTIME_DIR, each part 0700",
          "[ipc][runtime_dir]") {
  const fs::path base = scratch_dir("xdg");
  fs::create_directories(base / "xdg");
  fs::permissions(base / "xdg", fs::perms::owner_all);
  ScopedEnv no_env(ipc::kEnvRuntimeDir, std::nullopt);
  ScopedEnv xdg("XDG_RUNTIME_DIR", (base / "xdg").string());
  const auto where = ipc::resolve_runtime_dir("app");
  ipc::ensure_runtime_dir(where);
  CHECK(mode_of(base / "xdg" / "coordkit") == 0700);
  CHECK(mode_of(base / "xdg" / "coordkit" / "app") == 0700);

  SECTION("a symlinked coordkit component below the base is refused") {
    fs::create_directories(base / "elsewhere" / "app");
    fs::permissions(base / "elsewhere", fs::perms::owner_all);
    fs::permissions(base / "elsewhere" / "app", fs::perms::owner_all);
    fs::remove_all(base / "xdg" / "coordkit");
    fs::create_directory_symlink(base / "elsewhere", base / "xdg" / "coordkit");
    CHECK_THROWS_MATCHES(ipc::ensure_runtime_dir(where), ipc::Error,
                         has_code(ipc::ErrorCode::kRuntimeDirIsSymlink));
  }
}

TEST_CASE("An unsafe runtime dir is refused with an error naming the problem",
          "[ipc][runtime_dir]") {
  const fs::path base = scratch_dir("unsafe");
  const fs::path dir = base / "run";

  SECTION("group or other access") {
    const auto mode = GENERATE(0770, 0707, 0750, 0705, 0711, 0777);
    CAPTURE(mode);
    fs::create_directory(dir);
    REQUIRE(::chmod(dir.c_str(), static_cast<mode_t>(mode)) == 0);
    CHECK(error_of(dir) == ipc::ErrorCode::kRuntimeDirTooOpen);
    // Control: the same directory at 0700 is accepted.
    REQUIRE(::chmod(dir.c_str(), 0700) == 0);
    CHECK_NOTHROW(ipc::ensure_runtime_dir(ipc::resolve_runtime_dir("app", dir)));
  }
  SECTION("a symlink to a private directory") {
    fs::create_directory(base / "real");
    REQUIRE(::chmod((base / "real").c_str(), 0700) == 0);
    fs::create_directory_symlink(base / "real", dir);
    CHECK(error_of(dir) == ipc::ErrorCode::kRuntimeDirIsSymlink);
    CHECK_NOTHROW(ipc::ensure_runtime_dir(ipc::resolve_runtime_dir("app", base / "real")));
  }
  SECTION("a regular file") {
    {
      std::FILE* f = std::fopen(dir.c_str(), "w");
      REQUIRE(f != nullptr);
      std::fclose(f);
    }
    CHECK(error_of(dir) == ipc::ErrorCode::kRuntimeDirNotDirectory);
  }
  SECTION("owned by another user") {
    if (::geteuid() != 0) SKIP("needs root to give a directory to another user");
    fs::create_directory(dir);
    REQUIRE(::chmod(dir.c_str(), 0700) == 0);
    if (::chown(dir.c_str(), 65534, 65534) != 0) {
      SKIP("chown to another user failed (a user namespace without that uid?)");
    }
    CHECK(error_of(dir) == ipc::ErrorCode::kRuntimeDirNotOwned);
  }
}

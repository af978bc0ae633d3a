#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "coordkit/base/error.h"
#include "coordkit/base/file_id.h"
#include "coordkit/base/unique_fd.h"

namespace {

class DemoError : public coordkit::Error {
 public:
  DemoError(const std::string& message, int os_error)
      : coordkit::Error("demo", "no_such_thing", message, os_error) {}
};

}  // namespace

TEST_CASE("Error carries library, code name and OS error in one what() format", "[base]") {
  try {
    throw DemoError("opening /x", ENOENT);
  } catch (const coordkit::Error& e) {
    CHECK(e.library() == "demo");
    CHECK(e.code_name() == "no_such_thing");
    CHECK(e.os_error() == ENOENT);
    CHECK(std::string(e.what()).rfind("coordkit::demo: no_such_thing: opening /x (os error ", 0) ==
          0);
  }
  CHECK(coordkit::Error::format("db", "busy", "m", 0) == "coordkit::db: busy: m");
}

TEST_CASE("UniqueFd closes its descriptor once and release hands it over", "[base]") {
  int raw = -1;
  {
    coordkit::UniqueFd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    REQUIRE(fd.valid());
    raw = fd.get();
    coordkit::UniqueFd moved(std::move(fd));
    CHECK_FALSE(
        fd.valid());  // NOLINT(bugprone-use-after-move): the moved-from state is the contract
    CHECK(moved.get() == raw);
  }
  CHECK(::fcntl(raw, F_GETFD) == -1);
  CHECK(errno == EBADF);

  coordkit::UniqueFd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  const int kept = fd.release();
  CHECK_FALSE(fd.valid());
  CHECK(::fcntl(kept, F_GETFD) != -1);
  ::close(kept);
}

TEST_CASE("FileId tells the same file from a replaced one", "[base]") {
  const std::string dir =
      std::getenv("TEST_TMPDIR") != nullptr ? std::getenv("TEST_TMPDIR") : "/tmp";
  const std::string a = dir + "/file_id_a";
  const std::string b = dir + "/file_id_b";
  std::fclose(std::fopen(a.c_str(), "w"));
  std::fclose(std::fopen(b.c_str(), "w"));
  const auto ida = coordkit::file_id_of(a);
  REQUIRE(ida.has_value());
  coordkit::UniqueFd fd(::open(a.c_str(), O_RDONLY | O_CLOEXEC));
  CHECK(coordkit::file_id_of_fd(fd.get()) == ida);
  REQUIRE(std::rename(b.c_str(), a.c_str()) == 0);
  CHECK(coordkit::file_id_of(a) != ida);
  CHECK_FALSE(coordkit::file_id_of(dir + "/missing").has_value());
}

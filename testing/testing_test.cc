#include "coordkit/testing/testing.h"

#include <signal.h>

#include <catch2/catch_test_macros.hpp>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "coordkit/base/error.h"

namespace {

namespace ckt = coordkit::testing;
using namespace std::chrono_literals;

enum class DemoCode { kBusy, kGone };

const char* code_name(DemoCode code) { return code == DemoCode::kBusy ? "busy" : "gone"; }

const char* name_of(DemoCode code) { return code_name(code); }

class DemoError : public coordkit::Error {
 public:
  explicit DemoError(DemoCode code) : coordkit::Error("demo", name_of(code), "m"), code_(code) {}
  DemoCode code() const noexcept { return code_; }

 private:
  DemoCode code_;
};

coordkit::spawn::Command child_command(std::vector<std::string> args) {
  return {.executable = ckt::runfile("testing/testing_test_child"),
          .args = std::move(args),
          .out = coordkit::spawn::Stdio::pipe()};
}

// alive: whether `pid` names a process (or an unreaped zombie) right now.
bool alive(std::int64_t pid) { return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH; }

}  // namespace

TEST_CASE("scratch_dir returns a new empty directory under TEST_TMPDIR each call", "[testing]") {
  const std::filesystem::path a = ckt::scratch_dir("same");
  const std::filesystem::path b = ckt::scratch_dir("same");
  CHECK(a != b);
  CHECK(std::filesystem::is_directory(a));
  CHECK(std::filesystem::is_empty(b));
  CHECK(a.parent_path() == ckt::test_tmpdir());
}

TEST_CASE("runfile finds a data dependency and names a missing one", "[testing]") {
  CHECK(std::filesystem::is_regular_file(ckt::runfile("testing/testing_test_child")));
  CHECK_THROWS_AS(ckt::runfile("testing/no_such_file"), std::runtime_error);
}

TEST_CASE("eventually returns once the condition holds and gives up at its bound", "[testing]") {
  int calls = 0;
  CHECK(ckt::eventually([&] { return ++calls == 3; }, 5s));
  CHECK(calls == 3);

  const auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(ckt::eventually([] { return false; }, 50ms));
  CHECK(std::chrono::steady_clock::now() - start >= 50ms);

  const ckt::Deadline expired(0ms);
  CHECK(expired.expired());
  CHECK(expired.remaining() == 0ms);
  CHECK(ckt::eventually([] { return true; }, expired));  // checked once more at the end
}

TEST_CASE("has_code matches a derived error's code; has_code_name reads the base", "[testing]") {
  CHECK_THROWS_MATCHES(throw DemoError(DemoCode::kBusy), DemoError, ckt::has_code(DemoCode::kBusy));
  CHECK_THROWS_MATCHES(throw DemoError(DemoCode::kGone), coordkit::Error,
                       ckt::has_code_name("demo", "gone"));

  const DemoError busy(DemoCode::kBusy);
  CHECK_FALSE(ckt::has_code(DemoCode::kGone).match(busy));
  CHECK_FALSE(ckt::has_code_name("demo", "gone").match(busy));
  CHECK_FALSE(ckt::has_code_name("db", "busy").match(busy));
  CHECK(ckt::has_code(DemoCode::kGone).describe() == "has code gone");
}

TEST_CASE("thrown returns the error a call throws; other exceptions pass through", "[testing]") {
  const DemoError gone = ckt::thrown<DemoError>([] { throw DemoError(DemoCode::kGone); });
  CHECK(gone.code() == DemoCode::kGone);
  CHECK(gone.code_name() == "gone");
  CHECK_THROWS_AS(ckt::thrown<DemoError>([] { throw std::runtime_error("other"); }),
                  std::runtime_error);
}

TEST_CASE("ChildProcess stops and reaps its child, escalating to SIGKILL", "[testing]") {
  std::int64_t pid = 0;
  {
    ckt::ChildProcess child(child_command({"sleep"}));
    pid = child.pid();
    REQUIRE(child.child().read_stdout_line(10s) == "ready");
    CHECK(alive(pid));
  }
  CHECK_FALSE(alive(pid));  // stopped and reaped: not even a zombie

  ckt::ChildProcess stubborn(child_command({"ignore-term"}), 100ms);
  REQUIRE(stubborn.child().read_stdout_line(10s) == "ready");
  CHECK(stubborn.stop(100ms).signal == SIGKILL);

  ckt::ChildProcess done(child_command({"exit", "7"}));
  REQUIRE(done.wait_for(10s).has_value());
  CHECK(done.stop().exit_code == 7);
}

TEST_CASE("ProcessGuard stops a process through its verified identity", "[testing]") {
  ckt::ChildProcess child(child_command({"sleep"}));
  REQUIRE(child.child().read_stdout_line(10s) == "ready");
  { ckt::ProcessGuard guard(child.child().identity(), 2s); }
  const std::optional<coordkit::spawn::ExitStatus> status = child.wait_for(10s);
  REQUIRE(status.has_value());
  CHECK(status->signal == SIGTERM);
}

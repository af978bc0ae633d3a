// Helpers for coordctl's end-to-end tests: run the real binary as a child
// process with a controlled environment, capture its output and exit code,
// and guard every gateway a test starts so that none outlives the test.
#ifndef COORDKIT_TESTS_CLI_CLI_TEST_SUPPORT_H_
#define COORDKIT_TESTS_CLI_CLI_TEST_SUPPORT_H_

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "coordkit/ipc/ipc.h"
#include "coordkit/spawn/spawn.h"

namespace coordkit::cli_test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// kKeyHex, kOtherKeyHex: raw keys of the tests' databases (test values).
inline constexpr const char* kKeyHex =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
inline constexpr const char* kOtherKeyHex =
    "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

inline fs::path runfile(const std::string& package_path) {
  if (const char* srcdir = std::getenv("TEST_SRCDIR"))
    return fs::path(srcdir) / "coordkit" / package_path;
  if (const char* runfiles = std::getenv("RUNFILES_DIR")) {
    return fs::path(runfiles) / "coordkit" / package_path;
  }
  return fs::absolute(package_path);
}
inline fs::path coordctl_path() { return runfile("apps/cli/coordctl"); }
inline fs::path fake_gateway_path() { return runfile("tests/cli/fake_gateway"); }

inline fs::path scratch_dir(const std::string& name) {
  static std::atomic<int> counter{0};
  const char* tmp = std::getenv("TEST_TMPDIR");
  fs::path dir = fs::path(tmp != nullptr ? tmp : "/tmp") /
                 ("cli-" + name + "-" + std::to_string(counter.fetch_add(1)));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

inline std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_file(const fs::path& p, std::string_view content,
                       fs::perms mode = fs::perms::owner_read | fs::perms::owner_write) {
  {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << content;
  }
  fs::permissions(p, mode);
}

inline bool all_ascii(std::string_view text) {
  for (unsigned char c : text) {
    if (c > 0x7e || (c < 0x20 && c != '\n')) return false;
  }
  return true;
}

// Result: how one coordctl run ended.
struct Result {
  int code = -1;
  std::string out;
  std::string err;
  double cpu_seconds = 0;  // user + system CPU time of the child
};

// Env: the environment overrides of a run (nullopt removes the variable).
using Env = std::map<std::string, std::optional<std::string>>;

// World: one test's directory, database path and runtime directory, and
// the environment every coordctl run of the test gets. The key variables of
// the test process never leak in; nothing prompts.
struct World {
  fs::path dir;
  fs::path db;
  fs::path runtime;
  fs::path key_file;
  fs::path other_key_file;
  Env env;

  explicit World(const std::string& name)
      : dir(scratch_dir(name)),
        db(dir / "app.db"),
        runtime(dir / "run"),
        key_file(dir / "app.key"),
        other_key_file(dir / "other.key") {
    write_file(key_file, std::string(kKeyHex) + "\n");
    write_file(other_key_file, std::string(kOtherKeyHex) + "\n");
    env = {{"COORDKIT_PASSPHRASE", std::nullopt},
           {"COORDKIT_KEY_FILE", std::nullopt},
           {"COORDKIT_NEW_PASSPHRASE", std::nullopt},
           {"COORDKIT_DB", db.string()},
           {"COORDKIT_RUNTIME_DIR", runtime.string()},
           {"COORDKIT_GATEWAY_BIN", fake_gateway_path().string()},
           {"COORDKIT_GATEWAY_LOG", std::nullopt},
           {"COORDKIT_NO_PROMPT", "1"},
           {"XDG_RUNTIME_DIR", std::nullopt}};
  }

  // run: coordctl with `args`, `input` on stdin, `extra` env on top.
  Result run(const std::vector<std::string>& args, const Env& extra = {},
             std::string_view input = {}) const {
    Env e = env;
    for (const auto& [k, v] : extra) e[k] = v;
    rusage before{};
    ::getrusage(RUSAGE_CHILDREN, &before);
    spawn::Child child = spawn::spawn({.executable = coordctl_path(),
                                       .args = args,
                                       .env = e,
                                       .in = spawn::Stdio::pipe(),
                                       .out = spawn::Stdio::pipe(),
                                       .err = spawn::Stdio::pipe()});
    spawn::Child::Output output = child.communicate(input, std::chrono::milliseconds(120000));
    const spawn::ExitStatus status = child.wait();
    rusage after{};
    ::getrusage(RUSAGE_CHILDREN, &after);
    auto seconds = [](const timeval& tv) {
      return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
    };
    Result r;
    r.code = status.exit_code ? *status.exit_code : 128 + status.signal.value_or(0);
    r.out = std::move(output.out);
    r.err = std::move(output.err);
    r.cpu_seconds = seconds(after.ru_utime) - seconds(before.ru_utime) + seconds(after.ru_stime) -
                    seconds(before.ru_stime);
    return r;
  }

  // key_args: the global options that key a run with the test's raw key.
  std::vector<std::string> with_key(std::vector<std::string> args) const {
    args.insert(args.begin(), {"--key-file", key_file.string()});
    return args;
  }

  ipc::Client client() const { return ipc::Client({"gateway", runtime}); }
};

// GatewayGuard: stops whatever gateway runs in `world`'s runtime directory
// when the test ends, however it ends (SIGKILL as a last resort).
class GatewayGuard {
 public:
  explicit GatewayGuard(const World& world) : world_(world) {}
  GatewayGuard(const GatewayGuard&) = delete;
  GatewayGuard& operator=(const GatewayGuard&) = delete;
  ~GatewayGuard() {
    try {
      ipc::StopOptions o;
      o.mode = ipc::ShutdownMode::kFast;
      o.deadline = 2000ms;
      o.terminate_grace = 500ms;
      world_.client().stop(o);
    } catch (...) {
    }
  }

 private:
  const World& world_;
};

}  // namespace coordkit::cli_test

#endif  // COORDKIT_TESTS_CLI_CLI_TEST_SUPPORT_H_

// Helpers for coordctl's end-to-end tests and its benchmark: run the real
// binary as a child process with a controlled environment, capture its
// output and exit code; the one set-up of a scratch database, key files and
// runtime directory (World), with the stand-in or the real gateway; and a
// guard for every gateway a test starts so that none outlives the test.
//
// Example:
//   World w("rekey");
//   w.use_real_gateway();
//   GatewayGuard guard(w);
//   w.init();
//   const nlohmann::json started = w.start_gateway({"--listen", "127.0.0.1:0"});
//   CHECK(w.run(w.with_key({"db", "get", "notes", "n1"})).code == 1);
#ifndef COORDKIT_TESTS_CLI_CLI_TEST_SUPPORT_H_
#define COORDKIT_TESTS_CLI_CLI_TEST_SUPPORT_H_

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "coordkit/ipc/ipc.h"
#include "coordkit/spawn/spawn.h"
#include "coordkit/testing/runfiles.h"
#include "coordkit/testing/scratch_dir.h"

namespace coordkit::cli_test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using coordkit::testing::runfile;

// kKeyHex, kOtherKeyHex: raw keys of the tests' databases (test values).
inline constexpr const char* kKeyHex =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
inline constexpr const char* kOtherKeyHex =
    "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

inline fs::path coordctl_path() { return runfile("apps/cli/coordctl"); }
// fake_gateway_path: where the stand-in gateway is in the runfiles; only
// tests that start it list it in their data, so its absence is not checked
// here (a start then fails with coordctl's own error).
inline fs::path fake_gateway_path() {
  return coordkit::testing::runfiles_root() / "coordkit" / "tests/cli/fake_gateway";
}
inline fs::path real_gateway_path() { return runfile("apps/gateway/coordkit-gateway"); }

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

// json_line: the first line of `out` (a --json run's output) as JSON.
// Throws std::runtime_error when there is no complete line, and
// nlohmann::json::parse_error when it is not JSON.
inline nlohmann::json json_line(const std::string& out) {
  const auto nl = out.find('\n');
  if (nl == std::string::npos) throw std::runtime_error("no JSON line in: " + out);
  return nlohmann::json::parse(out.substr(0, nl));
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

  // World: a fresh scratch directory (coordkit::testing::scratch_dir) named
  // after the test.
  explicit World(const std::string& name) : World(coordkit::testing::scratch_dir(name), At{}) {}
  // in_directory: a World in `directory` (created if missing), e.g. a
  // benchmark's --dir.
  static World in_directory(fs::path directory) { return World(std::move(directory), At{}); }

 private:
  struct At {};
  World(fs::path directory, At)
      : dir(std::move(directory)),
        db(dir / "app.db"),
        runtime(dir / "run"),
        key_file(dir / "app.key"),
        other_key_file(dir / "other.key") {
    fs::create_directories(dir);
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

 public:
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

  // use_real_gateway: `gateway start` runs coordkit-gateway (keyed with the
  // world's raw key, its data under the world's directory) instead of the
  // stand-in fake_gateway.
  void use_real_gateway() {
    env["COORDKIT_GATEWAY_BIN"] = real_gateway_path().string();
    env["XDG_DATA_HOME"] = (dir / "data").string();
    real_gateway_ = true;
  }

  // init: `db init` with the world's raw key. Throws std::runtime_error
  // (with coordctl's stderr) unless it exits 0.
  void init() const {
    const Result r = run(with_key({"db", "init"}));
    if (r.code != 0) throw std::runtime_error("coordctl db init failed: " + r.err);
  }

  // start_args: `gateway start --wait <wait_s> --json`, then `gateway_args`
  // after "--"; keyed with the raw key for the real gateway.
  std::vector<std::string> start_args(const std::vector<std::string>& gateway_args = {},
                                      int wait_s = 60) const {
    std::vector<std::string> args = {"gateway", "start", "--wait", std::to_string(wait_s),
                                     "--json"};
    if (!gateway_args.empty()) {
      args.push_back("--");
      args.insert(args.end(), gateway_args.begin(), gateway_args.end());
    }
    return real_gateway_ ? with_key(std::move(args)) : args;
  }

  // start_gateway: runs start_args() and returns its JSON line. Throws
  // std::runtime_error (with coordctl's stderr) unless it exits 0 with the
  // gateway ready.
  nlohmann::json start_gateway(const std::vector<std::string>& gateway_args = {},
                               int wait_s = 60) const {
    const Result r = run(start_args(gateway_args, wait_s));
    if (r.code != 0) {
      throw std::runtime_error("coordctl gateway start exited " + std::to_string(r.code) + ": " +
                               r.err);
    }
    nlohmann::json j = json_line(r.out);
    if (j.value("state", "") != "ready") {
      throw std::runtime_error("coordctl gateway start: not ready: " + r.out);
    }
    return j;
  }

 private:
  bool real_gateway_ = false;
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

// cli_benchmark: coordctl end to end, as a user runs it: each figure is the
// median over --runs runs (20) of one coordctl process, timed from spawn to
// exit. Run it with tools/bench/cli. Prints one line per figure, then one
// JSON object with all of them.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "coordkit/ipc/ipc.h"
#include "coordkit/spawn/spawn.h"

namespace {

namespace fs = std::filesystem;
namespace spawn = coordkit::spawn;
using Clock = std::chrono::steady_clock;
using Env = std::map<std::string, std::optional<std::string>>;

fs::path runfile(const std::string& path) {
  if (const char* r = std::getenv("RUNFILES_DIR")) return fs::path(r) / "coordkit" / path;
  return fs::absolute(path);  // bazel run: the working directory is the runfiles tree
}

struct Bench {
  fs::path dir;
  fs::path ctl = runfile("apps/cli/coordctl");
  Env env;

  // run: one coordctl process; its wall time in ms; exits on a failure.
  double run(const std::vector<std::string>& args, const Env& extra = {}) const {
    Env e = env;
    for (const auto& [k, v] : extra) e[k] = v;
    const auto t0 = Clock::now();
    spawn::Child child = spawn::spawn({.executable = ctl,
                                       .args = args,
                                       .env = e,
                                       .out = spawn::Stdio::null(),
                                       .err = spawn::Stdio::inherit()});
    const spawn::ExitStatus status = child.wait();
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (!status.success()) {
      std::fprintf(stderr, "cli_benchmark: coordctl %s failed: %s\n", args.front().c_str(),
                   status.to_string().c_str());
      std::exit(1);
    }
    return ms;
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 20;
  fs::path base = fs::temp_directory_path();
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--runs") runs = std::max(1, std::atoi(argv[i + 1]));
    if (flag == "--dir") base = argv[i + 1];
  }
  Bench b;
  b.dir = base / ("coordctl-bench-" + std::to_string(::getpid()));
  fs::remove_all(b.dir);
  fs::create_directories(b.dir);
  const fs::path key = b.dir / "raw.key";
  {
    std::FILE* f = std::fopen(key.c_str(), "w");
    std::fputs("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n", f);
    std::fclose(f);
    fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write);
  }
  b.env = {{"COORDKIT_PASSPHRASE", std::nullopt},
           {"COORDKIT_KEY_FILE", std::nullopt},
           {"COORDKIT_NO_PROMPT", "1"},
           {"COORDKIT_RUNTIME_DIR", (b.dir / "run").string()},
           {"COORDKIT_GATEWAY_BIN", runfile("tests/cli/fake_gateway").string()}};
  const std::string raw_db = (b.dir / "raw.db").string();
  const std::string pass_db = (b.dir / "pass.db").string();
  const Env pass = {{"COORDKIT_PASSPHRASE", "benchmark passphrase"}};

  std::vector<double> start_ms, stop_ms, put_ms, unlocked_ms, passphrase_ms;
  for (int i = 0; i < runs; ++i) {
    start_ms.push_back(b.run({"--db", raw_db, "gateway", "start"}));
    stop_ms.push_back(b.run({"gateway", "stop"}));
  }
  b.run({"--db", raw_db, "--key-file", key.string(), "db", "init"});
  for (int i = 0; i < runs; ++i) {
    put_ms.push_back(b.run({"--db", raw_db, "--key-file", key.string(), "db", "put", "bench",
                            "r" + std::to_string(i), "{\"i\":1}"}));
  }
  b.run({"--db", pass_db, "db", "init"}, pass);
  b.run({"--db", pass_db, "unlock", "--ttl", "10m"}, pass);
  for (int i = 0; i < runs; ++i) {
    unlocked_ms.push_back(
        b.run({"--db", pass_db, "db", "put", "bench", "u" + std::to_string(i), "{}"}, pass));
  }
  b.run({"--db", pass_db, "lock"});
  for (int i = 0; i < runs; ++i) {
    passphrase_ms.push_back(
        b.run({"--db", pass_db, "db", "put", "bench", "p" + std::to_string(i), "{}"}, pass));
  }
  fs::remove_all(b.dir);

  const nlohmann::json result = {{"runs", runs},
                                 {"start_to_ready_ms", median(start_ms)},
                                 {"stop_ms", median(stop_ms)},
                                 {"db_put_ms", median(put_ms)},
                                 {"db_put_unlocked_ms", median(unlocked_ms)},
                                 {"db_put_passphrase_ms", median(passphrase_ms)}};
  for (const auto& [k, v] : result.items()) {
    if (k != "runs") std::printf("%-22s %8.2f\n", k.c_str(), v.get<double>());
  }
  std::printf("%s\n", result.dump().c_str());
  return 0;
}

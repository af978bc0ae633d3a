// cli_benchmark: coordctl end to end, as a user runs it: each figure is the
// median over --runs runs (20) of one coordctl process, timed from spawn to
// exit. Run it with tools/bench/cli. Prints one line per figure, then one
// JSON object with all of them.
//
// start_to_ready_ms and stop_ms are against the real coordkit-gateway on a
// scratch encrypted database (raw key, TCP on loopback): start until
// coordctl returns with the gateway ready (database opened and migrated,
// listening), stop of the idle gateway until coordctl returns. The same two
// against tests/cli's stand-in gateway (libs/ipc alone: lock, status and
// shutdown file, no database, no HTTP) are printed as *_standin_ms: the
// difference is the real gateway's own start-up and drain.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/cli/cli_test_support.h"

namespace {

namespace fs = std::filesystem;
namespace ct = coordkit::cli_test;
using Clock = std::chrono::steady_clock;

// timed: one coordctl process's wall time in ms; exits the benchmark on a
// failure, with coordctl's stderr.
double timed(const ct::World& w, const std::vector<std::string>& args, const ct::Env& extra = {}) {
  const auto t0 = Clock::now();
  const ct::Result r = w.run(args, extra);
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  if (r.code != 0) {
    std::fprintf(stderr, "cli_benchmark: coordctl %s exited %d: %s\n", args.front().c_str(), r.code,
                 r.err.c_str());
    std::exit(1);
  }
  return ms;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// start_stop: `runs` times gateway start then gateway stop in `w`.
void start_stop(const ct::World& w, const std::vector<std::string>& gateway_args, int runs,
                std::vector<double>& start_ms, std::vector<double>& stop_ms) {
  for (int i = 0; i < runs; ++i) {
    start_ms.push_back(timed(w, w.start_args(gateway_args, 30)));
    stop_ms.push_back(timed(w, {"gateway", "stop"}));
  }
}

int run(int argc, char** argv) {
  int runs = 20;
  fs::path base = fs::temp_directory_path();
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--runs") runs = std::max(1, std::atoi(argv[i + 1]));
    if (flag == "--dir") base = argv[i + 1];
  }
  const fs::path dir = base / ("coordctl-bench-" + std::to_string(::getpid()));
  fs::remove_all(dir);

  // The stand-in gateway: libs/ipc only.
  std::vector<double> standin_start_ms, standin_stop_ms;
  {
    const ct::World w = ct::World::in_directory(dir / "standin");
    start_stop(w, {}, runs, standin_start_ms, standin_stop_ms);
  }

  // The real gateway on a scratch encrypted database, and coordctl db put on
  // the same file.
  std::vector<double> start_ms, stop_ms, put_ms;
  {
    ct::World w = ct::World::in_directory(dir / "real");
    w.use_real_gateway();
    w.init();
    start_stop(w, {"--listen", "127.0.0.1:0"}, runs, start_ms, stop_ms);
    for (int i = 0; i < runs; ++i) {
      put_ms.push_back(
          timed(w, w.with_key({"db", "put", "bench", "r" + std::to_string(i), "{\"i\":1}"})));
    }
  }

  // A passphrase: with the derived key kept by unlock, then without.
  std::vector<double> unlocked_ms, passphrase_ms;
  {
    const ct::World w = ct::World::in_directory(dir / "passphrase");
    const ct::Env pass = {{"COORDKIT_PASSPHRASE", "benchmark passphrase"}};
    timed(w, {"db", "init"}, pass);
    timed(w, {"unlock", "--ttl", "10m"}, pass);
    for (int i = 0; i < runs; ++i) {
      unlocked_ms.push_back(timed(w, {"db", "put", "bench", "u" + std::to_string(i), "{}"}, pass));
    }
    timed(w, {"lock"});
    for (int i = 0; i < runs; ++i) {
      passphrase_ms.push_back(
          timed(w, {"db", "put", "bench", "p" + std::to_string(i), "{}"}, pass));
    }
  }
  fs::remove_all(dir);

  nlohmann::ordered_json result = {{"runs", runs},
                                   {"start_to_ready_ms", median(start_ms)},
                                   {"stop_ms", median(stop_ms)},
                                   {"db_put_ms", median(put_ms)},
                                   {"db_put_unlocked_ms", median(unlocked_ms)},
                                   {"db_put_passphrase_ms", median(passphrase_ms)},
                                   {"start_to_ready_standin_ms", median(standin_start_ms)},
                                   {"stop_standin_ms", median(standin_stop_ms)}};
  for (const auto& [k, v] : result.items()) {
    if (k != "runs") std::printf("%-26s %8.2f\n", k.c_str(), v.get<double>());
  }
  std::printf("%s\n", result.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cli_benchmark: %s\n", e.what());
    return 1;
  }
}

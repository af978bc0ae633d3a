// lifecycle_benchmark: how fast a coordkit server starts and stops.
//
//   shutdown_event_p50_ms / _p99_ms  shutdown file created (rename into the
//                                    runtime dir) until the idle test server
//                                    has exited and been reaped; inotify; 200
//                                    runs; runtime dir on tmpfs, where
//                                    $XDG_RUNTIME_DIR lives (_disk: the same
//                                    on the disk, like ~/.local/state)
//   shutdown_poll_p50_ms             the same with inotify off, polling at the
//                                    default interval (kDefaultPollInterval),
//                                    requests at random poll phases; 30 runs
//   spawn_ms_posix_spawn / _fork_exec  spawn-to-exit of /bin/true from a parent
//                                    holding 1 GiB of touched memory (medians,
//                                    libs/spawn/spawn_benchmark_lib.h)
//   start_to_ready_ms                spawn of the test server until its status
//                                    file says ready (median of the 200 runs)
// Baselines measured in the same run give the ratios: polling against
// inotify, fork+exec against posix_spawn, and both spawns from an idle
// parent. The last line is one JSON object.
//
// Run: tools/bench/lifecycle (bazel run -c opt //tests/ipc:lifecycle_benchmark).
#include <linux/magic.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "coordkit/ipc/ipc.h"
#include "coordkit/spawn/spawn.h"
#include "libs/spawn/spawn_benchmark_lib.h"
#include "tests/ipc/test_support.h"

namespace {

namespace fs = std::filesystem;
namespace ipc = coordkit::ipc;
namespace spawn = coordkit::spawn;
namespace support = coordkit::ipc_test;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto rank =
      static_cast<std::size_t>(std::lround(p / 100.0 * static_cast<double>(v.size())));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

// DirWatch: inotify on the runtime dir, so waiting for `ready` sleeps until
// the status file is replaced instead of spinning.
class DirWatch {
 public:
  explicit DirWatch(const fs::path& dir) : fd_(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
    if (fd_ < 0 || ::inotify_add_watch(fd_, dir.c_str(), IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
      throw std::runtime_error("inotify on " + dir.string() + " failed");
    }
  }
  ~DirWatch() { ::close(fd_); }
  DirWatch(const DirWatch&) = delete;
  DirWatch& operator=(const DirWatch&) = delete;
  void wait(std::chrono::milliseconds limit) {
    pollfd p{fd_, POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(limit.count()));
    char buf[4096];
    while (::read(fd_, buf, sizeof buf) > 0) {
    }
  }

 private:
  int fd_;
};

struct Run {
  double start_to_ready_ms = 0;
  double shutdown_ms = 0;
};

// one_run: start the idle test server, wait for ready, publish a shutdown
// request the way Client does (temp file + rename), wait for the exit.
// `delay`: a pause between ready and the request; the polling runs draw it
// uniformly from one interval so requests land at random poll phases, as
// real ones do.
Run one_run(const fs::path& run_dir, bool poll_only, DirWatch& watch,
            std::chrono::microseconds delay = std::chrono::microseconds(0)) {
  std::vector<std::string> args = {"--app", support::kApp, "--runtime-dir", run_dir.string()};
  if (poll_only) args.push_back("--force-poll");
  const ipc::Client client({support::kApp, run_dir});
  Run r;
  const auto t_spawn = Clock::now();
  spawn::Child child = spawn::spawn({.executable = support::test_server_path(),
                                     .args = args,
                                     .out = spawn::Stdio::null(),
                                     .err = spawn::Stdio::null()});
  ipc::Status status;
  const auto give_up = t_spawn + 10s;
  while ((status = client.status()).state != ipc::ServerState::kReady) {
    if (Clock::now() > give_up || child.try_wait()) throw std::runtime_error("server never ready");
    watch.wait(5ms);
  }
  r.start_to_ready_ms = ms_between(t_spawn, Clock::now());

  if (delay.count() > 0) std::this_thread::sleep_for(delay);
  const std::string name = std::string(support::kApp) + ".shutdown";
  const fs::path temp = run_dir / ("." + name + ".bench.tmp");
  const std::string body = ipc::format_shutdown_file(
      {status.record->token, ipc::ShutdownMode::kGraceful, std::chrono::milliseconds(10000)});
  const auto t_request = Clock::now();
  support::write_file(temp, body);
  fs::rename(temp, run_dir / name);
  const auto exit = child.wait_for(10s);
  const auto t_exit = Clock::now();
  if (!exit || !exit->success()) throw std::runtime_error("server did not exit 0");
  r.shutdown_ms = ms_between(t_request, t_exit);
  return r;
}

// Series: the event-driven runs in one runtime dir.
struct Series {
  std::vector<double> shutdown_ms;
  std::vector<double> ready_ms;
};

// TempDir: a private scratch directory under `base`, removed at the end.
class TempDir {
 public:
  explicit TempDir(const fs::path& base) {
    std::string tmpl = (base / "coordkit-lifecycle-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp in " + base.string());
    path_ = tmpl;
    run_ = path_ / "run";
    fs::create_directory(run_);
    fs::permissions(run_, fs::perms::owner_all, fs::perm_options::replace);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& run_dir() const { return run_; }

 private:
  fs::path path_;
  fs::path run_;
};

bool is_tmpfs(const fs::path& p) {
  struct ::statfs st {};
  return ::statfs(p.c_str(), &st) == 0 && st.f_type == TMPFS_MAGIC;
}

// tmpfs_base: where a login session's runtime dir lives: $XDG_RUNTIME_DIR
// (/run/user/<uid>, a tmpfs) or, when this machine has none, /dev/shm.
std::optional<fs::path> tmpfs_base() {
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg != nullptr && is_tmpfs(xdg)) {
    return fs::path(xdg);
  }
  if (is_tmpfs("/dev/shm")) return fs::path("/dev/shm");
  return std::nullopt;
}

Series event_series(const fs::path& run_dir, int runs) {
  DirWatch watch(run_dir);
  Series s;
  for (int i = 0; i < 3; ++i) one_run(run_dir, false, watch);  // warm-up
  for (int i = 0; i < runs; ++i) {
    const Run r = one_run(run_dir, false, watch);
    s.shutdown_ms.push_back(r.shutdown_ms);
    s.ready_ms.push_back(r.start_to_ready_ms);
  }
  return s;
}

std::vector<double> poll_series(const fs::path& run_dir, int runs) {
  DirWatch watch(run_dir);
  std::mt19937 rng(42);  // fixed seed: the same request phases every run
  std::uniform_int_distribution<std::int64_t> phase(
      0,
      std::chrono::duration_cast<std::chrono::microseconds>(ipc::kDefaultPollInterval).count() - 1);
  std::vector<double> out;
  for (int i = 0; i < runs; ++i) {
    out.push_back(one_run(run_dir, true, watch, std::chrono::microseconds(phase(rng))).shutdown_ms);
  }
  return out;
}

}  // namespace

int main() {
  try {
    constexpr int kEventRuns = 200;
    constexpr int kPollRuns = 30;
    // The headline figures use a runtime dir on tmpfs, where the default
    // location ($XDG_RUNTIME_DIR/coordkit/<app>) lives; the same series on
    // the disk (/tmp here, like the ~/.local/state fallback) shows what
    // metadata writes on a busy journal add.
    const std::optional<fs::path> fast_base = tmpfs_base();
    const fs::path disk_base = "/tmp";
    TempDir fast_dir(fast_base.value_or(disk_base));
    TempDir disk_dir(disk_base);

    const Series fast = event_series(fast_dir.run_dir(), kEventRuns);
    const Series disk = event_series(disk_dir.run_dir(), kEventRuns);
    const std::vector<double> poll_ms = poll_series(fast_dir.run_dir(), kPollRuns);

    namespace bench = coordkit::spawn::bench;
    const bench::SpawnFigures spawn_figures = bench::measure_spawn({.runs = 100});

    const double event_p50 = percentile(fast.shutdown_ms, 50);
    const double event_p99 = percentile(fast.shutdown_ms, 99);
    const double poll_p50 = percentile(poll_ms, 50);
    const double ready_p50 = percentile(fast.ready_ms, 50);
    const double disk_event_p50 = percentile(disk.shutdown_ms, 50);
    const double disk_event_p99 = percentile(disk.shutdown_ms, 99);
    const double disk_ready_p50 = percentile(disk.ready_ms, 50);

    std::printf("lifecycle benchmark (idle test server; poll interval %lld ms)\n",
                static_cast<long long>(ipc::kDefaultPollInterval.count()));
    std::printf("  runtime dir            %s (%s)\n", fast_dir.run_dir().c_str(),
                fast_base ? "tmpfs" : "no tmpfs found: disk");
    std::printf("  shutdown via inotify   p50 %8.3f ms  p99 %8.3f ms  (%d runs)\n", event_p50,
                event_p99, kEventRuns);
    std::printf("  shutdown via polling   p50 %8.3f ms  (%d runs)  = %.0fx the inotify p50\n",
                poll_p50, kPollRuns, poll_p50 / event_p50);
    std::printf("  start to ready         p50 %8.3f ms  p99 %8.3f ms\n", ready_p50,
                percentile(fast.ready_ms, 99));
    std::printf("  on disk (%s): shutdown p50 %.3f ms p99 %.3f ms, start to ready p50 %.3f ms\n",
                disk_dir.run_dir().c_str(), disk_event_p50, disk_event_p99, disk_ready_p50);
    std::printf(
        "  spawn, 1 GiB parent    posix_spawn %.3f ms  fork+exec %.3f ms  (fork+exec = %.1fx)\n",
        spawn_figures.posix_spawn_ms, spawn_figures.fork_exec_ms,
        spawn_figures.fork_exec_ms / spawn_figures.posix_spawn_ms);
    std::printf("  spawn, idle parent     posix_spawn %.3f ms  fork+exec %.3f ms\n",
                spawn_figures.posix_spawn_idle_ms, spawn_figures.fork_exec_idle_ms);
    std::printf("  targets: shutdown_event_p50_ms <= 5, spawn <= 2 ms, start_to_ready_ms <= 50\n");

    auto round3 = [](double v) { return static_cast<double>(std::llround(v * 1000)) / 1000; };
    const nlohmann::json j = {
        {"shutdown_event_p50_ms", round3(event_p50)},
        {"shutdown_event_p99_ms", round3(event_p99)},
        {"shutdown_poll_p50_ms", round3(poll_p50)},
        {"spawn_ms_posix_spawn", round3(spawn_figures.posix_spawn_ms)},
        {"spawn_ms_fork_exec", round3(spawn_figures.fork_exec_ms)},
        {"start_to_ready_ms", round3(ready_p50)},
        {"shutdown_event_p50_ms_disk", round3(disk_event_p50)},
        {"shutdown_event_p99_ms_disk", round3(disk_event_p99)},
        {"start_to_ready_ms_disk", round3(disk_ready_p50)},
        {"runtime_dir_tmpfs", fast_base.has_value()},
    };
    std::printf("%s\n", j.dump().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lifecycle_benchmark: %s\n", e.what());
    return 1;
  }
}

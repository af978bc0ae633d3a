// spawn_benchmark: spawn-to-exit of /bin/true through coordkit::spawn
// (posix_spawn) against fork+exec, from an idle parent and from a parent
// holding 1 GiB of touched memory. Prints the medians and their ratios;
// the last line is one JSON object.
//
//   bazel run -c opt //libs/spawn:spawn_benchmark -- [--runs N] [--ballast-mib N]
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "libs/spawn/spawn_benchmark_lib.h"

namespace {

int run(int argc, char** argv) {
  coordkit::spawn::bench::SpawnOptions options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--runs") {
      options.runs = std::atoi(argv[i + 1]);
    } else if (flag == "--ballast-mib") {
      options.ballast_bytes = std::size_t{static_cast<std::size_t>(std::atol(argv[i + 1]))} << 20;
    } else {
      std::fprintf(stderr, "usage: spawn_benchmark [--runs N] [--ballast-mib N]\n");
      return 2;
    }
  }
  if (options.runs < 1) {
    std::fprintf(stderr, "spawn_benchmark: --runs must be at least 1\n");
    return 2;
  }
  const double mib = static_cast<double>(options.ballast_bytes) / (1 << 20);
  std::printf("spawn-to-exit of %s, median of %d runs each\n", options.executable.c_str(),
              options.runs);
  const coordkit::spawn::bench::SpawnFigures f = coordkit::spawn::bench::measure_spawn(options);
  std::printf(
      "  idle parent:          coordkit::spawn %8.3f ms   fork+exec %8.3f ms   (fork/spawn "
      "%.1fx)\n",
      f.posix_spawn_idle_ms, f.fork_exec_idle_ms, f.fork_exec_idle_ms / f.posix_spawn_idle_ms);
  std::printf(
      "  parent with %5.0f MiB: coordkit::spawn %8.3f ms   fork+exec %8.3f ms   (fork/spawn "
      "%.1fx)\n",
      mib, f.posix_spawn_ms, f.fork_exec_ms, f.fork_exec_ms / f.posix_spawn_ms);
  std::printf(
      "{\"bench\":\"spawn\",\"runs\":%d,\"ballast_mib\":%.0f,\"spawn_ms_posix_spawn\":%.3f,"
      "\"spawn_ms_fork_exec\":%.3f,\"spawn_ms_posix_spawn_idle\":%.3f,\"spawn_ms_fork_exec_idle\":%"
      ".3f}\n",
      options.runs, mib, f.posix_spawn_ms, f.fork_exec_ms, f.posix_spawn_idle_ms,
      f.fork_exec_idle_ms);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spawn_benchmark: %s\n", e.what());
    return 1;
  }
}

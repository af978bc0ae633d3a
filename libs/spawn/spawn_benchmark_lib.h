// libs/spawn/spawn_benchmark_lib.h (testonly; include it by that path): measuring spawn-to-exit
// time through coordkit::spawn against fork+exec, from an idle parent and
// from one holding a large amount of touched memory. Shared by
// spawn_benchmark and other benchmark programs (tools/bench/lifecycle).
//
// Example:
//   namespace bench = coordkit::spawn::bench;
//   bench::SpawnFigures f = bench::measure_spawn({.runs = 200});
//   std::printf("%.2f ms vs %.2f ms\n", f.posix_spawn_ms, f.fork_exec_ms);
#ifndef COORDKIT_SPAWN_SPAWN_BENCHMARK_LIB_H_
#define COORDKIT_SPAWN_SPAWN_BENCHMARK_LIB_H_

#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "coordkit/spawn/spawn.h"

namespace coordkit::spawn::bench {

// Ballast: `bytes` of private anonymous memory, every page written, so a
// fork() has that many page-table entries to copy (plain 4 KiB pages: the
// mapping is advised against transparent huge pages, as a real heap mostly
// is). Unmapped on destruction. Throws std::runtime_error if mmap fails.
class Ballast {
 public:
  explicit Ballast(std::size_t bytes) : size_(bytes) {
    if (size_ == 0) return;
    void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error("mmap of the ballast failed");
    data_ = static_cast<char*>(p);
#ifdef MADV_NOHUGEPAGE
    ::madvise(data_, size_, MADV_NOHUGEPAGE);
#endif
    const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    for (std::size_t i = 0; i < size_; i += page) data_[i] = static_cast<char>(i / page);
  }
  ~Ballast() {
    if (data_ != nullptr) ::munmap(data_, size_);
  }
  Ballast(const Ballast&) = delete;
  Ballast& operator=(const Ballast&) = delete;

 private:
  std::size_t size_;
  char* data_ = nullptr;
};

enum class SpawnMethod {
  kCoordkitSpawn,  // coordkit::spawn::spawn (posix_spawn), then Child::wait
  kForkExec,       // fork(), execv() in the child, waitpid()
};

// spawn_to_exit_ms: one run: start `executable` (no arguments, stdio
// inherited) and wait for it to exit; wall time in milliseconds. Throws
// if the program cannot be started or does not exit 0.
inline double spawn_to_exit_ms(SpawnMethod method, const std::filesystem::path& executable) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  if (method == SpawnMethod::kCoordkitSpawn) {
    Child child = spawn(Command{.executable = executable, .in = Stdio::inherit()});
    if (!child.wait().success()) throw std::runtime_error(executable.native() + " failed");
  } else {
    const std::string& exe = executable.native();
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      char* const argv[] = {const_cast<char*>(exe.c_str()), nullptr};
      ::execv(exe.c_str(), argv);
      ::_exit(127);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error(exe + " failed");
  }
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// median_ms: the median of `runs` runs (after 5 warm-up runs not counted).
inline double median_ms(SpawnMethod method, const std::filesystem::path& executable, int runs) {
  for (int i = 0; i < 5; ++i) spawn_to_exit_ms(method, executable);
  std::vector<double> samples;
  samples.reserve(static_cast<std::size_t>(runs));
  for (int i = 0; i < runs; ++i) samples.push_back(spawn_to_exit_ms(method, executable));
  std::sort(samples.begin(), samples.end());
  const std::size_t n = samples.size();
  if (n == 0) return 0;
  return n % 2 == 1 ? samples[n / 2] : (samples[n / 2 - 1] + samples[n / 2]) / 2;
}

struct SpawnOptions {
  int runs = 200;
  std::size_t ballast_bytes = std::size_t{1} << 30;  // 1 GiB
  std::filesystem::path executable = "/bin/true";
};

// SpawnFigures: medians in milliseconds; "idle" means no ballast.
struct SpawnFigures {
  double posix_spawn_ms = 0;       // coordkit::spawn, parent holding the ballast
  double fork_exec_ms = 0;         // fork+exec, parent holding the ballast
  double posix_spawn_idle_ms = 0;  // coordkit::spawn, idle parent
  double fork_exec_idle_ms = 0;    // fork+exec, idle parent
};

// measure_spawn: all four medians. Call it from a single-threaded point of
// the program (fork in a multi-threaded parent is only safe because the
// child execs at once; the figures would also include other threads' noise).
inline SpawnFigures measure_spawn(const SpawnOptions& options = {}) {
  SpawnFigures figures;
  figures.posix_spawn_idle_ms =
      median_ms(SpawnMethod::kCoordkitSpawn, options.executable, options.runs);
  figures.fork_exec_idle_ms = median_ms(SpawnMethod::kForkExec, options.executable, options.runs);
  Ballast ballast(options.ballast_bytes);
  figures.posix_spawn_ms = median_ms(SpawnMethod::kCoordkitSpawn, options.executable, options.runs);
  figures.fork_exec_ms = median_ms(SpawnMethod::kForkExec, options.executable, options.runs);
  return figures;
}

}  // namespace coordkit::spawn::bench

#endif  // COORDKIT_SPAWN_SPAWN_BENCHMARK_LIB_H_

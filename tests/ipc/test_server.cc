// test_server: a small server that uses coordkit::ipc and coordkit::log the
// way a real one does, for the multi-process tests in this package and the
// lifecycle benchmark.
//
// Start order: reserve fds 0-2, parse flags, logger, ipc::Server (lock,
// watcher, `starting`), simulated start-up work (--start-delay-ms; a shutdown
// during it ends the process without ever claiming ready), worker threads
// (--jobs), `ready`, then wait for a shutdown it honours. Graceful: stop
// taking jobs, finish the in-flight ones (bounded by the request's
// deadline), exit 0. Fast: abandon in-flight jobs, exit 0.
//
// --events FILE gets one line per event, each with one write(2) (O_APPEND),
// so a test can follow along even if this process is killed:
//   started <pid>             the ipc::Server exists (lock held)
//   ready
//   child <pid>               --spawn-child started a grandchild
//   job_started <n> / job_done <n> / job_aborted <n>
//   shutdown <source> <mode>  a request this server honours
//   ignored <source> <mode>   a request it was told to ignore
//   shutdown_during_start
//   exit <code>
//
// Exit codes (documented for the tests):
//   0  shut down cleanly (any honoured request)
//   1  unexpected error
//   2  bad command line
//   3  already running (another instance holds the lock)
//   4  unsafe runtime directory (symlink, wrong owner, group/other access)
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "coordkit/ipc/ipc.h"
#include "coordkit/log/log.h"
#include "coordkit/spawn/spawn.h"

extern char** environ;

namespace {

namespace ipc = coordkit::ipc;
namespace cklog = coordkit::log;
namespace spawn = coordkit::spawn;
using namespace std::chrono_literals;

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitAlreadyRunning = 3;
constexpr int kExitUnsafeRuntimeDir = 4;

struct Flags {
  std::string app = "testsrv";
  std::string runtime_dir;
  std::string events;
  std::string log_file;
  int start_delay_ms = 0;
  int jobs = 0;
  int job_ms = 100;
  bool ignore_file = false;
  bool ignore_signals = false;
  bool force_poll = false;
  int poll_interval_ms = 0;
  std::string spawn_child;  // executable to start after ready (e.g. /bin/sleep)
  bool spawn_child_raw = false;
  std::string control_flock;
  std::string barrier;  // wait until this file exists before starting
};

// Events: the test-facing record, one write per line.
class Events {
 public:
  explicit Events(const std::string& path) {
    if (!path.empty()) {
      fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    }
  }
  ~Events() {
    if (fd_ >= 0) ::close(fd_);
  }
  Events(const Events&) = delete;
  Events& operator=(const Events&) = delete;
  void add(const std::string& line) const {
    if (fd_ < 0) return;
    const std::string text = line + "\n";
    [[maybe_unused]] const ssize_t n = ::write(fd_, text.data(), text.size());
  }

 private:
  int fd_ = -1;
};

// Requests: what the ipc::Server's on_shutdown reported, for a main loop
// that waits for the first one it honours.
class Requests {
 public:
  void push(const ipc::ShutdownRequest& r) {
    {
      std::lock_guard<std::mutex> g(mutex_);
      pending_.push_back(r);
    }
    cv_.notify_all();
  }
  // next: the next reported request, or nullopt after `timeout`.
  std::optional<ipc::ShutdownRequest> next(std::optional<std::chrono::milliseconds> timeout) {
    std::unique_lock<std::mutex> g(mutex_);
    auto ready = [&] { return !pending_.empty(); };
    if (timeout) {
      if (!cv_.wait_for(g, *timeout, ready)) return std::nullopt;
    } else {
      cv_.wait(g, ready);
    }
    ipc::ShutdownRequest r = pending_.front();
    pending_.erase(pending_.begin());
    return r;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<ipc::ShutdownRequest> pending_;
};

// Workers: N threads, each running jobs of job_ms back to back.
class Workers {
 public:
  Workers(int count, std::chrono::milliseconds job, const Events& events)
      : job_(job), events_(events) {
    for (int i = 0; i < count; ++i) threads_.emplace_back([this] { run(); });
  }
  ~Workers() { stop(ipc::ShutdownMode::kFast); }
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  // stop: graceful finishes the jobs in flight; fast abandons them.
  void stop(ipc::ShutdownMode mode) {
    accepting_ = false;
    if (mode == ipc::ShutdownMode::kFast) abort_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  void abort() { abort_ = true; }

 private:
  void run() {
    while (accepting_) {
      const std::uint64_t id = ++next_id_;
      events_.add("job_started " + std::to_string(id));
      const auto until = std::chrono::steady_clock::now() + job_;
      bool aborted = false;
      while (std::chrono::steady_clock::now() < until) {
        if (abort_) {
          aborted = true;
          break;
        }
        std::this_thread::sleep_for(
            std::min<std::chrono::nanoseconds>(2ms, until - std::chrono::steady_clock::now()));
      }
      events_.add((aborted ? "job_aborted " : "job_done ") + std::to_string(id));
      if (aborted) return;
    }
  }

  std::chrono::milliseconds job_;
  const Events& events_;
  std::atomic<bool> accepting_{true};
  std::atomic<bool> abort_{false};
  std::atomic<std::uint64_t> next_id_{0};
  std::vector<std::thread> threads_;
};

// spawn_grandchild: a long-lived child of this server. Through libs/spawn
// (every descriptor but 0-2 closed in the child), or with --spawn-child-raw
// a bare posix_spawn that inherits every descriptor not marked
// close-on-exec: only FD_CLOEXEC then keeps the lock file's descriptor out.
std::int64_t spawn_grandchild(const Flags& flags) {
  if (!flags.spawn_child_raw) {
    spawn::Child child = spawn::spawn({.executable = flags.spawn_child, .args = {"300"}});
    const std::int64_t pid = child.pid();
    child.release();
    return pid;
  }
  pid_t pid = 0;
  std::string exe = flags.spawn_child;
  std::string arg = "300";
  char* argv[] = {exe.data(), arg.data(), nullptr};
  if (::posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv, environ) != 0) return -1;
  return pid;
}

// wait_for_barrier: a start barrier for races: every racer blocks here
// until the test creates the file, then all go at once.
bool wait_for_barrier(const std::string& path) {
  const auto until = std::chrono::steady_clock::now() + 60s;
  while (::access(path.c_str(), F_OK) != 0) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(200us);
  }
  return true;
}

int run(const Flags& flags, const cklog::Logger& log, const Events& events) {
  if (!flags.barrier.empty() && !wait_for_barrier(flags.barrier)) {
    log.error("start barrier never opened");
    return kExitError;
  }
  if (flags.ignore_signals) {
    // The escalation test: only SIGKILL ends this server.
    ::signal(SIGTERM, SIG_IGN);
    ::signal(SIGINT, SIG_IGN);
  }
  Requests requests;
  ipc::ServerOptions options;
  options.app = flags.app;
  if (!flags.runtime_dir.empty()) options.runtime_dir = flags.runtime_dir;
  options.version = "test-1";
  options.use_inotify = !flags.force_poll;
  if (flags.poll_interval_ms > 0)
    options.poll_interval = std::chrono::milliseconds(flags.poll_interval_ms);
  options.handle_signals = !flags.ignore_signals;
  options.on_shutdown = [&requests](const ipc::ShutdownRequest& r) { requests.push(r); };
  options.on_event = [&log](const ipc::Event& e) {
    const cklog::Level level = e.severity == ipc::EventSeverity::kInfo   ? cklog::Level::kInfo
                               : e.severity == ipc::EventSeverity::kWarn ? cklog::Level::kWarn
                                                                         : cklog::Level::kError;
    log.log(level, "ipc event",
            {{"event", ipc::to_string(e.kind)},
             {"reason", e.reason ? ipc::to_string(*e.reason) : std::string_view("-")},
             {"detail", e.detail}});
  };

  std::optional<ipc::Server> server;
  try {
    server.emplace(std::move(options));
  } catch (const ipc::Error& e) {
    log.error("cannot start", {{"code", e.code_name()}, {"error", e.what()}});
    switch (e.code()) {
      case ipc::ErrorCode::kAlreadyRunning:
        return kExitAlreadyRunning;
      case ipc::ErrorCode::kRuntimeDirIsSymlink:
      case ipc::ErrorCode::kRuntimeDirNotOwned:
      case ipc::ErrorCode::kRuntimeDirTooOpen:
      case ipc::ErrorCode::kRuntimeDirNotDirectory:
        return kExitUnsafeRuntimeDir;
      default:
        return kExitError;
    }
  }
  events.add("started " + std::to_string(::getpid()));
  log.info("started", {{"runtime_dir", server->runtime_dir().string()},
                       {"watch", server->using_inotify() ? "inotify" : "poll"}});

  auto honoured = [&](const ipc::ShutdownRequest& r) {
    const std::string words =
        std::string(ipc::to_string(r.source)) + " " + std::string(ipc::to_string(r.mode));
    if (flags.ignore_file && r.source == ipc::ShutdownSource::kFile) {
      events.add("ignored " + words);
      log.warn("ignoring shutdown request", {{"source", ipc::to_string(r.source)}});
      return false;
    }
    events.add("shutdown " + words);
    log.info("shutting down", {{"source", ipc::to_string(r.source)},
                               {"mode", ipc::to_string(r.mode)},
                               {"deadline_ms", r.deadline.count()}});
    return true;
  };

  // Simulated start-up work (opening a database, binding): a shutdown
  // request during it is honoured at once.
  if (flags.start_delay_ms > 0) {
    const auto until =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(flags.start_delay_ms);
    while (true) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left <= 0ms) break;
      if (auto r = requests.next(left); r && honoured(*r)) {
        events.add("shutdown_during_start");
        return kExitOk;
      }
    }
  }

  int control_fd = -1;
  if (!flags.control_flock.empty()) {
    // The hazard the instance lock avoids: an flock() lock on a descriptor
    // without close-on-exec is shared with every child that inherits it.
    control_fd = ::open(flags.control_flock.c_str(), O_RDWR | O_CREAT,
                        0600);  // NOLINT: inheritable on purpose
    if (control_fd < 0 || ::flock(control_fd, LOCK_EX | LOCK_NB) != 0) {
      log.error("control flock failed");
      return kExitError;
    }
  }
  if (!flags.spawn_child.empty()) {
    const std::int64_t pid = spawn_grandchild(flags);
    if (pid <= 0) {
      log.error("cannot spawn child");
      return kExitError;
    }
    events.add("child " + std::to_string(pid));
  }

  Workers workers(flags.jobs, std::chrono::milliseconds(flags.job_ms), events);
  if (server->set_ready()) {
    events.add("ready");
    log.info("ready");
  }

  ipc::ShutdownRequest request;
  while (true) {
    auto r = requests.next(std::nullopt);
    if (r && honoured(*r)) {
      request = *r;
      break;
    }
  }
  // Drain: a graceful stop finishes in-flight jobs, bounded by the
  // requester's deadline (it escalates after that anyway).
  std::thread deadline_guard;
  std::mutex drain_mutex;
  std::condition_variable drain_cv;
  bool drained = false;
  if (request.mode == ipc::ShutdownMode::kGraceful && request.deadline > 0ms && flags.jobs > 0) {
    deadline_guard = std::thread([&] {
      std::unique_lock<std::mutex> g(drain_mutex);
      if (!drain_cv.wait_for(g, request.deadline, [&] { return drained; })) workers.abort();
    });
  }
  workers.stop(request.mode);
  {
    std::lock_guard<std::mutex> g(drain_mutex);
    drained = true;
  }
  drain_cv.notify_all();
  if (deadline_guard.joinable()) deadline_guard.join();
  if (control_fd >= 0) ::close(control_fd);
  server.reset();  // status file removed, lock released
  log.info("stopped");
  return kExitOk;
}

int parse_and_run(int argc, char** argv) {
  cklog::reserve_standard_fds();
  Flags flags;
  CLI::App app{"coordkit ipc test server"};
  app.add_option("--app", flags.app, "app name");
  app.add_option("--runtime-dir", flags.runtime_dir, "runtime directory");
  app.add_option("--events", flags.events, "append one line per event to this file");
  app.add_option("--log-file", flags.log_file, "also log to this file");
  app.add_option("--start-delay-ms", flags.start_delay_ms, "simulated start-up work")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--jobs", flags.jobs, "worker threads running jobs back to back")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--job-ms", flags.job_ms, "duration of one job")->check(CLI::NonNegativeNumber);
  app.add_flag("--ignore-shutdown-file", flags.ignore_file, "never honour a shutdown file");
  app.add_flag("--ignore-signals", flags.ignore_signals, "ignore SIGTERM and SIGINT");
  app.add_flag("--force-poll", flags.force_poll, "watch by polling alone (no inotify)");
  app.add_option("--poll-interval-ms", flags.poll_interval_ms, "watcher poll interval")
      ->check(CLI::PositiveNumber);
  app.add_option("--spawn-child", flags.spawn_child,
                 "after start-up, start this program with argument 300");
  app.add_flag("--spawn-child-raw", flags.spawn_child_raw, "start it with a bare posix_spawn");
  app.add_option("--control-flock", flags.control_flock,
                 "hold an inheritable flock() on this file");
  app.add_option("--barrier", flags.barrier, "wait until this file exists before starting");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }

  std::vector<std::shared_ptr<cklog::Sink>> sinks{std::make_shared<cklog::ConsoleSink>()};
  if (!flags.log_file.empty()) {
    sinks.push_back(std::make_shared<cklog::FileSink>(
        cklog::FileSinkOptions{.path = flags.log_file, .buffer_bytes = 0}));
  }
  const cklog::Logger log("test_server", sinks, cklog::Level::kInfo);
  const Events events(flags.events);
  int rc = kExitError;
  try {
    rc = run(flags, log, events);
  } catch (const std::exception& e) {
    log.error("failed", {{"error", e.what()}});
    rc = kExitError;
  }
  events.add("exit " + std::to_string(rc));
  log.flush();
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return parse_and_run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "test_server: %s\n", e.what());
    return kExitError;
  }
}

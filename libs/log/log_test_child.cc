// log_test_child: a process the sink tests start under a broken console.
//
// It never writes anything but log lines to its console, and writes what
// happened as key=value pairs to the --report file (opened only at the end,
// so it cannot take descriptor 1 or 2 while logging). Exit code 0 means it
// ran to the end; 2 means bad arguments.
//
//   log_test_child console --report=R [--fd=2] [--lines=N] [--reserve]
//       Logs N lines (with an emoji) to a ConsoleSink on fd; reports the
//       sink's counters and the state of SIGPIPE afterwards.
//   log_test_child hazard --report=R --file=F [--reserve]
//       Opens F first (as a server opens its database or log file), then
//       logs 3 lines to a ConsoleSink on fd 1; reports the fd F received.
//   log_test_child file-exit --file=F [--lines=N]
//       Logs N lines to a FileSink that is never destroyed, then calls
//       std::exit(0): only the exit flush can bring them to F.
//   log_test_child file-error-then-die --file=F
//       Logs 5 info lines, 1 error line, 5 info lines to a buffered FileSink,
//       then _exit(0), which skips every flush.

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "coordkit/log/log.h"

namespace {

namespace ck = coordkit::log;

struct Args {
  std::string mode;
  std::map<std::string, std::string, std::less<>> options;

  std::string get(std::string_view key, std::string_view fallback = "") const {
    const auto it = options.find(key);
    return it != options.end() ? it->second : std::string(fallback);
  }
  bool has(std::string_view key) const { return options.find(key) != options.end(); }
};

Args parse(int argc, char** argv) {
  Args args;
  if (argc > 1) args.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string_view a = argv[i];
    if (!a.starts_with("--")) continue;
    a.remove_prefix(2);
    const auto eq = a.find('=');
    if (eq == std::string_view::npos) {
      args.options.emplace(std::string(a), "");
    } else {
      args.options.emplace(std::string(a.substr(0, eq)), std::string(a.substr(eq + 1)));
    }
  }
  return args;
}

void write_report(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) std::_Exit(3);
  const std::string line = text + "\n";
  if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) std::_Exit(3);
  ::close(fd);
}

std::string counters(const ck::Sink& sink) {
  const ck::SinkStats s = sink.stats();
  return "lines_written=" + std::to_string(s.lines_written) +
         " failed_writes=" + std::to_string(s.failed_writes) +
         " lines_dropped=" + std::to_string(s.lines_dropped) +
         " last_os_error=" + std::to_string(s.last_os_error);
}

int run_console(const Args& args) {
  const int reserved = args.has("reserve") ? ck::reserve_standard_fds() : 0;
  const int fd = std::stoi(args.get("fd", "2"));
  const int lines = std::stoi(args.get("lines", "10"));
  auto sink = std::make_shared<ck::ConsoleSink>(ck::ConsoleSinkOptions{.fd = fd});
  const ck::Logger log("child", {sink}, ck::Level::kTrace);
  for (int i = 0; i < lines; ++i) {
    log.info("launch \xF0\x9F\x9A\x80 and keep going",
             {{"i", i}, {"padding", "........................................"}});
  }
  sigset_t pending;
  sigemptyset(&pending);
  sigpending(&pending);
  sigset_t mask;
  sigemptyset(&mask);
  pthread_sigmask(SIG_BLOCK, nullptr, &mask);
  struct sigaction action {};
  sigaction(SIGPIPE, nullptr, &action);
  write_report(args.get("report"),
               counters(*sink) + " lines=" + std::to_string(lines) +
                   " reserved=" + std::to_string(reserved) +
                   " sigpipe_pending=" + std::to_string(sigismember(&pending, SIGPIPE)) +
                   " sigpipe_blocked=" + std::to_string(sigismember(&mask, SIGPIPE)) +
                   " sigpipe_default=" + std::to_string(action.sa_handler == SIG_DFL ? 1 : 0));
  return 0;
}

int run_hazard(const Args& args) {
  const int reserved = args.has("reserve") ? ck::reserve_standard_fds() : 0;
  const int file_fd =
      ::open(args.get("file").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (file_fd < 0) return 4;
  auto sink = std::make_shared<ck::ConsoleSink>(ck::ConsoleSinkOptions{.fd = STDOUT_FILENO});
  const ck::Logger log("child", {sink});
  for (int i = 0; i < 3; ++i) log.info("a console line", {{"i", i}});
  ::close(file_fd);
  write_report(args.get("report"), counters(*sink) + " file_fd=" + std::to_string(file_fd) +
                                       " reserved=" + std::to_string(reserved));
  return 0;
}

// Never destroyed, like a sink held by a leaked pointer; reachable from here,
// so leak checkers do not count it.
ck::Logger* g_never_destroyed = nullptr;

[[noreturn]] void exit_from_deep_inside() { std::exit(0); }

int run_file_exit(const Args& args) {
  const int lines = std::stoi(args.get("lines", "100"));
  auto file = std::make_shared<ck::FileSink>(ck::FileSinkOptions{
      .path = args.get("file"),
      .buffer_bytes = 1 << 20,
      .flush_interval = std::chrono::milliseconds(0),
  });
  g_never_destroyed = new ck::Logger("child", {file});
  for (int i = 0; i < lines; ++i) g_never_destroyed->info("before exit", {{"i", i}});
  exit_from_deep_inside();
}

int run_file_error_then_die(const Args& args) {
  auto file = std::make_shared<ck::FileSink>(ck::FileSinkOptions{
      .path = args.get("file"),
      .buffer_bytes = 1 << 20,
      .flush_interval = std::chrono::milliseconds(0),
  });
  const ck::Logger log("child", {file});
  for (int i = 0; i < 5; ++i) log.info("before the error", {{"i", i}});
  log.error("the error");
  for (int i = 0; i < 5; ++i) log.info("after the error", {{"i", i}});
  ::_exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Args args = parse(argc, argv);
    if (args.mode == "console" && args.has("report")) return run_console(args);
    if (args.mode == "hazard" && args.has("report") && args.has("file")) return run_hazard(args);
    if (args.mode == "file-exit" && args.has("file")) return run_file_exit(args);
    if (args.mode == "file-error-then-die" && args.has("file")) {
      return run_file_error_then_die(args);
    }
  } catch (...) {  // a malformed number, or a sink that cannot be set up
  }
  return 2;
}

#include "coordkit/log/console_sink.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "coordkit/log/internal/test_process.h"
#include "coordkit/log/log.h"

namespace {

namespace ck = coordkit::log;
using ck::internal::ChildProcess;

// FdPair: two descriptors owned by the test (a pipe or a socket pair), each
// closed once, at the latest on scope exit.
struct FdPair {
  int fd[2] = {-1, -1};
  FdPair() = default;
  FdPair(const FdPair&) = delete;
  FdPair& operator=(const FdPair&) = delete;
  ~FdPair() {
    close(0);
    close(1);
  }
  void close(int i) {
    if (fd[i] >= 0) ::close(fd[i]);
    fd[i] = -1;
  }
};

void make_pipe(FdPair& p) { REQUIRE(::pipe2(p.fd, O_CLOEXEC) == 0); }

void make_socket_pair(FdPair& p) {
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p.fd) == 0);
}

// read_all: everything from fd until EOF.
std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return out;
    }
  }
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    if (end == std::string::npos) {
      lines.push_back(text.substr(start));  // an unterminated fragment
      break;
    }
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

struct ChildResult {
  ChildProcess::Exit exit;
  std::map<std::string, std::string> report;
  long get(const std::string& key) const {
    const auto it = report.find(key);
    return it == report.end() ? -1 : std::stol(it->second);
  }
};

// run_child: runs log_test_child with `args` plus --report, its descriptors
// arranged by `fds`; `while_running` runs between start and wait.
ChildResult run_child(std::vector<std::string> args,
                      const std::function<void(posix_spawn_file_actions_t*)>& fds,
                      const std::function<void()>& while_running = {}) {
  const std::string report = ck::internal::test_tmpdir("child") + "/report.txt";
  args.insert(args.begin(), ck::internal::runfile("libs/log/log_test_child"));
  args.push_back("--report=" + report);
  ChildProcess child(args, fds);
  if (while_running) while_running();
  ChildResult result;
  result.exit = child.wait();
  result.report = ck::internal::read_report(report);
  return result;
}

// The child survived and ran to the end.
void check_clean_exit(const ChildResult& r) {
  CHECK_FALSE(r.exit.timed_out);
  CHECK(r.exit.signal == 0);
  CHECK(r.exit.exited);
  CHECK(r.exit.code == 0);
  CHECK(r.get("sigpipe_default") == 1);  // a SIGPIPE would have killed it
  CHECK(r.get("sigpipe_pending") == 0);
  CHECK(r.get("sigpipe_blocked") == 0);
}

}  // namespace

TEST_CASE("a console sink survives a process started with no stdio at all", "[log]") {
  const auto r = run_child({"console", "--lines=20"}, [](posix_spawn_file_actions_t* a) {
    posix_spawn_file_actions_addclose(a, 0);
    posix_spawn_file_actions_addclose(a, 1);
    posix_spawn_file_actions_addclose(a, 2);
  });
  check_clean_exit(r);
  CHECK(r.get("failed_writes") == 20);
  CHECK(r.get("lines_dropped") == 20);
  CHECK(r.get("lines_written") == 0);
  CHECK(r.get("last_os_error") == EBADF);
}

TEST_CASE("reserve_standard_fds gives a process without stdio a harmless one", "[log]") {
  const auto r =
      run_child({"console", "--lines=20", "--reserve"}, [](posix_spawn_file_actions_t* a) {
        posix_spawn_file_actions_addclose(a, 0);
        posix_spawn_file_actions_addclose(a, 1);
        posix_spawn_file_actions_addclose(a, 2);
      });
  check_clean_exit(r);
  CHECK(r.get("reserved") == 3);
  CHECK(r.get("failed_writes") == 0);
  CHECK(r.get("lines_written") == 20);
}

TEST_CASE("a console sink counts EBADF when only stderr is closed", "[log]") {
  const auto r = run_child({"console", "--lines=7"}, [](posix_spawn_file_actions_t* a) {
    posix_spawn_file_actions_addclose(a, 2);
  });
  check_clean_exit(r);
  CHECK(r.get("failed_writes") == 7);
  CHECK(r.get("last_os_error") == EBADF);
}

TEST_CASE("a console sink survives a full disk (/dev/full)", "[log]") {
  const auto r = run_child({"console", "--lines=9"}, [](posix_spawn_file_actions_t* a) {
    posix_spawn_file_actions_addopen(a, 2, "/dev/full", O_WRONLY, 0);
  });
  check_clean_exit(r);
  CHECK(r.get("failed_writes") == 9);
  CHECK(r.get("lines_written") == 0);
  CHECK(r.get("last_os_error") == ENOSPC);
}

TEST_CASE("a console sink survives a pipe whose reader is already gone", "[log]") {
  FdPair p;
  make_pipe(p);
  p.close(0);  // no reader at all: the first write already gets EPIPE
  const auto r = run_child({"console", "--lines=25"}, [&](posix_spawn_file_actions_t* a) {
    posix_spawn_file_actions_adddup2(a, p.fd[1], 2);
  });
  check_clean_exit(r);
  CHECK(r.get("failed_writes") == 25);
  CHECK(r.get("last_os_error") == EPIPE);
}

TEST_CASE("a console sink survives `| head -1`: the reader leaves after one line", "[log]") {
  FdPair p;
  make_pipe(p);
  std::string first;
  const auto r = run_child(
      {"console", "--lines=3000"},
      [&](posix_spawn_file_actions_t* a) { posix_spawn_file_actions_adddup2(a, p.fd[1], 2); },
      [&] {
        p.close(1);
        char buf[4096];
        while (first.find('\n') == std::string::npos) {
          const ssize_t n = ::read(p.fd[0], buf, sizeof buf);
          if (n <= 0) break;
          first.append(buf, static_cast<std::size_t>(n));
        }
        p.close(0);  // like head -1: one line read, then gone
      });
  check_clean_exit(r);
  CHECK(first.find("launch \\u{1F680} and keep going") != std::string::npos);
  // 3000 lines of about 150 bytes cannot all fit in a 64 KiB pipe buffer.
  CHECK(r.get("lines_written") >= 1);
  CHECK(r.get("failed_writes") >= 1);
  CHECK(r.get("lines_written") + r.get("lines_dropped") == 3000);
  CHECK(r.get("last_os_error") == EPIPE);
}

TEST_CASE("a console sink survives a socket whose peer is gone", "[log]") {
  FdPair s;
  make_socket_pair(s);
  s.close(0);
  const auto r = run_child({"console", "--lines=5"}, [&](posix_spawn_file_actions_t* a) {
    posix_spawn_file_actions_adddup2(a, s.fd[1], 2);
  });
  check_clean_exit(r);
  CHECK(r.get("failed_writes") == 5);
  CHECK(r.get("last_os_error") == EPIPE);
}

TEST_CASE("started with fd 1 closed, a process logs into the next file it opens", "[log]") {
  // The hazard reserve_standard_fds() exists for, and its cure.
  const std::string dir = ck::internal::test_tmpdir("hazard");
  const std::string file = dir + "/data.txt";
  const bool reserve = GENERATE(false, true);
  std::vector<std::string> args = {"hazard", "--file=" + file};
  if (reserve) args.push_back("--reserve");
  const auto r = run_child(
      args, [](posix_spawn_file_actions_t* a) { posix_spawn_file_actions_addclose(a, 1); });
  CHECK(r.exit.exited);
  CHECK(r.exit.code == 0);
  const std::string contents = ck::internal::read_file(file);
  if (reserve) {
    CHECK(r.get("reserved") == 1);
    CHECK(r.get("file_fd") >= 3);
    CHECK(contents.empty());
    CHECK(r.get("lines_written") == 3);
  } else {
    CHECK(r.get("reserved") == 0);
    CHECK(r.get("file_fd") == 1);
    CHECK(split_lines(contents).size() == 3);
    CHECK(contents.find("a console line") != std::string::npos);
  }
}

TEST_CASE("reserve_standard_fds leaves open descriptors alone", "[log]") {
  CHECK(ck::reserve_standard_fds() == 0);
}

TEST_CASE("a console sink writes each record as one escaped ASCII line", "[log]") {
  FdPair p;
  make_pipe(p);
  const ck::Format format = GENERATE(ck::Format::kText, ck::Format::kJson);
  {
    auto sink = std::make_shared<ck::ConsoleSink>(ck::ConsoleSinkOptions{p.fd[1], format});
    const ck::Logger log("console", {sink});
    log.info("two\nlines \xF0\x9F\x9A\x80", {{"k", "v\r\n"}});
    log.warn("second");
    CHECK(sink->stats().lines_written == 2);
    CHECK(sink->failed_writes() == 0);
  }
  p.close(1);
  const std::string out = read_all(p.fd[0]);
  const auto lines = split_lines(out);
  REQUIRE(lines.size() == 2);
  CHECK(out.back() == '\n');
  for (char c : lines[0]) CHECK((c >= 0x20 && c <= 0x7E));
  if (format == ck::Format::kText) {
    CHECK(lines[0].find("two\\nlines \\u{1F680}") != std::string::npos);
  } else {  // JSON escapes the backslashes of to_ascii's escapes once more
    CHECK(lines[0].find("two\\\\nlines \\\\u{1F680}") != std::string::npos);
  }
  CHECK(lines[1].find("second") != std::string::npos);
}

TEST_CASE("console lines from many threads never interleave", "[log]") {
  FdPair p;
  make_pipe(p);
  std::string out;
  std::thread reader([&] { out = read_all(p.fd[0]); });
  constexpr int kThreads = 4;
  constexpr int kLines = 500;
  {
    auto sink = std::make_shared<ck::ConsoleSink>(ck::ConsoleSinkOptions{.fd = p.fd[1]});
    const ck::Logger log("threads", {sink});
    std::vector<std::thread> writers;
    writers.reserve(kThreads);
    for (int t = 0; t < kThreads; ++t) {
      writers.emplace_back([&log, t] {
        for (int i = 0; i < kLines; ++i) {
          log.info("0123456789abcdefghijklmnopqrstuvwxyz", {{"t", t}, {"i", i}});
        }
      });
    }
    for (auto& w : writers) w.join();
  }
  p.close(1);
  reader.join();
  const auto lines = split_lines(out);
  CHECK(lines.size() == std::size_t{kThreads} * kLines);
  std::vector<int> next(kThreads, 0);
  for (const std::string& line : lines) {
    const auto t_at = line.find(" t=");
    const auto i_at = line.find(" i=");
    REQUIRE(t_at != std::string::npos);
    REQUIRE(i_at != std::string::npos);
    CHECK(line.find("threads: 0123456789abcdefghijklmnopqrstuvwxyz t=") == 34);
    const int t = std::stoi(line.substr(t_at + 3));
    const int i = std::stoi(line.substr(i_at + 3));
    REQUIRE(t >= 0);
    REQUIRE(t < kThreads);
    CHECK(i == next[t]);  // each thread's lines arrive whole and in order
    next[t] = i + 1;
  }
}

TEST_CASE("an EPIPE leaves this thread's signal state as it found it", "[log]") {
  // The in-process view of the child tests above: with SIGPIPE at its
  // default action, a write to a pipe without reader must neither kill us
  // nor leave a SIGPIPE pending or blocked; one already pending stays.
  struct sigaction old_action {};
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  sigemptyset(&default_action.sa_mask);
  REQUIRE(sigaction(SIGPIPE, &default_action, &old_action) == 0);

  FdPair p;
  make_pipe(p);
  p.close(0);
  auto sink = std::make_shared<ck::ConsoleSink>(ck::ConsoleSinkOptions{.fd = p.fd[1]});
  const ck::Logger log("sigpipe", {sink});
  sigset_t sigpipe;
  sigemptyset(&sigpipe);
  sigaddset(&sigpipe, SIGPIPE);

  SECTION("nothing pending before") {
    log.info("into the void");
    sigset_t pending;
    sigpending(&pending);
    CHECK(sigismember(&pending, SIGPIPE) == 0);
    sigset_t mask;
    pthread_sigmask(SIG_BLOCK, nullptr, &mask);
    CHECK(sigismember(&mask, SIGPIPE) == 0);
  }
  SECTION("a SIGPIPE already pending (and blocked) before stays pending") {
    sigset_t old_mask;
    REQUIRE(pthread_sigmask(SIG_BLOCK, &sigpipe, &old_mask) == 0);
    REQUIRE(pthread_kill(pthread_self(), SIGPIPE) == 0);
    log.info("into the void");
    sigset_t pending;
    sigpending(&pending);
    CHECK(sigismember(&pending, SIGPIPE) == 1);
    const timespec zero{};
    CHECK(sigtimedwait(&sigpipe, nullptr, &zero) == SIGPIPE);
    sigset_t mask;
    pthread_sigmask(SIG_BLOCK, nullptr, &mask);
    CHECK(sigismember(&mask, SIGPIPE) == 1);  // still blocked, as we left it
    pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  }
  CHECK(sink->stats().failed_writes == 1);
  CHECK(sink->stats().last_os_error == EPIPE);
  sigaction(SIGPIPE, &old_action, nullptr);
}

// coordctl gateway logs: the last lines of the gateway's log file; with
// --follow, then every line written after, until SIGINT or SIGTERM (exit 0).
// Follows a rotated or truncated file by reopening it. ASCII only.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <string>

#include "coordkit/cli/commands.h"
#include "coordkit/cli/log_tail.h"

namespace coordkit::cli {
namespace {

struct LogsOptions {
  std::size_t lines = 20;
  bool follow = false;
};

volatile std::sig_atomic_t g_stop = 0;
extern "C" void on_stop_signal(int) { g_stop = 1; }

void follow(const std::filesystem::path& path, std::int64_t offset, const Context& ctx) {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;  // no SA_RESTART: poll() returns EINTR
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  const int in = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (in >= 0) {
    ::inotify_add_watch(in, path.parent_path().c_str(),
                        IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE);
  }
  struct stat last {};
  bool have_last = ::stat(path.c_str(), &last) == 0;
  std::string partial;
  while (!g_stop) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
      if (have_last && (st.st_ino != last.st_ino || st.st_dev != last.st_dev ||
                        st.st_size < static_cast<off_t>(offset))) {
        offset = 0;  // rotated or truncated: the new file from its start
        partial.clear();
      }
      last = st;
      have_last = true;
      if (st.st_size > static_cast<off_t>(offset)) {
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd >= 0) {
          char buf[65536];
          ssize_t n = 0;
          while ((n = ::pread(fd, buf, sizeof buf, static_cast<off_t>(offset))) > 0) {
            offset += n;
            partial.append(buf, static_cast<std::size_t>(n));
          }
          ::close(fd);
          const std::size_t end = partial.rfind('\n');
          if (end != std::string::npos) {
            ctx.out(std::string_view(partial).substr(0, end));
            partial.erase(0, end + 1);
            std::fflush(stdout);
          }
        }
      }
    }
    if (in >= 0) {
      pollfd p{in, POLLIN, 0};
      if (::poll(&p, 1, 500) > 0) {
        char drain[4096];
        while (::read(in, drain, sizeof drain) > 0) {
        }
      }
    } else {
      pollfd none{-1, 0, 0};
      ::poll(&none, 0, 200);
    }
  }
  if (!partial.empty()) ctx.out(partial);
  std::fflush(stdout);
  if (in >= 0) ::close(in);
}

int run_logs(const LogsOptions& o, Context& ctx) {
  const std::filesystem::path path = ctx.gateway_log();
  const std::int64_t size = log_size(path);
  if (size < 0 && !o.follow) {
    throw Error(ErrorCode::kFailed, "no gateway log at " + path.string());
  }
  for (const std::string& line : tail_lines(path, o.lines)) ctx.out(line);
  std::fflush(stdout);
  if (o.follow) follow(path, size < 0 ? 0 : size, ctx);
  return kExitOk;
}

}  // namespace

void setup_gateway_logs(CLI::App& parent, Context& ctx, Runner& runner) {
  auto o = std::make_shared<LogsOptions>();
  CLI::App* cmd =
      parent.add_subcommand("logs", "Show the gateway's log; --follow: keep showing it");
  cmd->add_option("-n,--lines", o->lines, "Show the last N lines")
      ->check(CLI::Range(std::size_t{0}, std::size_t{100000}))
      ->capture_default_str();
  cmd->add_flag("-f,--follow", o->follow,
                "Then show new lines as they come, until Ctrl+C (exit 0)");
  add_examples(cmd,
               "  coordctl gateway logs --lines 50\n"
               "  coordctl gateway logs --follow\n");
  cmd->callback([o, &ctx, &runner] { runner.set([o, &ctx] { return run_logs(*o, ctx); }); });
}

}  // namespace coordkit::cli

// spawn_test_child: a helper the coordkit::spawn tests start as a real child.
// It runs its arguments as a little script, left to right, and reports on
// stdout as "key=value" lines (written with write(2), never buffered):
//
//   args              argc=N, then arg=<hex> for each argv[i] (argv[0] too);
//                     ends the script (what follows is data)
//   env NAME          env:NAME=<hex of value>, or unset:NAME
//   cwd               cwd=<current directory>
//   fds               fds=0,1,2 (open descriptors, from /proc/self/fd)
//   signals           sigblk=, sigign= (hex masks from /proc/self/status),
//                     sigint=, sigpipe=, sigterm= (default|ignore|handler)
//   session           pid=, ppid=, sid=, pgid=, tty= (tty_nr: 0 = none)
//   out TEXT / err TEXT   TEXT and a newline to stdout / stderr
//   flood N           N bytes to stdout and N bytes to stderr, interleaved
//   echo              copies stdin to stdout until EOF
//   sleep MS          sleeps MS milliseconds
//   exit CODE         exits with CODE
//   raise SIGNO       kills itself with signal SIGNO (default disposition)
//   spawn-detached MS spawns itself detached ("sleep MS"; stdio null),
//                     prints grandchild_pid=, grandchild_start_time=,
//                     grandchild_boot_id=, and releases it
// With no `exit`, it exits 0 after the last command.
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "coordkit/spawn/spawn.h"

namespace {

void write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) std::_Exit(120);
    done += static_cast<std::size_t>(n);
  }
}

void say(const std::string& key, const std::string& value) {
  write_all(1, key + "=" + value + "\n");
}

std::string hex(const std::string& bytes) {
  constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::string status_field(const std::string& name) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(name + ":", 0) == 0) {
      std::string value = line.substr(name.size() + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      return value;
    }
  }
  return "?";
}

std::string disposition(int sig) {
  struct sigaction action {};
  if (sigaction(sig, nullptr, &action) != 0) return "?";
  if (action.sa_handler == SIG_DFL) return "default";
  if (action.sa_handler == SIG_IGN) return "ignore";
  return "handler";
}

std::string open_fds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return "?";
  std::vector<int> fds;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    int fd = std::atoi(entry->d_name);
    if (fd != dirfd(dir)) fds.push_back(fd);
  }
  closedir(dir);
  std::sort(fds.begin(), fds.end());
  std::string out;
  for (int fd : fds) out += (out.empty() ? "" : ",") + std::to_string(fd);
  return out;
}

int run(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto next = [&](std::size_t& i) -> std::string {
    if (i + 1 >= args.size()) std::_Exit(121);
    return args[++i];
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& cmd = args[i];
    if (cmd == "args") {
      say("argc", std::to_string(argc));
      for (int a = 0; a < argc; ++a) say("arg", hex(argv[a]));
      return 0;  // the remaining arguments are data, not commands
    } else if (cmd == "env") {
      std::string name = next(i);
      const char* value = std::getenv(name.c_str());
      if (value) {
        say("env:" + name, hex(value));
      } else {
        write_all(1, "unset:" + name + "\n");
      }
    } else if (cmd == "cwd") {
      char buffer[4096];
      say("cwd", getcwd(buffer, sizeof buffer) ? buffer : "?");
    } else if (cmd == "fds") {
      say("fds", open_fds());
    } else if (cmd == "signals") {
      say("sigblk", status_field("SigBlk"));
      say("sigign", status_field("SigIgn"));
      say("sigint", disposition(SIGINT));
      say("sigpipe", disposition(SIGPIPE));
      say("sigterm", disposition(SIGTERM));
    } else if (cmd == "session") {
      say("pid", std::to_string(getpid()));
      say("ppid", std::to_string(getppid()));
      say("sid", std::to_string(getsid(0)));
      say("pgid", std::to_string(getpgid(0)));
      std::ifstream stat("/proc/self/stat");
      std::string line;
      std::getline(stat, line);
      std::istringstream fields(line.substr(line.rfind(')') + 2));
      std::string field;
      for (int n = 0; n < 5 && fields >> field; ++n) {
      }
      say("tty", field);  // field 7, tty_nr
    } else if (cmd == "out") {
      write_all(1, next(i) + "\n");
    } else if (cmd == "err") {
      write_all(2, next(i) + "\n");
    } else if (cmd == "flood") {
      std::size_t total = std::stoul(next(i));
      std::string chunk(4096, 'x');
      for (std::size_t done = 0; done < total; done += chunk.size()) {
        std::size_t n = std::min(chunk.size(), total - done);
        write_all(1, chunk.substr(0, n));
        write_all(2, chunk.substr(0, n));
      }
    } else if (cmd == "echo") {
      char buffer[65536];
      for (;;) {
        ssize_t n = ::read(0, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        write_all(1, std::string(buffer, static_cast<std::size_t>(n)));
      }
    } else if (cmd == "sleep") {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::stol(next(i))));
    } else if (cmd == "exit") {
      std::exit(std::stoi(next(i)));
    } else if (cmd == "raise") {
      int sig = std::stoi(next(i));
      signal(sig, SIG_DFL);
      raise(sig);
      std::_Exit(122);
    } else if (cmd == "spawn-detached") {
      std::string ms = next(i);
      coordkit::spawn::Child grandchild = coordkit::spawn::spawn({
          .executable = "/proc/self/exe",
          .args = {"sleep", ms},
          .out = coordkit::spawn::Stdio::null(),
          .err = coordkit::spawn::Stdio::null(),
          .detached = true,
      });
      // /proc/self/exe resolves in the child to this same program.
      coordkit::spawn::ProcessIdentity id = grandchild.identity();
      say("grandchild_pid", std::to_string(id.pid));
      say("grandchild_start_time", std::to_string(id.start_time));
      say("grandchild_boot_id", id.boot_id);
      grandchild.release();
    } else {
      write_all(2, "spawn_test_child: unknown command " + cmd + "\n");
      return 123;
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    write_all(2, std::string("spawn_test_child: ") + e.what() + "\n");
    return 124;
  }
}

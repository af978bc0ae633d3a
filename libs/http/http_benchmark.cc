// http_benchmark: wrk over loopback against nginx (one worker, a fixed
// 16-byte JSON body) and against a coordkit::http server (one route
// returning the same body through the whole route-table path: parameter
// validation, the bearer auth wrapper, request ids, timing, error mapping,
// response validation, a JSON access log to a file), with one server
// thread and then two. Prints figures, then one JSON line. The body is
// fixed, as nginx's is, so the handler returns it as a PreparedJson
// (serialized once, checked against the route's schema once).
//
// The three are measured in ROUNDS short rounds, alternating (nginx, one
// thread, two threads; the next round in the other order), so that a drift
// of the machine (another process, the CPU's clock) falls on all of them
// alike rather than on whichever ran last. Each round's ratio is against
// the nginx run of the same round; the figures reported are the medians
// over the rounds, and every round's figures are printed and kept in the
// JSON line.
//
// Beside requests a second, each run measures the server's CPU time per
// request, user and system: the split shows where the two servers differ
// (both pay the same loopback TCP in the kernel). User time is the figure
// the machine's other load moves least; system time swings with it, as
// the rps ratio does. nginx's is its processes' whole lifetime (start-up
// included, from wait4), coordkit's the server process's while wrk runs.
//
//   http_benchmark [SECONDS] [CONNECTIONS] [ROUNDS]
//                                              default 5 s a run, 64 connections,
//                                              1 round
//   http_benchmark --serve SECONDS [THREADS]    the coordkit server alone, for a
//                                               profiler: prints its port, serves
//                                               SECONDS, exits (wrk's target:
//                                               /bench?n=1 with the bearer token
//                                               "bench-token")
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "coordkit/http/http.h"
#include "coordkit/log/log.h"

extern char** environ;

namespace {

namespace http = coordkit::http;
namespace ck = coordkit::log;

constexpr const char* kBody = R"({"ok":"abcdefg"})";  // 16 bytes
constexpr const char* kToken = "bench-token";

unsigned short free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    std::perror("http_benchmark: no free loopback port");
    std::exit(1);
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

bool can_connect(unsigned short port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

pid_t spawn(std::vector<std::string> args, const std::string& out_path) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, (out_path + ".err").c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    std::fprintf(stderr, "http_benchmark: cannot start %s\n", argv[0]);
    std::exit(1);
  }
  return pid;
}

// Cpu: user and system seconds.
struct Cpu {
  double user = 0;
  double sys = 0;
};

double seconds_of(const timeval& t) {
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
}
Cpu cpu_of(const rusage& u) { return {seconds_of(u.ru_utime), seconds_of(u.ru_stime)}; }

Cpu own_cpu() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return cpu_of(u);
}

// reap: waits for `pid`; `cpu`, when given, gets its CPU time and that of
// the children it reaped (an nginx master's worker).
int reap(pid_t pid, Cpu* cpu = nullptr) {
  int status = 0;
  rusage u{};
  while (::wait4(pid, &status, 0, &u) < 0 && errno == EINTR) {
  }
  if (cpu != nullptr) *cpu = cpu_of(u);
  return status;
}

struct WrkResult {
  double rps = 0;
  double p99_ms = 0;
  long errors = 0;
  double requests = 0;
  // The server's CPU microseconds per request.
  double user_us = 0;
  double sys_us = 0;
  double cpu_us() const { return user_us + sys_us; }
  void set_cpu(const Cpu& used) {
    if (requests <= 0) return;
    user_us = used.user * 1e6 / requests;
    sys_us = used.sys * 1e6 / requests;
  }
};

double to_ms(const std::string& v) {
  const double x = std::atof(v.c_str());
  if (v.find("us") != std::string::npos) return x / 1000;
  if (v.find("ms") != std::string::npos) return x;
  if (v.find('s') != std::string::npos) return x * 1000;
  return x;
}

WrkResult wrk(unsigned short port, int seconds, int connections, const std::string& dir,
              bool token) {
  std::vector<std::string> args = {"wrk", "-t1", "-c" + std::to_string(connections),
                                   "-d" + std::to_string(seconds) + "s", "--latency"};
  if (token) {
    args.push_back("-H");
    args.push_back(std::string("Authorization: Bearer ") + kToken);
  }
  args.push_back("http://127.0.0.1:" + std::to_string(port) + "/bench?n=1");
  const std::string out = dir + "/wrk.out";
  reap(spawn(args, out));
  std::ifstream in(out);
  std::string line;
  WrkResult r;
  while (std::getline(in, line)) {
    if (line.rfind("Requests/sec:", 0) == 0) r.rps = std::atof(line.c_str() + 13);
    if (line.find(" requests in ") != std::string::npos) r.requests = std::atof(line.c_str());
    const auto p = line.find("99%");
    if (p != std::string::npos && line.find("99.") == std::string::npos) {
      std::string v = line.substr(p + 3);
      v.erase(0, v.find_first_not_of(" \t"));
      r.p99_ms = to_ms(v);
    }
    if (line.find("Non-2xx") != std::string::npos ||
        line.find("Socket errors") != std::string::npos) {
      r.errors += 1;
      std::fprintf(stderr, "http_benchmark: wrk: %s\n", line.c_str());
    }
  }
  return r;
}

WrkResult run_nginx(int seconds, int connections, const std::string& dir) {
  const unsigned short port = free_port();
  const std::string conf = dir + "/nginx.conf";
  std::ofstream(conf) << "worker_processes 1;\ndaemon off;\nerror_log " << dir
                      << "/nginx-error.log;\n"
                      << "pid " << dir << "/nginx.pid;\nevents { worker_connections 4096; }\n"
                      << "http {\n  access_log off;\n  client_body_temp_path " << dir << ";\n"
                      << "  proxy_temp_path " << dir << ";\n  fastcgi_temp_path " << dir << ";\n"
                      << "  keepalive_requests 1000000;\n"
                      << "  server {\n    listen 127.0.0.1:" << port << ";\n"
                      << "    location / { default_type application/json; return 200 '" << kBody
                      << "'; }\n"
                      << "  }\n}\n";
  const pid_t pid = spawn({"nginx", "-p", dir, "-c", conf}, dir + "/nginx.out");
  for (int i = 0; i < 200 && !can_connect(port); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  WrkResult r = wrk(port, seconds, connections, dir, false);
  ::kill(pid, SIGQUIT);
  Cpu used;
  reap(pid, &used);
  r.set_cpu(used);
  return r;
}

// BenchServer: the benchmark's route table and server, on 127.0.0.1:0.
struct BenchServer {
  http::Router router{http::ApiInfo{.title = "bench", .version = "1.0.0"}};
  std::shared_ptr<ck::FileSink> file;
  std::unique_ptr<http::Server> server;

  BenchServer(int threads, const std::string& dir) {
    router.tag("bench", "The benchmark route");
    router.add(
        http::Route(http::Method::kGet, "/bench")
            .summary("A fixed 16-byte body")
            .operation_id("bench")
            .tag("bench")
            .auth(http::Auth::kBearer)
            .param(http::Param::query("n").integer().minimum(0).maximum(100).describe("Ignored"))
            .response(200, "The body",
                      http::Schema::object({{"ok", http::Schema::string().max_length(16)}}, {"ok"}))
            .handle(
                [body = std::make_shared<const http::PreparedJson>(http::Json{{"ok", "abcdefg"}})](
                    http::Request&) { return http::Response::prepared_json(200, body); }));
    file = std::make_shared<ck::FileSink>(ck::FileSinkOptions{
        .path = dir + "/access-" + std::to_string(threads) + ".log", .format = ck::Format::kJson});
    const ck::Logger access("access", {file});
    router.use(http::request_id());
    router.use(http::access_log(access));
    router.use(router.map_errors());
    router.use(http::timing());
    router.use(http::auth({.bearer_token = kToken, .local_uid = std::nullopt}));
    http::ServerOptions o;
    o.listen = {"127.0.0.1:0"};
    o.threads = threads;
    server = std::make_unique<http::Server>(router, o);
    server->start();
  }
  // A destructor must not throw: a failed stop or flush is reported, and the
  // figures already measured still print.
  ~BenchServer() {
    try {
      server->stop();
      file->flush();
    } catch (...) {
      std::fputs("http_benchmark: the server did not stop cleanly\n", stderr);
    }
  }
};

WrkResult run_coordkit(int threads, int seconds, int connections, const std::string& dir) {
  BenchServer s(threads, dir);
  const Cpu before = own_cpu();
  WrkResult r = wrk(s.server->tcp_port(), seconds, connections, dir, true);
  const Cpu after = own_cpu();
  r.set_cpu({after.user - before.user, after.sys - before.sys});
  return r;
}

int run(int argc, char** argv) {
  if (argc > 2 && std::string(argv[1]) == "--serve") {
    const int seconds = std::atoi(argv[2]);
    const int threads = argc > 3 ? std::atoi(argv[3]) : 1;
    char tmpl[] = "/tmp/coordkit-bench-http.XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return 1;
    {
      BenchServer s(threads, tmpl);
      std::printf("%u\n", s.server->tcp_port());
      std::fflush(stdout);
      std::this_thread::sleep_for(std::chrono::seconds(seconds));
    }
    std::filesystem::remove_all(tmpl);
    return 0;
  }
  const int seconds = argc > 1 ? std::atoi(argv[1]) : 5;
  const int connections = argc > 2 ? std::atoi(argv[2]) : 64;
  const int rounds = std::max(1, argc > 3 ? std::atoi(argv[3]) : 1);
  char tmpl[] = "/tmp/coordkit-bench-http.XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return 1;
  const std::string dir = tmpl;

  struct Round {
    WrkResult nginx, one, two;
    double ratio1() const { return nginx.rps > 0 ? one.rps / nginx.rps : 0; }
    double ratio2() const { return nginx.rps > 0 ? two.rps / nginx.rps : 0; }
    // cpu_ratio: nginx's CPU per request over coordkit's (1 thread), in
    // the same sense as ratio1: above 1, coordkit spends less.
    double cpu_ratio() const { return one.cpu_us() > 0 ? nginx.cpu_us() / one.cpu_us() : 0; }
  };
  std::vector<Round> all(static_cast<std::size_t>(rounds));
  std::printf("connections=%d seconds=%d rounds=%d (wrk, one client thread, loopback)\n",
              connections, seconds, rounds);
  for (int i = 0; i < rounds; ++i) {
    Round& r = all[static_cast<std::size_t>(i)];
    if (i % 2 == 0) {
      r.nginx = run_nginx(seconds, connections, dir);
      r.one = run_coordkit(1, seconds, connections, dir);
      r.two = run_coordkit(2, seconds, connections, dir);
    } else {
      r.two = run_coordkit(2, seconds, connections, dir);
      r.one = run_coordkit(1, seconds, connections, dir);
      r.nginx = run_nginx(seconds, connections, dir);
    }
    std::printf(
        "round %d: nginx_rps=%.0f http_rps=%.0f http_vs_nginx=%.3f http_p99_ms=%.3f "
        "http2_rps=%.0f http2_vs_nginx=%.3f http2_p99_ms=%.3f\n"
        "  cpu us/request (user+sys): nginx %.2f+%.2f http %.2f+%.2f http2 %.2f+%.2f "
        "http_cpu_vs_nginx=%.3f\n",
        i + 1, r.nginx.rps, r.one.rps, r.ratio1(), r.one.p99_ms, r.two.rps, r.ratio2(),
        r.two.p99_ms, r.nginx.user_us, r.nginx.sys_us, r.one.user_us, r.one.sys_us, r.two.user_us,
        r.two.sys_us, r.cpu_ratio());
    std::fflush(stdout);
  }
  std::filesystem::remove_all(dir);

  // median: of one figure over the rounds (the mean of the middle two for
  // an even count).
  auto median = [&](auto figure) {
    std::vector<double> v;
    for (const Round& r : all) v.push_back(figure(r));
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  };
  auto list = [&](auto figure, int decimals) {
    std::string out = "[";
    for (const Round& r : all) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.*f", decimals, figure(r));
      if (out.size() > 1) out += ',';
      out += buf;
    }
    return out + "]";
  };
  const auto nginx_rps = [](const Round& r) { return r.nginx.rps; };
  const auto nginx_p99 = [](const Round& r) { return r.nginx.p99_ms; };
  const auto one_rps = [](const Round& r) { return r.one.rps; };
  const auto one_p99 = [](const Round& r) { return r.one.p99_ms; };
  const auto ratio1 = [](const Round& r) { return r.ratio1(); };
  const auto two_rps = [](const Round& r) { return r.two.rps; };
  const auto two_p99 = [](const Round& r) { return r.two.p99_ms; };
  const auto ratio2 = [](const Round& r) { return r.ratio2(); };
  const auto nginx_user = [](const Round& r) { return r.nginx.user_us; };
  const auto nginx_sys = [](const Round& r) { return r.nginx.sys_us; };
  const auto one_user = [](const Round& r) { return r.one.user_us; };
  const auto one_sys = [](const Round& r) { return r.one.sys_us; };
  const auto cpu_ratio = [](const Round& r) { return r.cpu_ratio(); };
  long errors = 0;
  double worst_p99 = 0;
  for (const Round& r : all) {
    errors += r.nginx.errors + r.one.errors + r.two.errors;
    worst_p99 = std::max(worst_p99, r.one.p99_ms);
  }

  std::printf("nginx_rps=%.0f nginx_p99_ms=%.3f (median of %d)\n", median(nginx_rps),
              median(nginx_p99), rounds);
  std::printf(
      "http_rps=%.0f http_vs_nginx=%.3f http_p99_ms=%.3f (1 thread, medians; worst p99 "
      "%.3f)\n",
      median(one_rps), median(ratio1), median(one_p99), worst_p99);
  std::printf("http2_rps=%.0f http2_vs_nginx=%.3f http2_p99_ms=%.3f (2 threads, medians)\n",
              median(two_rps), median(ratio2), median(two_p99));
  std::printf(
      "cpu us/request, user+sys: nginx %.2f+%.2f, http %.2f+%.2f; http_cpu_vs_nginx=%.3f "
      "(1 thread, medians)\n",
      median(nginx_user), median(nginx_sys), median(one_user), median(one_sys), median(cpu_ratio));
  std::printf(
      "{\"bench\":\"http\",\"connections\":%d,\"rounds\":%d,\"nginx_rps\":%.0f,"
      "\"nginx_p99_ms\":%.3f,\"http_rps\":%.0f,\"http_vs_nginx\":%.3f,\"http_p99_ms\":%.3f,"
      "\"http_p99_ms_worst\":%.3f,\"http_2threads_rps\":%.0f,\"http_2threads_vs_nginx\":%.3f,"
      "\"http_2threads_p99_ms\":%.3f,\"errors\":%ld,\"nginx_rps_rounds\":%s,"
      "\"http_rps_rounds\":%s,\"http_vs_nginx_rounds\":%s,\"http_p99_ms_rounds\":%s,"
      "\"http_2threads_vs_nginx_rounds\":%s,\"nginx_user_us\":%.2f,\"nginx_sys_us\":%.2f,"
      "\"http_user_us\":%.2f,\"http_sys_us\":%.2f,\"http_cpu_vs_nginx\":%.3f,"
      "\"http_cpu_vs_nginx_rounds\":%s}\n",
      connections, rounds, median(nginx_rps), median(nginx_p99), median(one_rps), median(ratio1),
      median(one_p99), worst_p99, median(two_rps), median(ratio2), median(two_p99), errors,
      list(nginx_rps, 0).c_str(), list(one_rps, 0).c_str(), list(ratio1, 3).c_str(),
      list(one_p99, 3).c_str(), list(ratio2, 3).c_str(), median(nginx_user), median(nginx_sys),
      median(one_user), median(one_sys), median(cpu_ratio), list(cpu_ratio, 3).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "http_benchmark: %s\n", e.what());
    return 1;
  }
}

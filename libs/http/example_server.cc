// example_server: coordkit::http's own example API on a real server, for
// trying the library out and for the OpenAPI validators.
//
//   example_server --listen 127.0.0.1:0 --port-file /tmp/port
//   example_server --listen unix:/run/user/1000/example.sock --threads 2
//
// The bearer token comes from COORDKIT_HTTP_TOKEN (never argv); without it
// only local-user routes over the Unix socket admit anyone. Stops on
// SIGINT/SIGTERM with a 5 s drain.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <string>
#include <vector>

#include "coordkit/http/http.h"
#include "coordkit/http/internal/example_api.h"
#include "coordkit/log/log.h"

namespace http = coordkit::http;
namespace ck = coordkit::log;

namespace {

int run(int argc, char** argv) {
  CLI::App app{"coordkit::http's example API server"};
  std::vector<std::string> listen;
  int threads = 1;
  std::string port_file;
  std::string access_log;
  app.add_option("--listen", listen, "HOST:PORT or unix:PATH (repeatable)")->required();
  app.add_option("--threads", threads, "I/O and handler threads")->check(CLI::Range(1, 64));
  app.add_option("--port-file", port_file, "write the TCP port here once listening");
  app.add_option("--access-log", access_log, "JSON-lines access log file");
  CLI11_PARSE(app, argc, argv);

  ck::reserve_standard_fds();
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  auto console = ck::console_logger("example");
  std::vector<std::shared_ptr<ck::Sink>> sinks;
  if (!access_log.empty()) {
    sinks.push_back(std::make_shared<ck::FileSink>(
        ck::FileSinkOptions{.path = access_log, .format = ck::Format::kJson}));
  }
  ck::Logger access("access", sinks);

  const char* token = std::getenv("COORDKIT_HTTP_TOKEN");
  http::internal::ExampleStore store;
  http::Router router(
      {.title = "coordkit::http example",
       .version = "1.0.0",
       .description = "The example API of coordkit::http: records, health, metrics."});
  router.set_logger(console);
  http::internal::add_example_routes(router, store);
  http::internal::use_example_wrappers(router, access, token != nullptr ? token : "");

  try {
    http::Server server(router, {.listen = listen, .threads = threads, .log = console});
    server.start();
    if (!port_file.empty()) {
      std::ofstream(port_file + ".tmp") << server.tcp_port() << "\n";
      std::rename((port_file + ".tmp").c_str(), port_file.c_str());
    }
    console.info("listening", {{"port", server.tcp_port()}, {"unix", server.unix_path()}});
    int sig = 0;
    sigwait(&set, &sig);
    const http::DrainResult d = server.drain(std::chrono::seconds(5));
    console.info("drained", {{"finished", d.finished}, {"cut", d.cut}});
    server.stop();
  } catch (const coordkit::Error& e) {
    console.error("cannot serve", {{"error", e.what()}});
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "example_server: %s\n", e.what());
    return 1;
  }
}

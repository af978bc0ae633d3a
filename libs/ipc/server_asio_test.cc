// A Server's shutdown readiness inside a real Asio io_context: the
// descriptor from shutdown_handle_dup() belongs to the stream_descriptor,
// which closes it, while the Server's own descriptor stays intact.
#include <fcntl.h>
#include <poll.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <filesystem>
#include <latch>
#include <optional>
#include <string>
#include <thread>

#include "coordkit/base/unique_fd.h"
#include "coordkit/ipc/client.h"
#include "coordkit/ipc/server.h"
#include "coordkit/testing/scratch_dir.h"

namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace ipc = coordkit::ipc;
using namespace std::chrono_literals;

namespace {

// fresh_dir: a runtime dir that does not exist yet (the Server creates it),
// in a scratch directory of its own.
fs::path fresh_dir(const std::string& name) { return coordkit::testing::scratch_dir(name) / "run"; }

ipc::ServerOptions options_for(const fs::path& dir) {
  ipc::ServerOptions o;
  o.app = "asio";
  o.runtime_dir = dir;
  o.handle_signals = false;
  return o;
}

bool readable_now(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

}  // namespace

TEST_CASE("An io_context waits on shutdown_handle_dup until a shutdown request arrives",
          "[ipc][server][asio]") {
  const fs::path dir = fresh_dir("wait");
  ipc::Server server(options_for(dir));
  server.set_ready();
  const int own = static_cast<int>(server.shutdown_native_handle());

  asio::io_context io;
  std::optional<std::string> outcome;
  {
    coordkit::UniqueFd dup = server.shutdown_handle_dup();
    REQUIRE(dup.valid());
    CHECK(dup.get() != own);
    CHECK((::fcntl(dup.get(), F_GETFD) & FD_CLOEXEC) != 0);
    CHECK_FALSE(readable_now(dup.get()));

    asio::posix::stream_descriptor shutdown(io, dup.release());
    asio::steady_timer bound(io, 20s);
    shutdown.async_wait(asio::posix::stream_descriptor::wait_read,
                        [&](boost::system::error_code ec) {
                          outcome = ec ? "error " + ec.message() : "shutdown";
                          bound.cancel();
                        });
    bound.async_wait([&](boost::system::error_code ec) {
      if (!ec) {
        outcome = "timed out";
        shutdown.cancel();
      }
    });
    // Another process's request, written while the io_context already waits:
    // the requester starts once io.run() runs a handler, after the wait on
    // the descriptor was set up.
    std::latch running(1);
    asio::post(io, [&] { running.count_down(); });
    std::thread requester([&] {
      running.wait();
      ipc::Client({"asio", dir}).request_shutdown(ipc::ShutdownMode::kFast, 3s);
    });
    io.run();
    requester.join();
  }  // the stream_descriptor closes its descriptor here

  CHECK(outcome == "shutdown");
  const auto request = server.shutdown_request();
  REQUIRE(request.has_value());
  CHECK(request->source == ipc::ShutdownSource::kFile);
  CHECK(request->mode == ipc::ShutdownMode::kFast);
  // The Server's own descriptor was not closed by Asio and is still readable.
  CHECK(::fcntl(own, F_GETFD) != -1);
  CHECK(readable_now(own));
  // A later duplicate is readable at once.
  const coordkit::UniqueFd again = server.shutdown_handle_dup();
  CHECK(readable_now(again.get()));
}

TEST_CASE("A duplicated shutdown handle outlives its Server and then wakes an Asio wait",
          "[ipc][server][asio]") {
  const fs::path dir = fresh_dir("outlive");
  coordkit::UniqueFd dup;
  {
    ipc::Server server(options_for(dir));
    dup = server.shutdown_handle_dup();
    CHECK_FALSE(readable_now(dup.get()));
  }
  // Nothing was requested, but the Server is gone: the descriptor reports a
  // hang-up, so a waiter never hangs on a Server that no longer exists.
  pollfd p{dup.get(), POLLIN, 0};
  REQUIRE(::poll(&p, 1, 0) == 1);
  CHECK((p.revents & POLLHUP) != 0);

  asio::io_context io;
  asio::posix::stream_descriptor shutdown(io, dup.release());
  bool woke = false;
  shutdown.async_wait(asio::posix::stream_descriptor::wait_read,
                      [&](boost::system::error_code) { woke = true; });
  io.run_for(10s);
  CHECK(woke);
}

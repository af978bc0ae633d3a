// Graceful drain with a deadline: in-flight requests finish, new ones get
// 503 with Connection: close, and drain returns inside its deadline.
#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "coordkit/http/internal/test_api.h"
#include "coordkit/http/internal/test_client.h"
#include "coordkit/testing/deadline.h"

namespace http = coordkit::http;
namespace t = coordkit::http::testing;
namespace ck_testing = coordkit::testing;
using Json = nlohmann::json;
using namespace std::chrono_literals;
namespace bh = boost::beast::http;

namespace {

http::ServerOptions drain_options() {
  http::ServerOptions o;
  o.threads = 3;
  return o;
}

std::vector<std::pair<std::string, std::string>> bearer() {
  return {{"Authorization", std::string("Bearer ") + t::kToken}};
}

// in_flight: starts a request that sleeps `ms` on its own connection.
std::future<unsigned> in_flight(unsigned short port, int ms) {
  return std::async(std::launch::async, [port, ms] {
    try {
      t::TcpClient c(port);
      return c
          .request(
              t::make_request("POST", "/v1/admin/sleep?ms=" + std::to_string(ms), "", bearer()))
          .result_int();
    } catch (const std::exception&) {
      return 0u;  // cut
    }
  });
}

}  // namespace

TEST_CASE("Server drain lets in-flight requests finish and answers new ones 503", "[http][drain]") {
  t::TestServer s(drain_options());
  t::TcpClient idle(s.port());
  REQUIRE(idle.request(t::make_request("GET", "/v1/health")).result_int() == 200);
  // The client can read the answer before the server counts the request
  // done: wait for that, so the count below is of a and b alone.
  REQUIRE(ck_testing::eventually([&] { return s.server->stats().in_flight == 0; }, 5s));
  auto a = in_flight(s.port(), 400);
  auto b = in_flight(s.port(), 400);
  // Both handlers are running before the drain begins.
  REQUIRE(ck_testing::eventually([&] { return s.server->stats().in_flight == 2; }, 5s));
  auto drained = std::async(std::launch::async, [&] { return s.server->drain(3s); });
  // The drain has begun and the doors are closed.
  REQUIRE(ck_testing::eventually([&] { return !s.server->stats().listening; }, 5s));
  // A request on a kept-alive connection while draining.
  auto late = idle.request(t::make_request("GET", "/v1/health"));
  CHECK(late.result_int() == 503);
  CHECK_FALSE(late.keep_alive());
  CHECK(Json::parse(late.body())["error"]["code"] == "unavailable");
  CHECK(late[bh::field::retry_after] == "1");
  // New connections are no longer accepted.
  CHECK_THROWS(t::TcpClient(s.port()).request(t::make_request("GET", "/v1/health")));
  const http::DrainResult d = drained.get();
  CHECK(a.get() == 200);
  CHECK(b.get() == 200);
  CHECK(d.finished == 2);
  CHECK(d.cut == 0);
  CHECK(d.refused == 1);
  CHECK(d.took < 1500ms);
}

TEST_CASE("Server drain cuts what is still running at the deadline", "[http][drain]") {
  t::TestServer s(drain_options());
  auto quick = in_flight(s.port(), 300);
  auto slow = in_flight(s.port(), 2500);
  REQUIRE(ck_testing::eventually([&] { return s.server->stats().in_flight == 2; }, 5s));
  const auto start = std::chrono::steady_clock::now();
  const http::DrainResult d = s.server->drain(800ms);
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(took < 1500ms);
  CHECK(took >= 750ms);
  CHECK(d.finished == 1);
  CHECK(d.cut == 1);
  CHECK(quick.get() == 200);
  CHECK(slow.get() == 0);
}

TEST_CASE("Server threads run from start() until stop(), with or without work",
          "[http][drain][stop]") {
  http::ServerOptions o;
  o.threads = 2;
  t::TestServer s(o);
  REQUIRE(ck_testing::eventually([&] { return s.server->stats().threads_running == 2; }, 5s));
  // A drain with no connection leaves the I/O loop nothing to do: no
  // listener, no session, no timer. The threads still serve until stop().
  const http::DrainResult d = s.server->drain(1s);
  CHECK(d.finished == 0);
  REQUIRE(ck_testing::eventually([&] { return !s.server->stats().listening; }, 5s));
  // Without a work guard both threads return from the loop within
  // microseconds of the listeners' close; look for that a while.
  CHECK_FALSE(ck_testing::eventually([&] { return s.server->stats().threads_running < 2; }, 300ms));
  s.server->stop();
  CHECK(s.server->stats().threads_running == 0);
}

TEST_CASE("Server stop closes every connection before it returns, even behind a busy thread",
          "[http][drain][stop]") {
  http::ServerOptions o;
  o.threads = 1;
  t::TestServer s(o);
  // An idle kept-alive connection, and a request whose handler holds the
  // only thread for longer than any grace period stop() might give.
  t::TcpClient idle(s.port());
  REQUIRE(idle.request(t::make_request("GET", "/v1/health")).result_int() == 200);
  // The answer can reach the client before the server counts it done.
  REQUIRE(ck_testing::eventually([&] { return s.server->stats().in_flight == 0; }, 5s));
  auto busy = in_flight(s.port(), 2500);
  REQUIRE(ck_testing::eventually([&] { return s.server->stats().in_flight == 1; }, 5s));
  REQUIRE(s.server->stats().open_connections == 2);
  s.server->stop();
  // The idle connection's close waited behind the handler, and ran: stop()
  // ended the loop only when there was nothing left to run.
  const http::ServerStats st = s.server->stats();
  CHECK(st.open_connections == 0);
  CHECK(st.in_flight == 0);
  CHECK(st.threads_running == 0);
  CHECK(busy.get() == 0);  // cut: stop() does not wait for answers
  boost::system::error_code ec;
  char byte = 0;
  idle.socket.read_some(boost::asio::buffer(&byte, 1), ec);
  CHECK(ec == boost::asio::error::eof);
}

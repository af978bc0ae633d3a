// Blocking routes (Route::blocking) run on the server's blocking pool: the
// I/O threads stay free, pipelined answers keep their order, a full queue
// is a 503 with Retry-After, a drain waits for them, and an exception is a
// 500 like anywhere else.
#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <future>
#include <sstream>
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

http::ServerOptions pool_options(int io_threads, int blocking_threads, std::size_t queue) {
  http::ServerOptions o;
  o.threads = io_threads;
  o.blocking_threads = blocking_threads;
  o.blocking_queue = queue;
  return o;
}

std::string sleep_target(int ms) { return "/test/blocking/sleep?ms=" + std::to_string(ms); }

// sleeping: a blocking request that sleeps `ms`, on its own connection;
// its status, or 0 when the connection was cut.
std::future<unsigned> sleeping(unsigned short port, int ms) {
  return std::async(std::launch::async, [port, ms] {
    try {
      t::TcpClient c(port);
      return c.request(t::make_request("POST", sleep_target(ms))).result_int();
    } catch (const std::exception&) {
      return 0u;
    }
  });
}

void check_unavailable(const http::BeastResponse& r) {
  CHECK(r.result_int() == 503);
  CHECK(r[bh::field::retry_after] == "1");
  const Json b = Json::parse(r.body());
  CHECK(b["error"]["code"] == "unavailable");
  CHECK(b["error"]["request_id"] == std::string(r["X-Request-Id"]));
}

}  // namespace

TEST_CASE("A blocking handler leaves the only I/O thread free for other connections",
          "[http][blocking]") {
  t::TestServer s(pool_options(1, 2, 8));
  auto slow = sleeping(s.port(), 3000);
  REQUIRE(ck_testing::eventually([&] { return s.server->stats().in_flight == 1; }, 5s));
  t::TcpClient c(s.port());
  for (int i = 0; i < 3; ++i) {
    CHECK(c.request(t::make_request("GET", "/v1/health")).result_int() == 200);
  }
  // Answered while the blocking handler still sleeps.
  CHECK(slow.wait_for(0s) == std::future_status::timeout);
  CHECK(slow.get() == 200);
}

// What the server does with a blocking route, on one Request reused for
// every request of a connection: reset(), begin() on the I/O thread,
// finish() on a pool thread. The query a handler reads is its request's
// own, whatever ran on the first thread's stack in between.
TEST_CASE("A reused Request begun on one thread is finished on another with its own query",
          "[http][blocking]") {
  t::TestServer s(pool_options(1, 0, 0));
  http::Request req;
  for (int ms : {0, 1, 2}) {
    CAPTURE(ms);
    const http::BeastRequest raw = t::make_request("POST", sleep_target(ms));
    req.reset();
    req.raw = &raw;
    REQUIRE(s.router.begin(req));
    http::Response r;
    std::thread([&] { r = s.router.finish(req); }).join();
    CHECK(r.status == 200);
    CHECK(Json::parse(r.body)["slept_ms"] == ms);
  }
}

TEST_CASE("With blocking_threads 0 a blocking handler runs on the I/O thread", "[http][blocking]") {
  t::TestServer s(pool_options(1, 0, 0));
  const auto before = std::chrono::steady_clock::now();
  auto slow = sleeping(s.port(), 800);
  REQUIRE(ck_testing::eventually([&] { return s.server->stats().in_flight == 1; }, 5s));
  t::TcpClient c(s.port());
  CHECK(c.request(t::make_request("GET", "/v1/health")).result_int() == 200);
  // The health check waited behind the sleep on the one thread.
  CHECK(std::chrono::steady_clock::now() - before >= 800ms);
  CHECK(slow.get() == 200);
}

TEST_CASE("Pipelined requests mixing blocking and other routes are answered in order",
          "[http][blocking]") {
  t::TestServer s(pool_options(2, 4, 8));
  t::TcpClient c(s.port());
  std::string bytes;
  const std::vector<std::pair<std::string, std::string>> order = {
      {"POST", sleep_target(300)},      {"GET", "/v1/health"},
      {"POST", sleep_target(0)},        {"GET", "/v1/health"},
      {"GET", "/test/blocking/throws"}, {"POST", sleep_target(50)},
  };
  for (std::size_t i = 0; i < order.size(); ++i) {
    auto req = t::make_request(order[i].first, order[i].second, "",
                               {{"X-Request-Id", "r" + std::to_string(i)}});
    std::ostringstream out;
    out << req;
    bytes += out.str();
  }
  boost::asio::write(c.socket, boost::asio::buffer(bytes));
  for (std::size_t i = 0; i < order.size(); ++i) {
    CAPTURE(i, order[i].second);
    auto r = c.receive();
    CHECK(r["X-Request-Id"] == "r" + std::to_string(i));
    CHECK(r.result_int() == (order[i].second == "/test/blocking/throws" ? 500u : 200u));
    CHECK(r.keep_alive());
  }
}

TEST_CASE("A blocking request over the pool's queue is answered 503 with Retry-After",
          "[http][blocking]") {
  t::TestServer s(pool_options(1, 1, 1));
  auto running = sleeping(s.port(), 1500);
  REQUIRE(ck_testing::eventually([&] { return s.server->stats().in_flight == 1; }, 5s));
  auto queued = sleeping(s.port(), 0);
  REQUIRE(ck_testing::eventually([&] { return s.server->stats().in_flight == 2; }, 5s));
  t::TcpClient c(s.port());
  auto refused = c.request(t::make_request("POST", sleep_target(0)));
  check_unavailable(refused);
  // Refused without a close: the connection serves the next request.
  CHECK(refused.keep_alive());
  CHECK(c.request(t::make_request("GET", "/v1/health")).result_int() == 200);
  CHECK(s.server->stats().shed == 1);
  CHECK(running.get() == 200);
  CHECK(queued.get() == 200);
  // With the pool free again the same request runs.
  CHECK(c.request(t::make_request("POST", sleep_target(0))).result_int() == 200);
}

TEST_CASE("A blocking request whose deadline passed in the queue is answered 503 unrun",
          "[http][blocking]") {
  http::ServerOptions o = pool_options(1, 1, 4);
  o.handler_deadline = 300ms;
  t::TestServer s(o);
  auto running = sleeping(s.port(), 1000);
  REQUIRE(ck_testing::eventually([&] { return s.server->stats().in_flight == 1; }, 5s));
  t::TcpClient c(s.port());
  check_unavailable(c.request(t::make_request("POST", sleep_target(0))));
  CHECK(s.server->stats().shed == 1);
  CHECK(running.get() == 200);
}

TEST_CASE("An exception in a blocking handler is a 500 with the request id", "[http][blocking]") {
  t::TestServer s(pool_options(1, 2, 8));
  t::TcpClient c(s.port());
  auto r = c.request(t::make_request("GET", "/test/blocking/throws"));
  CHECK(r.result_int() == 500);
  const Json b = Json::parse(r.body());
  CHECK(b["error"]["code"] == "internal");
  CHECK(b["error"]["request_id"] == std::string(r["X-Request-Id"]));
  CHECK_FALSE(std::string(r["X-Request-Id"]).empty());
  // The connection and the pool thread carry on.
  CHECK(r.keep_alive());
  CHECK(c.request(t::make_request("POST", sleep_target(0))).result_int() == 200);
}

TEST_CASE("Server drain waits for a blocking handler in flight until its deadline",
          "[http][blocking][drain]") {
  SECTION("it finishes inside the deadline") {
    t::TestServer s(pool_options(1, 2, 8));
    auto a = sleeping(s.port(), 400);
    REQUIRE(ck_testing::eventually([&] { return s.server->stats().in_flight == 1; }, 5s));
    const http::DrainResult d = s.server->drain(3s);
    CHECK(a.get() == 200);
    CHECK(d.finished == 1);
    CHECK(d.cut == 0);
    CHECK(d.took >= 300ms);
    CHECK(d.took < 2500ms);
  }
  SECTION("it is cut at the deadline, and stop() waits for the handler to return") {
    t::TestServer s(pool_options(1, 2, 8));
    auto a = sleeping(s.port(), 2000);
    REQUIRE(ck_testing::eventually([&] { return s.server->stats().in_flight == 1; }, 5s));
    const http::DrainResult d = s.server->drain(500ms);
    CHECK(d.finished == 0);
    CHECK(d.cut == 1);
    CHECK(a.get() == 0);
    s.server->stop();
    const http::ServerStats st = s.server->stats();
    CHECK(st.in_flight == 0);
    CHECK(st.open_connections == 0);
    CHECK(st.threads_running == 0);
  }
}

TEST_CASE("Server options refuse a negative number of blocking threads", "[http][blocking]") {
  http::Router router;
  http::ServerOptions o;
  o.listen = {"127.0.0.1:0"};
  o.blocking_threads = -1;
  try {
    http::Server server(router, o);
    FAIL("no error");
  } catch (const http::Error& e) {
    CHECK(e.code() == http::ErrorCode::kInvalidArgument);
  }
}

// Slow, broken and hostile clients against a real server: it stays up,
// answers a normal request right after, and its memory stays bounded.
#include <sys/socket.h>

#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "coordkit/http/internal/test_api.h"
#include "coordkit/http/internal/test_client.h"

namespace http = coordkit::http;
namespace t = coordkit::http::testing;
using Json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

http::ServerOptions short_limits() {
  http::ServerOptions o;
  o.threads = 2;
  o.header_limit = 4096;
  o.body_limit = std::size_t{64} * 1024;
  o.read_timeout = 500ms;
  o.idle_timeout = 1000ms;
  o.write_timeout = 1000ms;
  o.max_connections = 1500;
  return o;
}

void check_healthy(const t::TestServer& s) {
  t::TcpClient c(s.port(), 5s);
  auto r = c.request(t::make_request("GET", "/v1/health"));
  CHECK(r.result_int() == 200);
  CHECK(Json::parse(r.body()) == Json{{"status", "ok"}});
}

bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

}  // namespace

TEST_CASE("Server answers malformed requests with 400 and closes", "[http][robustness]") {
  t::TestServer s(short_limits());
  auto bytes = GENERATE(as<std::string>{}, "GARBAGE\r\n\r\n", "GET\r\n\r\n",
                        "GET / HTTP/9.9\r\n\r\n", "GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
                        "GET / HTTP/1.1\r\nContent-Length: -4\r\n\r\n",
                        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                        std::string("GET /\0 HTTP/1.1\r\n\r\n", 19),
                        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n");
  CAPTURE(bytes);
  const std::string raw = t::raw_exchange(s.port(), bytes, 3s);
  CHECK(t::status_of(raw) == 400);
  CHECK(raw.find("Connection: close") != std::string::npos);
  CHECK(raw.find("\"code\":\"bad_request\"") != std::string::npos);
  check_healthy(s);
}

TEST_CASE("Server refuses oversized headers and bodies and stays up", "[http][robustness]") {
  t::TestServer s(short_limits());
  SECTION("a header block over the limit is 431") {
    const std::string raw = t::raw_exchange(
        s.port(),
        "GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(10000, 'p') + "\r\n\r\n");
    CHECK(t::status_of(raw) == 431);
  }
  SECTION("many small headers over the limit are 431") {
    std::string req = "GET /v1/health HTTP/1.1\r\nHost: x\r\n";
    for (int i = 0; i < 500; ++i) req += "X-H" + std::to_string(i) + ": v\r\n";
    CHECK(t::status_of(t::raw_exchange(s.port(), req + "\r\n")) == 431);
  }
  SECTION("a Content-Length over the limit is 413 before the body is sent") {
    const std::string raw = t::raw_exchange(
        s.port(),
        "PUT /v1/collections/a/records/b HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 100000000\r\n\r\n{");
    CHECK(t::status_of(raw) == 413);
  }
  SECTION("a chunked body over the limit is 413") {
    std::string req =
        "PUT /v1/collections/a/records/b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 20; ++i) req += "1000\r\n" + std::string(4096, 'a') + "\r\n";
    CHECK(t::status_of(t::raw_exchange(s.port(), req)) == 413);
  }
  check_healthy(s);
}

TEST_CASE("Server closes a slowloris client at the read timeout and serves others meanwhile",
          "[http][robustness]") {
  t::TestServer s(short_limits());
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket slow(ioc);
  slow.connect({boost::asio::ip::make_address("127.0.0.1"), s.port()});
  const std::string req =
      "GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + std::string(200, 's') + "\r\n\r\n";
  const auto start = std::chrono::steady_clock::now();
  bool closed = false;
  for (std::size_t i = 0; i < req.size() && !closed; ++i) {
    boost::system::error_code ec;
    slow.write_some(boost::asio::buffer(&req[i], 1), ec);
    closed = static_cast<bool>(ec);
    if (i == 3) check_healthy(s);  // the slow client holds no thread
    std::this_thread::sleep_for(20ms);
    char c;
    ::recv(slow.native_handle(), &c, 1, MSG_DONTWAIT | MSG_PEEK);
    if (::recv(slow.native_handle(), &c, 1, MSG_DONTWAIT | MSG_PEEK) == 0) closed = true;
  }
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(closed);
  CHECK(took < 3s);  // cut near the 500 ms read timeout, long before the ~4 s the request needs
  CHECK(s.server->stats().timeouts >= 1);
  check_healthy(s);
}

TEST_CASE("Server survives 1000 abandoned connections with bounded memory", "[http][robustness]") {
  // Timeouts long enough that all 1000 are open at once in a slow build too
  // (under tsan, opening them took longer than short_limits' 1 s idle
  // timeout, so the first ones were closed before the last were open).
  auto o = short_limits();
  o.read_timeout = 5s;
  o.idle_timeout = 5s;
  t::TestServer s(o);
  check_healthy(s);
  const long rss_before = t::rss_kb();
  boost::asio::io_context ioc;
  std::vector<std::unique_ptr<boost::asio::ip::tcp::socket>> abandoned;
  for (int i = 0; i < 1000; ++i) {
    auto sock = std::make_unique<boost::asio::ip::tcp::socket>(ioc);
    sock->connect({boost::asio::ip::make_address("127.0.0.1"), s.port()});
    if (i % 2 == 1) {
      // Half of them send half a request and stop.
      boost::system::error_code ec;
      boost::asio::write(*sock, boost::asio::buffer(std::string("GET /v1/health HTTP/1.1\r\nHo")),
                         ec);
    }
    abandoned.push_back(std::move(sock));
  }
  REQUIRE(wait_for([&] { return s.server->stats().open_connections >= 1000; }, 10s));
  check_healthy(s);
  const long rss_peak = t::rss_kb();
  // Every one is closed by the read or idle timeout, while the client holds it.
  CHECK(wait_for([&] { return s.server->stats().open_connections == 0; }, 15s));
  check_healthy(s);
  const long rss_after = t::rss_kb();
  CAPTURE(rss_before, rss_peak, rss_after);
  // Generous: about 16 KiB per connection would be 16 MB.
  CHECK(rss_peak - rss_before < 64L * 1024);
  CHECK(rss_after - rss_before < 64L * 1024);
}

TEST_CASE("Server refuses connections over the limit at once with 503", "[http][robustness]") {
  auto o = short_limits();
  o.max_connections = 4;
  t::TestServer s(o);
  std::vector<std::unique_ptr<t::TcpClient>> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(std::make_unique<t::TcpClient>(s.port()));
    CHECK(held.back()->request(t::make_request("GET", "/v1/health")).result_int() == 200);
  }
  const auto start = std::chrono::steady_clock::now();
  const std::string raw =
      t::raw_exchange(s.port(), "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n", 2s);
  CHECK(t::status_of(raw) == 503);
  CHECK(std::chrono::steady_clock::now() - start < 1s);
  CHECK(s.server->stats().refused_connections >= 1);
  held.clear();
  CHECK(wait_for([&] { return s.server->stats().open_connections == 0; }, 3s));
  check_healthy(s);
}

TEST_CASE("Server survives a client that disconnects mid-response", "[http][robustness]") {
  t::TestServer s(short_limits());
  for (int i = 0; i < 5; ++i) {
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::socket sock(ioc);
    sock.connect({boost::asio::ip::make_address("127.0.0.1"), s.port()});
    const int small = 4096;
    ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    boost::asio::write(
        sock,
        boost::asio::buffer(std::string("GET /test/big?kb=16384 HTTP/1.1\r\nHost: x\r\n\r\n")));
    char buf[1024];
    CHECK(sock.read_some(boost::asio::buffer(buf)) > 0);
    // Reset, not a clean close: the server's pending write fails.
    ::linger lg{1, 0};
    ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    sock.close();
  }
  check_healthy(s);
  CHECK(wait_for([&] { return s.server->stats().open_connections == 0; }, 3s));
}

TEST_CASE("Server answers pipelined requests in order", "[http][robustness]") {
  t::TestServer s(short_limits());
  t::TcpClient c(s.port());
  std::string batch;
  for (int i = 0; i < 10; ++i) {
    batch += "GET /v1/demo/echo?n=" + std::to_string(i) +
             " HTTP/1.1\r\nHost: x\r\nX-Request-Id: pipe-" + std::to_string(i) + "\r\n\r\n";
  }
  boost::asio::write(c.socket, boost::asio::buffer(batch));
  for (int i = 0; i < 10; ++i) {
    auto r = c.receive();
    REQUIRE(r.result_int() == 200);
    CHECK(r["X-Request-Id"] == "pipe-" + std::to_string(i));
    CHECK(Json::parse(r.body())["n"] == i);
  }
}

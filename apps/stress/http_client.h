// coordkit/stress/http_client.h: one keep-alive HTTP/1.1 connection to a
// gateway over TCP ("http://127.0.0.1:8470") or a Unix socket
// ("unix:/path/gw.sock"), with a timeout on every exchange (Boost.Beast).
//
// Example:
//   coordkit::stress::HttpClient c(coordkit::stress::parse_target("http://127.0.0.1:8470"));
//   coordkit::stress::HttpResult r = c.request(http::verb::get, "/v1/health");
//   if (r.answered() && r.status == 200) { ... }
//
// A failed exchange never throws: HttpResult says whether the request was
// fully sent (so a write may have committed: in doubt) and whether an answer
// came. The next request reconnects.
#ifndef COORDKIT_APPS_STRESS_HTTP_CLIENT_H_
#define COORDKIT_APPS_STRESS_HTTP_CLIENT_H_

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coordkit::stress {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace asio = boost::asio;

// Target: where the gateway listens.
struct Target {
  bool unix_socket = false;
  std::string host;  // TCP
  std::string port;
  std::string path;  // Unix
  std::string text;  // as given
};

// parse_target: "http://HOST:PORT" (also "HOST:PORT") or "unix:PATH".
// Throws std::invalid_argument.
inline Target parse_target(std::string_view url) {
  Target t;
  t.text = std::string(url);
  if (url.rfind("unix:", 0) == 0) {
    t.unix_socket = true;
    t.path = std::string(url.substr(5));
    if (t.path.empty()) throw std::invalid_argument("unix: needs a socket path");
    return t;
  }
  if (url.rfind("http://", 0) == 0) url.remove_prefix(7);
  while (!url.empty() && url.back() == '/') url.remove_suffix(1);
  const auto colon = url.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == url.size()) {
    throw std::invalid_argument("expected http://HOST:PORT or unix:PATH");
  }
  t.host = std::string(url.substr(0, colon));
  if (t.host.size() > 2 && t.host.front() == '[' && t.host.back() == ']') {
    t.host = t.host.substr(1, t.host.size() - 2);
  }
  t.port = std::string(url.substr(colon + 1));
  return t;
}

// HttpResult: one exchange.
struct HttpResult {
  bool sent = false;      // the whole request was written
  bool received = false;  // a whole response was read
  unsigned status = 0;
  std::string body{};
  std::string etag{};
  std::string retry_after{};
  beast::error_code error{};

  bool answered() const noexcept { return received; }
};

// HttpClient: one connection. Not thread-safe: one per thread.
class HttpClient {
 public:
  explicit HttpClient(Target target, std::string bearer = {},
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(10000))
      : target_(std::move(target)), bearer_(std::move(bearer)), timeout_(timeout) {}

  // reconnects: connections made after the first.
  std::uint64_t reconnects() const noexcept { return reconnects_; }
  const Target& target() const noexcept { return target_; }
  void set_timeout(std::chrono::milliseconds t) noexcept { timeout_ = t; }
  void set_bearer(std::string b) { bearer_ = std::move(b); }

  // request: one exchange; `headers` are extra (name, value) pairs.
  HttpResult request(bhttp::verb method, const std::string& target, const std::string& body = {},
                     const std::vector<std::pair<std::string, std::string>>& headers = {},
                     bool admin = false) {
    HttpResult out;
    bhttp::request<bhttp::string_body> req{method, target, 11};
    req.set(bhttp::field::host, target_.unix_socket ? std::string("localhost") : target_.host);
    req.set(bhttp::field::user_agent, "coordkit-stress");
    req.keep_alive(true);
    if (admin && !bearer_.empty()) req.set(bhttp::field::authorization, "Bearer " + bearer_);
    for (const auto& [k, v] : headers) req.set(k, v);
    if (!body.empty() || method == bhttp::verb::post || method == bhttp::verb::put) {
      req.set(bhttp::field::content_type, "application/json");
      req.body() = body;
      req.prepare_payload();
    }
    if (target_.unix_socket) {
      exchange(unix_, req, out);
    } else {
      exchange(tcp_, req, out);
    }
    return out;
  }

  void close() {
    tcp_.reset();
    unix_.reset();
  }

 private:
  using TcpStream = beast::basic_stream<asio::ip::tcp>;
  using UnixStream = beast::basic_stream<asio::local::stream_protocol>;

  bool connect(std::optional<TcpStream>& s, beast::error_code& ec) {
    s.emplace(ioc_);
    asio::ip::tcp::resolver resolver(ioc_);
    const auto endpoints = resolver.resolve(target_.host, target_.port, ec);
    if (ec) return false;
    s->expires_after(timeout_);
    s->async_connect(endpoints,
                     [&ec](beast::error_code e, const asio::ip::tcp::endpoint&) { ec = e; });
    run();
    if (!ec) s->socket().set_option(asio::ip::tcp::no_delay(true), ec);
    return !ec;
  }
  bool connect(std::optional<UnixStream>& s, beast::error_code& ec) {
    s.emplace(ioc_);
    s->expires_after(timeout_);
    s->async_connect(asio::local::stream_protocol::endpoint(target_.path),
                     [&ec](beast::error_code e) { ec = e; });
    run();
    return !ec;
  }

  void run() {
    ioc_.restart();
    ioc_.run();
  }

  template <class Stream>
  void exchange(std::optional<Stream>& s, bhttp::request<bhttp::string_body>& req,
                HttpResult& out) {
    if (!s) {
      if (connected_once_) ++reconnects_;
      connected_once_ = true;
      if (!connect(s, out.error)) {
        s.reset();
        return;
      }
    }
    s->expires_after(timeout_);
    beast::error_code ec;
    bhttp::async_write(*s, req, [&ec](beast::error_code e, std::size_t) { ec = e; });
    run();
    if (ec) {
      // A request on a connection the server had closed: nothing reached it.
      out.error = ec;
      s.reset();
      return;
    }
    out.sent = true;
    bhttp::response<bhttp::string_body> res;
    bhttp::async_read(*s, buffer_, res, [&ec](beast::error_code e, std::size_t) { ec = e; });
    run();
    if (ec) {
      out.error = ec;
      buffer_.clear();
      s.reset();
      return;
    }
    out.received = true;
    out.status = res.result_int();
    out.body = std::move(res.body());
    if (auto it = res.find(bhttp::field::etag); it != res.end())
      out.etag = std::string(it->value());
    if (auto it = res.find(bhttp::field::retry_after); it != res.end()) {
      out.retry_after = std::string(it->value());
    }
    if (!res.keep_alive()) s.reset();
  }

  Target target_;
  std::string bearer_;
  std::chrono::milliseconds timeout_;
  asio::io_context ioc_{1};
  beast::flat_buffer buffer_;
  std::optional<TcpStream> tcp_;
  std::optional<UnixStream> unix_;
  bool connected_once_ = false;
  std::uint64_t reconnects_ = 0;
};

}  // namespace coordkit::stress

#endif  // COORDKIT_APPS_STRESS_HTTP_CLIENT_H_

// coordkit/http/internal/test_client.h: test-only clients: Beast's client
// over TCP and a Unix socket, raw bytes over TCP, and curl as a real child
// process (always reaped).
#ifndef COORDKIT_HTTP_INTERNAL_TEST_CLIENT_H_
#define COORDKIT_HTTP_INTERNAL_TEST_CLIENT_H_

#include <fcntl.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "coordkit/http/route.h"

extern char** environ;

namespace coordkit::http::testing {

inline void set_timeouts(int fd, std::chrono::milliseconds t) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(t.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// TcpClient: one keep-alive connection speaking through Beast's client.
struct TcpClient {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket socket{ioc};
  boost::beast::flat_buffer buffer;

  explicit TcpClient(unsigned short port,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    socket.connect({boost::asio::ip::make_address("127.0.0.1"), port});
    set_timeouts(socket.native_handle(), timeout);
  }
  void send(const BeastRequest& req) { boost::beast::http::write(socket, req); }
  BeastResponse receive() {
    boost::beast::http::response_parser<boost::beast::http::string_body> p;
    p.body_limit(64 << 20);
    boost::beast::http::read(socket, buffer, p);
    return p.release();
  }
  BeastResponse request(const BeastRequest& req) {
    send(req);
    return receive();
  }
};

// UnixClient: the same over a Unix-domain socket.
struct UnixClient {
  boost::asio::io_context ioc;
  boost::asio::local::stream_protocol::socket socket{ioc};
  boost::beast::flat_buffer buffer;

  explicit UnixClient(const std::string& path) {
    socket.connect(boost::asio::local::stream_protocol::endpoint(path));
    set_timeouts(socket.native_handle(), std::chrono::seconds(10));
  }
  BeastResponse request(const BeastRequest& req) {
    boost::beast::http::write(socket, req);
    BeastResponse res;
    boost::beast::http::read(socket, buffer, res);
    return res;
  }
};

// make_request: a request with `headers` and, if given, a JSON body.
inline BeastRequest make_request(
    std::string_view method, std::string_view target, std::string body = "",
    const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  BeastRequest req;
  req.method_string(boost::beast::string_view(method.data(), method.size()));
  req.target(boost::beast::string_view(target.data(), target.size()));
  req.version(11);
  req.set(boost::beast::http::field::host, "127.0.0.1");
  for (auto& [k, v] : headers) req.set(k, v);
  if (!body.empty() && req.find(boost::beast::http::field::content_type) == req.end()) {
    req.set(boost::beast::http::field::content_type, "application/json");
  }
  req.body() = std::move(body);
  req.prepare_payload();
  return req;
}

// raw_exchange: connects, writes `bytes`, then reads until the server
// closes or `timeout` passes; returns what the server sent.
inline std::string raw_exchange(unsigned short port, const std::string& bytes,
                                std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket s(ioc);
  s.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  set_timeouts(s.native_handle(), timeout);
  boost::system::error_code ec;
  boost::asio::write(s, boost::asio::buffer(bytes), ec);
  std::string out;
  char buf[4096];
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    const ssize_t n = ::recv(s.native_handle(), buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

// status_of: the status code of a raw HTTP/1.1 response, 0 if none.
inline unsigned status_of(const std::string& raw) {
  if (raw.rfind("HTTP/1.1 ", 0) != 0 || raw.size() < 12) return 0;
  return static_cast<unsigned>(std::stoi(raw.substr(9, 3)));
}

// CurlResult: what curl printed with -i, split.
struct CurlResult {
  int exit_code = -1;
  unsigned status = 0;
  std::string headers;  // the header block, lower-cased names kept as sent
  std::string body;
  std::string header(std::string_view name) const {
    std::string lower_headers = headers, lower(name);
    for (auto& c : lower_headers)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto pos = lower_headers.find("\r\n" + lower + ":");
    if (pos == std::string::npos) return "";
    pos += lower.size() + 3;
    auto end = headers.find("\r\n", pos);
    std::string v = headers.substr(pos, end - pos);
    while (!v.empty() && v.front() == ' ') v.erase(0, 1);
    return v;
  }
};

// curl: runs `curl -s -i --max-time 10 ARGS...` as a child process and
// waits for it.
inline CurlResult curl(const std::vector<std::string>& args) {
  std::vector<std::string> argv_s = {"curl", "-s", "-i", "--max-time", "10"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  int fds[2];
  CurlResult out;
  if (::pipe2(fds, O_CLOEXEC) != 0) return out;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, "curl", &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  std::string text;
  char buf[4096];
  ssize_t n;
  while (rc == 0 && (n = ::read(fds[0], buf, sizeof buf)) > 0)
    text.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  if (rc != 0) return out;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  const auto split = text.find("\r\n\r\n");
  out.headers = text.substr(0, split == std::string::npos ? text.size() : split);
  out.body = split == std::string::npos ? "" : text.substr(split + 4);
  out.status = status_of(text);
  return out;
}

// rss_kb: this process's resident set size.
inline long rss_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

}  // namespace coordkit::http::testing

#endif  // COORDKIT_HTTP_INTERNAL_TEST_CLIENT_H_

// coordkit/cli/gateway_admin.h: coordctl's client for the running gateway's
// admin routes, over the address its status file publishes (HOST:PORT or
// unix:PATH), with the admin token from its runtime directory. HTTP is
// Boost.Beast's client; each call is bounded by a deadline.
//
// Example:
//   coordkit::cli::AdminReply r = coordkit::cli::admin_post(
//       status.record->address, runtime_dir, "/v1/admin/rekey", body, 30s);
//   if (r.status != 200) ...
#ifndef COORDKIT_APPS_CLI_GATEWAY_ADMIN_H_
#define COORDKIT_APPS_CLI_GATEWAY_ADMIN_H_

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <string_view>

#include "coordkit/cli/exit_codes.h"

namespace coordkit::cli {

// kAdminTokenFile: the gateway's admin token, in its runtime directory.
inline constexpr const char* kAdminTokenFile = "gateway.admin-token";

// AdminReply: the status and the parsed JSON body (null when not JSON).
// Its implicit members call nlohmann::json's noexcept move and destructor,
// which clang-tidy follows into an allocation that would end the process.
// NOLINTNEXTLINE(bugprone-exception-escape)
struct AdminReply {
  unsigned status = 0;
  nlohmann::json body;
};

// read_admin_token: the 64 hex digits of `<runtime_dir>/gateway.admin-token`.
// Throws Error{kUnavailable} when it is missing or malformed.
inline std::string read_admin_token(const std::filesystem::path& runtime_dir) {
  const std::filesystem::path path = runtime_dir / kAdminTokenFile;
  std::ifstream in(path);
  std::string token;
  if (!in || !std::getline(in, token)) {
    throw Error(ErrorCode::kUnavailable, "cannot read the gateway's admin token " + path.string());
  }
  bool hex = token.size() == 64;
  for (char c : token) hex = hex && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  if (!hex)
    throw Error(ErrorCode::kUnavailable, "the admin token " + path.string() + " is malformed");
  return token;
}

namespace internal {

// exchange: connect, write, read asynchronously on `ioc` (so the stream's
// expiry bounds every step), then run it to the end. Throws
// beast::system_error.
template <class Stream, class Endpoints>
AdminReply exchange(boost::asio::io_context& ioc, Stream& stream, const Endpoints& endpoints,
                    const std::string& host, std::string_view target, const std::string& token,
                    std::string body) {
  namespace http = boost::beast::http;
  http::request<http::string_body> req{http::verb::post, std::string(target), 11};
  req.set(http::field::host, host);
  req.set(http::field::authorization, "Bearer " + token);
  req.set(http::field::content_type, "application/json");
  req.set(http::field::connection, "close");
  req.body() = std::move(body);
  req.prepare_payload();
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> res;
  boost::beast::error_code failure;
  auto on_read = [&](boost::beast::error_code ec, std::size_t) { failure = ec; };
  auto on_write = [&](boost::beast::error_code ec, std::size_t) {
    if (ec) {
      failure = ec;
      return;
    }
    http::async_read(stream, buffer, res, on_read);
  };
  auto on_connect = [&](boost::beast::error_code ec, auto&&...) {
    if (ec) {
      failure = ec;
      return;
    }
    http::async_write(stream, req, on_write);
  };
  stream.async_connect(endpoints, on_connect);
  ioc.run();
  if (failure) throw boost::beast::system_error(failure);
  AdminReply reply;
  reply.status = res.result_int();
  reply.body = nlohmann::json::parse(res.body(), nullptr, /*allow_exceptions=*/false);
  if (reply.body.is_discarded()) reply.body = nullptr;
  return reply;
}

}  // namespace internal

// admin_post: POST `body` (JSON) to `target` on the gateway at `address`
// with the token from `runtime_dir`, within `timeout`. Throws Error:
// kTimedOut when the gateway does not answer in time, kUnavailable when it
// cannot be reached.
inline AdminReply admin_post(const std::string& address, const std::filesystem::path& runtime_dir,
                             std::string_view target, const nlohmann::json& body,
                             std::chrono::milliseconds timeout) {
  namespace asio = boost::asio;
  namespace beast = boost::beast;
  const std::string token = read_admin_token(runtime_dir);
  std::string payload = body.dump();
  asio::io_context ioc;
  try {
    if (address.rfind("unix:", 0) == 0) {
      beast::basic_stream<asio::local::stream_protocol> stream(ioc);
      stream.expires_after(timeout);
      const asio::local::stream_protocol::endpoint endpoint(address.substr(5));
      return internal::exchange(ioc, stream, endpoint, "localhost", target, token,
                                std::move(payload));
    }
    const std::size_t colon = address.rfind(':');
    if (colon == std::string::npos) {
      throw Error(ErrorCode::kUnavailable,
                  "the gateway's address '" + address + "' is not HOST:PORT");
    }
    std::string host = address.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    asio::ip::tcp::resolver resolver(ioc);
    const auto endpoints = resolver.resolve(
        host, address.substr(colon + 1),
        asio::ip::tcp::resolver::numeric_host | asio::ip::tcp::resolver::numeric_service);
    beast::tcp_stream stream(ioc);
    stream.expires_after(timeout);
    return internal::exchange(ioc, stream, endpoints, address, target, token, std::move(payload));
  } catch (const beast::system_error& e) {
    if (e.code() == beast::error::timeout) {
      throw Error(ErrorCode::kTimedOut, "the gateway at " + address + " did not answer in time");
    }
    throw Error(ErrorCode::kUnavailable,
                "cannot reach the gateway at " + address + ": " + e.code().message());
  }
}

}  // namespace coordkit::cli

#endif  // COORDKIT_APPS_CLI_GATEWAY_ADMIN_H_

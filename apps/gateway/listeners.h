// coordkit/gateway/listeners.h: the bind step: one open, listening Asio
// acceptor per --listen address, and the addresses as clients should use
// them (a TCP port 0 replaced by the port the kernel picked).
//
// A Unix socket path that holds a socket already is a leftover of a gateway
// that died (the caller holds the instance lock, so no live gateway owns
// it): it is removed before binding. Any other file there is refused. The
// socket is made 0600 (umask 077 around bind), so only this user connects.
//
// Example:
//   boost::asio::io_context io;
//   coordkit::gateway::Listeners l = coordkit::gateway::bind_all(io, config.listen_addresses);
//   server.set_address(l.addresses.front());
#ifndef COORDKIT_APPS_GATEWAY_LISTENERS_H_
#define COORDKIT_APPS_GATEWAY_LISTENERS_H_

#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "coordkit/gateway/config.h"
#include "coordkit/gateway/service.h"

namespace coordkit::gateway {

// Listeners: the bound acceptors. `addresses` follows --listen order.
struct Listeners {
  std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> tcp;
  std::vector<std::unique_ptr<boost::asio::local::stream_protocol::acceptor>> unix_sockets;
  std::vector<std::filesystem::path> unix_paths;  // removed by remove_unix_paths()
  std::vector<std::string> addresses;

  // remove_unix_paths: unlinks the socket files (after the acceptors close).
  void remove_unix_paths() noexcept {
    for (const auto& p : unix_paths) ::unlink(p.c_str());
    unix_paths.clear();
  }
};

// bind_all: binds and listens on every address. Throws Error{kInvalidArgument}
// naming the address (with errno) when one cannot be bound; then nothing
// stays bound.
inline Listeners bind_all(boost::asio::io_context& io, const std::vector<ListenAddress>& addrs) {
  namespace asio = boost::asio;
  Listeners out;
  for (const ListenAddress& a : addrs) {
    boost::system::error_code ec;
    if (a.kind == ListenAddress::Kind::kTcp) {
      const auto ip = asio::ip::make_address(a.host, ec);
      if (ec) throw Error(ErrorCode::kInvalidArgument, "not an IP address: " + a.host);
      const asio::ip::tcp::endpoint ep(ip, a.port);
      auto acc = std::make_unique<asio::ip::tcp::acceptor>(io);
      acc->open(ep.protocol(), ec);
      if (!ec) acc->set_option(asio::socket_base::reuse_address(true), ec);
      if (!ec) acc->bind(ep, ec);
      if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
      const std::string where = ip.is_v6() ? "[" + a.host + "]:" + std::to_string(a.port)
                                           : a.host + ":" + std::to_string(a.port);
      if (ec) throw Error(ErrorCode::kInvalidArgument, "cannot listen on " + where, ec.value());
      const auto bound = acc->local_endpoint();
      out.addresses.push_back(ip.is_v6() ? "[" + a.host + "]:" + std::to_string(bound.port())
                                         : a.host + ":" + std::to_string(bound.port()));
      out.tcp.push_back(std::move(acc));
    } else {
      struct stat st {};
      if (::lstat(a.path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
          throw Error(ErrorCode::kInvalidArgument,
                      "cannot listen on unix:" + a.path.string() + ": not a socket");
        }
        ::unlink(a.path.c_str());
      }
      auto acc = std::make_unique<asio::local::stream_protocol::acceptor>(io);
      const asio::local::stream_protocol::endpoint ep(a.path.string());
      acc->open(ep.protocol(), ec);
      if (!ec) {
        const mode_t old = ::umask(077);
        acc->bind(ep, ec);
        ::umask(old);
      }
      if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
      if (ec) {
        throw Error(ErrorCode::kInvalidArgument, "cannot listen on unix:" + a.path.string(),
                    ec.value());
      }
      out.addresses.push_back("unix:" + a.path.string());
      out.unix_paths.push_back(a.path);
      out.unix_sockets.push_back(std::move(acc));
    }
  }
  return out;
}

}  // namespace coordkit::gateway

#endif  // COORDKIT_APPS_GATEWAY_LISTENERS_H_

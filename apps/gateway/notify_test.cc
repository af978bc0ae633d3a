#include "coordkit/gateway/notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

namespace gw = coordkit::gateway;

namespace {

// NotifySocket: a datagram socket standing in for systemd's, in the
// abstract namespace ("@name", which sd_notify understands; a path under
// TEST_TMPDIR can exceed sun_path's 108 bytes), named in NOTIFY_SOCKET
// while it lives.
struct NotifySocket {
  int fd = -1;
  explicit NotifySocket(const std::string& name) {
    fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path + 1, name.data(), name.size());  // sun_path[0] = 0: abstract
    const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0);
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setenv("NOTIFY_SOCKET", ("@" + name).c_str(), 1);
  }
  ~NotifySocket() {
    ::unsetenv("NOTIFY_SOCKET");
    ::close(fd);
  }
  std::string receive() const {
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  }
};

}  // namespace

TEST_CASE("Notifier sends READY, STATUS and STOPPING to NOTIFY_SOCKET", "[gateway]") {
  NotifySocket socket("coordkit-gateway-notify-test-" + std::to_string(::getpid()));
  gw::Notifier notify;
  REQUIRE(notify.enabled());

  notify.status("opening the database");
  CHECK(socket.receive() == "STATUS=opening the database");
  notify.ready("serving on 127.0.0.1:1\nsecond line");
  const std::string ready = socket.receive();
  CHECK(ready.starts_with("READY=1\nSTATUS=serving on 127.0.0.1:1 second line\nMAINPID="));
  notify.stopping("draining");
  CHECK(socket.receive() == "STOPPING=1\nSTATUS=draining");
  CHECK(notify.failures() == 0);
}

TEST_CASE("Notifier does nothing without NOTIFY_SOCKET", "[gateway]") {
  ::unsetenv("NOTIFY_SOCKET");
  gw::Notifier notify;
  CHECK_FALSE(notify.enabled());
  notify.ready("x");
  CHECK(notify.failures() == 0);
}

// coordkit/gateway/notify.h: telling systemd how the gateway is doing.
//
// Under a `Type=notify` unit systemd sets NOTIFY_SOCKET; the gateway then
// sends READY=1 once it serves, STATUS=<text> at each step, and STOPPING=1
// when it drains, through libsystemd's sd_notify. Without NOTIFY_SOCKET every
// call does nothing. The socket variable is kept (not unset), so a restart
// of the same process image would find it too.
//
// Example:
//   coordkit::gateway::Notifier notify;
//   notify.status("opening the database");
//   notify.ready("serving on 127.0.0.1:8470");
//   notify.stopping();
#ifndef COORDKIT_APPS_GATEWAY_NOTIFY_H_
#define COORDKIT_APPS_GATEWAY_NOTIFY_H_

#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <string_view>

namespace coordkit::gateway {

// Notifier: sd_notify with the gateway's messages. Thread-safe (sd_notify
// opens a socket per call). Never throws; a failed send is counted in
// failures() and otherwise ignored (the service keeps running).
class Notifier {
 public:
  Notifier() {
    const char* socket = std::getenv("NOTIFY_SOCKET");  // NOLINT(concurrency-mt-unsafe)
    enabled_ = socket != nullptr && *socket != '\0';
  }

  // enabled: NOTIFY_SOCKET was set when the Notifier was made.
  bool enabled() const noexcept { return enabled_; }
  int failures() const noexcept { return failures_.load(); }

  // status: STATUS=<text> (one line; newlines become spaces).
  void status(std::string_view text) noexcept { send("STATUS=" + one_line(text)); }
  // ready: READY=1 with a STATUS line.
  void ready(std::string_view text) noexcept {
    send("READY=1\nSTATUS=" + one_line(text) + "\nMAINPID=" + std::to_string(::getpid()));
  }
  // stopping: STOPPING=1 with a STATUS line.
  void stopping(std::string_view text) noexcept { send("STOPPING=1\nSTATUS=" + one_line(text)); }

 private:
  static std::string one_line(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
      if (c == '\n' || c == '\r') c = ' ';
    }
    return out;
  }
  void send(const std::string& message) noexcept {
    if (!enabled_) return;
    if (::sd_notify(/*unset_environment=*/0, message.c_str()) <= 0) ++failures_;
  }

  bool enabled_ = false;
  std::atomic<int> failures_{0};
};

}  // namespace coordkit::gateway

#endif  // COORDKIT_APPS_GATEWAY_NOTIFY_H_

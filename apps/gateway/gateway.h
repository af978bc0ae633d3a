// coordkit/gateway/gateway.h: the running gateway after start-up: bound
// listeners, the serving threads, and the one shutdown path.
//
// main() makes the ipc::Server, the log, the Service and then a Gateway;
// bind() is the bind step, serve() publishes `ready` (status file and
// sd_notify), serves until a shutdown request arrives (the shutdown file, a
// signal or the admin route: all end in ipc::Server's one request), then
// drains: stop accepting, answer 503 to what still arrives, let in-flight
// requests finish until the deadline, checkpoint (TRUNCATE), close the
// database. ~ipc::Server then releases the lock.
#ifndef COORDKIT_APPS_GATEWAY_GATEWAY_H_
#define COORDKIT_APPS_GATEWAY_GATEWAY_H_

#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "coordkit/gateway/config.h"
#include "coordkit/gateway/exit_codes.h"
#include "coordkit/gateway/listeners.h"
#include "coordkit/gateway/notify.h"
#include "coordkit/gateway/service.h"
#include "coordkit/ipc/ipc.h"
#include "coordkit/log/log.h"

namespace coordkit::gateway {

// Gateway: used from main's thread; on_shutdown() from any thread.
class Gateway {
 public:
  Gateway(const Config& config, ipc::Server& server, Service& service, log::Logger log,
          Notifier& notify, std::string admin_token)
      : config_(config),
        server_(server),
        service_(service),
        log_(std::move(log)),
        notify_(notify),
        admin_token_(std::move(admin_token)) {}
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // bind: the bind step. Throws Error naming the address that failed.
  void bind() {
    listeners_ = bind_all(io_, config_.listen_addresses);
    std::string all;
    for (const auto& a : listeners_.addresses) all += (all.empty() ? "" : " ") + a;
    server_.set_address(listeners_.addresses.front());
    log_.info("listening", {{"addresses", all}});
  }

  // serve: ready, serve, drain, close. Returns the exit code.
  int serve() {
    boost::asio::posix::stream_descriptor shutdown(
        io_, ::dup(static_cast<int>(server_.shutdown_native_handle())));
    shutdown.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                        [this](const boost::system::error_code&) { begin_drain(); });
    if (server_.set_ready()) {
      notify_.ready("serving on " + listeners_.addresses.front());
      log_.info("ready", {{"address", listeners_.addresses.front()}});
    }
    std::vector<std::thread> threads;
    for (int i = 1; i < config_.threads; ++i) threads.emplace_back([this] { io_.run(); });
    io_.run();
    for (auto& t : threads) t.join();
    return finish();
  }

  // on_shutdown: the ipc watcher's callback (the serving loop notices the
  // request through the shutdown descriptor; this only logs).
  void on_shutdown(const ipc::ShutdownRequest& r) noexcept {
    log_.info("shutdown requested", {{"source", ipc::to_string(r.source)},
                                     {"mode", ipc::to_string(r.mode)},
                                     {"deadline_ms", static_cast<std::int64_t>(r.deadline.count())}});
  }

 private:
  void begin_drain() {
    const auto request = server_.shutdown_request();
    server_.set_draining();
    notify_.stopping("draining");
    log_.info("draining", {{"mode", request ? ipc::to_string(request->mode) : "graceful"}});
    for (auto& a : listeners_.tcp) {
      boost::system::error_code ec;
      a->close(ec);
    }
    for (auto& a : listeners_.unix_sockets) {
      boost::system::error_code ec;
      a->close(ec);
    }
    io_.stop();
  }

  int finish() {
    listeners_.remove_unix_paths();
    try {
      const db::CheckpointResult r = service_.close();
      log_.info("database closed", {{"checkpoint_busy", r.busy},
                                    {"log_frames", r.log_frames},
                                    {"checkpointed_frames", r.checkpointed_frames}});
    } catch (const std::exception& e) {
      log_.error("closing the database failed", {{"error", e.what()}});
      log_.flush();
      return static_cast<int>(ExitCode::kServe);
    }
    log_.info("stopped");
    log_.flush();
    return static_cast<int>(ExitCode::kOk);
  }

  const Config& config_;
  ipc::Server& server_;
  Service& service_;
  log::Logger log_;
  Notifier& notify_;
  std::string admin_token_;
  boost::asio::io_context io_;
  Listeners listeners_;
};

}  // namespace coordkit::gateway

#endif  // COORDKIT_APPS_GATEWAY_GATEWAY_H_

// coordkit/gateway/gateway.h: the running gateway after start-up: the route
// table, the HTTP server, and the one shutdown path.
//
// main() makes the ipc::Server, the log, the Service and then a Gateway;
// bind() is the bind step (the HTTP server binds every --listen address),
// serve() publishes `ready` (status file and sd_notify), serves until a
// shutdown request arrives (the shutdown file, SIGINT/SIGTERM or the admin
// route: all end in ipc::Server's one request), then drains: stop
// accepting, answer 503 to what still arrives, let in-flight requests
// finish until the deadline, checkpoint (TRUNCATE) and close the database.
// ~ipc::Server then releases the lock.
#ifndef COORDKIT_APPS_GATEWAY_GATEWAY_H_
#define COORDKIT_APPS_GATEWAY_GATEWAY_H_

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "coordkit/gateway/config.h"
#include "coordkit/gateway/exit_codes.h"
#include "coordkit/gateway/metrics.h"
#include "coordkit/gateway/notify.h"
#include "coordkit/gateway/routes.h"
#include "coordkit/gateway/service.h"
#include "coordkit/http/http.h"
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
        router_({.title = "coordkit-gateway",
                 .version = kVersion,
                 .description = "JSON records in named collections over one encrypted "
                                "SQLCipher database, with versions as ETags.",
                 .servers = {"http://127.0.0.1:8470"}}) {
    context_.service = &service_;
    context_.metrics = &metrics_;
    context_.phase = [this] { return server_.phase(); };
    context_.request_shutdown = [this](ipc::ShutdownMode mode, std::chrono::milliseconds d) {
      server_.request_shutdown(mode, d);
    };
    context_.metrics_open = config_.metrics_open;
    // Inline reads only when every I/O thread can hold a reader connection
    // with one to spare for the blocking routes' reads (stats, checks).
    context_.inline_reads = config_.inline_reads && config_.readers > config_.threads;
    if (config_.inline_reads && !context_.inline_reads) {
      log_.info("record reads on the blocking threads: --readers is not above --threads",
                {{"readers", config_.readers}, {"threads", config_.threads}});
    }
    context_.log = log_;
    router_.set_logger(log_.with_component("http"));
    add_routes(router_, context_);
    use_wrappers(router_, context_, metrics_, log_.with_component("access"),
                 std::move(admin_token));
  }
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // bind: the bind step. Throws http::Error{kListenFailed} (with errno) or
  // kInvalidArgument naming the address that failed.
  void bind() {
    http_.emplace(router_, http::ServerOptions{
                               .listen = config_.listen,
                               .threads = config_.threads,
                               .blocking_threads = config_.blocking_threads,
                               .blocking_queue = static_cast<std::size_t>(config_.blocking_queue),
                               .body_limit = config_.max_body_bytes,
                               .handler_deadline = config_.request_timeout(),
                               .log = log_.with_component("http"),
                           });
    http_->start();
    for (const ListenAddress& a : config_.listen_addresses) {
      if (a.kind == ListenAddress::Kind::kUnix) {
        context_.addresses.push_back("unix:" + a.path.string());
      } else {
        const std::string host =
            a.host.find(':') != std::string::npos ? "[" + a.host + "]" : a.host;
        context_.addresses.push_back(host + ":" + std::to_string(http_->tcp_port()));
      }
    }
    context_.address = context_.addresses.front();
    server_.set_address(context_.address);
    std::string all;
    for (const auto& a : context_.addresses) all += (all.empty() ? "" : " ") + a;
    log_.info("listening", {{"addresses", all},
                            {"threads", config_.threads},
                            {"blocking_threads", config_.blocking_threads}});
  }

  // serve: ready, serve until asked to stop, drain, close. Returns the exit
  // code.
  int serve() {
    if (server_.set_ready()) {
      notify_.ready("serving on " + context_.address);
      log_.info("ready", {{"address", context_.address}});
    }
    const ipc::ShutdownRequest request = server_.wait_for_shutdown();
    server_.set_draining();
    const std::chrono::milliseconds deadline =
        request.mode == ipc::ShutdownMode::kFast ? std::chrono::milliseconds(0)
        : request.deadline.count() > 0
            ? std::min(request.deadline, std::max(config_.drain_timeout(), request.deadline))
            : config_.drain_timeout();
    notify_.stopping("draining");
    log_.info("draining", {{"source", ipc::to_string(request.source)},
                           {"mode", ipc::to_string(request.mode)},
                           {"deadline_ms", static_cast<std::int64_t>(deadline.count())}});
    const http::DrainResult d = http_->drain(deadline);
    http_->stop();
    log_.info("drained", {{"finished", d.finished},
                          {"cut", d.cut},
                          {"refused", d.refused},
                          {"took_ms", static_cast<std::int64_t>(d.took.count())}});
    return finish();
  }

  // on_shutdown: the ipc watcher's callback; serve() notices the request
  // through wait_for_shutdown(), this only logs.
  void on_shutdown(const ipc::ShutdownRequest& r) noexcept {
    log_.info("shutdown requested",
              {{"source", ipc::to_string(r.source)},
               {"mode", ipc::to_string(r.mode)},
               {"deadline_ms", static_cast<std::int64_t>(r.deadline.count())}});
  }

  const http::Router& router() const noexcept { return router_; }

 private:
  int finish() {
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
  Metrics metrics_;
  Context context_;
  http::Router router_;
  std::optional<http::Server> http_;
};

}  // namespace coordkit::gateway

#endif  // COORDKIT_APPS_GATEWAY_GATEWAY_H_

// Internal: what the POSIX and Windows server cores (server_core.h,
// server_core_windows.h) share: the options, the published status record,
// the accepted shutdown request and the rules that change them (draining is
// final; a later fast request upgrades a graceful one; draining is
// published before anyone is told of a request). Only the platform parts
// differ: how the status file is written and how the watcher and the
// shutdown handle are woken.
//
// A core derives from ServerState<Core> and provides, to this class:
//   void write_status_locked_or_throw(bool sync);  // status_mutex_ is held
//   void announce_shutdown() noexcept;  // signal the shutdown handle, wake
//                                       // the watcher (it stops watching)
#ifndef COORDKIT_IPC_INTERNAL_SERVER_STATE_H_
#define COORDKIT_IPC_INTERNAL_SERVER_STATE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "coordkit/ipc/error.h"
#include "coordkit/ipc/events.h"
#include "coordkit/ipc/shutdown.h"
#include "coordkit/ipc/status.h"

namespace coordkit::ipc::internal {

// CoreOptions: ServerOptions as the core needs them (see server.h).
// use_inotify also turns the directory-change notification off on Windows.
struct CoreOptions {
  std::string app;
  std::optional<std::filesystem::path> runtime_dir;
  std::string version;
  std::string address;
  std::chrono::milliseconds poll_interval{500};
  bool use_inotify = true;
  bool handle_signals = true;
  std::function<void(const ShutdownRequest&)> on_shutdown;
  std::function<void(const Event&)> on_event;
};

// iso8601_now: the current UTC time as 2024-05-01T10:00:00.123Z.
inline std::string iso8601_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
#if defined(_WIN32)
  ::gmtime_s(&tm, &secs);
#else
  ::gmtime_r(&secs, &tm);
#endif
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

inline bool env_forces_polling() {
  const char* v = std::getenv("COORDKIT_IPC_FORCE_POLL");  // NOLINT(concurrency-mt-unsafe)
  return v != nullptr && *v != '\0' && std::string_view(v) != "0";
}

// ServerState: see the top of this file. All public methods are
// thread-safe.
template <class Core>
class ServerState {
 public:
  ServerState(const ServerState&) = delete;
  ServerState& operator=(const ServerState&) = delete;

  Phase phase() const {
    std::lock_guard<std::mutex> guard(status_mutex_);
    return record_.phase().value_or(Phase::kStarting);
  }

  // set_phase: publishes `phase`. Draining is final: once a shutdown was
  // accepted (or draining set), ready is not published again. Returns
  // whether the phase changed.
  bool set_phase(Phase phase) {
    std::lock_guard<std::mutex> guard(status_mutex_);
    const Phase current = record_.phase().value_or(Phase::kStarting);
    if (current == phase) return false;
    if (current == Phase::kDraining) return false;
    record_.set_phase(phase);
    core().write_status_locked_or_throw(/*sync=*/true);
    return true;
  }

  void set_address(std::string address) {
    std::lock_guard<std::mutex> guard(status_mutex_);
    record_.address = std::move(address);
    core().write_status_locked_or_throw(/*sync=*/true);
  }

  std::optional<ShutdownRequest> request() const {
    std::lock_guard<std::mutex> guard(request_mutex_);
    return request_;
  }

  std::optional<ShutdownRequest> wait(std::optional<std::chrono::milliseconds> timeout) {
    std::unique_lock<std::mutex> guard(request_mutex_);
    if (timeout) {
      request_cv_.wait_for(guard, *timeout, [&] { return request_.has_value(); });
    } else {
      request_cv_.wait(guard, [&] { return request_.has_value(); });
    }
    return request_;
  }

  // accept: records a request (the first one; a later fast one upgrades a
  // graceful one), publishes draining, then wakes waiters and calls
  // on_shutdown: whoever sees the request also sees draining published.
  // Lock order: request_mutex_, then status_mutex_.
  void accept(const ShutdownRequest& incoming) {
    std::optional<ShutdownRequest> changed;
    std::optional<std::string> status_error;
    {
      std::lock_guard<std::mutex> guard(request_mutex_);
      ShutdownRequest next = incoming;
      if (request_) {
        if (incoming.mode != ShutdownMode::kFast || request_->mode == ShutdownMode::kFast) return;
        next = *request_;
        next.mode = ShutdownMode::kFast;
        next.source = incoming.source;
        if (incoming.deadline.count() > 0 &&
            (next.deadline.count() == 0 || incoming.deadline < next.deadline)) {
          next.deadline = incoming.deadline;
        }
      }
      if (!lost_.load()) {
        try {
          std::lock_guard<std::mutex> status_guard(status_mutex_);
          if (record_.phase() != Phase::kDraining) {
            record_.set_phase(Phase::kDraining);
            core().write_status_locked_or_throw(/*sync=*/false);
          }
        } catch (const Error& e) {
          status_error = e.what();
        }
      }
      request_ = next;
      changed = next;
    }
    request_cv_.notify_all();
    core().announce_shutdown();
    if (status_error) report(EventKind::kStatusWriteFailed, std::nullopt, *status_error);
    report(EventKind::kShutdownAccepted, std::nullopt,
           "source=" + std::string(to_string(changed->source)) +
               " mode=" + std::string(to_string(changed->mode)) +
               " deadline_ms=" + std::to_string(changed->deadline.count()));
    if (options_.on_shutdown) {
      try {
        options_.on_shutdown(*changed);
      } catch (...) {
        // A throwing callback must not kill the watcher (or the process).
      }
    }
  }

 protected:
  explicit ServerState(CoreOptions options) : options_(std::move(options)) {}
  ~ServerState() = default;

  void report(EventKind kind, std::optional<RejectReason> reason, std::string detail) {
    if (!options_.on_event) return;
    try {
      options_.on_event(Event{.kind = kind,
                              .severity = severity_of(kind),
                              .reason = reason,
                              .detail = std::move(detail)});
    } catch (...) {
      // The hook is for logging; its failure changes nothing here.
    }
  }

  CoreOptions options_;

  mutable std::mutex status_mutex_;
  StatusRecord record_;
  bool status_written_ = false;

  mutable std::mutex request_mutex_;
  std::condition_variable request_cv_;
  std::optional<ShutdownRequest> request_;

  std::atomic<bool> lost_{false};

 private:
  Core& core() { return static_cast<Core&>(*this); }
};

}  // namespace coordkit::ipc::internal

#endif  // COORDKIT_IPC_INTERNAL_SERVER_STATE_H_

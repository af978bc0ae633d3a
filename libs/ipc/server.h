// coordkit/ipc/server.h: the one object a server creates first thing.
//
// Constructing a Server resolves and checks the runtime directory, takes the
// instance lock (or throws Error{kAlreadyRunning} without touching the
// running server's files), arms the shutdown watcher, publishes `starting`,
// and looks once for a shutdown file. From then on a shutdown can arrive
// from a shutdown file, SIGINT/SIGTERM, a lost runtime directory or
// request_shutdown(); all of them end in the same ShutdownRequest, which the
// server reads in whichever way suits its main loop:
//   - wait_for_shutdown(timeout): a blocking wait (a simple main thread);
//   - shutdown_handle_dup(): a descriptor of the caller's own that becomes
//     readable once a shutdown is requested and stays readable. An Asio
//     server hands it to a posix::stream_descriptor (which closes it when
//     destroyed: that is why it is a duplicate) and async_wait(wait_read)s;
//     never read it. Windows: a HANDLE of the caller's own to an event that
//     is signalled then, for a windows::object_handle;
//   - ServerOptions::on_shutdown: a callback on the watcher thread (post to
//     your io_context from it).
// Destruction stops the watcher, restores signal dispositions, removes the
// status file and releases the lock, in that order.
//
// Runtime directory removed under a running server (or its lock file
// removed or replaced): the server shuts down gracefully
// (ShutdownSource::kRuntimeDirLost) rather than recreating the directory.
// Once the lock file's name is gone, our lock is on an unlinked inode and no
// longer excludes a second server: one that starts now creates a new lock
// file and succeeds. Recreating the directory would leave two servers each
// sure it is the only one, and clients could reach only the newer; stopping
// restores "one lock, one server". An XDG runtime dir also disappears at
// logout, when a per-user server is meant to end. Noticed through inotify
// (IN_DELETE_SELF / IN_MOVE_SELF / IN_IGNORED, or the lock file's
// IN_DELETE / IN_MOVED_FROM) and by the poll (the held directory's link
// count is 0, its path names another inode, or the lock name another file).
// The status file is then left alone: it may belong to the next server.
//
// Example:
//   coordkit::ipc::Server server({.app = "gateway", .version = "1.0"});
//   // ... start-up work; abort early if server.shutdown_request() is set ...
//   server.set_ready();
//   coordkit::ipc::ShutdownRequest request = server.wait_for_shutdown();
//   // ... drain in-flight work (request.mode, request.deadline) ...
//   // ~Server removes the status file and releases the lock.
#ifndef COORDKIT_IPC_SERVER_H_
#define COORDKIT_IPC_SERVER_H_

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "coordkit/ipc/error.h"
#include "coordkit/ipc/events.h"
#include "coordkit/ipc/runtime_dir.h"
#include "coordkit/ipc/shutdown.h"
#include "coordkit/ipc/status.h"

#if defined(_WIN32)
#include "coordkit/ipc/internal/server_core_windows.h"
#else
#include <fcntl.h>

#include "coordkit/base/unique_fd.h"
#include "coordkit/ipc/internal/posix.h"
#include "coordkit/ipc/internal/server_core.h"
#endif

namespace coordkit::ipc {

#if defined(_WIN32)
// UniqueHandle (Windows): owns one HANDLE and closes it on destruction;
// move-only. release() hands it over (to an Asio windows::object_handle).
using UniqueHandle = internal::Handle;
#endif

// kDefaultPollInterval: the safety-net poll of the shutdown file, the runtime
// dir and the lock file. Chosen so the poll costs nothing measurable (a few
// stat() calls, ~1.3 us each, twice a second) while a server on a file
// system without inotify still stops within half a second (a quarter on
// average). With inotify the request is seen in well under a millisecond.
inline constexpr std::chrono::milliseconds kDefaultPollInterval{500};

// kEnvForcePoll: set to a non-empty value other than "0" to turn inotify off
// (as ServerOptions::use_inotify = false does); for tests and for file
// systems where inotify is known not to work.
inline constexpr const char* kEnvForcePoll = "COORDKIT_IPC_FORCE_POLL";

// ServerOptions: how a Server is set up. Only `app` is required. Every
// member has a default initializer, so designated initializers naming only
// some members compile cleanly under -Wextra (-Wmissing-field-initializers).
struct ServerOptions {
  std::string app{};  // see is_valid_app_name
  // runtime_dir: an explicit directory (a --runtime-dir flag); otherwise the
  // rules in runtime_dir.h.
  std::optional<std::filesystem::path> runtime_dir{};
  std::string version{};  // published in the status file
  std::string address{};  // published; may be set later with set_address
  std::chrono::milliseconds poll_interval = kDefaultPollInterval;
  // use_inotify: false: the poll alone (also COORDKIT_IPC_FORCE_POLL). On
  // Windows it switches ReadDirectoryChangesW the same way.
  bool use_inotify = true;
  // handle_signals: SIGINT/SIGTERM (Windows: Ctrl+C, Ctrl+Break and console
  // close, through SetConsoleCtrlHandler) request a graceful shutdown.
  bool handle_signals = true;
  // on_shutdown: called when a request is accepted and again if it is
  // upgraded to fast; from the watcher thread (or the thread calling
  // request_shutdown). Keep it short and thread-safe; never destroy the
  // Server from it. Exceptions it throws are swallowed.
  std::function<void(const ShutdownRequest&)> on_shutdown{};
  // on_event: diagnostics to log (rejected shutdown files, a lost runtime
  // dir, inotify unavailable). Same threads and rules as on_shutdown; also
  // called from the constructor (e.g. a stale file found at start-up).
  std::function<void(const Event&)> on_event{};
};

// Server: the server side of the runtime directory. Not copyable or
// movable (the watcher thread refers to it); hold it in a std::optional or
// std::unique_ptr if it must be created later. All methods are thread-safe.
class Server {
 public:
  // Server: see the header comment. Throws Error{kAlreadyRunning} when
  // another process (or another Server in this process) holds the lock;
  // Error{kRuntimeDirIsSymlink, kRuntimeDirNotOwned, kRuntimeDirTooOpen,
  // kRuntimeDirNotDirectory} for an unsafe directory; Error{kInvalidArgument}
  // for a bad app name or poll interval, or when handle_signals is set and
  // another Server in this process already handles signals;
  // Error{kNoRuntimeDir}, Error{kSystem}.
  explicit Server(ServerOptions options) {
    internal::CoreOptions core;
    core.app = std::move(options.app);
    core.runtime_dir = std::move(options.runtime_dir);
    core.version = std::move(options.version);
    core.address = std::move(options.address);
    core.poll_interval = options.poll_interval;
    core.use_inotify = options.use_inotify;
    core.handle_signals = options.handle_signals;
    core.on_shutdown = std::move(options.on_shutdown);
    core.on_event = std::move(options.on_event);
    core_ = std::make_unique<internal::ServerCore>(std::move(core));
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  Server(Server&&) = delete;
  Server& operator=(Server&&) = delete;
  // ~Server: never throws; see the header comment for the order.
  ~Server() = default;

  // runtime_dir: the directory in use (absolute).
  const std::filesystem::path& runtime_dir() const noexcept { return core_->runtime_dir(); }
  // instance_token: this instance's secret (also in the 0600 status file).
  const std::string& instance_token() const noexcept { return core_->token(); }
  // using_inotify: false when watching is the poll alone (Windows: whether
  // ReadDirectoryChangesW is armed).
  bool using_inotify() const noexcept { return core_->using_inotify(); }

  // phase: what the status file says now.
  Phase phase() const { return core_->phase(); }
  // set_ready: publishes `ready`. Returns false (and publishes nothing) once
  // draining: a server asked to stop during start-up never claims ready.
  // Throws Error{kSystem} if the status file cannot be written.
  bool set_ready() { return core_->set_phase(Phase::kReady); }
  // set_draining: publishes `draining` (done already when a request was
  // accepted). Returns whether the phase changed. Throws Error{kSystem}.
  bool set_draining() { return core_->set_phase(Phase::kDraining); }
  // set_address: publishes the address clients should use (e.g. once bound
  // to port 0). Throws Error{kSystem}.
  void set_address(std::string address) { core_->set_address(std::move(address)); }

  // shutdown_request: the accepted request, or nullopt. Never blocks.
  std::optional<ShutdownRequest> shutdown_request() const { return core_->request(); }
  // wait_for_shutdown: blocks until a request is accepted or `timeout`
  // passes; returns the request or nullopt.
  std::optional<ShutdownRequest> wait_for_shutdown(std::chrono::milliseconds timeout) {
    return core_->wait(timeout);
  }
  // wait_for_shutdown: blocks until a request is accepted.
  ShutdownRequest wait_for_shutdown() { return *core_->wait(std::nullopt); }
  // request_shutdown: the server asks itself (an admin endpoint, a fatal
  // error): same path as a shutdown file.
  void request_shutdown(ShutdownMode mode = ShutdownMode::kGraceful,
                        std::chrono::milliseconds deadline = std::chrono::milliseconds(0)) {
    core_->accept({mode, deadline, ShutdownSource::kProgrammatic});
  }
  // shutdown_native_handle: a descriptor (POSIX) that is readable once a
  // shutdown was requested and stays so, for poll()/select()/epoll. Owned
  // by the Server: never read, write or close it, and never give it to an
  // object that closes it (an Asio posix::stream_descriptor does on
  // destruction: use shutdown_handle_dup() for those); valid for the
  // Server's lifetime. Windows: a manual-reset event HANDLE, signalled once
  // a shutdown was requested, for WaitForMultipleObjects (or an Asio
  // windows::object_handle given a DuplicateHandle of it); never close it.
#if defined(_WIN32)
  std::intptr_t shutdown_native_handle() const noexcept {
    return reinterpret_cast<std::intptr_t>(core_->notify_handle());
  }
#else
  std::intptr_t shutdown_native_handle() const noexcept { return core_->notify_fd(); }
#endif

#if defined(_WIN32)
  // shutdown_handle_dup: a new HANDLE to the same event as
  // shutdown_native_handle(), owned by the caller, who may close it (or let
  // an Asio windows::object_handle close it) at any time. It carries
  // SYNCHRONIZE only: it can be waited on, never set or reset, so no holder
  // can fake or hide a shutdown. Not inheritable. Once the Server is
  // destroyed the event is signalled whether or not a shutdown was
  // requested, so no waiter outlives its Server unwoken. Throws
  // Error{kSystem} (os_error() from DuplicateHandle) when no handle can be
  // made.
  //
  // Example:
  //   boost::asio::windows::object_handle shutdown(io, server.shutdown_handle_dup().release());
  //   shutdown.async_wait([&](boost::system::error_code) { begin_drain(); });
  UniqueHandle shutdown_handle_dup() const {
    HANDLE copy = nullptr;
    if (!::DuplicateHandle(::GetCurrentProcess(), core_->notify_handle(), ::GetCurrentProcess(),
                           &copy, SYNCHRONIZE, FALSE, 0)) {
      internal::throw_win32("DuplicateHandle of the shutdown handle");
    }
    return UniqueHandle(copy);
  }
#else
  // shutdown_handle_dup: a new descriptor (close-on-exec) for the same
  // readiness as shutdown_native_handle(), owned by the caller, who may
  // close it (or let an Asio object close it) at any time. Never read from
  // it: the byte that makes it readable is shared with the Server's own.
  // Once the Server is destroyed it reports a hang-up (POLLHUP), which also
  // completes an Asio wait_read, so no waiter outlives its Server unwoken.
  // Throws Error{kSystem} (os_error() EMFILE) when this process has no
  // descriptor left.
  //
  // Example:
  //   boost::asio::posix::stream_descriptor shutdown(io, server.shutdown_handle_dup().release());
  //   shutdown.async_wait(boost::asio::posix::stream_descriptor::wait_read,
  //                       [&](boost::system::error_code) { begin_drain(); });
  coordkit::UniqueFd shutdown_handle_dup() const {
    coordkit::UniqueFd fd(::fcntl(core_->notify_fd(), F_DUPFD_CLOEXEC, 3));
    if (!fd) internal::throw_errno("dup of the shutdown handle");
    return fd;
  }
#endif

 private:
  std::unique_ptr<internal::ServerCore> core_;
};

}  // namespace coordkit::ipc

#endif  // COORDKIT_IPC_SERVER_H_

// coordkit/ipc/events.h: what a Server reports about its shutdown channel.
//
// The library never prints. What a server operator may want to see arrives
// as Events through ServerOptions::on_event, each with a severity: routine
// events (a shutdown request accepted) are kInfo; problems are kWarn (a
// refused shutdown file, inotify unavailable: the server carries on) or
// kError (the runtime dir lost, the status file unwritable, an OS error in
// the watcher). The server logs them at that level.
//
// Example:
//   options.on_event = [&](const coordkit::ipc::Event& e) {
//     if (e.severity == coordkit::ipc::EventSeverity::kInfo) {
//       logger.info("ipc event", {{"event", coordkit::ipc::to_string(e.kind)}});
//     } else {
//       logger.warn("ipc problem", {{"event", coordkit::ipc::to_string(e.kind)},
//                                   {"detail", e.detail}});
//     }
//   };
#ifndef COORDKIT_IPC_EVENTS_H_
#define COORDKIT_IPC_EVENTS_H_

#include <optional>
#include <string>
#include <string_view>

namespace coordkit::ipc {

// EventKind: what happened.
enum class EventKind {
  kShutdownAccepted,      // a shutdown request was accepted (detail: source and mode)
  kShutdownFileRejected,  // a shutdown file was refused and removed (see reason)
  kRuntimeDirLost,        // the runtime dir or lock file was removed or replaced
  kInotifyUnavailable,    // watching falls back to polling alone (detail: why)
  kStatusWriteFailed,     // the status file could not be updated (detail: why)
  kWatcherError,          // an unexpected OS error in the watcher (it keeps going)
};

constexpr std::string_view to_string(EventKind kind) noexcept {
  switch (kind) {
    case EventKind::kShutdownAccepted:
      return "shutdown_accepted";
    case EventKind::kShutdownFileRejected:
      return "shutdown_file_rejected";
    case EventKind::kRuntimeDirLost:
      return "runtime_dir_lost";
    case EventKind::kInotifyUnavailable:
      return "inotify_unavailable";
    case EventKind::kStatusWriteFailed:
      return "status_write_failed";
    case EventKind::kWatcherError:
      return "watcher_error";
  }
  return "unknown";
}

// EventSeverity: how much an event matters to an operator.
enum class EventSeverity {
  kInfo,   // routine: the server works as intended (a shutdown accepted)
  kWarn,   // a problem the server works around (a refused file, polling alone)
  kError,  // a problem that costs something: the server stops or cannot
           // publish its state, or the watcher hit an OS error
};

// to_string: "info", "warn", "error" (the names of coordkit::log's levels).
constexpr std::string_view to_string(EventSeverity severity) noexcept {
  switch (severity) {
    case EventSeverity::kInfo:
      return "info";
    case EventSeverity::kWarn:
      return "warn";
    case EventSeverity::kError:
      return "error";
  }
  return "error";
}

// severity_of: the severity every event of `kind` carries.
constexpr EventSeverity severity_of(EventKind kind) noexcept {
  switch (kind) {
    case EventKind::kShutdownAccepted:
      return EventSeverity::kInfo;
    case EventKind::kShutdownFileRejected:
    case EventKind::kInotifyUnavailable:
      return EventSeverity::kWarn;
    case EventKind::kRuntimeDirLost:
    case EventKind::kStatusWriteFailed:
    case EventKind::kWatcherError:
      return EventSeverity::kError;
  }
  return EventSeverity::kError;
}

// RejectReason: why a shutdown file was refused.
enum class RejectReason {
  kWrongToken,      // well-formed, but not this instance's token (stale or forged)
  kMalformed,       // not a complete request (empty, partial, not JSON, bad mode)
  kTooLarge,        // larger than kMaxShutdownFileSize
  kSymlink,         // a symbolic link
  kNotRegularFile,  // a directory, FIFO, socket, device
  kNotOwned,        // owned by another user
  kHardLinked,      // a regular file with more than one name
};

constexpr std::string_view to_string(RejectReason reason) noexcept {
  switch (reason) {
    case RejectReason::kWrongToken:
      return "wrong_token";
    case RejectReason::kMalformed:
      return "malformed";
    case RejectReason::kTooLarge:
      return "too_large";
    case RejectReason::kSymlink:
      return "symlink";
    case RejectReason::kNotRegularFile:
      return "not_regular_file";
    case RejectReason::kNotOwned:
      return "not_owned";
    case RejectReason::kHardLinked:
      return "hard_linked";
  }
  return "unknown";
}

// Event: one report. `severity` is severity_of(kind). `detail` is plain
// text for a log line (file names, errno text); it may contain any bytes a
// file name can, so log it through an ASCII-safe sink.
struct Event {
  EventKind kind = EventKind::kWatcherError;
  EventSeverity severity = EventSeverity::kError;
  std::optional<RejectReason> reason{};  // set for kShutdownFileRejected
  std::string detail{};
};

}  // namespace coordkit::ipc

#endif  // COORDKIT_IPC_EVENTS_H_

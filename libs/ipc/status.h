// coordkit/ipc/status.h: the status file a server publishes in its runtime
// directory, and the states a client reads from it.
//
// The file `<app>.status` is one JSON object, replaced atomically (temp file,
// fsync, rename, fsync of the directory), mode 0600:
//   {"app":"gateway","pid":4242,"start_time":123456,"boot_id":"...",
//    "token":"<32 hex>","state":"ready","address":"127.0.0.1:8080",
//    "version":"1.0","started_at":"2024-05-01T10:00:00.123Z"}
// The token is the secret a shutdown request must carry: only the owner can
// read this file, so only the owner can stop the server through a file.
// Readers tolerate a missing, empty, partial, old or newer (extra fields)
// file: parse_status() returns nullopt rather than throwing.
//
// Example:
//   coordkit::ipc::StatusRecord record;
//   record.pid = 4242;
//   record.set_phase(coordkit::ipc::Phase::kReady);
//   std::string json = coordkit::ipc::format_status(record);
//   std::optional<coordkit::ipc::StatusRecord> back = coordkit::ipc::parse_status(json);
#ifndef COORDKIT_IPC_STATUS_H_
#define COORDKIT_IPC_STATUS_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace coordkit::ipc {

// Phase: what a running server publishes about itself.
enum class Phase { kStarting, kReady, kDraining };

// to_string: "starting", "ready", "draining" (the words in the file).
constexpr std::string_view to_string(Phase phase) noexcept {
  switch (phase) {
    case Phase::kStarting:
      return "starting";
    case Phase::kReady:
      return "ready";
    case Phase::kDraining:
      return "draining";
  }
  return "starting";
}

// ServerState: what a client concludes from the lock and the status file.
enum class ServerState {
  kStopped,       // no server holds the lock and no status file is left
  kStale,         // no server holds the lock but a status file remains (a killed
                  // server, a garbage file, or one naming a process that is not
                  // the server): not running
  kStarting,      // a server holds the lock and says starting, or has not yet
                  // published a status that names it (missing/partial/old file)
  kReady,         // a verified server says ready
  kDraining,      // a verified server is shutting down
  kUnknownState,  // a verified server holds the lock but its state word is
                  // one this version does not know (a newer server); it
                  // runs, but whether it is ready cannot be told
};

// to_string: "stopped", "stale", "starting", "ready", "draining",
// "unknown_state".
constexpr std::string_view to_string(ServerState state) noexcept {
  switch (state) {
    case ServerState::kStopped:
      return "stopped";
    case ServerState::kStale:
      return "stale";
    case ServerState::kStarting:
      return "starting";
    case ServerState::kReady:
      return "ready";
    case ServerState::kDraining:
      return "draining";
    case ServerState::kUnknownState:
      return "unknown_state";
  }
  return "stopped";
}

// is_running: true for every state in which a server holds the lock
// (starting, ready, draining, unknown_state): a server process runs,
// whatever it says about itself. Only kReady means it serves.
constexpr bool is_running(ServerState state) noexcept {
  return state == ServerState::kStarting || state == ServerState::kReady ||
         state == ServerState::kDraining || state == ServerState::kUnknownState;
}

// StatusRecord: the content of a status file.
struct StatusRecord {
  std::string app{};
  std::int64_t pid = 0;
  std::uint64_t start_time = 0;         // Linux: /proc/<pid>/stat field 22 (clock ticks since boot)
  std::string boot_id{};                // Linux: /proc/sys/kernel/random/boot_id
  std::string token{};                  // random instance token, 32 lower-case hex digits
  std::string state_word = "starting";  // as written; see phase()
  std::string address{};
  std::string version{};
  std::string started_at{};  // ISO 8601 UTC, millisecond precision

  // phase: the state word as a Phase; nullopt for a word this version does
  // not know (written by a newer server).
  std::optional<Phase> phase() const noexcept {
    if (state_word == "starting") return Phase::kStarting;
    if (state_word == "ready") return Phase::kReady;
    if (state_word == "draining") return Phase::kDraining;
    return std::nullopt;
  }
  void set_phase(Phase p) { state_word = std::string(to_string(p)); }
};

// kMaxStatusFileSize: readers ignore anything beyond this many bytes (a
// status file is a few hundred bytes; a huge one is garbage).
inline constexpr std::size_t kMaxStatusFileSize = std::size_t{64} * 1024;

// format_status: the JSON text of `record` (one line, trailing newline).
// Never throws for any record (strings are escaped; invalid UTF-8 is
// replaced).
inline std::string format_status(const StatusRecord& record) {
  nlohmann::json j = {
      {"app", record.app},         {"pid", record.pid},         {"start_time", record.start_time},
      {"boot_id", record.boot_id}, {"token", record.token},     {"state", record.state_word},
      {"address", record.address}, {"version", record.version}, {"started_at", record.started_at},
  };
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

// parse_status: the record in `text`, or nullopt when text is not a complete
// status object (empty, partial, not JSON, wrong types, a missing pid, token
// or state). Unknown fields are ignored. Never throws.
inline std::optional<StatusRecord> parse_status(std::string_view text) noexcept {
  try {
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) return std::nullopt;
    StatusRecord r;
    const auto pid = j.find("pid");
    const auto token = j.find("token");
    const auto state = j.find("state");
    if (pid == j.end() || !pid->is_number_integer()) return std::nullopt;
    if (token == j.end() || !token->is_string()) return std::nullopt;
    if (state == j.end() || !state->is_string()) return std::nullopt;
    r.pid = pid->get<std::int64_t>();
    if (r.pid <= 0) return std::nullopt;
    r.token = token->get<std::string>();
    r.state_word = state->get<std::string>();
    auto str = [&](const char* key, std::string& out) {
      const auto it = j.find(key);
      if (it != j.end() && it->is_string()) out = it->get<std::string>();
    };
    str("app", r.app);
    str("boot_id", r.boot_id);
    str("address", r.address);
    str("version", r.version);
    str("started_at", r.started_at);
    const auto st = j.find("start_time");
    if (st != j.end() && st->is_number_unsigned()) r.start_time = st->get<std::uint64_t>();
    return r;
  } catch (...) {
    return std::nullopt;
  }
}

}  // namespace coordkit::ipc

#endif  // COORDKIT_IPC_STATUS_H_

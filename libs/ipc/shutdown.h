// coordkit/ipc/shutdown.h: the shutdown request, as a file and as an event.
//
// A client asks a server to stop by publishing `<app>.shutdown` in the
// server's runtime directory (temp file + rename, so the server never reads
// half a file), mode 0600:
//   {"token":"<the token from the status file>","mode":"graceful","deadline_ms":10000}
// mode "graceful" finishes in-flight work; "fast" abandons it. deadline_ms is
// how long the requester will wait before it escalates to signals; a server
// may use it to bound its drain. The same ShutdownRequest also describes a
// SIGINT/SIGTERM, a lost runtime directory or a programmatic request, so a
// server has one shutdown path.
//
// Example:
//   std::string text = coordkit::ipc::format_shutdown_file(
//       {.token = token, .mode = coordkit::ipc::ShutdownMode::kGraceful,
//        .deadline = std::chrono::seconds(10)});
#ifndef COORDKIT_IPC_SHUTDOWN_H_
#define COORDKIT_IPC_SHUTDOWN_H_

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace coordkit::ipc {

// ShutdownMode: finish in-flight work (graceful) or abandon it (fast).
enum class ShutdownMode { kGraceful, kFast };

constexpr std::string_view to_string(ShutdownMode mode) noexcept {
  return mode == ShutdownMode::kFast ? "fast" : "graceful";
}

// ShutdownSource: what asked for the shutdown.
enum class ShutdownSource {
  kFile,            // a valid <app>.shutdown file
  kSignal,          // SIGINT or SIGTERM (a second one upgrades to fast)
  kRuntimeDirLost,  // the runtime directory or the lock file was removed
  kProgrammatic,    // Server::request_shutdown (e.g. an admin API)
};

constexpr std::string_view to_string(ShutdownSource source) noexcept {
  switch (source) {
    case ShutdownSource::kFile:
      return "file";
    case ShutdownSource::kSignal:
      return "signal";
    case ShutdownSource::kRuntimeDirLost:
      return "runtime_dir_lost";
    case ShutdownSource::kProgrammatic:
      return "programmatic";
  }
  return "file";
}

// ShutdownRequest: a shutdown a server has been asked for.
struct ShutdownRequest {
  ShutdownMode mode = ShutdownMode::kGraceful;
  // deadline: how long the requester waits before escalating; zero when the
  // source gave none (signals, a lost directory).
  std::chrono::milliseconds deadline{0};
  ShutdownSource source = ShutdownSource::kFile;
};

// ShutdownFile: the content of a shutdown request file.
struct ShutdownFile {
  std::string token{};
  ShutdownMode mode = ShutdownMode::kGraceful;
  std::chrono::milliseconds deadline{0};
};

// kMaxShutdownFileSize: a request is far smaller; larger files are rejected.
inline constexpr std::size_t kMaxShutdownFileSize = 4096;

// format_shutdown_file: the JSON text of a request. Never throws for valid
// (ASCII hex) tokens.
inline std::string format_shutdown_file(const ShutdownFile& file) {
  nlohmann::json j = {
      {"token", file.token},
      {"mode", std::string(to_string(file.mode))},
      {"deadline_ms", file.deadline.count()},
  };
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

// parse_shutdown_file: the request in `text`, or nullopt when it is not a
// complete request (not JSON, no string token, a mode other than "graceful"
// or "fast", a negative or non-integer deadline). A missing deadline_ms is
// zero. Never throws.
inline std::optional<ShutdownFile> parse_shutdown_file(std::string_view text) noexcept {
  try {
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) return std::nullopt;
    const auto token = j.find("token");
    const auto mode = j.find("mode");
    if (token == j.end() || !token->is_string()) return std::nullopt;
    if (mode == j.end() || !mode->is_string()) return std::nullopt;
    ShutdownFile out;
    out.token = token->get<std::string>();
    const std::string m = mode->get<std::string>();
    if (m == "graceful") {
      out.mode = ShutdownMode::kGraceful;
    } else if (m == "fast") {
      out.mode = ShutdownMode::kFast;
    } else {
      return std::nullopt;
    }
    const auto deadline = j.find("deadline_ms");
    if (deadline != j.end()) {
      if (!deadline->is_number_integer()) return std::nullopt;
      const auto ms = deadline->get<std::int64_t>();
      if (ms < 0) return std::nullopt;
      out.deadline = std::chrono::milliseconds(ms);
    }
    return out;
  } catch (...) {
    return std::nullopt;
  }
}

}  // namespace coordkit::ipc

#endif  // COORDKIT_IPC_SHUTDOWN_H_

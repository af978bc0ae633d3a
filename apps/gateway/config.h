// coordkit/gateway/config.h: coordkit-gateway's settings, from flags, a TOML
// config file and defaults, in that order of precedence.
//
// One CLI11 app reads both: `--config FILE` names a TOML file whose keys are
// the long flag names without dashes (`listen = ["127.0.0.1:8470"]`,
// `data-dir = "/var/lib/gateway"`, `synchronous = "full"`); a flag given on
// the command line wins over the file, the file over the defaults below.
// There is no flag for the key: it comes from --key-file or the environment
// (coordkit/apps/key_source.h), never from argv.
//
// Example:
//   coordkit::gateway::Config config;
//   CLI::App app{"coordkit-gateway"};
//   coordkit::gateway::setup_cli(app, config);
//   CLI11_PARSE(app, argc, argv);
//   coordkit::gateway::finish_config(config);  // resolves defaults, validates
#ifndef COORDKIT_APPS_GATEWAY_CONFIG_H_
#define COORDKIT_APPS_GATEWAY_CONFIG_H_

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace coordkit::gateway {

// kVersion: published in the status file, /v1/status and the OpenAPI document.
inline constexpr const char* kVersion = "0.1.0";
// kAppName: the ipc app name (runtime dir, lock, status and shutdown files).
inline constexpr const char* kAppName = "gateway";
inline constexpr const char* kDefaultListen = "127.0.0.1:8470";

// ListenAddress: one place to listen: TCP (host:port, port 0 picks one) or a
// Unix-domain socket (unix:PATH).
struct ListenAddress {
  enum class Kind { kTcp, kUnix };
  Kind kind = Kind::kTcp;
  std::string host;  // kTcp: a literal IPv4 or IPv6 address
  std::uint16_t port = 0;
  std::filesystem::path path;  // kUnix
  friend bool operator==(const ListenAddress&, const ListenAddress&) = default;
};

// parse_listen: "127.0.0.1:8470", "[::1]:0" or "unix:/run/user/1000/gw.sock".
// Throws std::invalid_argument naming what is wrong.
inline ListenAddress parse_listen(std::string_view text) {
  ListenAddress out;
  if (text.starts_with("unix:")) {
    out.kind = ListenAddress::Kind::kUnix;
    out.path = std::string(text.substr(5));
    if (out.path.empty()) throw std::invalid_argument("unix: needs a socket path");
    // sockaddr_un::sun_path holds 108 bytes with the terminator.
    if (out.path.native().size() > 107) throw std::invalid_argument("unix socket path too long");
    return out;
  }
  std::string_view host;
  std::string_view port;
  if (text.starts_with("[")) {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      throw std::invalid_argument("expected [v6-address]:port");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos)
      throw std::invalid_argument("expected host:port or unix:PATH");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty()) throw std::invalid_argument("empty host");
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string_view::npos) {
    throw std::invalid_argument("port must be 0-65535");
  }
  const unsigned long p = std::stoul(std::string(port));
  if (p > 65535) throw std::invalid_argument("port must be 0-65535");
  out.host = std::string(host);
  out.port = static_cast<std::uint16_t>(p);
  return out;
}

// Config: every setting. Plain value.
struct Config {
  std::vector<std::string> listen;  // empty: kDefaultListen
  std::filesystem::path data_dir;   // empty: the default data dir
  std::filesystem::path database;   // empty: <data_dir>/gateway.db
  std::optional<std::filesystem::path> runtime_dir;
  std::optional<std::filesystem::path> key_file;
  std::string synchronous = "normal";  // normal | full
  int threads = 2;                     // HTTP threads
  // Threads for the routes that touch the database (blocking routes), and
  // how many such requests may wait for one (then 503 + Retry-After). As
  // many threads as concurrent writes let group commit batch them.
  int blocking_threads = 64;
  int blocking_queue = 1024;
  int readers = 4;                     // database reader connections
  std::string log_level = "info";      // trace debug info warn error (file and console)
  std::string console_level = "warn";  // what reaches stderr
  std::uint64_t log_max_bytes = std::uint64_t{16} << 20;
  int log_max_files = 5;
  std::int64_t request_timeout_ms = 5000;  // bounds each request's database work
  std::int64_t drain_timeout_ms = 10000;   // graceful shutdown without a deadline of its own
  std::size_t max_body_bytes = std::size_t{1} << 20;
  bool metrics_open = false;  // /metrics without the admin token
  // inline_reads: record get runs on the I/O threads, not the blocking
  // ones (a WAL read is quick and never waits for the writer; its waits for
  // a reader connection or a busy database are bounded, see routes.h).
  // Only with more readers than threads, so that the I/O threads never
  // wait for each other's reader connections; --blocking-reads turns it off.
  bool inline_reads = true;
  bool create = true;  // create the database when it is missing

  std::vector<ListenAddress> listen_addresses;  // finish_config: parsed `listen`
  std::chrono::milliseconds request_timeout() const {
    return std::chrono::milliseconds(request_timeout_ms);
  }
  std::chrono::milliseconds drain_timeout() const {
    return std::chrono::milliseconds(drain_timeout_ms);
  }
};

// default_data_dir: $XDG_DATA_HOME/coordkit/gateway, else
// ~/.local/share/coordkit/gateway, else ./gateway-data.
inline std::filesystem::path default_data_dir() {
  const char* xdg = std::getenv("XDG_DATA_HOME");  // NOLINT(concurrency-mt-unsafe)
  if (xdg != nullptr && *xdg == '/') return std::filesystem::path(xdg) / "coordkit" / kAppName;
  const char* home = std::getenv("HOME");  // NOLINT(concurrency-mt-unsafe)
  if (home != nullptr && *home == '/') {
    return std::filesystem::path(home) / ".local" / "share" / "coordkit" / kAppName;
  }
  return std::filesystem::absolute("gateway-data");
}

// kHelpFooter: the examples --help shows.
inline constexpr const char* kHelpFooter = R"(Examples:
  # a gateway on a fresh database, key from a 0600 key file
  coordkit-gateway --data-dir ~/gw --key-file ~/gw.key --listen 127.0.0.1:8470

  # a free port and a Unix socket; the chosen address is in the status file
  COORDKIT_PASSPHRASE=... coordkit-gateway --listen 127.0.0.1:0 --listen unix:/run/user/1000/gw.sock

  # settings from a TOML file, one flag over it
  coordkit-gateway --config gateway.toml --synchronous full

  # stop it gracefully (writes the shutdown file in the runtime dir)
  coordctl gateway stop

Exit codes: 0 stopped cleanly, 1 internal error, 2 usage, 3 already running,
4 runtime dir, 5 log file, 6 key, 7 wrong key or not a database, 8 database,
9 bind, 10 admin token, 11 serving failed.)";

// setup_cli: declares every flag of `config` on `app`, with validators, the
// --config TOML file and the examples footer. `config` must outlive parsing.
inline void setup_cli(CLI::App& app, Config& config) {
  app.description("coordkit-gateway: an HTTP JSON records service over one encrypted database");
  app.footer(kHelpFooter);
  app.set_config("--config", "", "Read settings from this TOML file (flags win over it)");
  app.set_version_flag("--version", kVersion);
  app.add_option("--listen", config.listen,
                 "Where to listen: HOST:PORT (port 0 picks one) or unix:PATH; repeatable "
                 "(default " +
                     std::string(kDefaultListen) + ")")
      ->check([](const std::string& v) {
        try {
          parse_listen(v);
          return std::string();
        } catch (const std::exception& e) {
          return std::string(e.what());
        }
      });
  app.add_option("--data-dir", config.data_dir,
                 "Directory of the database, its log and backups/ (default "
                 "$XDG_DATA_HOME/coordkit/gateway)");
  app.add_option("--database", config.database, "Database file (default <data-dir>/gateway.db)");
  app.add_option("--runtime-dir", config.runtime_dir,
                 "Runtime directory: lock, status, shutdown file, admin token (default "
                 "$COORDKIT_RUNTIME_DIR, then $XDG_RUNTIME_DIR/coordkit/gateway)");
  app.add_option("--key-file", config.key_file,
                 "Key file (0600, owned by you): 64 hex digits or a passphrase; else "
                 "$COORDKIT_KEY_FILE or $COORDKIT_PASSPHRASE");
  app.add_option("--synchronous", config.synchronous,
                 "normal (lose nothing on a crash) or full (durable on power loss)")
      ->check(CLI::IsMember({"normal", "full"}))
      ->capture_default_str();
  app.add_option("--threads", config.threads, "HTTP server threads")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--blocking-threads", config.blocking_threads,
                 "Threads running the database routes (concurrent writes share a group commit)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--blocking-queue", config.blocking_queue,
                 "Database requests that may wait for one of those threads (then 503)")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  app.add_option("--readers", config.readers, "Database reader connections")
      ->check(CLI::Range(0, 64))
      ->capture_default_str();
  const auto levels = CLI::IsMember({"trace", "debug", "info", "warn", "error"});
  app.add_option("--log-level", config.log_level, "Level of the log file")
      ->check(levels)
      ->capture_default_str();
  app.add_option("--console-level", config.console_level, "Level of stderr")
      ->check(levels)
      ->capture_default_str();
  app.add_option("--log-max-bytes", config.log_max_bytes, "Rotate the log file at this size")
      ->check(CLI::Range(std::uint64_t{4096}, std::uint64_t{1} << 40))
      ->capture_default_str();
  app.add_option("--log-max-files", config.log_max_files, "Log files kept, the live one included")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--request-timeout-ms", config.request_timeout_ms,
                 "Time a request may take, database work included (then 503)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{600000}))
      ->capture_default_str();
  app.add_option("--drain-timeout-ms", config.drain_timeout_ms,
                 "How long a graceful stop waits for in-flight requests")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{600000}))
      ->capture_default_str();
  app.add_option("--max-body-bytes", config.max_body_bytes, "Largest request body (then 413)")
      ->check(CLI::Range(std::size_t{1024}, std::size_t{64} << 20))
      ->capture_default_str();
  app.add_flag("--metrics-open", config.metrics_open, "Serve /metrics without the admin token");
  app.add_flag("--inline-reads,!--blocking-reads", config.inline_reads,
               "Record get on the HTTP threads (the default, with --readers above --threads), "
               "or on the blocking threads (--blocking-reads)")
      ->capture_default_str();
  app.add_flag_callback(
      "--no-create", [&config] { config.create = false; },
      "Refuse to start when the database file is missing");
}

// finish_config: fills the defaults that depend on the environment (data
// dir, database path, listen address), makes paths absolute and parses the
// listen addresses. Throws std::invalid_argument for a bad address.
inline void finish_config(Config& config) {
  if (config.listen.empty()) config.listen.push_back(kDefaultListen);
  config.listen_addresses.clear();
  for (const std::string& l : config.listen) config.listen_addresses.push_back(parse_listen(l));
  if (config.data_dir.empty()) config.data_dir = default_data_dir();
  config.data_dir = std::filesystem::absolute(config.data_dir).lexically_normal();
  if (config.database.empty()) config.database = config.data_dir / "gateway.db";
  config.database = std::filesystem::absolute(config.database).lexically_normal();
}

}  // namespace coordkit::gateway

#endif  // COORDKIT_APPS_GATEWAY_CONFIG_H_

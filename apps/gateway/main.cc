// coordkit-gateway: the HTTP JSON records service over one encrypted
// database. See README.md for flags, exit codes, routes and the systemd unit.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "coordkit/apps/key_source.h"
#include "coordkit/apps/records.h"
#include "coordkit/db/db.h"
#include "coordkit/gateway/admin_token.h"
#include "coordkit/gateway/config.h"
#include "coordkit/gateway/exit_codes.h"
#include "coordkit/gateway/gateway.h"
#include "coordkit/gateway/key_file.h"
#include "coordkit/gateway/notify.h"
#include "coordkit/gateway/service.h"
#include "coordkit/ipc/ipc.h"
#include "coordkit/log/log.h"

namespace {

namespace gw = coordkit::gateway;
namespace ipc = coordkit::ipc;
namespace clog = coordkit::log;
using gw::ExitCode;
using gw::Step;

// fail: the one way a start-up step ends the process: one ASCII line on
// stderr (and in the log when it is open), then the step's exit code.
int fail(const clog::Logger* log, Step step, ExitCode code, const std::string& what) {
  const std::string line = "coordkit-gateway: " + std::string(gw::to_string(step)) + ": " + what;
  if (log != nullptr) {
    log->error(
        "start-up failed",
        {{"step", gw::to_string(step)}, {"exit_code", static_cast<int>(code)}, {"error", what}});
    log->flush();
  }
  const std::string ascii = clog::to_ascii(line) + "\n";
  const ssize_t ignored = ::write(STDERR_FILENO, ascii.data(), ascii.size());
  (void)ignored;
  return static_cast<int>(code);
}

// Early events: what ipc reports before the log file is open, replayed
// into it once it is.
struct EarlyEvents {
  std::mutex mu;
  std::vector<ipc::Event> events;
  std::optional<clog::Logger> log;  // a copy: it shares the sinks, and outlives main's
  void report(const ipc::Event& e) {
    std::lock_guard<std::mutex> lock(mu);
    if (!log) {
      events.push_back(e);
    } else {
      write(*log, e);
    }
  }
  void attach(const clog::Logger& l) {
    std::lock_guard<std::mutex> lock(mu);
    log = l;
    for (const ipc::Event& e : events) write(l, e);
    events.clear();
  }
  static void write(const clog::Logger& l, const ipc::Event& e) {
    const clog::Level level = e.severity == ipc::EventSeverity::kInfo   ? clog::Level::kInfo
                              : e.severity == ipc::EventSeverity::kWarn ? clog::Level::kWarn
                                                                        : clog::Level::kError;
    l.log(level, "ipc event",
          {{"event", ipc::to_string(e.kind)},
           {"reason", e.reason ? ipc::to_string(*e.reason) : std::string_view("")},
           {"detail", e.detail}});
  }
};

int run(gw::Config& config) {
  gw::Notifier notify;
  notify.status("starting");
  auto early = std::make_shared<EarlyEvents>();
  auto gateway = std::make_shared<gw::Gateway*>(nullptr);

  // 1-3. Runtime dir, instance lock, shutdown watcher: all in ipc::Server.
  std::optional<ipc::Server> server;
  try {
    server.emplace(ipc::ServerOptions{
        .app = gw::kAppName,
        .runtime_dir = config.runtime_dir,
        .version = gw::kVersion,
        .address = "",
        .on_shutdown =
            [gateway](const ipc::ShutdownRequest& r) {
              if (gw::Gateway* g = *gateway) g->on_shutdown(r);
            },
        .on_event = [early](const ipc::Event& e) { early->report(e); },
    });
  } catch (const ipc::Error& e) {
    if (e.code() == ipc::ErrorCode::kAlreadyRunning) {
      std::string who = "already running";
      try {
        const ipc::Status s =
            ipc::Client({.app = gw::kAppName, .runtime_dir = config.runtime_dir}).status();
        const std::int64_t pid = s.record ? s.record->pid : s.lock_holder_pid;
        who += " (pid " + std::to_string(pid);
        if (s.record && !s.record->address.empty()) who += ", address " + s.record->address;
        who += ")";
      } catch (const std::exception&) {
      }
      return fail(nullptr, Step::kRuntimeDir, ExitCode::kAlreadyRunning, who);
    }
    return fail(nullptr, Step::kRuntimeDir, ExitCode::kRuntimeDir, e.what());
  }

  // 4. The log: JSON lines in the data dir, ASCII on the console.
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir.parent_path(), ec);
  if (!ec && ::mkdir(config.data_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    ec = std::error_code(errno, std::generic_category());
  }
  if (ec) {
    return fail(nullptr, Step::kLog, ExitCode::kLogFile,
                "cannot create data dir " + config.data_dir.string() + ": " + ec.message());
  }
  std::shared_ptr<clog::FileSink> file;
  try {
    file = std::make_shared<clog::FileSink>(clog::FileSinkOptions{
        .path = (config.data_dir / "gateway.log").string(),
        .format = clog::Format::kJson,
        .max_bytes = config.log_max_bytes,
        .max_files = config.log_max_files,
    });
  } catch (const std::exception& e) {
    return fail(nullptr, Step::kLog, ExitCode::kLogFile, e.what());
  }
  auto console = std::make_shared<clog::ConsoleSink>();
  console->set_level(*clog::parse_level(config.console_level));
  file->set_level(*clog::parse_level(config.log_level));
  const clog::Level level =
      std::min(*clog::parse_level(config.console_level), *clog::parse_level(config.log_level));
  clog::Logger log("gateway", {console, file}, level);
  log.info("starting", {{"version", gw::kVersion},
                        {"pid", static_cast<std::int64_t>(::getpid())},
                        {"runtime_dir", server->runtime_dir().string()},
                        {"data_dir", config.data_dir.string()},
                        {"database", config.database.string()},
                        {"inotify", server->using_inotify()}});
  early->attach(log);

  // The admin token, beside the status file.
  std::string admin_token;
  try {
    admin_token = gw::load_or_create_admin_token(server->runtime_dir());
  } catch (const std::exception& e) {
    return fail(&log, Step::kAdminToken, ExitCode::kAdminToken, e.what());
  }

  // 5. The key (never argv), then the database and its migrations.
  notify.status("opening the database");
  coordkit::keys::KeyMaterial key;
  try {
    key = coordkit::keys::load_key_material({.key_file = config.key_file});
  } catch (const std::exception& e) {
    return fail(&log, Step::kKey, ExitCode::kKey, e.what());
  }
  // A key file may have a rekey to settle (key_file.h): the key file opens
  // the database, or the staged "<key file>.next" does and replaces it.
  auto open = [&](coordkit::db::Key k) {
    return gw::Service::open({
        .database = config.database,
        .data_dir = config.data_dir,
        .key = std::move(k),
        .key_file = key.file,
        .synchronous = config.synchronous == "full" ? coordkit::db::Synchronous::kFull
                                                    : coordkit::db::Synchronous::kNormal,
        .create_if_missing = config.create,
        .readers = config.readers,
        .limits = {.max_body_bytes = config.max_body_bytes},
    });
  };
  std::unique_ptr<gw::Service> service;
  gw::KeyFileRecovery recovery = gw::KeyFileRecovery::kNone;
  try {
    service = gw::open_recovering(key, open, &recovery);
  } catch (const coordkit::db::Error& e) {
    const bool wrong_key = e.code() == coordkit::db::ErrorCode::kWrongKeyOrNotADatabase ||
                           e.code() == coordkit::db::ErrorCode::kPlaintextDatabase;
    return fail(&log, Step::kDatabase, wrong_key ? ExitCode::kWrongKey : ExitCode::kDatabase,
                e.what());
  } catch (const gw::Error& e) {
    return fail(&log, Step::kKey, ExitCode::kKey, e.what());
  } catch (const std::exception& e) {
    return fail(&log, Step::kDatabase, ExitCode::kDatabase, e.what());
  }
  if (recovery == gw::KeyFileRecovery::kAdoptedStaged) {
    log.warn(
        "key file: adopted the staged key of a rekey that committed before the process "
        "ended",
        {{"key_file", key.file.string()}, {"staged", gw::staged_key_file(key.file).string()}});
  } else if (recovery == gw::KeyFileRecovery::kDiscardedStaged) {
    log.warn("key file: removed the staged key of a rekey that never committed",
             {{"key_file", key.file.string()}, {"staged", gw::staged_key_file(key.file).string()}});
  }
  key = coordkit::keys::KeyMaterial();  // the Service keeps its own copy
  log.info("database open", {{"path", config.database.string()},
                             {"synchronous", config.synchronous},
                             {"readers", config.readers}});

  // 6. Bind, then the gateway serves: state=ready.
  std::optional<gw::Gateway> g;
  try {
    g.emplace(config, *server, *service, log, notify, std::move(admin_token));
    g->bind();
  } catch (const std::exception& e) {
    g.reset();
    service->close();
    return fail(&log, Step::kBind, ExitCode::kBind, e.what());
  }
  *gateway = &*g;
  const int rc = g->serve();
  *gateway = nullptr;
  return rc;
}

int parse_and_run(int argc, char** argv) {
  clog::reserve_standard_fds();
  gw::Config config;
  CLI::App app{"coordkit-gateway"};
  gw::setup_cli(app, config);
  try {
    app.parse(argc, argv);
    gw::finish_config(config);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : static_cast<int>(ExitCode::kUsage);
  } catch (const std::exception& e) {
    return fail(nullptr, Step::kConfig, ExitCode::kUsage, e.what());
  }
  try {
    return run(config);
  } catch (const std::exception& e) {
    return fail(nullptr, Step::kServe, ExitCode::kInternal, e.what());
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return parse_and_run(argc, argv);
  } catch (const std::exception& e) {
    // Only what escapes the steps' own handlers gets here (out of memory, say).
    std::fprintf(stderr, "coordkit-gateway: %s\n", e.what());
    return static_cast<int>(ExitCode::kInternal);
  }
}

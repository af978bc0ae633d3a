// coordctl gateway status: whether the gateway runs (the instance lock
// decides, not a PID), and what its verified status file says. Exit 3 when
// it does not run, also when a stale status file is left behind.
#include <ctime>
#include <string>

#include "coordkit/cli/commands.h"

namespace coordkit::cli {
namespace {

struct StatusOptions {};

// uptime_seconds: now minus an ISO 8601 UTC time ("2024-05-01T10:00:00.123Z"),
// or -1 when it does not parse.
std::int64_t uptime_seconds(const std::string& started_at) {
  std::tm tm{};
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (std::sscanf(started_at.c_str(), "%d-%d-%dT%d:%d:%d", &y, &mo, &d, &h, &mi, &s) != 6)
    return -1;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  const std::time_t t = ::timegm(&tm);
  const std::time_t now = std::time(nullptr);
  return t < 0 || now < t ? 0 : static_cast<std::int64_t>(now - t);
}

int run_status(const StatusOptions&, Context& ctx) {
  const ipc::Client client = ctx.gateway_client();
  const ipc::Status s = client.status();
  std::string db;
  if (const std::optional<std::filesystem::path> given = ctx.given_db_path()) db = given->string();
  nlohmann::json j = {{"state", std::string(ipc::to_string(s.state))},
                      {"running", s.running()},
                      {"verified", s.verified},
                      {"runtime_dir", client.runtime_dir().string()},
                      {"database", db.empty() ? nlohmann::json(nullptr) : nlohmann::json(db)}};
  if (s.record && s.verified) {
    j["pid"] = s.record->pid;
    j["address"] = s.record->address;
    j["version"] = s.record->version;
    j["started_at"] = s.record->started_at;
    j["uptime_seconds"] = uptime_seconds(s.record->started_at);
  } else if (s.running()) {
    j["pid"] = s.lock_holder_pid;
  } else if (s.record) {
    j["stale_pid"] = s.record->pid;
  }
  if (ctx.globals.json) {
    ctx.print_json(j);
  } else if (s.verified && s.record) {
    ctx.out("state:    " + std::string(ipc::to_string(s.state)));
    ctx.out("pid:      " + std::to_string(s.record->pid));
    ctx.out("uptime:   " + std::to_string(uptime_seconds(s.record->started_at)) + " s (since " +
            s.record->started_at + ")");
    ctx.out("address:  " + s.record->address);
    ctx.out("version:  " + s.record->version);
    ctx.out("database: " + (db.empty() ? std::string("(not given: --db)") : db));
    ctx.out("runtime:  " + client.runtime_dir().string());
  } else if (s.running()) {
    ctx.out("state:    " + std::string(ipc::to_string(s.state)) + " (lock held by pid " +
            std::to_string(s.lock_holder_pid) + ", no status published yet)");
  } else if (s.state == ipc::ServerState::kStale) {
    ctx.out("state:    not running (a stale status file" +
            (s.record ? " names pid " + std::to_string(s.record->pid) : std::string()) +
            ", which does not hold the lock)");
  } else {
    ctx.out("state:    not running");
  }
  return s.running() ? kExitOk : kExitNotRunning;
}

}  // namespace

void setup_gateway_status(CLI::App& parent, Context& ctx, Runner& runner) {
  auto o = std::make_shared<StatusOptions>();
  CLI::App* cmd = parent.add_subcommand(
      "status", "Show state, PID, uptime, address, database and version (exit 3: not running)");
  add_examples(cmd,
               "  coordctl gateway status\n"
               "  coordctl gateway status --json\n");
  cmd->callback([o, &ctx, &runner] { runner.set([o, &ctx] { return run_status(*o, ctx); }); });
}

}  // namespace coordkit::cli

// coordctl gateway start: starts coordkit-gateway detached (a new session,
// stdin from /dev/null, stdout and stderr appended to its log file, no other
// descriptor) and returns once the gateway's status says ready, printing its
// address and PID. If the gateway exits first, prints the last lines it
// logged and exits non-zero. --foreground runs it in this terminal instead.
//
// Arguments passed to the gateway: --runtime-dir (the directory this
// coordctl resolved, so both agree); with --db, --data-dir (its directory,
// where the gateway keeps its log) and --database; --key-file when given;
// then everything after `--`. The key from the environment (COORDKIT_PASSPHRASE,
// COORDKIT_KEY_FILE) reaches it through the environment, never argv.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "coordkit/cli/commands.h"
#include "coordkit/cli/log_tail.h"
#include "coordkit/spawn/spawn.h"

namespace coordkit::cli {
namespace {

struct StartOptions {
  bool foreground = false;
  double wait_seconds = 10;
  std::vector<std::string> gateway_args;
};

std::vector<std::string> gateway_arguments(const StartOptions& o, const Context& ctx,
                                           const ipc::Client& client) {
  std::vector<std::string> args = {"--runtime-dir", client.runtime_dir().string()};
  if (const std::optional<std::filesystem::path> db = ctx.given_db_path()) {
    args.push_back("--data-dir");
    args.push_back(db->parent_path().string());
    args.push_back("--database");
    args.push_back(db->string());
  }
  if (!ctx.globals.key_file.empty()) {
    args.push_back("--key-file");
    args.push_back(std::filesystem::absolute(ctx.globals.key_file).string());
  }
  args.insert(args.end(), o.gateway_args.begin(), o.gateway_args.end());
  return args;
}

[[noreturn]] void exec_foreground(const std::filesystem::path& bin,
                                  const std::vector<std::string>& args) {
  std::vector<char*> argv;
  std::string exe = bin.string();
  argv.push_back(exe.data());
  std::vector<std::string> copy = args;
  for (std::string& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execv(exe.c_str(), argv.data());
  throw Error(ErrorCode::kFailed, "cannot run " + exe + ": " + std::strerror(errno));
}

std::string already_running_message(const ipc::Status& s) {
  std::string m = "the gateway is already running";
  if (s.record) m += ": pid " + std::to_string(s.record->pid) + ", address " + s.record->address;
  return m;
}

int run_start(const StartOptions& o, Context& ctx) {
  const ipc::Client client = ctx.gateway_client();
  const ipc::Status before = client.status();
  if (before.running()) throw Error(ErrorCode::kAlreadyRunning, already_running_message(before));
  const std::filesystem::path bin = ctx.gateway_bin();
  if (::access(bin.c_str(), X_OK) != 0) {
    throw Error(ErrorCode::kUsage, "no gateway executable at " + bin.string() +
                                       " (give --gateway-bin or set COORDKIT_GATEWAY_BIN)");
  }
  const std::vector<std::string> args = gateway_arguments(o, ctx, client);
  if (o.foreground) exec_foreground(bin, args);

  ipc::ensure_runtime_dir(ipc::resolve_runtime_dir(kGatewayApp, client.runtime_dir()));
  const std::filesystem::path log = ctx.gateway_log();
  std::filesystem::create_directories(log.parent_path());
  const std::int64_t log_start = std::max<std::int64_t>(0, log_size(log));
  const auto started = std::chrono::steady_clock::now();
  spawn::Child child = spawn::spawn({.executable = bin,
                                     .args = args,
                                     .in = spawn::Stdio::null(),
                                     .out = spawn::Stdio::file(log),
                                     .err = spawn::Stdio::file(log),
                                     .detached = true});
  const auto wait = std::chrono::milliseconds(static_cast<std::int64_t>(o.wait_seconds * 1000));
  ipc::Status ready;
  try {
    ready = client.wait_until_ready(wait, child);
  } catch (const ipc::Error& e) {
    if (e.code() == ipc::ErrorCode::kTimedOut) {
      const std::int64_t pid = child.pid();
      child.release();  // it may still become ready; stop it with `gateway stop`
      throw Error(ErrorCode::kTimedOut, "the gateway (pid " + std::to_string(pid) +
                                            ") is not ready after " +
                                            std::to_string(o.wait_seconds) +
                                            " s; it keeps starting (see coordctl gateway logs)");
    }
    if (e.code() != ipc::ErrorCode::kExitedBeforeReady) throw;
    const spawn::ExitStatus status = child.wait();
    ctx.err("the gateway exited during start-up (" + status.to_string() +
            "); its last lines, from " + log.string() + ":");
    for (const std::string& line : tail_lines(log, 20, log_start)) ctx.err("  " + line);
    const ipc::Status now = client.status();
    if (now.running()) throw Error(ErrorCode::kAlreadyRunning, already_running_message(now));
    throw Error(ErrorCode::kGatewayFailed, "the gateway did not start");
  }
  child.release();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count();
  const ipc::StatusRecord& r = *ready.record;
  if (ctx.globals.json) {
    ctx.print_json({{"state", "ready"},
                    {"pid", r.pid},
                    {"address", r.address},
                    {"version", r.version},
                    {"log_file", log.string()},
                    {"ready_after_ms", ms}});
  } else {
    ctx.out("gateway ready: pid " + std::to_string(r.pid) + ", address " + r.address + " (" +
            std::to_string(ms) + " ms; log " + log.string() + ")");
  }
  return kExitOk;
}

}  // namespace

void setup_gateway_start(CLI::App& parent, Context& ctx, Runner& runner) {
  auto o = std::make_shared<StartOptions>();
  CLI::App* cmd =
      parent.add_subcommand("start", "Start the gateway in the background; wait until ready");
  cmd->add_flag("--foreground", o->foreground, "Run the gateway in this terminal instead");
  cmd->add_option("--wait", o->wait_seconds, "Give up waiting for ready after SECONDS (exit 5)")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  cmd->add_option("gateway-args", o->gateway_args, "Arguments for the gateway itself, after --");
  add_examples(cmd,
               "  COORDKIT_PASSPHRASE=... coordctl --db app.db gateway start\n"
               "  coordctl --db app.db --key-file app.key gateway start --wait 30 -- --listen "
               "127.0.0.1:8080\n"
               "  coordctl --db app.db gateway start --foreground\n");
  cmd->callback([o, &ctx, &runner] { runner.set([o, &ctx] { return run_start(*o, ctx); }); });
}

}  // namespace coordkit::cli

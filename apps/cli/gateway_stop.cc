// coordctl gateway stop: writes the shutdown request (with the instance
// token from the status file) and waits for the gateway to release its lock.
// Signals only the verified gateway process (PID, start time and boot id
// match the lock holder), and only after --timeout, or at once with --force:
// SIGTERM, then SIGKILL. Says which of these happened.
#include <chrono>
#include <string>

#include "coordkit/cli/commands.h"

namespace coordkit::cli {
namespace {

struct StopOptions {
  double timeout_seconds = 10;
  bool fast = false;
  bool force = false;
};

int run_stop(const StopOptions& o, Context& ctx) {
  const ipc::Client client = ctx.gateway_client();
  const ipc::Status before = client.status();
  const std::int64_t pid = before.record ? before.record->pid : before.lock_holder_pid;
  ipc::StopOptions stop;
  stop.mode = o.fast ? ipc::ShutdownMode::kFast : ipc::ShutdownMode::kGraceful;
  stop.deadline =
      o.force ? std::chrono::milliseconds(0)
              : std::chrono::milliseconds(static_cast<std::int64_t>(o.timeout_seconds * 1000));
  stop.escalate = true;
  const ipc::StopResult r = client.stop(stop);
  std::string how;
  switch (r.outcome) {
    case ipc::StopOutcome::kNotRunning:
      how = "the gateway is not running: nothing to stop";
      break;
    case ipc::StopOutcome::kStopped:
      how = "gateway stopped (pid " + std::to_string(pid) + ") on its shutdown request";
      break;
    case ipc::StopOutcome::kTerminated:
    case ipc::StopOutcome::kKilled:
      how = std::string("gateway (pid ") + std::to_string(pid) + ") " +
            (o.force ? "forced (--force)" : "did not stop within the timeout") + ": " +
            (r.outcome == ipc::StopOutcome::kKilled ? "SIGTERM did not end it, SIGKILL did"
                                                    : "SIGTERM ended it");
      break;
    case ipc::StopOutcome::kTimedOut:
      how = "the gateway (pid " + std::to_string(pid) + ") is still running";
      break;
  }
  if (ctx.globals.json) {
    ctx.print_json({{"outcome", std::string(ipc::to_string(r.outcome))},
                    {"pid", pid},
                    {"request_written", r.request_written},
                    {"escalated", r.escalated()},
                    {"forced", o.force},
                    {"elapsed_ms", r.elapsed.count()}});
  } else {
    ctx.out(how + " (" + std::to_string(r.elapsed.count()) + " ms)");
  }
  return r.outcome == ipc::StopOutcome::kTimedOut ? kExitTimeout : kExitOk;
}

}  // namespace

void setup_gateway_stop(CLI::App& parent, Context& ctx, Runner& runner) {
  auto o = std::make_shared<StopOptions>();
  CLI::App* cmd =
      parent.add_subcommand("stop", "Ask the gateway to stop; escalate only if need be");
  cmd->add_option("--timeout", o->timeout_seconds,
                  "Wait SECONDS for the gateway to stop by itself, then SIGTERM/SIGKILL it")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  cmd->add_flag("--fast", o->fast, "Ask for a fast shutdown (abandon in-flight work)");
  cmd->add_flag("--force", o->force,
                "Do not wait: SIGTERM (then SIGKILL) the verified gateway now");
  add_examples(cmd,
               "  coordctl gateway stop\n"
               "  coordctl gateway stop --timeout 30 --fast\n"
               "  coordctl gateway stop --force --json\n");
  cmd->callback([o, &ctx, &runner] { runner.set([o, &ctx] { return run_stop(*o, ctx); }); });
}

}  // namespace coordkit::cli

// coordctl: the command line of a coordkit deployment. Reads and writes the
// encrypted database directly (whether or not the gateway runs), keeps a
// derived key in the kernel keyring, and starts, stops, inspects and tails
// the gateway. One CLI11 app; every command in its own file (commands.h).
//
// Errors end here, in one catch, and become exit codes through
// exit_code_for() (exit_codes.h). Every byte printed is ASCII.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <exception>
#include <string>

#include "coordkit/cli/commands.h"
#include "coordkit/cli/context.h"
#include "coordkit/cli/exit_codes.h"

namespace {

using namespace coordkit::cli;

constexpr const char* kDescription =
    "coordctl: work with a coordkit database directly, and start, stop and watch its gateway.\n"
    "The key comes from --key-file (a 0600 file of yours: 64 hex digits for a raw key, else a\n"
    "passphrase), COORDKIT_KEY_FILE, COORDKIT_PASSPHRASE, the kernel keyring after `coordctl\n"
    "unlock`, or a prompt on the terminal; never from the command line.";

constexpr const char* kRootExamples =
    "  export COORDKIT_PASSPHRASE=...\n"
    "  coordctl --db app.db db init\n"
    "  coordctl --db app.db db put notes n1 '{\"text\":\"hello\"}'\n"
    "  coordctl --db app.db db get notes n1\n"
    "  coordctl --db app.db unlock --ttl 15m\n"
    "  coordctl --db app.db gateway start\n"
    "  coordctl gateway status --json\n"
    "  coordctl gateway stop\n";

std::string footer(const std::string& examples) {
  return "Examples:\n" + examples + "\n" + std::string(kExitCodesHelp);
}

void report(const Context& ctx, const std::string& library, const std::string& code,
            const std::string& message, int exit_code) {
  ctx.err("coordctl: error: " + message);
  if (ctx.globals.json) {
    ctx.print_json(
        {{"error",
          {{"library", library}, {"code", code}, {"message", message}, {"exit_code", exit_code}}}});
  }
}

int run(int argc, char** argv) {
  Context ctx;
  Runner runner;
  CLI::App app(kDescription, "coordctl");
  app.fallthrough();
  app.require_subcommand(0, 1);
  app.add_option("--db", ctx.globals.db, "The database file (else COORDKIT_DB)");
  app.add_option("--key-file", ctx.globals.key_file,
                 "The key file: regular, owned by you, mode 0600 (else COORDKIT_KEY_FILE)");
  app.add_option("--runtime-dir", ctx.globals.runtime_dir,
                 "The gateway's runtime directory (else COORDKIT_RUNTIME_DIR, "
                 "$XDG_RUNTIME_DIR/coordkit/gateway, ~/.local/state/coordkit/gateway)");
  app.add_flag("--json", ctx.globals.json, "Print data (and errors) as one JSON object per line");

  CLI::App* db = app.add_subcommand("db", "Work on the database directly (the gateway may run)");
  db->require_subcommand(0, 1);
  setup_db_init(*db, ctx, runner);
  setup_db_put(*db, ctx, runner);
  setup_db_get(*db, ctx, runner);
  setup_db_list(*db, ctx, runner);
  setup_db_delete(*db, ctx, runner);
  setup_db_check(*db, ctx, runner);
  setup_db_backup(*db, ctx, runner);
  setup_db_rekey(*db, ctx, runner);
  setup_db_stats(*db, ctx, runner);
  setup_db_export(*db, ctx, runner);
  setup_db_import(*db, ctx, runner);

  CLI::App* gateway = app.add_subcommand("gateway", "Start, stop, inspect and tail the gateway");
  gateway->require_subcommand(0, 1);
  gateway->add_option("--gateway-bin", ctx.globals.gateway_bin,
                      "The gateway executable (else COORDKIT_GATEWAY_BIN, else coordkit-gateway "
                      "next to coordctl)");
  gateway->add_option("--log-file", ctx.globals.gateway_log,
                      "The gateway's log file (else COORDKIT_GATEWAY_LOG, else gateway.log in "
                      "the runtime directory)");
  setup_gateway_start(*gateway, ctx, runner);
  setup_gateway_stop(*gateway, ctx, runner);
  setup_gateway_status(*gateway, ctx, runner);
  setup_gateway_logs(*gateway, ctx, runner);

  setup_unlock(app, ctx, runner);
  setup_lock(app, ctx, runner);

  // Footers: a command's own examples (set by its setup) plus the exit codes.
  app.footer(footer(kRootExamples));
  db->footer(footer("  coordctl --db app.db db init\n  coordctl --db app.db db list notes\n"));
  gateway->footer(footer("  coordctl --db app.db gateway start\n  coordctl gateway stop\n"));
  for (CLI::App* group : {db, gateway, &app}) {
    for (CLI::App* cmd : group->get_subcommands([](CLI::App*) { return true; })) {
      if (cmd == db || cmd == gateway) continue;
      cmd->footer(cmd->get_footer() + "\n" + std::string(kExitCodesHelp));
    }
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    ctx.out(app.help());
    return kExitOk;
  } catch (const CLI::CallForAllHelp&) {
    ctx.out(app.help("", CLI::AppFormatMode::All));
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    report(ctx, "cli", "usage", std::string(e.what()) + " (see --help)", kExitUsage);
    return kExitUsage;
  }
  if (!runner.has()) {
    // A group without a subcommand (or coordctl alone): its help, not a bare error.
    ctx.out(app.help());  // delegates to the deepest subcommand named
    return kExitUsage;
  }
  try {
    return runner.run();
  } catch (const coordkit::Error& e) {
    const int code = exit_code_for(e);
    report(ctx, std::string(e.library()), std::string(e.code_name()), e.what(), code);
    return code;
  } catch (const std::exception& e) {
    report(ctx, "cli", "internal", e.what(), kExitError);
    return kExitError;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);  // a closed pipe is an error (EPIPE), not a death
  int code = coordkit::cli::kExitError;
  try {
    code = run(argc, argv);
  } catch (const std::exception& e) {
    // Only building the command line itself gets here (out of memory, say):
    // run() turns every error of a command into its exit code.
    std::fprintf(stderr, "coordctl: error: %s\n", e.what());
  }
  std::fflush(stdout);
  return code;
}

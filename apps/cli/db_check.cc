// coordctl db check: PRAGMA quick_check (or integrity_check with --full)
// plus PRAGMA cipher_integrity_check. Exit 1 when a check reports problems.
#include <string>

#include "coordkit/cli/commands.h"

namespace coordkit::cli {
namespace {

struct CheckOptions {
  bool full = false;
};

int run_check(const CheckOptions& o, Context& ctx) {
  Context::Opened opened = ctx.open_database(/*create=*/false);
  const db::CheckResult r = o.full ? opened.db.integrity_check() : opened.db.quick_check();
  if (ctx.globals.json) {
    ctx.print_json({{"check", o.full ? "full" : "quick"}, {"ok", r.ok}, {"problems", r.problems}});
  } else {
    ctx.out(std::string(o.full ? "integrity_check" : "quick_check") +
            " + cipher_integrity_check: " + (r.ok ? "ok" : "PROBLEMS"));
    for (const std::string& p : r.problems) ctx.out("  " + p);
  }
  return r.ok ? kExitOk : kExitError;
}

}  // namespace

void setup_db_check(CLI::App& parent, Context& ctx, Runner& runner) {
  auto o = std::make_shared<CheckOptions>();
  CLI::App* cmd =
      parent.add_subcommand("check", "Check the database (quick, or --full) and its cipher pages");
  cmd->add_flag("--full", o->full, "PRAGMA integrity_check instead of quick_check (slower)");
  add_examples(cmd,
               "  coordctl --db app.db db check\n"
               "  coordctl --db app.db db check --full --json\n");
  cmd->callback([o, &ctx, &runner] { runner.set([o, &ctx] { return run_check(*o, ctx); }); });
}

}  // namespace coordkit::cli

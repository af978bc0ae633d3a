// coordctl lock: revokes the key `coordctl unlock` kept for this database.
#include <string>

#include "coordkit/cli/commands.h"

namespace coordkit::cli {
namespace {

struct LockOptions {};

int run_lock(const LockOptions&, Context& ctx) {
  const std::filesystem::path path = ctx.db_path();
  const keys::Salt salt = keys::read_salt(path);
  bool revoked = false;
  try {
    revoked = keys::keyring_revoke(salt);
  } catch (const keys::Error& e) {
    if (e.code() != keys::ErrorCode::kKeyringUnavailable) throw;
    if (ctx.globals.json) {
      ctx.print_json(
          {{"path", path.string()}, {"revoked", false}, {"reason", "keyring_unavailable"}});
    } else {
      ctx.err("no kernel keyring here: nothing can have been kept");
    }
    return kExitOk;
  }
  if (ctx.globals.json) {
    ctx.print_json({{"path", path.string()}, {"revoked", revoked}});
  } else {
    ctx.out(revoked ? "locked " + path.string() + ": the kept key is revoked"
                    : "nothing was kept for " + path.string());
  }
  return kExitOk;
}

}  // namespace

void setup_lock(CLI::App& parent, Context& ctx, Runner& runner) {
  auto o = std::make_shared<LockOptions>();
  CLI::App* cmd = parent.add_subcommand("lock", "Forget the key unlock kept for this database");
  add_examples(cmd, "  coordctl --db app.db lock\n");
  cmd->callback([o, &ctx, &runner] { runner.set([o, &ctx] { return run_lock(*o, ctx); }); });
}

}  // namespace coordkit::cli

// coordctl db init: creates the encrypted database with the records schema,
// or checks that an existing one opens with the key and is migrated.
#include <filesystem>

#include "coordkit/cli/commands.h"

namespace coordkit::cli {
namespace {

struct InitOptions {};

int run_init(const InitOptions&, Context& ctx) {
  const std::filesystem::path path = ctx.db_path();
  std::error_code ec;
  const bool existed = std::filesystem::exists(path, ec);
  Context::Opened opened = ctx.open_database(/*create=*/true);
  const int version = opened.db.user_version();
  if (ctx.globals.json) {
    ctx.print_json({{"path", path.string()}, {"created", !existed}, {"schema_version", version}});
  } else {
    ctx.out((existed ? "database " + path.string() + " exists" : "created " + path.string()) +
            " (schema version " + std::to_string(version) + ")");
  }
  return kExitOk;
}

}  // namespace

void setup_db_init(CLI::App& parent, Context& ctx, Runner& runner) {
  auto options = std::make_shared<InitOptions>();
  CLI::App* cmd =
      parent.add_subcommand("init", "Create the encrypted database (or check it opens)");
  add_examples(cmd,
               "  COORDKIT_PASSPHRASE=... coordctl --db app.db db init\n"
               "  coordctl --db app.db --key-file app.key db init --json\n");
  cmd->callback([options, &ctx, &runner] {
    runner.set([options, &ctx] { return run_init(*options, ctx); });
  });
}

}  // namespace coordkit::cli

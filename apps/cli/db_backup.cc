// coordctl db backup: an online copy (writers keep going) into a new
// encrypted file with its own salt, keyed with the same key or another.
#include <filesystem>
#include <string>

#include "coordkit/cli/commands.h"

namespace coordkit::cli {
namespace {

struct BackupOptions {
  std::string dest;
  std::string dest_key_file;
};

int run_backup(const BackupOptions& o, Context& ctx) {
  std::error_code ec;
  if (std::filesystem::exists(o.dest, ec)) {
    throw Error(ErrorCode::kUsage, "backup destination " + o.dest + " exists already");
  }
  Context::Opened opened = ctx.open_database(/*create=*/false);
  // The copy gets its own salt, so a key kept by unlock (derived for this
  // file's salt) cannot key it: the copy needs the key as the user gives it.
  db::Key dest_key;
  if (!o.dest_key_file.empty()) {
    dest_key = keys::read_key_file(o.dest_key_file).to_key();
  } else if (opened.material) {
    dest_key = opened.material->to_key();
  } else {
    dest_key = Context::prompt_secret("Passphrase for the backup " + o.dest + ": ").to_key();
  }
  opened.db.backup_to(o.dest, dest_key);
  if (ctx.globals.json) {
    ctx.print_json({{"source", ctx.db_path().string()}, {"backup", o.dest}});
  } else {
    ctx.out("backed up " + ctx.db_path().string() + " to " + o.dest);
  }
  return kExitOk;
}

}  // namespace

void setup_db_backup(CLI::App& parent, Context& ctx, Runner& runner) {
  auto o = std::make_shared<BackupOptions>();
  CLI::App* cmd =
      parent.add_subcommand("backup", "Copy the database online into a new encrypted file");
  cmd->add_option("dest", o->dest, "The backup file (must not exist)")->required();
  cmd->add_option("--dest-key-file", o->dest_key_file,
                  "Key the copy with this key file (0600, yours) instead of the database's key");
  add_examples(cmd,
               "  coordctl --db app.db db backup app-2024-05-01.db\n"
               "  coordctl --db app.db db backup copy.db --dest-key-file copy.key\n");
  cmd->callback([o, &ctx, &runner] { runner.set([o, &ctx] { return run_backup(*o, ctx); }); });
}

}  // namespace coordkit::cli

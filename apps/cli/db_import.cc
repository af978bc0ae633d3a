// coordctl db import: reads `db export` JSON lines back, versions included,
// in one transaction: every line is checked first, then all or nothing.
#include <fstream>
#include <iostream>
#include <string>

#include "coordkit/cli/commands.h"

namespace coordkit::cli {
namespace {

struct ImportOptions {
  std::string input;
  bool replace = false;
};

int run_import(const ImportOptions& o, Context& ctx) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (!o.input.empty() && o.input != "-") {
    file.open(o.input);
    if (!file) throw Error(ErrorCode::kUsage, "cannot read " + o.input);
    in = &file;
  }
  Context::Opened opened = ctx.open_database(/*create=*/false);
  records::Records<db::Database> model(opened.db);
  const records::ImportResult r = model.import_jsonl(
      *in, o.replace ? records::ImportMode::kReplace : records::ImportMode::kStrict);
  if (ctx.globals.json) {
    ctx.print_json(
        {{"inserted", r.inserted}, {"replaced", r.replaced}, {"unchanged", r.unchanged}});
  } else {
    ctx.out("imported: " + std::to_string(r.inserted) + " inserted, " + std::to_string(r.replaced) +
            " replaced, " + std::to_string(r.unchanged) + " unchanged");
  }
  return kExitOk;
}

}  // namespace

void setup_db_import(CLI::App& parent, Context& ctx, Runner& runner) {
  auto o = std::make_shared<ImportOptions>();
  CLI::App* cmd = parent.add_subcommand(
      "import", "Read JSON lines from db export in one transaction (all or nothing)");
  cmd->add_option("-i,--input", o->input, "Read this file instead of stdin")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--replace", o->replace,
                "Overwrite records that exist with another version (default: refuse, exit 7)");
  add_examples(cmd,
               "  coordctl --db fresh.db db import < all.jsonl\n"
               "  coordctl --db app.db db import -i notes.jsonl --replace\n");
  cmd->callback([o, &ctx, &runner] { runner.set([o, &ctx] { return run_import(*o, ctx); }); });
}

}  // namespace coordkit::cli

// coordctl db get: prints one record's body (or, with --json, the record).
#include <string>

#include "coordkit/cli/commands.h"

namespace coordkit::cli {
namespace {

struct GetOptions {
  std::string collection;
  std::string id;
};

int run_get(const GetOptions& o, Context& ctx) {
  Context::Opened opened = ctx.open_database(/*create=*/false);
  records::Records<db::Database> model(opened.db);
  const records::Record r = model.get(o.collection, o.id);
  if (ctx.globals.json) {
    ctx.print_json(record_json(r));
  } else {
    ctx.out(ascii_json(nlohmann::json::parse(r.body)));
  }
  return kExitOk;
}

}  // namespace

void setup_db_get(CLI::App& parent, Context& ctx, Runner& runner) {
  auto o = std::make_shared<GetOptions>();
  CLI::App* cmd = parent.add_subcommand("get", "Print a record's body (--json: the whole record)");
  cmd->add_option("collection", o->collection, "Collection name")->required();
  cmd->add_option("id", o->id, "Record id")->required();
  add_examples(cmd,
               "  coordctl --db app.db db get notes n1\n"
               "  coordctl --db app.db db get notes n1 --json\n");
  cmd->callback([o, &ctx, &runner] { runner.set([o, &ctx] { return run_get(*o, ctx); }); });
}

}  // namespace coordkit::cli

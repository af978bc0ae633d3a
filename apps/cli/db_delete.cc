// coordctl db delete: deletes one record, optionally only at an expected
// version.
#include <cstdint>
#include <string>

#include "coordkit/cli/commands.h"

namespace coordkit::cli {
namespace {

struct DeleteOptions {
  std::string collection;
  std::string id;
  std::int64_t if_version = -1;
};

int run_delete(const DeleteOptions& o, Context& ctx) {
  Context::Opened opened = ctx.open_database(/*create=*/false);
  records::Records<db::Database> model(opened.db);
  records::WriteCondition condition;
  if (o.if_version >= 0) condition.if_version = o.if_version;
  const std::int64_t version = model.remove(o.collection, o.id, condition);
  if (ctx.globals.json) {
    ctx.print_json({{"collection", o.collection}, {"id", o.id}, {"deleted_version", version}});
  } else {
    ctx.out("deleted " + o.collection + "/" + o.id + " (was version " + std::to_string(version) +
            ")");
  }
  return kExitOk;
}

}  // namespace

void setup_db_delete(CLI::App& parent, Context& ctx, Runner& runner) {
  auto o = std::make_shared<DeleteOptions>();
  CLI::App* cmd = parent.add_subcommand("delete", "Delete a record");
  cmd->add_option("collection", o->collection, "Collection name")->required();
  cmd->add_option("id", o->id, "Record id")->required();
  cmd->add_option("--if-version", o->if_version,
                  "Delete only if the record is at this version; else exit 7")
      ->check(CLI::PositiveNumber);
  add_examples(cmd,
               "  coordctl --db app.db db delete notes n1\n"
               "  coordctl --db app.db db delete notes n1 --if-version 3\n");
  cmd->callback([o, &ctx, &runner] { runner.set([o, &ctx] { return run_delete(*o, ctx); }); });
}

}  // namespace coordkit::cli

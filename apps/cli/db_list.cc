// coordctl db list: one page of a collection's records in id order, or
// every page with --all.
#include <cstddef>
#include <string>

#include "coordkit/cli/commands.h"

namespace coordkit::cli {
namespace {

struct ListOptions {
  std::string collection;
  std::size_t limit = records::kDefaultListLimit;
  std::string cursor;
  bool all = false;
};

int run_list(const ListOptions& o, Context& ctx) {
  Context::Opened opened = ctx.open_database(/*create=*/false);
  records::Records<db::Database> model(opened.db);
  std::string cursor = o.cursor;
  nlohmann::json items = nlohmann::json::array();
  std::optional<std::string> next;
  do {
    records::Page page = model.list(o.collection, cursor, o.limit);
    for (const records::Record& r : page.records) {
      if (ctx.globals.json) {
        items.push_back(record_json(r));
      } else {
        ctx.out(r.id + " " + std::to_string(r.version) + " " +
                ascii_json(nlohmann::json::parse(r.body)));
      }
    }
    next = page.next_cursor;
    if (next) cursor = *next;
  } while (o.all && next);
  if (ctx.globals.json) {
    ctx.print_json({{"records", items}, {"next_cursor", next ? nlohmann::json(*next) : nullptr}});
  } else if (next) {
    ctx.err("more: --cursor " + *next);
  }
  return kExitOk;
}

}  // namespace

void setup_db_list(CLI::App& parent, Context& ctx, Runner& runner) {
  auto o = std::make_shared<ListOptions>();
  CLI::App* cmd = parent.add_subcommand("list", "List a collection's records (id, version, body)");
  cmd->add_option("collection", o->collection, "Collection name")->required();
  cmd->add_option("--limit", o->limit, "Records per page")
      ->check(CLI::Range(std::size_t{1}, records::Limits{}.max_list_limit))
      ->capture_default_str();
  cmd->add_option("--cursor", o->cursor, "Continue after this cursor (printed by a previous page)");
  cmd->add_flag("--all", o->all, "Follow the cursor to the last page");
  add_examples(cmd,
               "  coordctl --db app.db db list notes --limit 20\n"
               "  coordctl --db app.db db list notes --cursor <cursor from the last page>\n"
               "  coordctl --db app.db db list notes --all --json\n");
  cmd->callback([o, &ctx, &runner] { runner.set([o, &ctx] { return run_list(*o, ctx); }); });
}

}  // namespace coordkit::cli

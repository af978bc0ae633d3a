// coordctl db stats: the file's shape and the records per collection.
#include <string>

#include "coordkit/cli/commands.h"

namespace coordkit::cli {
namespace {

struct StatsOptions {};

int run_stats(const StatsOptions&, Context& ctx) {
  Context::Opened opened = ctx.open_database(/*create=*/false);
  records::Records<db::Database> model(opened.db);
  const std::vector<records::CollectionStats> collections = model.stats();
  const db::Stats s = opened.db.stats();
  if (ctx.globals.json) {
    nlohmann::json c = nlohmann::json::array();
    for (const auto& x : collections) {
      c.push_back(
          {{"collection", x.collection}, {"records", x.records}, {"body_bytes", x.body_bytes}});
    }
    ctx.print_json({{"path", ctx.db_path().string()},
                    {"page_count", s.page_count},
                    {"page_size", s.page_size},
                    {"freelist_count", s.freelist_count},
                    {"wal_bytes", s.wal_bytes},
                    {"schema_version", s.user_version},
                    {"key_from_keyring", opened.from_keyring},
                    {"collections", c}});
  } else {
    ctx.out("path:           " + ctx.db_path().string());
    ctx.out("pages:          " + std::to_string(s.page_count) + " x " +
            std::to_string(s.page_size) + " bytes (" + std::to_string(s.freelist_count) + " free)");
    ctx.out("wal:            " + std::to_string(s.wal_bytes) + " bytes");
    ctx.out("schema version: " + std::to_string(s.user_version));
    ctx.out("collections:    " + std::to_string(collections.size()));
    for (const auto& x : collections) {
      ctx.out("  " + x.collection + ": " + std::to_string(x.records) + " records, " +
              std::to_string(x.body_bytes) + " body bytes");
    }
  }
  return kExitOk;
}

}  // namespace

void setup_db_stats(CLI::App& parent, Context& ctx, Runner& runner) {
  auto o = std::make_shared<StatsOptions>();
  CLI::App* cmd = parent.add_subcommand("stats", "Show pages, WAL size and records per collection");
  add_examples(cmd,
               "  coordctl --db app.db db stats\n"
               "  coordctl --db app.db db stats --json\n");
  cmd->callback([o, &ctx, &runner] { runner.set([o, &ctx] { return run_stats(*o, ctx); }); });
}

}  // namespace coordkit::cli

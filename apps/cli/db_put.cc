// coordctl db put: writes one record (JSON object from an argument or
// stdin), optionally only if it is at an expected version.
#include <cstdint>
#include <iostream>
#include <iterator>
#include <string>

#include "coordkit/cli/commands.h"

namespace coordkit::cli {
namespace {

struct PutOptions {
  std::string collection;
  std::string id;
  std::string body;  // "-" or empty: stdin
  std::int64_t if_version = -1;
  bool if_absent = false;
};

int run_put(const PutOptions& o, Context& ctx) {
  std::string body = o.body;
  if (body.empty() || body == "-") {
    body.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  records::WriteCondition condition;
  if (o.if_version >= 0) condition.if_version = o.if_version;
  condition.if_absent = o.if_absent;
  Context::Opened opened = ctx.open_database(/*create=*/false);
  records::Records<db::Database> model(opened.db);
  const records::PutResult r = model.put(o.collection, o.id, body, condition);
  if (ctx.globals.json) {
    ctx.print_json({{"collection", r.record.collection},
                    {"id", r.record.id},
                    {"version", r.record.version},
                    {"created", r.created}});
  } else {
    ctx.out(r.record.collection + "/" + r.record.id + " version " +
            std::to_string(r.record.version) + (r.created ? " (created)" : ""));
  }
  return kExitOk;
}

}  // namespace

void setup_db_put(CLI::App& parent, Context& ctx, Runner& runner) {
  auto o = std::make_shared<PutOptions>();
  CLI::App* cmd = parent.add_subcommand("put", "Write a record (a JSON object)");
  cmd->add_option("collection", o->collection, "Collection name ([a-z0-9_-]{1,64})")
      ->required()
      ->check(CLI::Validator(
          [](std::string& s) {
            return records::valid_collection(s) ? std::string() : "not a collection name";
          },
          "COLLECTION"));
  cmd->add_option("id", o->id, "Record id ([A-Za-z0-9._~-]{1,128})")
      ->required()
      ->check(CLI::Validator(
          [](std::string& s) { return records::valid_id(s) ? std::string() : "not a record id"; },
          "ID"));
  cmd->add_option("json", o->body, "The record body; '-' or nothing: read it from stdin");
  auto* v = cmd->add_option("--if-version", o->if_version,
                            "Write only if the record is at this version (0: absent); else exit 7")
                ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--if-absent", o->if_absent, "Write only if the record does not exist; else exit 7")
      ->excludes(v);
  add_examples(cmd,
               "  coordctl --db app.db db put notes n1 '{\"text\":\"hello\"}'\n"
               "  echo '{\"text\":\"hi\"}' | coordctl --db app.db db put notes n1\n"
               "  coordctl --db app.db db put notes n1 '{\"text\":\"v2\"}' --if-version 1\n");
  cmd->callback([o, &ctx, &runner] { runner.set([o, &ctx] { return run_put(*o, ctx); }); });
}

}  // namespace coordkit::cli

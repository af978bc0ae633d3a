// coordctl db export: a collection (or all) as JSON lines, from one
// snapshot, to stdout or a file. ASCII only: bodies are \u-escaped.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "coordkit/cli/commands.h"

namespace coordkit::cli {
namespace {

struct ExportOptions {
  std::string collection;
  std::string output;
};

int run_export(const ExportOptions& o, Context& ctx) {
  Context::Opened opened = ctx.open_database(/*create=*/false);
  std::optional<std::string> collection;
  if (!o.collection.empty()) collection = o.collection;
  const std::vector<records::Record> all =
      opened.db.read([&](db::Transaction& tx) { return records::export_records(tx, collection); });
  std::string text;
  for (const records::Record& r : all) {
    text += ascii_json(records::to_json(r));
    text += '\n';
  }
  if (o.output.empty() || o.output == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
  } else {
    // 0600: an export is the database's content in the clear.
    const int fd = ::open(o.output.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
      throw Error(ErrorCode::kUsage, "cannot create " + o.output + " (it must not exist)");
    std::size_t done = 0;
    while (done < text.size()) {
      const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
      if (n <= 0) {
        ::close(fd);
        throw Error(ErrorCode::kFailed, "cannot write " + o.output);
      }
      done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0)
      throw Error(ErrorCode::kFailed, "cannot write " + o.output);
  }
  if (ctx.globals.json && !o.output.empty() && o.output != "-") {
    ctx.print_json({{"exported", all.size()}, {"output", o.output}});
  } else {
    ctx.err("exported " + std::to_string(all.size()) + " records");
  }
  return kExitOk;
}

}  // namespace

void setup_db_export(CLI::App& parent, Context& ctx, Runner& runner) {
  auto o = std::make_shared<ExportOptions>();
  CLI::App* cmd = parent.add_subcommand("export", "Write records as JSON lines (one snapshot)");
  cmd->add_option("--collection", o->collection, "Only this collection (default: all)")
      ->check(CLI::Validator(
          [](std::string& s) {
            return records::valid_collection(s) ? std::string() : "not a collection name";
          },
          "COLLECTION"));
  cmd->add_option("-o,--output", o->output, "Write to this new file (0600) instead of stdout");
  add_examples(cmd,
               "  coordctl --db app.db db export > all.jsonl\n"
               "  coordctl --db app.db db export --collection notes -o notes.jsonl\n");
  cmd->callback([o, &ctx, &runner] { runner.set([o, &ctx] { return run_export(*o, ctx); }); });
}

}  // namespace coordkit::cli

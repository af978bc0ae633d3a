// coordctl unlock: derives the key from the passphrase once and keeps it in
// the kernel user keyring for --ttl, bound to this database's salt, so later
// coordctl calls skip the KDF (about a quarter of a second each). The key
// never touches the disk. Where there is no keyring, says so; coordctl then
// works as before, deriving the key in every call.
#include <chrono>
#include <string>

#include "coordkit/cli/commands.h"
#include "coordkit/cli/duration.h"

namespace coordkit::cli {
namespace {

struct UnlockOptions {
  std::string ttl = "15m";
};

int run_unlock(const UnlockOptions& o, Context& ctx) {
  const std::chrono::seconds ttl = *parse_duration(o.ttl);  // the validator checked it
  const std::filesystem::path path = ctx.db_path();
  const keys::KeyMaterial material = ctx.key_or_prompt();
  if (material.kind == keys::KeyMaterial::Kind::kRawKey) {
    if (ctx.globals.json) {
      ctx.print_json({{"path", path.string()}, {"cached", false}, {"reason", "raw_key"}});
    } else {
      ctx.out("the key is a raw key: it needs no unlock (no KDF to skip)");
    }
    return kExitOk;
  }
  const keys::Salt salt = keys::read_salt(path);  // before any connection to the file
  const keys::DerivedKey derived = keys::derive_key(material.secret.view(), salt);
  {
    // Verify before keeping: a wrong passphrase must not be cached.
    db::Options options;
    options.path = path;
    options.key = derived.to_key();
    options.create_if_missing = false;
    options.migrations = records::migrations();
    db::Database check = db::Database::open(std::move(options));
  }
  try {
    keys::keyring_store(salt, derived, ttl);
  } catch (const keys::Error& e) {
    if (e.code() != keys::ErrorCode::kKeyringUnavailable) throw;
    if (ctx.globals.json) {
      ctx.print_json(
          {{"path", path.string()}, {"cached", false}, {"reason", "keyring_unavailable"}});
    } else {
      ctx.err("no kernel keyring here (" + std::string(e.what()) +
              "); coordctl works without it: every call derives the key from the passphrase");
    }
    return kExitOk;
  }
  if (ctx.globals.json) {
    ctx.print_json({{"path", path.string()}, {"cached", true}, {"ttl_seconds", ttl.count()}});
  } else {
    ctx.out("unlocked " + path.string() + " for " + std::to_string(ttl.count()) +
            " s (key kept in the kernel user keyring; `coordctl lock` forgets it)");
  }
  return kExitOk;
}

}  // namespace

void setup_unlock(CLI::App& parent, Context& ctx, Runner& runner) {
  auto o = std::make_shared<UnlockOptions>();
  CLI::App* cmd = parent.add_subcommand(
      "unlock", "Keep the key derived from the passphrase in the kernel keyring for a while");
  cmd->add_option("--ttl", o->ttl, "How long: 90s, 15m, 2h, 1d (a bare number is seconds)")
      ->check(CLI::Validator(
          [](std::string& s) { return parse_duration(s) ? std::string() : "not a duration"; },
          "DURATION"))
      ->capture_default_str();
  add_examples(cmd,
               "  coordctl --db app.db unlock            # asks for the passphrase\n"
               "  COORDKIT_PASSPHRASE=... coordctl --db app.db unlock --ttl 1h\n"
               "  coordctl --db app.db db put notes n1 '{}'   # then: no passphrase, no KDF\n");
  cmd->callback([o, &ctx, &runner] { runner.set([o, &ctx] { return run_unlock(*o, ctx); }); });
}

}  // namespace coordkit::cli

// coordctl db rekey: re-encrypts the database with a new key, in place.
// Directly when the gateway is down. When it runs, the change must go
// through the gateway (its connections would otherwise keep the old key);
// until the gateway offers that route, coordctl refuses and says so.
#include <string>

#include "coordkit/cli/commands.h"

namespace coordkit::cli {
namespace {

inline constexpr const char* kEnvNewPassphrase = "COORDKIT_NEW_PASSPHRASE";

struct RekeyOptions {
  std::string new_key_file;
};

keys::KeyMaterial new_key(const RekeyOptions& o) {
  if (!o.new_key_file.empty()) return keys::read_key_file(o.new_key_file);
  if (const char* v = std::getenv(kEnvNewPassphrase); v != nullptr && *v != '\0') {
    return keys::KeyMaterial::passphrase(v, keys::Origin::kPassphraseEnv);
  }
  keys::KeyMaterial first = Context::prompt_secret("New passphrase: ");
  keys::KeyMaterial again = Context::prompt_secret("New passphrase again: ");
  if (first.secret.view() != again.secret.view()) {
    throw Error(ErrorCode::kUsage, "the two new passphrases differ");
  }
  return first;
}

int run_rekey(const RekeyOptions& o, Context& ctx) {
  if (ctx.gateway_client().status().running()) {
    throw Error(ErrorCode::kUnavailable,
                "the gateway runs: a rekey must go through it so that it keeps working, and this "
                "gateway has no rekey route yet; stop it first (coordctl gateway stop)");
  }
  const keys::KeyMaterial next = new_key(o);
  const std::filesystem::path path = ctx.db_path();
  std::optional<keys::Salt> salt;
  try {
    salt = keys::read_salt(path);
  } catch (const keys::Error&) {
    salt.reset();  // the open below reports a missing database
  }
  Context::Opened opened = ctx.open_database(/*create=*/false);
  opened.db.rekey(next.to_key());
  bool revoked = false;
  if (salt) {
    try {
      revoked = keys::keyring_revoke(*salt);  // a kept key is the old one now
    } catch (const keys::Error&) {
      revoked = false;
    }
  }
  if (ctx.globals.json) {
    ctx.print_json(
        {{"path", path.string()}, {"rekeyed", true}, {"keyring_entry_revoked", revoked}});
  } else {
    ctx.out("rekeyed " + path.string() + (revoked ? " (the unlocked key was revoked)" : ""));
  }
  return kExitOk;
}

}  // namespace

void setup_db_rekey(CLI::App& parent, Context& ctx, Runner& runner) {
  auto o = std::make_shared<RekeyOptions>();
  CLI::App* cmd = parent.add_subcommand("rekey", "Change the database key in place");
  cmd->add_option("--new-key-file", o->new_key_file,
                  "The new key (0600, yours); else COORDKIT_NEW_PASSPHRASE, else a prompt");
  add_examples(
      cmd,
      "  coordctl --db app.db --key-file old.key db rekey --new-key-file new.key\n"
      "  COORDKIT_PASSPHRASE=old COORDKIT_NEW_PASSPHRASE=new coordctl --db app.db db rekey\n");
  cmd->callback([o, &ctx, &runner] { runner.set([o, &ctx] { return run_rekey(*o, ctx); }); });
}

}  // namespace coordkit::cli

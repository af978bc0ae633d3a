// coordctl db rekey: re-encrypts the database with a new key, in place.
// Directly when the gateway is down. When it runs, the change goes through
// the gateway's admin rekey route (its connections would otherwise keep the
// old key), after coordctl has proved the current key by opening the file;
// the gateway then serves with the new key, and any process still holding
// the old one gets the wrong-key error. A gateway whose key came from a key
// file rewrites that file (crash-safe: see apps/gateway/README.md), so it
// starts again with the new key; one whose key came from its environment
// does not, and coordctl says so: the next start needs the new key there.
#include <chrono>
#include <cstdio>
#include <string>

#include "coordkit/cli/commands.h"
#include "coordkit/cli/gateway_admin.h"

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

// kGatewayRekeyTimeout: how long the gateway may take to re-encrypt.
inline constexpr std::chrono::milliseconds kGatewayRekeyTimeout{120000};

// rekey_body: the admin rekey route's body for `key`.
nlohmann::json rekey_body(const keys::KeyMaterial& key) {
  if (key.kind == keys::KeyMaterial::Kind::kPassphrase) {
    return {{"passphrase", std::string(key.secret.view())}};
  }
  std::string hex;
  for (std::uint8_t b : key.secret.bytes()) {
    char two[3];
    std::snprintf(two, sizeof two, "%02x", static_cast<unsigned>(b));
    hex += two;
  }
  return {{"key_hex", hex}};
}

// GatewayRekey: what the gateway said it did besides re-encrypting.
struct GatewayRekey {
  bool key_file_updated = false;
  std::string key_file;  // the gateway's key file, when its key came from one
};

// rekey_through_gateway: asks the running gateway to rekey. Throws Error.
GatewayRekey rekey_through_gateway(const ipc::Status& status, const ipc::Client& client,
                                   const keys::KeyMaterial& next) {
  if (!status.record || status.record->address.empty()) {
    throw Error(ErrorCode::kUnavailable,
                "the gateway runs but publishes no address yet; try again once it is ready");
  }
  nlohmann::json body = rekey_body(next);
  const AdminReply reply = admin_post(status.record->address, client.runtime_dir(),
                                      "/v1/admin/rekey", body, kGatewayRekeyTimeout);
  body.clear();
  if (reply.status == 200) {
    GatewayRekey out;
    if (reply.body.is_object()) {
      out.key_file_updated = reply.body.value("key_file_updated", false);
      out.key_file = reply.body.value("key_file", std::string());
    }
    return out;
  }
  std::string code = "unknown";
  if (reply.body.is_object() && reply.body.contains("error") && reply.body["error"].is_object() &&
      reply.body["error"].contains("code") && reply.body["error"]["code"].is_string()) {
    code = reply.body["error"]["code"].get<std::string>();
  }
  const std::string what =
      "the gateway refused the rekey: HTTP " + std::to_string(reply.status) + " (" + code + ")";
  if (reply.status == 503) throw Error(ErrorCode::kTimedOut, what);
  throw Error(ErrorCode::kFailed, what);
}

int run_rekey(const RekeyOptions& o, Context& ctx) {
  const ipc::Client client = ctx.gateway_client();
  const ipc::Status status = client.status();
  const keys::KeyMaterial next = new_key(o);
  const std::filesystem::path path = ctx.db_path();
  std::optional<keys::Salt> salt;
  try {
    salt = keys::read_salt(path);
  } catch (const keys::Error&) {
    salt.reset();  // the open below reports a missing database
  }
  bool through_gateway = false;
  {
    // Opening proves the current key (a wrong one: exit 4, nothing changed).
    Context::Opened opened = ctx.open_database(/*create=*/false);
    if (status.running()) {
      through_gateway = true;
    } else {
      opened.db.rekey(next.to_key());
    }
  }
  GatewayRekey gateway;
  if (through_gateway) gateway = rekey_through_gateway(status, client, next);
  bool revoked = false;
  if (salt) {
    try {
      revoked = keys::keyring_revoke(*salt);  // a kept key is the old one now
    } catch (const keys::Error&) {
      revoked = false;
    }
  }
  if (ctx.globals.json) {
    nlohmann::json out = {{"path", path.string()},
                          {"rekeyed", true},
                          {"through_gateway", through_gateway},
                          {"keyring_entry_revoked", revoked}};
    if (through_gateway) {
      out["gateway_key_file_updated"] = gateway.key_file_updated;
      if (!gateway.key_file.empty()) out["gateway_key_file"] = gateway.key_file;
    }
    ctx.print_json(out);
  } else {
    ctx.out("rekeyed " + path.string() + (through_gateway ? " through the running gateway" : "") +
            (revoked ? " (the unlocked key was revoked)" : ""));
  }
  if (through_gateway && gateway.key_file_updated) {
    if (!ctx.globals.json) {
      ctx.out("the gateway's key file " + gateway.key_file +
              " holds the new key: its next start uses it");
    }
  } else if (through_gateway) {
    // The gateway's key came from its environment (COORDKIT_PASSPHRASE):
    // nothing on disk to update, and its next start would get the old key.
    ctx.err(
        "coordctl: note: the gateway took its key from its environment, not a key file: "
        "give it the new key (COORDKIT_PASSPHRASE, or a key file) before it starts again");
  }
  return kExitOk;
}

}  // namespace

void setup_db_rekey(CLI::App& parent, Context& ctx, Runner& runner) {
  auto o = std::make_shared<RekeyOptions>();
  CLI::App* cmd = parent.add_subcommand(
      "rekey", "Change the database key in place (through the gateway when it runs)");
  cmd->add_option("--new-key-file", o->new_key_file,
                  "The new key (0600, yours); else COORDKIT_NEW_PASSPHRASE, else a prompt");
  cmd->footer(
      "With a running gateway the rekey goes through the gateway: coordctl proves the\n"
      "current key by opening the file, then posts the new key to the gateway's admin\n"
      "rekey route; the gateway re-encrypts, serves on with the new key and, when its\n"
      "key came from a key file, writes the new key into that file (so it starts again\n"
      "with it). A gateway keyed from its environment needs the new key there before it\n"
      "starts again; coordctl says so. With no gateway running, coordctl rekeys the file.\n"
      "\n"
      "Examples:\n"
      "  coordctl --db app.db --key-file old.key db rekey --new-key-file new.key\n"
      "  COORDKIT_PASSPHRASE=old COORDKIT_NEW_PASSPHRASE=new coordctl --db app.db db rekey\n");
  cmd->callback([o, &ctx, &runner] { runner.set([o, &ctx] { return run_rekey(*o, ctx); }); });
}

}  // namespace coordkit::cli

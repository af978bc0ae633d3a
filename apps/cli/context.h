// coordkit/cli/context.h: what every coordctl command shares: the global
// options, ASCII-only output, where the database key comes from, opening the
// database, and where the gateway lives.
//
// Example (a command's run function):
//   void run_get(const GetOptions& o, Context& ctx) {
//     coordkit::db::Database db = ctx.open_database(/*create=*/false);
//     ...
//     ctx.print_json(j);
//   }
#ifndef COORDKIT_APPS_CLI_CONTEXT_H_
#define COORDKIT_APPS_CLI_CONTEXT_H_

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "coordkit/apps/key_source.h"
#include "coordkit/apps/keyring.h"
#include "coordkit/apps/records.h"
#include "coordkit/cli/exit_codes.h"
#include "coordkit/db/database.h"
#include "coordkit/ipc/client.h"
#include "coordkit/log/to_ascii.h"

namespace coordkit::cli {

// kGatewayApp: the ipc app name the gateway registers under.
inline constexpr const char* kGatewayApp = "gateway";
inline constexpr const char* kEnvDb = "COORDKIT_DB";
inline constexpr const char* kEnvGatewayBin = "COORDKIT_GATEWAY_BIN";
inline constexpr const char* kEnvGatewayLog = "COORDKIT_GATEWAY_LOG";
// kEnvNoPrompt: set (non-empty) to never prompt for a passphrase, even on a
// terminal (scripts, tests).
inline constexpr const char* kEnvNoPrompt = "COORDKIT_NO_PROMPT";

// Globals: the options every command takes (before or after its name).
struct Globals {
  std::string db;           // --db / COORDKIT_DB
  std::string key_file;     // --key-file
  std::string runtime_dir;  // --runtime-dir / COORDKIT_RUNTIME_DIR (read by libs/ipc)
  bool json = false;        // --json
  std::string gateway_bin;  // gateway --gateway-bin / COORDKIT_GATEWAY_BIN
  std::string gateway_log;  // gateway --log-file / COORDKIT_GATEWAY_LOG
};

// print_ascii: `text` to `stream` line by line; a line holding anything but
// printable ASCII goes through log::to_ascii, so a record body or a file name
// never puts a non-ASCII byte or a control character on a console.
inline void print_ascii(std::FILE* stream, std::string_view text) {
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    bool plain = true;  // printable ASCII goes out as it is (JSON keeps its backslashes)
    for (char c : line) plain = plain && c >= 0x20 && c <= 0x7e;
    if (plain) {
      std::fwrite(line.data(), 1, line.size(), stream);
    } else {
      const std::string shown = log::to_ascii(line);
      std::fwrite(shown.data(), 1, shown.size(), stream);
    }
    std::fputc('\n', stream);
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
}

// ascii_json: compact JSON with every non-ASCII character escaped (\uXXXX),
// invalid UTF-8 replaced.
inline std::string ascii_json(const nlohmann::json& j) {
  return j.dump(-1, ' ', /*ensure_ascii=*/true, nlohmann::json::error_handler_t::replace);
}

// Context: the parsed globals plus the helpers commands use. One per process.
class Context {
 public:
  Globals globals;

  // out / err: one line (or several) of text, ASCII only.
  void out(std::string_view text) const { print_ascii(stdout, text); }
  void err(std::string_view text) const { print_ascii(stderr, text); }
  // print_json: one JSON document on one stdout line, ASCII only.
  void print_json(const nlohmann::json& j) const {
    const std::string s = ascii_json(j);
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fputc('\n', stdout);
  }

  // db_path: --db, else COORDKIT_DB; Error{kUsage} when neither is given.
  std::filesystem::path db_path() const {
    if (!globals.db.empty()) return globals.db;
    if (const char* v = std::getenv(kEnvDb); v != nullptr && *v != '\0') return v;
    throw Error(ErrorCode::kUsage, "no database: give --db PATH or set COORDKIT_DB");
  }

  // given_db_path: db_path() made absolute, or nullopt when none is given.
  std::optional<std::filesystem::path> given_db_path() const {
    if (globals.db.empty() && std::getenv(kEnvDb) == nullptr) return std::nullopt;
    return std::filesystem::absolute(db_path()).lexically_normal();
  }

  std::optional<std::filesystem::path> runtime_dir() const {
    if (globals.runtime_dir.empty()) return std::nullopt;
    return std::filesystem::path(globals.runtime_dir);
  }

  // gateway_bin: --gateway-bin, else COORDKIT_GATEWAY_BIN, else
  // coordkit-gateway next to this coordctl executable.
  std::filesystem::path gateway_bin() const {
    if (!globals.gateway_bin.empty()) return std::filesystem::absolute(globals.gateway_bin);
    if (const char* v = std::getenv(kEnvGatewayBin); v != nullptr && *v != '\0') {
      return std::filesystem::absolute(v);
    }
    std::error_code ec;
    const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) throw Error(ErrorCode::kUsage, "cannot find coordctl's own path: give --gateway-bin");
    return self.parent_path() / "coordkit-gateway";
  }

  // gateway_log: --log-file, else COORDKIT_GATEWAY_LOG, else gateway.log
  // beside the database (the gateway's data directory, where it writes its
  // own log), else gateway.log in the runtime directory. Start appends the
  // gateway's stdout and stderr to it (so a failure before the gateway opens
  // its log is there too); logs shows it.
  std::filesystem::path gateway_log() const {
    if (!globals.gateway_log.empty()) return std::filesystem::absolute(globals.gateway_log);
    if (const char* v = std::getenv(kEnvGatewayLog); v != nullptr && *v != '\0') {
      return std::filesystem::absolute(v);
    }
    if (const std::optional<std::filesystem::path> db = given_db_path()) {
      return db->parent_path() / "gateway.log";
    }
    return gateway_client().runtime_dir() / "gateway.log";
  }

  // gateway_client: an ipc::Client for the gateway's runtime directory.
  ipc::Client gateway_client() const { return ipc::Client({kGatewayApp, runtime_dir()}); }

  // given_key: the key as the user gave it (--key-file, COORDKIT_KEY_FILE,
  // COORDKIT_PASSPHRASE), or nullopt when none was given. Never prompts.
  std::optional<keys::KeyMaterial> given_key() const {
    keys::KeySourceOptions source;
    if (!globals.key_file.empty()) source.key_file = globals.key_file;
    try {
      return keys::load_key_material(source);
    } catch (const keys::Error& e) {
      if (e.code() == keys::ErrorCode::kNoKey) return std::nullopt;
      throw;
    }
  }

  // prompt_secret: asks on the controlling terminal without echo. Throws
  // keys::Error{kNoKey} when there is no terminal (or COORDKIT_NO_PROMPT).
  static keys::KeyMaterial prompt_secret(const std::string& question) {
    if (const char* v = std::getenv(kEnvNoPrompt); v != nullptr && *v != '\0') {
      throw keys::Error(keys::ErrorCode::kNoKey, no_key_message());
    }
    const int fd = ::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) throw keys::Error(keys::ErrorCode::kNoKey, no_key_message());
    struct Closer {
      int fd;
      ~Closer() { ::close(fd); }
    } closer{fd};
    termios old{};
    const bool have_termios = ::tcgetattr(fd, &old) == 0;
    if (have_termios) {
      termios quiet = old;
      quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
      ::tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    [[maybe_unused]] ssize_t w = ::write(fd, question.data(), question.size());
    keys::Secret line;
    std::string buf;
    char c = 0;
    while (::read(fd, &c, 1) == 1 && c != '\n') buf.push_back(c);
    if (have_termios) ::tcsetattr(fd, TCSAFLUSH, &old);
    w = ::write(fd, "\n", 1);
    if (!buf.empty() && buf.back() == '\r') buf.pop_back();
    keys::KeyMaterial material = keys::KeyMaterial::passphrase(buf);
    OPENSSL_cleanse(buf.data(), buf.size());
    return material;
  }

  // key_or_prompt: given_key(), else a prompt on the terminal.
  keys::KeyMaterial key_or_prompt() const {
    if (std::optional<keys::KeyMaterial> k = given_key()) return std::move(*k);
    return prompt_secret("Passphrase for " + db_path().string() + ": ");
  }

  // Opened: a database and how its key was found.
  struct Opened {
    db::Database db;
    std::optional<keys::KeyMaterial> material;  // the key as given (none if from the keyring alone)
    bool from_keyring = false;
  };

  // open_database: opens (create: creates if missing) the records database.
  // The key: a raw key as given; for a passphrase, or when no key is given,
  // the derived key kept by `coordctl unlock` for this file's salt (no KDF);
  // else the given passphrase; else a prompt on the terminal. A kept key
  // that no longer fits (the file was rekeyed) is revoked and the given key
  // used. Throws db::Error, keys::Error, Error{kUsage}.
  Opened open_database(bool create) const {
    const std::filesystem::path path = db_path();
    std::optional<keys::KeyMaterial> material = given_key();
    std::optional<keys::DerivedKey> kept;
    std::optional<keys::Salt> salt;
    std::error_code ec;
    const bool exists = std::filesystem::exists(path, ec);
    if (exists && (!material || material->kind == keys::KeyMaterial::Kind::kPassphrase)) {
      try {
        salt = keys::read_salt(path);  // before this process opens the file
        kept = keys::keyring_find(*salt);
      } catch (const keys::Error&) {
        kept.reset();  // no keyring here, or no salt yet: the given key decides
      }
    }
    if (!material && !kept) {
      material = prompt_secret("Passphrase for " + path.string() + ": ");
    }
    db::Options options;
    options.path = path;
    options.create_if_missing = create;
    options.migrations = records::migrations();
    if (kept) {
      options.key = kept->to_key();
      try {
        return Opened{db::Database::open(options), std::move(material), true};
      } catch (const db::Error& e) {
        if (e.code() != db::ErrorCode::kWrongKeyOrNotADatabase || !material) throw;
        try {
          keys::keyring_revoke(*salt);
        } catch (const keys::Error&) {
        }
      }
    }
    options.key = material->to_key();
    return Opened{db::Database::open(std::move(options)), std::move(material), false};
  }

 private:
  static std::string no_key_message() {
    return "no key: give --key-file PATH, set COORDKIT_KEY_FILE or COORDKIT_PASSPHRASE, "
           "run `coordctl unlock`, or run on a terminal to be asked";
  }
};

// Runner: how main() runs the command the user chose: setup functions
// register their run function with set_run().
class Runner {
 public:
  void set(std::function<int()> run) { run_ = std::move(run); }
  bool has() const noexcept { return static_cast<bool>(run_); }
  int run() const { return run_(); }

 private:
  std::function<int()> run_;
};

// add_examples: the footer of a command's --help.
inline void add_examples(CLI::App* app, std::string examples) {
  app->footer("Examples:\n" + std::move(examples));
}

}  // namespace coordkit::cli

#endif  // COORDKIT_APPS_CLI_CONTEXT_H_

// coordkit/gateway/service.h: what coordkit-gateway does, as plain functions
// over a db::Store and the records model, without HTTP: the records
// operations with a deadline each, and the admin operations (stats,
// checkpoint, integrity check, backup, rekey). The HTTP routes (routes.h)
// only translate requests into these calls and their results into JSON.
//
// Example:
//   auto service = coordkit::gateway::Service::open({.database = "gw.db",
//                                                    .data_dir = ".", .key = key});
//   auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
//   coordkit::records::Record r = service->create("notes", R"({"t":1})", deadline);
//   service->backup("nightly", deadline);  // <data_dir>/backups/nightly
#ifndef COORDKIT_APPS_GATEWAY_SERVICE_H_
#define COORDKIT_APPS_GATEWAY_SERVICE_H_

#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "coordkit/apps/records.h"
#include "coordkit/base/error.h"
#include "coordkit/db/db.h"
#include "coordkit/gateway/error.h"
#include "coordkit/gateway/key_file.h"

namespace coordkit::gateway {

using Deadline = std::chrono::steady_clock::time_point;

// valid_backup_name: [A-Za-z0-9_-][A-Za-z0-9._-]{0,63}: a file name in the
// backups folder, never a path (no '/', no leading '.').
inline bool valid_backup_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 64 || name.front() == '.') return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// ServiceOptions: what Service::open needs.
struct ServiceOptions {
  std::filesystem::path database;
  std::filesystem::path data_dir;  // backups go to <data_dir>/backups
  db::Key key;
  // key_file: the file `key` was read from, which a rekey keeps up to date
  // (key_file.h); empty when the key came from elsewhere (the environment).
  std::filesystem::path key_file{};
  db::Synchronous synchronous = db::Synchronous::kNormal;
  bool create_if_missing = true;
  int readers = 4;
  records::Limits limits{};
};

// RekeyResult: what a rekey did besides re-encrypting.
struct RekeyResult {
  // key_file_updated: the key file now holds the new key. False when the
  // key came from elsewhere (key_file empty): whoever starts the gateway
  // must give it the new key.
  bool key_file_updated = false;
  std::filesystem::path key_file;
};

// BackupResult: where a backup went and how large it is.
struct BackupResult {
  std::string name;
  std::filesystem::path path;
  std::uintmax_t bytes = 0;
};

// Service: thread-safe: every method may be called from any thread, until
// close(). Owns the Store and a copy of the current key (for backups); the
// key never leaves it.
class Service {
 public:
  // open: opens the Store (writer, migrations, readers). Throws db::Error
  // (kWrongKeyOrNotADatabase for a wrong key: the file is left untouched).
  static std::unique_ptr<Service> open(ServiceOptions options) {
    db::Options db_options;
    db_options.path = options.database;
    db_options.key = options.key;
    db_options.create_if_missing = options.create_if_missing;
    db_options.synchronous = options.synchronous;
    db_options.migrations = records::migrations();
    auto store = db::Store::open(db_options, {.readers = options.readers});
    return std::unique_ptr<Service>(new Service(std::move(store), std::move(options)));
  }

  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  const records::Limits& limits() const noexcept { return options_.limits; }
  const std::filesystem::path& database_path() const noexcept { return options_.database; }

  // ---------------------------------------------------------- records
  // Each call is one transaction bounded by `deadline` (db::Error{kTimeout}
  // past it). Arguments are validated and bodies parsed before it begins.

  records::Record create(std::string_view collection, std::string_view body_json,
                         Deadline deadline) {
    return create(collection, BodyText{body_json}, deadline);
  }

  // BodyText: a body as received, and, when the caller parsed it already
  // (the router checks a request body against its schema), the value it
  // parsed it into: nlohmann::json::parse(text, nullptr, false). The text
  // is then not parsed again; the records checks are the same.
  struct BodyText {
    std::string_view text;
    const nlohmann::json* parsed = nullptr;
  };

  // create, put with a BodyText: as above, for a body parsed already.
  records::Record create(std::string_view collection, BodyText body_text, Deadline deadline) {
    records::check_collection(collection);
    const records::Body body = make_body(body_text);
    const std::string id = records::new_id();
    const std::int64_t now = records::now_ms();
    return store().write(
        [&](db::Transaction& tx) { return records::insert_new(tx, collection, id, body, now); },
        call(deadline));
  }

  records::Record get(std::string_view collection, std::string_view id, Deadline deadline) {
    return store().read([&](db::Transaction& tx) { return records::get(tx, collection, id); },
                        call(deadline));
  }

  records::PutResult put(std::string_view collection, std::string_view id,
                         std::string_view body_json, const records::WriteCondition& condition,
                         Deadline deadline) {
    return put(collection, id, BodyText{body_json}, condition, deadline);
  }
  records::PutResult put(std::string_view collection, std::string_view id, BodyText body_text,
                         const records::WriteCondition& condition, Deadline deadline) {
    records::check_collection(collection);
    records::check_id(id);
    const records::Body body = make_body(body_text);
    const std::int64_t now = records::now_ms();
    return store().write(
        [&](db::Transaction& tx) { return records::put(tx, collection, id, body, condition, now); },
        call(deadline));
  }

  std::int64_t remove(std::string_view collection, std::string_view id,
                      const records::WriteCondition& condition, Deadline deadline) {
    records::check_collection(collection);
    records::check_id(id);
    return store().write(
        [&](db::Transaction& tx) { return records::remove(tx, collection, id, condition); },
        call(deadline));
  }

  records::Page list(std::string_view collection, std::string_view cursor, std::size_t limit,
                     Deadline deadline) {
    return store().read(
        [&](db::Transaction& tx) {
          return records::list(tx, collection, cursor, limit, options_.limits);
        },
        call(deadline));
  }

  // ---------------------------------------------------------- admin

  // stats: the file's shape, the libs/db counters (retry ladder, write
  // turn, group commit) and the per-collection totals, as JSON.
  nlohmann::json stats(Deadline deadline) {
    const db::Stats s = store().stats(call(deadline));
    const std::vector<records::CollectionStats> collections =
        store().read([](db::Transaction& tx) { return records::stats(tx); }, call(deadline));
    nlohmann::json cols = nlohmann::json::array();
    for (const auto& c : collections) {
      cols.push_back(
          {{"name", c.collection}, {"records", c.records}, {"body_bytes", c.body_bytes}});
    }
    return {{"database",
             {{"path", options_.database.string()},
              {"page_count", s.page_count},
              {"page_size", s.page_size},
              {"freelist_count", s.freelist_count},
              {"wal_bytes", s.wal_bytes},
              {"user_version", s.user_version}}},
            {"counters", counters_json(s.counters)},
            {"collections", std::move(cols)}};
  }

  // counters: the Store's counters now (never blocks the writer).
  db::Counters counters() const { return store_->counters(); }

  // checkpoint: a WAL checkpoint in `mode`.
  db::CheckpointResult checkpoint(db::CheckpointMode mode, Deadline deadline) {
    return store().checkpoint(mode, call(deadline));
  }

  // check: quick_check, or the full integrity_check with `full`.
  db::CheckResult check(bool full, Deadline deadline) {
    return full ? store().integrity_check(call(deadline)) : store().quick_check(call(deadline));
  }

  // backup: an online backup, encrypted with the current key (its own
  // salt), into <data_dir>/backups/<name>. Throws Error{kInvalidArgument}
  // for a name that is not valid_backup_name, Error{kAlreadyExists} when the
  // file exists, db::Error for a failed copy.
  BackupResult backup(std::string_view name, Deadline deadline) {
    if (!valid_backup_name(name)) {
      throw Error(ErrorCode::kInvalidArgument,
                  "a backup name is [A-Za-z0-9._-]{1,64}, not starting with '.'");
    }
    const std::filesystem::path dir = options_.data_dir / "backups";
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      throw Error(ErrorCode::kInvalidArgument, "cannot create " + dir.string(), errno);
    }
    BackupResult out{std::string(name), dir / std::string(name), 0};
    std::error_code ec;
    if (std::filesystem::exists(std::filesystem::symlink_status(out.path, ec))) {
      throw Error(ErrorCode::kAlreadyExists, "backup " + out.name + " exists");
    }
    const db::Key key = current_key();
    store().backup_to(out.path, key, call(deadline));
    out.bytes = std::filesystem::file_size(out.path, ec);
    return out;
  }

  // rekey: re-encrypts the database in place with `new_key`; every
  // connection (and later backups) use it from then on. Other processes
  // with the old key fail until they get the new one (coordctl calls this
  // route when the gateway runs). `key_file_text` is the new key as a key
  // file holds it (64 hex digits, or the passphrase): with a key file, the
  // rekey is staged, done and committed as key_file.h says, so the key file
  // opens the database whenever the process dies. Throws
  // Error{kInvalidArgument} for an empty key or one that would read back
  // from a key file as another key (a passphrase of 64 hex digits, or one
  // ending in a line break), Error{kKeyFile} when the staged key cannot be
  // written (nothing changed), and what Store::rekey throws (the staged
  // key stays; the next start removes it, as the key file still opens the
  // database). Rekeys are serialised.
  RekeyResult rekey(const db::Key& new_key, std::string_view key_file_text, Deadline deadline) {
    if (new_key.empty()) throw Error(ErrorCode::kInvalidArgument, "an empty key");
    std::lock_guard<std::mutex> lock(key_mu_);
    RekeyResult out;
    out.key_file = options_.key_file;
    if (!options_.key_file.empty()) {
      stage_key(options_.key_file, key_file_text);
      bool same = false;
      try {
        same = keys::read_key_file(staged_key_file(options_.key_file)).to_key().fingerprint() ==
               new_key.fingerprint();
      } catch (const keys::Error&) {
        same = false;
      }
      if (!same) {
        remove_staged_key(options_.key_file);
        throw Error(ErrorCode::kInvalidArgument,
                    "this key would read back from a key file as another key (a passphrase of "
                    "64 hex digits, or one ending in a line break)");
      }
    }
    store().rekey(new_key, call(deadline));
    key_ = new_key;
    if (!options_.key_file.empty()) {
      try {
        commit_staged_key(options_.key_file);
      } catch (const Error& e) {
        throw Error(ErrorCode::kKeyFile,
                    "the database was rekeyed, but " + staged_key_file(options_.key_file).string() +
                        " could not replace the key file; the next start adopts it",
                    e.os_error());
      }
      out.key_file_updated = true;
    }
    return out;
  }

  // close: checkpoint (TRUNCATE, so no -wal content is left) and close
  // every connection. Later calls throw Error{kClosed}. Call it once no
  // request runs. Returns the checkpoint's result (busy when another
  // process held the database open and the WAL could not be emptied).
  db::CheckpointResult close() {
    db::CheckpointResult r{};
    if (!store_) return r;
    r = store_->checkpoint(db::CheckpointMode::kTruncate);
    store_.reset();
    return r;
  }

  // counters_json: every field of db::Counters (kCounterFields, so a new
  // counter shows up without a change here).
  static nlohmann::json counters_json(const db::Counters& c) {
    nlohmann::json by_class = nlohmann::json::object();
    for (db::RetryClass rc : {db::RetryClass::kRetrySameConnection, db::RetryClass::kReconnect,
                              db::RetryClass::kPermanent}) {
      by_class[std::string(db::code_name(rc))] = c.failures(rc);
    }
    nlohmann::json by_code = nlohmann::json::object();
    for (std::size_t i = 0; i < c.surfaced_by_code.size(); ++i) {
      if (c.surfaced_by_code[i] != 0) {
        by_code[std::string(db::code_name(static_cast<db::ErrorCode>(i)))] = c.surfaced_by_code[i];
      }
    }
    nlohmann::json out = nlohmann::json::object();
    for (const db::CounterField& f : db::kCounterFields) out[std::string(f.name)] = c.*f.member;
    out["failures_by_class"] = std::move(by_class);
    out["surfaced_by_code"] = std::move(by_code);
    return out;
  }

 private:
  Service(std::unique_ptr<db::Store> store, ServiceOptions options)
      : store_(std::move(store)), options_(std::move(options)), key_(options_.key) {
    options_.key = db::Key();  // one copy, key_, under key_mu_
  }

  records::Body make_body(BodyText b) const {
    return b.parsed != nullptr ? records::Body::parsed(b.text, *b.parsed, options_.limits)
                               : records::Body::parse(b.text, options_.limits);
  }

  db::Store& store() const {
    if (!store_) throw Error(ErrorCode::kClosed, "the database is closed");
    return *store_;
  }
  static db::CallOptions call(Deadline deadline) {
    db::CallOptions c;
    c.deadline = deadline;
    return c;
  }
  db::Key current_key() const {
    std::lock_guard<std::mutex> lock(key_mu_);
    return key_;
  }

  std::unique_ptr<db::Store> store_;
  ServiceOptions options_;
  mutable std::mutex key_mu_;
  db::Key key_;
};

}  // namespace coordkit::gateway

#endif  // COORDKIT_APPS_GATEWAY_SERVICE_H_

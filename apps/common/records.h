// coordkit/apps/records.h: the records model the reference apps share: JSON
// documents in named collections, each with a version, over one encrypted
// coordkit::db database. coordkit-gateway serves it over HTTP (from a
// db::Store), coordctl and coordkit-stress's workers use it directly (from a
// db::Database); all of them run the same functions on a db::Transaction, so
// the rules below hold whichever process wrote.
//
// Example:
//   coordkit::db::Options options;
//   options.path = "app.db";
//   options.key = coordkit::db::Key::passphrase("secret");
//   options.migrations = coordkit::records::migrations();
//   auto db = coordkit::db::Database::open(std::move(options));
//   coordkit::records::Records records(db);
//   coordkit::records::Record r = records.create("notes", R"({"text":"hi"})");
//   records.put("notes", r.id, R"({"text":"hello"})", {.if_version = r.version});
//   coordkit::records::Page page = records.list("notes", /*cursor=*/"", /*limit=*/50);
//
// The rules:
//  - A record is (collection, id, version, body, created_at_ms,
//    updated_at_ms). The body is a JSON object, stored compact as
//    nlohmann::json dumps it. Versions start at 1 and grow by 1 with every
//    committed write; the gateway serves the version as the ETag, so a
//    client's If-Match is `WriteCondition::if_version`.
//  - Server-made ids (create) are UUIDv7 strings: time-ordered, strictly
//    increasing within a process, unique across processes (62 random bits).
//    Client-chosen ids (put) share the same namespace.
//  - Every function that takes a db::Transaction& has no effect outside that
//    transaction, so the retry ladder may run it again; the Records wrapper
//    prepares everything that must not change between attempts (the new id,
//    the clock reading, the validated body) before the transaction starts.
//  - Errors are records::Error (below); database failures stay db::Error.
#ifndef COORDKIT_APPS_COMMON_RECORDS_H_
#define COORDKIT_APPS_COMMON_RECORDS_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <istream>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "coordkit/apps/internal/ids.h"
#include "coordkit/base/error.h"
#include "coordkit/db/database.h"
#include "coordkit/db/options.h"
#include "coordkit/db/transaction.h"

namespace coordkit::records {

// ErrorCode: the stable reasons a records operation refuses.
enum class ErrorCode {
  kNotFound,         // no record (collection, id)
  kVersionMismatch,  // an expected version did not match; current_version() has the real one
  kAlreadyExists,    // "only if absent" met an existing record
  kInvalidArgument,  // bad collection name, id, body, cursor, limit or import line
  kTooLarge,         // body above Limits::max_body_bytes
  kCorrupt,          // a stored row is not what this model writes (a body that is not JSON)
};

inline constexpr ErrorCode kAllErrorCodes[] = {
    ErrorCode::kNotFound,        ErrorCode::kVersionMismatch, ErrorCode::kAlreadyExists,
    ErrorCode::kInvalidArgument, ErrorCode::kTooLarge,        ErrorCode::kCorrupt};

// code_name: the snake_case name coordkit::Error::code_name() reports.
constexpr std::string_view code_name(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kNotFound:
      return "not_found";
    case ErrorCode::kVersionMismatch:
      return "version_mismatch";
    case ErrorCode::kAlreadyExists:
      return "already_exists";
    case ErrorCode::kInvalidArgument:
      return "invalid_argument";
    case ErrorCode::kTooLarge:
      return "too_large";
    case ErrorCode::kCorrupt:
      return "corrupt";
  }
  return "unknown";
}

// Error: the one exception type of the records model (library "records").
// current_version(): for kVersionMismatch and kAlreadyExists, the record's
// version when the operation ran (0: the record does not exist); 0 for the
// other codes. Copyable; thread-safe to read.
class Error : public coordkit::Error {
 public:
  Error(ErrorCode code, const std::string& message, std::int64_t current_version = 0)
      : coordkit::Error("records", records::code_name(code), message),
        code_(code),
        current_version_(current_version) {}
  ErrorCode code() const noexcept { return code_; }
  std::int64_t current_version() const noexcept { return current_version_; }

 private:
  ErrorCode code_;
  std::int64_t current_version_;
};

// Limits: what the model accepts. Defaults suit the reference apps.
struct Limits {
  std::size_t max_body_bytes = 1 << 20;  // JSON text as received
  std::size_t max_depth = 64;            // nesting of objects and arrays in a body
  std::size_t max_list_limit = 1000;     // records per list page
};

inline constexpr std::size_t kMaxCollectionLength = 64;
inline constexpr std::size_t kMaxIdLength = 128;
inline constexpr std::size_t kDefaultListLimit = 100;

// Record: one stored document.
struct Record {
  std::string collection;
  std::string id;
  std::int64_t version = 0;
  std::string body;                // a compact JSON object
  std::int64_t created_at_ms = 0;  // Unix time in milliseconds
  std::int64_t updated_at_ms = 0;
  friend bool operator==(const Record&, const Record&) = default;
};

// WriteCondition: the preconditions of put() and remove(), HTTP's
// conditional requests in the model's terms:
//  - if_version: If-Match: "<version>": the record must exist at exactly
//    that version, else Error{kVersionMismatch} (current version, 0 when
//    missing);
//  - if_exists: If-Match: *: the record must exist (any version), else
//    Error{kVersionMismatch} with current version 0;
//  - if_absent: If-None-Match: *: the record must not exist, else
//    Error{kAlreadyExists} (its version). put() only.
// if_absent together with either of the others is kInvalidArgument.
struct WriteCondition {
  std::optional<std::int64_t> if_version{};
  bool if_absent = false;
  bool if_exists = false;
};

// etag: the ETag the gateway serves for a version: "\"<version>\"" (strong).
inline std::string etag(std::int64_t version) { return '"' + std::to_string(version) + '"'; }

// parse_etag: the version in one strong ETag as etag() makes it, or nullopt
// (weak tags, lists and anything else). The caller handles "*".
inline std::optional<std::int64_t> parse_etag(std::string_view tag) noexcept {
  if (tag.size() < 3 || tag.size() > 20 || tag.front() != '"' || tag.back() != '"') {
    return std::nullopt;
  }
  std::int64_t v = 0;
  for (char c : tag.substr(1, tag.size() - 2)) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (v < 1 || tag[1] == '0') return std::nullopt;
  return v;
}

// PutResult: the record as written and whether put() created it.
struct PutResult {
  Record record;
  bool created = false;
};

// Page: one page of list(). next_cursor is set when more records may follow;
// pass it back to get the next page.
struct Page {
  std::vector<Record> records;
  std::optional<std::string> next_cursor;
};

// CollectionStats: per-collection totals, kept by triggers on every write.
struct CollectionStats {
  std::string collection;
  std::int64_t records = 0;
  std::int64_t body_bytes = 0;
  friend bool operator==(const CollectionStats&, const CollectionStats&) = default;
};

// ImportMode: what import_records() does with a record that already exists
// with another version or body. kStrict refuses (kVersionMismatch, nothing
// imported); kReplace overwrites it with the imported version and body.
// An identical existing record (same version and body) is left alone in both.
enum class ImportMode { kStrict, kReplace };

struct ImportResult {
  std::int64_t inserted = 0;
  std::int64_t replaced = 0;
  std::int64_t unchanged = 0;
};

// kSchemaVersion: the last migration version records uses. An app that adds
// tables appends its own migrations with versions above it.
inline constexpr int kSchemaVersion = 1;

// migrations: the schema, applied by db::Database::open / db::Store::open
// through PRAGMA user_version (set Options::migrations to this, plus the
// app's own). records is keyed by (collection, id) in a WITHOUT ROWID table,
// which is also the list order, so no other index is needed; collections
// holds per-collection counts kept by triggers, so they stay right whichever
// program writes.
inline std::vector<db::Migration> migrations() {
  return {{1, R"sql(
CREATE TABLE records (
  collection TEXT NOT NULL,
  id TEXT NOT NULL,
  version INTEGER NOT NULL CHECK (version >= 1),
  body TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL,
  PRIMARY KEY (collection, id)
) WITHOUT ROWID;
CREATE TABLE collections (
  name TEXT PRIMARY KEY,
  records INTEGER NOT NULL,
  body_bytes INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER records_after_insert AFTER INSERT ON records BEGIN
  INSERT INTO collections(name, records, body_bytes) VALUES (new.collection, 1, length(new.body))
    ON CONFLICT(name) DO UPDATE SET records = records + 1,
                                    body_bytes = body_bytes + length(new.body);
END;
CREATE TRIGGER records_after_update AFTER UPDATE OF body ON records BEGIN
  UPDATE collections SET body_bytes = body_bytes - length(old.body) + length(new.body)
    WHERE name = new.collection;
END;
CREATE TRIGGER records_after_delete AFTER DELETE ON records BEGIN
  UPDATE collections SET records = records - 1, body_bytes = body_bytes - length(old.body)
    WHERE name = old.collection;
  DELETE FROM collections WHERE name = old.collection AND records = 0;
END;
)sql",
           nullptr}};
}

// ---------------------------------------------------------------- validation

// valid_collection: [a-z0-9_-]{1,64}.
inline bool valid_collection(std::string_view name) noexcept {
  if (name.empty() || name.size() > kMaxCollectionLength) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return true;
}

// valid_id: [A-Za-z0-9._~-]{1,128} (URL-unreserved characters, so an id is a
// path segment as it is), and not "." or "..".
inline bool valid_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > kMaxIdLength || id == "." || id == "..") return false;
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '~' || c == '-')) {
      return false;
    }
  }
  return true;
}

// check_collection, check_id: throw Error{kInvalidArgument} unless valid.
inline void check_collection(std::string_view name) {
  if (!valid_collection(name)) {
    throw Error(ErrorCode::kInvalidArgument, "collection names are [a-z0-9_-]{1,64}");
  }
}
inline void check_id(std::string_view id) {
  if (!valid_id(id)) throw Error(ErrorCode::kInvalidArgument, "ids are [A-Za-z0-9._~-]{1,128}");
}

namespace internal {
// nesting_depth: the deepest nesting of [ and { outside strings, without
// parsing (so a hostile body cannot exhaust the stack of a recursive dump).
inline std::size_t nesting_depth(std::string_view text) noexcept {
  std::size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest) deepest = depth;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}
}  // namespace internal

// Body: a validated JSON object in its stored (compact) form. Make one with
// parse() before a transaction begins, so a retried transaction does not
// parse again and a bad body never takes the write turn.
class Body {
 public:
  // parse: throws Error{kTooLarge} above limits.max_body_bytes,
  // Error{kInvalidArgument} for text that is not JSON, not an object, or
  // nested deeper than limits.max_depth.
  static Body parse(std::string_view json_text, const Limits& limits = {}) {
    check_text(json_text, limits);
    nlohmann::json j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) throw Error(ErrorCode::kInvalidArgument, "body is not valid JSON");
    return from_json(j, limits);
  }

  // parsed: what parse(json_text) returns and throws, for a text that its
  // caller has parsed already (an HTTP router that checked a request body),
  // so that it is not parsed twice. `j` must be
  // nlohmann::json::parse(json_text, nullptr, false): a discarded value is
  // the text that is not JSON.
  static Body parsed(std::string_view json_text, const nlohmann::json& j,
                     const Limits& limits = {}) {
    check_text(json_text, limits);
    if (j.is_discarded()) throw Error(ErrorCode::kInvalidArgument, "body is not valid JSON");
    return from_json(j, limits);
  }

  // from_json: the same checks on an already parsed value (import, tests).
  static Body from_json(const nlohmann::json& j, const Limits& limits = {}) {
    if (!j.is_object()) throw Error(ErrorCode::kInvalidArgument, "body must be a JSON object");
    std::string text = j.dump();
    if (text.size() > limits.max_body_bytes) {
      throw Error(ErrorCode::kTooLarge,
                  "body above the limit of " + std::to_string(limits.max_body_bytes) + " bytes");
    }
    return Body(std::move(text));
  }

  const std::string& text() const noexcept { return text_; }

 private:
  explicit Body(std::string text) : text_(std::move(text)) {}
  static void check_text(std::string_view json_text, const Limits& limits) {
    if (json_text.size() > limits.max_body_bytes) {
      throw Error(ErrorCode::kTooLarge, "body of " + std::to_string(json_text.size()) +
                                            " bytes, the limit is " +
                                            std::to_string(limits.max_body_bytes));
    }
    if (internal::nesting_depth(json_text) > limits.max_depth) {
      throw Error(ErrorCode::kInvalidArgument,
                  "body nested deeper than " + std::to_string(limits.max_depth));
    }
  }
  std::string text_;
};

// new_id: a fresh server-made id (UUIDv7, 36 characters). Thread-safe.
inline std::string new_id() { return internal::IdClock::instance().next(); }

// now_ms: the wall clock in Unix milliseconds, as stored in records.
inline std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// encode_cursor / decode_cursor: a list cursor is opaque to clients: base64url
// of the collection and the last id returned. decode_cursor throws
// Error{kInvalidArgument} for a malformed cursor or one from another
// collection, and returns the last id.
inline std::string encode_cursor(std::string_view collection, std::string_view last_id) {
  std::string plain = "r1:";
  plain += collection;
  plain += ':';
  plain += last_id;
  return internal::base64url_encode(plain);
}
inline std::string decode_cursor(std::string_view collection, std::string_view cursor) {
  const std::optional<std::string> plain = internal::base64url_decode(cursor);
  const std::string prefix = "r1:" + std::string(collection) + ":";
  if (!plain || plain->compare(0, prefix.size(), prefix) != 0 ||
      !valid_id(std::string_view(*plain).substr(prefix.size()))) {
    throw Error(ErrorCode::kInvalidArgument, "not a cursor of this collection");
  }
  return plain->substr(prefix.size());
}

namespace internal {
// The SQL of the single-record writes, named once: Records prepares exactly
// these texts before a write (the statement cache is keyed by the text).
inline constexpr std::string_view kSelectVersion =
    "SELECT version FROM records WHERE collection = ? AND id = ?";
inline constexpr std::string_view kSelectVersionCreated =
    "SELECT version, created_at_ms FROM records WHERE collection = ? AND id = ?";
inline constexpr std::string_view kInsertNew =
    "INSERT INTO records(collection, id, version, body, created_at_ms, updated_at_ms) "
    "VALUES (?, ?, 1, ?, ?, ?)";
inline constexpr std::string_view kUpdateBody =
    "UPDATE records SET version = ?, body = ?, updated_at_ms = ? "
    "WHERE collection = ? AND id = ?";
inline constexpr std::string_view kDelete = "DELETE FROM records WHERE collection = ? AND id = ?";
}  // namespace internal

// ---------------------------------------------------------------- on a transaction
//
// Each function below runs inside a transaction the caller began (write() for
// those that write, read() or write() for the others), validates its
// arguments itself, and throws records::Error or db::Error.

// find: the record, or nullopt.
inline std::optional<Record> find(db::Transaction& tx, std::string_view collection,
                                  std::string_view id) {
  check_collection(collection);
  check_id(id);
  auto row = tx.query_one<std::int64_t, std::string, std::int64_t, std::int64_t>(
      "SELECT version, body, created_at_ms, updated_at_ms FROM records "
      "WHERE collection = ? AND id = ?",
      collection, id);
  if (!row) return std::nullopt;
  auto& [version, body, created, updated] = *row;
  return Record{std::string(collection), std::string(id), version,
                std::move(body),         created,         updated};
}

// get: the record; Error{kNotFound} when there is none.
inline Record get(db::Transaction& tx, std::string_view collection, std::string_view id) {
  std::optional<Record> r = find(tx, collection, id);
  if (!r)
    throw Error(ErrorCode::kNotFound,
                "no record " + std::string(id) + " in " + std::string(collection));
  return std::move(*r);
}

namespace internal {
inline Record insert_unchecked(db::Transaction& tx, std::string_view collection,
                               std::string_view id, const Body& body, std::int64_t now) {
  tx.execute(kInsertNew, collection, id, body.text(), now, now);
  return Record{std::string(collection), std::string(id), 1, body.text(), now, now};
}

// check_condition: throws as WriteCondition says, for a record at version
// `current` (0: missing).
inline void check_condition(const WriteCondition& condition, std::int64_t current,
                            std::string_view id) {
  if (condition.if_absent && (condition.if_version || condition.if_exists)) {
    throw Error(ErrorCode::kInvalidArgument, "if_absent excludes if_version and if_exists");
  }
  if (condition.if_absent && current != 0) {
    throw Error(ErrorCode::kAlreadyExists, "record " + std::string(id) + " exists", current);
  }
  if (condition.if_exists && current == 0) {
    throw Error(ErrorCode::kVersionMismatch, "record " + std::string(id) + " does not exist", 0);
  }
  if (condition.if_version && *condition.if_version != current) {
    throw Error(ErrorCode::kVersionMismatch,
                "record " + std::string(id) + " is at version " + std::to_string(current) +
                    ", not " + std::to_string(*condition.if_version),
                current);
  }
}
}  // namespace internal

// insert_new: creates (collection, id) at version 1 with `now` as both
// timestamps. Error{kAlreadyExists} if the id is taken (current version
// reported). Use it with new_id() for create.
inline Record insert_new(db::Transaction& tx, std::string_view collection, std::string_view id,
                         const Body& body, std::int64_t now) {
  check_collection(collection);
  check_id(id);
  const std::optional<std::int64_t> existing =
      tx.query_value<std::int64_t>(internal::kSelectVersion, collection, id);
  if (existing) {
    throw Error(ErrorCode::kAlreadyExists, "record " + std::string(id) + " exists", *existing);
  }
  return internal::insert_unchecked(tx, collection, id, body, now);
}

// put: writes (collection, id) once `condition` holds (see WriteCondition):
// creates it at version 1, or replaces its body at version + 1 (created_at
// kept, updated_at = now).
inline PutResult put(db::Transaction& tx, std::string_view collection, std::string_view id,
                     const Body& body, const WriteCondition& condition, std::int64_t now) {
  check_collection(collection);
  check_id(id);
  const auto current =
      tx.query_one<std::int64_t, std::int64_t>(internal::kSelectVersionCreated, collection, id);
  const std::int64_t current_version = current ? std::get<0>(*current) : 0;
  internal::check_condition(condition, current_version, id);
  if (!current) return PutResult{internal::insert_unchecked(tx, collection, id, body, now), true};
  const std::int64_t version = current_version + 1;
  tx.execute(internal::kUpdateBody, version, body.text(), now, collection, id);
  return PutResult{Record{std::string(collection), std::string(id), version, body.text(),
                          std::get<1>(*current), now},
                   false};
}

// remove: deletes (collection, id) once `condition` holds and returns the
// version it had. A missing record is Error{kNotFound} without a condition
// and Error{kVersionMismatch} (current 0) with if_version or if_exists.
// if_absent is kInvalidArgument here.
inline std::int64_t remove(db::Transaction& tx, std::string_view collection, std::string_view id,
                           const WriteCondition& condition = {}) {
  check_collection(collection);
  check_id(id);
  if (condition.if_absent) {
    throw Error(ErrorCode::kInvalidArgument, "if_absent makes no sense for a delete");
  }
  const std::int64_t current =
      tx.query_value<std::int64_t>(internal::kSelectVersion, collection, id).value_or(0);
  internal::check_condition(condition, current, id);
  if (current == 0) {
    throw Error(ErrorCode::kNotFound,
                "no record " + std::string(id) + " in " + std::string(collection));
  }
  tx.execute(internal::kDelete, collection, id);
  return current;
}

// list: up to `limit` records of `collection` in id order (bytewise), after
// the position `cursor` names ("" for the start). limit 0 means
// kDefaultListLimit; above limits.max_list_limit is kInvalidArgument.
//
// What a lister sees while others write: each page is read in its own
// transaction, and the order is by id, which never changes for a record. So
// a record that exists from the first page to the last and is not deleted
// is returned exactly once, never skipped, never repeated. A record created
// meanwhile appears if its id sorts after the page already returned (server
// ids are time-ordered, so new creates usually do) and not otherwise; a
// record deleted before its page is read is not returned; every record is
// returned as its page's snapshot has it, so two pages may reflect different
// moments (no snapshot spans the whole listing).
inline Page list(db::Transaction& tx, std::string_view collection, std::string_view cursor,
                 std::size_t limit, const Limits& limits = {}) {
  check_collection(collection);
  if (limit == 0) limit = kDefaultListLimit;
  if (limit > limits.max_list_limit) {
    throw Error(ErrorCode::kInvalidArgument,
                "limit above " + std::to_string(limits.max_list_limit));
  }
  const std::string after = cursor.empty() ? std::string() : decode_cursor(collection, cursor);
  Page page;
  tx.query<std::string, std::int64_t, std::string, std::int64_t, std::int64_t>(
      "SELECT id, version, body, created_at_ms, updated_at_ms FROM records "
      "WHERE collection = ? AND id > ? ORDER BY id LIMIT ?",
      [&](std::string id, std::int64_t version, std::string body, std::int64_t created,
          std::int64_t updated) {
        page.records.push_back(Record{std::string(collection), std::move(id), version,
                                      std::move(body), created, updated});
      },
      collection, after, static_cast<std::int64_t>(limit + 1));
  if (page.records.size() > limit) {
    page.records.pop_back();
    page.next_cursor = encode_cursor(collection, page.records.back().id);
  }
  return page;
}

// count: records in `collection` (0 for a collection never written). O(1).
inline std::int64_t count(db::Transaction& tx, std::string_view collection) {
  check_collection(collection);
  return tx.query_value<std::int64_t>("SELECT records FROM collections WHERE name = ?", collection)
      .value_or(0);
}

// stats: every collection that holds records, by name.
inline std::vector<CollectionStats> stats(db::Transaction& tx) {
  std::vector<CollectionStats> out;
  tx.query<std::string, std::int64_t, std::int64_t>(
      "SELECT name, records, body_bytes FROM collections ORDER BY name",
      [&](std::string name, std::int64_t records, std::int64_t bytes) {
        out.push_back(CollectionStats{std::move(name), records, bytes});
      });
  return out;
}

// export_records: every record of `collection` (all collections when
// nullopt), ordered by collection and id, from one snapshot. Collects into
// memory (so a retried transaction starts over cleanly); write the result
// with write_jsonl() after the transaction.
inline std::vector<Record> export_records(db::Transaction& tx,
                                          const std::optional<std::string>& collection) {
  std::vector<Record> out;
  auto on_row = [&](std::string c, std::string id, std::int64_t version, std::string body,
                    std::int64_t created, std::int64_t updated) {
    out.push_back(Record{std::move(c), std::move(id), version, std::move(body), created, updated});
  };
  if (collection) {
    check_collection(*collection);
    tx.query<std::string, std::string, std::int64_t, std::string, std::int64_t, std::int64_t>(
        "SELECT collection, id, version, body, created_at_ms, updated_at_ms FROM records "
        "WHERE collection = ? ORDER BY id",
        on_row, *collection);
  } else {
    tx.query<std::string, std::string, std::int64_t, std::string, std::int64_t, std::int64_t>(
        "SELECT collection, id, version, body, created_at_ms, updated_at_ms FROM records "
        "ORDER BY collection, id",
        on_row);
  }
  return out;
}

// import_records: writes `records` (from parse_jsonl) as they are, versions
// and timestamps included, in the caller's one transaction: all or nothing.
// An existing record with the same version and body is counted unchanged;
// one with another version or body is Error{kVersionMismatch} (its current
// version) under kStrict, replaced under kReplace.
inline ImportResult import_records(db::Transaction& tx, const std::vector<Record>& records,
                                   ImportMode mode) {
  ImportResult result;
  for (const Record& r : records) {
    check_collection(r.collection);
    check_id(r.id);
    if (r.version < 1) throw Error(ErrorCode::kInvalidArgument, "import of a version below 1");
    const auto existing = tx.query_one<std::int64_t, std::string>(
        "SELECT version, body FROM records WHERE collection = ? AND id = ?", r.collection, r.id);
    if (existing && std::get<0>(*existing) == r.version && std::get<1>(*existing) == r.body) {
      ++result.unchanged;
      continue;
    }
    if (existing && mode == ImportMode::kStrict) {
      throw Error(ErrorCode::kVersionMismatch,
                  "import meets record " + r.id + " in " + r.collection + " at version " +
                      std::to_string(std::get<0>(*existing)) + ", the import has " +
                      std::to_string(r.version),
                  std::get<0>(*existing));
    }
    if (existing) {
      tx.execute(
          "UPDATE records SET version = ?, body = ?, created_at_ms = ?, updated_at_ms = ? "
          "WHERE collection = ? AND id = ?",
          r.version, r.body, r.created_at_ms, r.updated_at_ms, r.collection, r.id);
      ++result.replaced;
    } else {
      tx.execute(
          "INSERT INTO records(collection, id, version, body, created_at_ms, updated_at_ms) "
          "VALUES (?, ?, ?, ?, ?, ?)",
          r.collection, r.id, r.version, r.body, r.created_at_ms, r.updated_at_ms);
      ++result.inserted;
    }
  }
  return result;
}

// ---------------------------------------------------------------- JSON lines

// to_json: a record as one export object:
// {"collection","id","version","body","created_at_ms","updated_at_ms"}.
// Throws Error{kCorrupt} if the stored body is not JSON (a file changed
// behind the model's back).
inline nlohmann::json to_json(const Record& r) {
  nlohmann::json body = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) {
    throw Error(ErrorCode::kCorrupt,
                "stored body of " + r.id + " in " + r.collection + " is not JSON");
  }
  return nlohmann::json{{"collection", r.collection},
                        {"id", r.id},
                        {"version", r.version},
                        {"body", std::move(body)},
                        {"created_at_ms", r.created_at_ms},
                        {"updated_at_ms", r.updated_at_ms}};
}

// write_jsonl: one record per line, '\n'-terminated.
inline void write_jsonl(const std::vector<Record>& records, std::ostream& out) {
  for (const Record& r : records) out << to_json(r).dump() << '\n';
}

// parse_jsonl: reads export lines back, validating each (collection, id,
// version >= 1, body object within limits, timestamps); blank lines are
// skipped. Throws Error{kInvalidArgument} (or kTooLarge) naming the line
// number; a (collection, id) twice is kInvalidArgument too.
inline std::vector<Record> parse_jsonl(std::istream& in, const Limits& limits = {}) {
  std::vector<Record> out;
  std::set<std::pair<std::string, std::string>> seen;
  std::string line;
  std::size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = "import line " + std::to_string(number) + ": ";
    if (internal::nesting_depth(line) > limits.max_depth + 1) {
      throw Error(ErrorCode::kInvalidArgument, where + "nested too deep");
    }
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    auto bad = [&](const char* what) { return Error(ErrorCode::kInvalidArgument, where + what); };
    if (j.is_discarded() || !j.is_object()) throw bad("not a JSON object");
    auto text = [&](const char* key) {
      auto it = j.find(key);
      if (it == j.end() || !it->is_string()) throw bad("missing a string field");
      return it->get<std::string>();
    };
    auto integer = [&](const char* key) {
      auto it = j.find(key);
      if (it == j.end() || !it->is_number_integer()) throw bad("missing an integer field");
      return it->get<std::int64_t>();
    };
    Record r;
    r.collection = text("collection");
    r.id = text("id");
    r.version = integer("version");
    r.created_at_ms = integer("created_at_ms");
    r.updated_at_ms = integer("updated_at_ms");
    if (!valid_collection(r.collection)) throw bad("bad collection name");
    if (!valid_id(r.id)) throw bad("bad id");
    if (r.version < 1) throw bad("version below 1");
    auto body = j.find("body");
    if (body == j.end()) throw bad("no body");
    try {
      r.body = Body::from_json(*body, limits).text();
    } catch (const Error& e) {
      throw Error(e.code(), where + "body: " + std::string(code_name(e.code())));
    }
    if (!seen.emplace(r.collection, r.id).second) throw bad("the same record twice");
    out.push_back(std::move(r));
  }
  return out;
}

// ---------------------------------------------------------------- Records

// Records: the model over a db::Database (one thread at a time, as the
// Database) or a db::Store (any thread). Holds a reference: `db` must
// outlive it. Each call is one transaction; arguments are validated and the
// id, clock reading and body prepared before it begins. Throws
// records::Error and db::Error as the functions above.
template <class Db>
class Records {
 public:
  explicit Records(Db& db, Limits limits = {}) : db_(db), limits_(limits) {}

  const Limits& limits() const noexcept { return limits_; }

  // create: a new record with a server-made id, version 1.
  Record create(std::string_view collection, std::string_view body_json) {
    check_collection(collection);
    const Body body = Body::parse(body_json, limits_);
    const std::string id = new_id();
    const std::int64_t now = now_ms();
    prepare_writes({internal::kSelectVersion, internal::kInsertNew});
    return db_.write(
        [&](db::Transaction& tx) { return insert_new(tx, collection, id, body, now); });
  }

  std::optional<Record> find(std::string_view collection, std::string_view id) {
    return db_.read([&](db::Transaction& tx) { return records::find(tx, collection, id); });
  }

  Record get(std::string_view collection, std::string_view id) {
    return db_.read([&](db::Transaction& tx) { return records::get(tx, collection, id); });
  }

  PutResult put(std::string_view collection, std::string_view id, std::string_view body_json,
                const WriteCondition& condition = {}) {
    check_collection(collection);
    check_id(id);
    const Body body = Body::parse(body_json, limits_);
    const std::int64_t now = now_ms();
    prepare_writes({internal::kSelectVersionCreated, internal::kInsertNew, internal::kUpdateBody});
    return db_.write([&](db::Transaction& tx) {
      return records::put(tx, collection, id, body, condition, now);
    });
  }

  std::int64_t remove(std::string_view collection, std::string_view id,
                      const WriteCondition& condition = {}) {
    prepare_writes({internal::kSelectVersion, internal::kDelete});
    return db_.write(
        [&](db::Transaction& tx) { return records::remove(tx, collection, id, condition); });
  }

  Page list(std::string_view collection, std::string_view cursor = {},
            std::size_t limit = kDefaultListLimit) {
    return db_.read(
        [&](db::Transaction& tx) { return records::list(tx, collection, cursor, limit, limits_); });
  }

  std::int64_t count(std::string_view collection) {
    return db_.read([&](db::Transaction& tx) { return records::count(tx, collection); });
  }

  std::vector<CollectionStats> stats() {
    return db_.read([&](db::Transaction& tx) { return records::stats(tx); });
  }

  // export_jsonl: export_records() in one read transaction, then written.
  // Returns the number of records written.
  std::size_t export_jsonl(std::ostream& out, const std::optional<std::string>& collection = {}) {
    const std::vector<Record> all =
        db_.read([&](db::Transaction& tx) { return export_records(tx, collection); });
    write_jsonl(all, out);
    return all.size();
  }

  // import_jsonl: parse_jsonl() first (a bad line imports nothing and takes
  // no write turn), then import_records() in one write transaction.
  ImportResult import_jsonl(std::istream& in, ImportMode mode = ImportMode::kStrict) {
    const std::vector<Record> all = parse_jsonl(in, limits_);
    return db_.write([&](db::Transaction& tx) { return import_records(tx, all, mode); });
  }

 private:
  // prepare_writes: on a Database (a command-line process writes through a
  // new connection), compiles a write's statements, with the triggers they
  // fire, before the write takes the write turn, so that no other writer of
  // the file waits while they compile. A Store's writer is long-lived and
  // has them cached after its first write.
  void prepare_writes(std::initializer_list<std::string_view> sql) {
    if constexpr (requires(Db & d, std::string_view s) { d.prepare(s); }) {
      for (std::string_view s : sql) db_.prepare(s);
    }
  }

  Db& db_;
  Limits limits_;
};

}  // namespace coordkit::records

#endif  // COORDKIT_APPS_COMMON_RECORDS_H_

// The `// Example:` blocks of libs/db's public headers, compiled and run, so
// they cannot rot. Each test case sets up the names an example uses (`dir`,
// a scratch directory under TEST_TMPDIR; `db`, `store`, `body`, ...) and then
// holds the example exactly as the header shows it, followed by checks.
#include <openssl/crypto.h>

#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "coordkit/db/db.h"
#include "coordkit/db/internal/testing.h"
#include "coordkit/testing/scratch_dir.h"

using coordkit::testing::scratch_dir;

namespace {

// records_options: the options.h example's schema, with a raw key (no KDF).
coordkit::db::Options records_options(const std::filesystem::path& dir) {
  coordkit::db::Options o;
  o.path = dir / "records.db";
  o.key = coordkit::db::Key::raw_hex(
      "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
  o.migrations = {
      {1, "CREATE TABLE records(id INTEGER PRIMARY KEY, body TEXT NOT NULL, note TEXT);", {}}};
  return o;
}

std::string read_secret_from_file() { return "a secret read from a file"; }

}  // namespace

TEST_CASE("the db.h example holds", "[db][examples]") {
  const std::filesystem::path dir = scratch_dir("ex-db");
  // --- db.h
  coordkit::db::Options options;
  options.path = dir / "app.db";
  options.key = coordkit::db::Key::passphrase("secret");
  options.migrations = {{1, "CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT);"}};
  auto store = coordkit::db::Store::open(options);
  store->write([](coordkit::db::Transaction& tx) {
    tx.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", "k", "v");
  });
  // ---
  CHECK(store->read([](coordkit::db::Transaction& tx) {
    return tx.query_value<std::string>("SELECT v FROM kv WHERE k = 'k'");
  }) == "v");
}

TEST_CASE("the database.h example holds", "[db][examples]") {
  const std::filesystem::path dir = scratch_dir("ex-database");
  // --- database.h
  coordkit::db::Options options;
  options.path = dir / "app.db";
  options.key = coordkit::db::Key::passphrase("secret");
  options.migrations = {{1, "CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT NOT NULL);"}};
  auto db = coordkit::db::Database::open(std::move(options));
  db.write([](coordkit::db::Transaction& tx) {
    tx.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", "greeting", "hello");
  });
  std::optional<std::string> v = db.read([](coordkit::db::Transaction& tx) {
    return tx.query_value<std::string>("SELECT v FROM kv WHERE k = ?", "greeting");
  });
  // A call with its own deadline: every wait inside it ends by then.
  db.write([](coordkit::db::Transaction& tx) { tx.execute("DELETE FROM kv"); },
           coordkit::db::CallOptions::timeout(std::chrono::milliseconds(500)));
  // ---
  CHECK(v == "hello");
  CHECK(db.read([](coordkit::db::Transaction& tx) {
    return tx.query_value<std::int64_t>("SELECT count(*) FROM kv");
  }) == 0);
}

TEST_CASE("the options.h examples hold", "[db][examples]") {
  const std::filesystem::path dir = scratch_dir("ex-options");
  {
    // --- options.h, Options
    coordkit::db::Options options;
    options.path = dir / "app.db";
    options.key = coordkit::db::Key::passphrase("correct horse battery staple");
    options.migrations = {
        {1, "CREATE TABLE records(id INTEGER PRIMARY KEY, body TEXT NOT NULL, note TEXT);"},
        {2, "CREATE INDEX records_body ON records(body);"},
    };
    coordkit::db::Database db = coordkit::db::Database::open(std::move(options));
    // ---
    CHECK(db.user_version() == 2);
  }
  auto store = coordkit::db::Store::open(records_options(dir), {.readers = 1});
  store->write([](coordkit::db::Transaction& tx) {
    tx.execute("INSERT INTO records(id, body) VALUES (7, 'seven')");
  });
  const std::string sql = "DELETE FROM records WHERE id = ?";
  const std::int64_t id = 7;
  // --- options.h, CallOptions
  // A request handler with 200 ms left: every wait inside the call (the
  // write turn, busy retries, a reader connection, the group commit) ends
  // by then, with Error{kTimeout}.
  store->write([&](coordkit::db::Transaction& tx) { tx.execute(sql, id); },
               coordkit::db::CallOptions::timeout(std::chrono::milliseconds(200)));
  // ---
  CHECK(store->read([](coordkit::db::Transaction& tx) {
    return tx.query_value<std::int64_t>("SELECT count(*) FROM records");
  }) == 0);
}

TEST_CASE("the key.h example holds", "[db][examples]") {
  // --- key.h
  std::string secret = read_secret_from_file();
  coordkit::db::Key key = coordkit::db::Key::passphrase(secret);
  OPENSSL_cleanse(secret.data(), secret.size());  // the Key keeps its own copy
  // ---
  CHECK_FALSE(key.empty());
  CHECK(key.kind() == coordkit::db::Key::Kind::kPassphrase);
  CHECK(key.fingerprint() ==
        coordkit::db::Key::passphrase("a secret read from a file").fingerprint());
}

TEST_CASE("the error.h example holds", "[db][examples]") {
  const std::filesystem::path dir = scratch_dir("ex-error");
  auto db = coordkit::db::Database::open(records_options(dir));
  bool duplicate = false;
  for (int i = 0; i < 2; ++i) {
    // --- error.h
    try {
      db.write([](coordkit::db::Transaction& tx) {
        tx.execute("INSERT INTO records(id, body) VALUES (?, ?)", 1, "first");
      });
    } catch (const coordkit::db::Error& e) {
      if (e.code() == coordkit::db::ErrorCode::kConstraint) { /* id 1 exists */
        duplicate = true;
      }
    }
    // ---
  }
  CHECK(duplicate);
}

TEST_CASE("the transaction.h example holds", "[db][examples]") {
  const std::filesystem::path dir = scratch_dir("ex-transaction");
  auto db = coordkit::db::Database::open(records_options(dir));
  const std::string body = "a body";
  int rows = 0;
  // --- transaction.h
  std::int64_t id = db.write([&](coordkit::db::Transaction& tx) {
    tx.execute("INSERT INTO records(body) VALUES (?)", body);
    return tx.last_insert_rowid();
  });
  auto n = db.read([](coordkit::db::Transaction& tx) {
    return tx.query_value<std::int64_t>("SELECT count(*) FROM records").value_or(0);
  });
  db.read([&](coordkit::db::Transaction& tx) {
    tx.query<std::int64_t, std::optional<std::string>>(
        "SELECT id, note FROM records WHERE id > ?",
        [&](std::int64_t id, const std::optional<std::string>& note) { /* ... */
                                                                       CHECK(id == 1);
                                                                       CHECK_FALSE(note);
                                                                       ++rows;
        },
        0);
  });
  // ---
  CHECK(id == 1);
  CHECK(n == 1);
  CHECK(rows == 1);
}

TEST_CASE("the store.h example holds", "[db][examples]") {
  const std::filesystem::path dir = scratch_dir("ex-store");
  coordkit::db::Options options = records_options(dir);
  const std::string body = "a body";
  // --- store.h
  auto store = coordkit::db::Store::open(options, {.readers = 4});
  std::int64_t id = store->write([&](coordkit::db::Transaction& tx) {
    tx.execute("INSERT INTO records(body) VALUES (?)", body);
    return tx.last_insert_rowid();
  });
  auto n = store->read([](coordkit::db::Transaction& tx) {
    return tx.query_value<std::int64_t>("SELECT count(*) FROM records").value_or(0);
  });
  // ---
  CHECK(id == 1);
  CHECK(n == 1);
}

TEST_CASE("the counters.h and maintenance.h examples hold", "[db][examples]") {
  const std::filesystem::path dir = scratch_dir("ex-counters");
  auto db = coordkit::db::Database::open(records_options(dir));
  int fields = 0;
  {
    // --- counters.h
    coordkit::db::Counters c = db.counters();
    std::printf("%llu retries, %llu reconnects\n", static_cast<unsigned long long>(c.retries_same),
                static_cast<unsigned long long>(c.reconnects));
    for (const coordkit::db::CounterField& f : coordkit::db::kCounterFields) {
      std::printf("%.*s=%llu\n", static_cast<int>(f.name.size()), f.name.data(),
                  static_cast<unsigned long long>(c.*f.member));
      // ---
      ++fields;
    }
  }
  CHECK(fields == static_cast<int>(std::size(coordkit::db::kCounterFields)));
  CHECK(fields > 10);
  // --- maintenance.h
  coordkit::db::CheckResult r = db.integrity_check();
  if (!r.ok)
    for (const std::string& p : r.problems) std::fprintf(stderr, "%s\n", p.c_str());
  // ---
  CHECK(r.ok);
}

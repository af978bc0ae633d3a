// Database: opening fails closed, whole transactions are retried, reconnection
// heals, migrations apply once, maintenance works.
#include "coordkit/db/database.h"

#include <sqlcipher/sqlite3.h>

#include <atomic>
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <latch>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "coordkit/db/internal/connection.h"
#include "coordkit/db/internal/key_cache.h"
#include "coordkit/db/internal/testing.h"
#include "coordkit/testing/error_matchers.h"
#include "coordkit/testing/scratch_dir.h"

namespace db = coordkit::db;
using coordkit::db::testing::RawDb;
using coordkit::db::testing::slurp;
using coordkit::db::testing::write_file;
using coordkit::testing::has_code;
using coordkit::testing::scratch_dir;
using coordkit::testing::thrown;
using std::chrono::milliseconds;

namespace {

constexpr const char* kPass = "correct horse battery staple";

constexpr const char* kRawHex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

// kRawPragma: the same raw key as SQLCipher's PRAGMA key accepts it.
const std::string kRawPragma = std::string("x'") + kRawHex + "'";

// options_for: a passphrase key when `pass` is given (the KDF costs 0.25 to
// 1 s here, so most tests use a raw key).
db::Options options_for(const std::filesystem::path& path, const std::string& pass = "") {
  db::Options o;
  o.path = path;
  o.key = pass.empty() ? db::Key::raw_hex(kRawHex) : db::Key::passphrase(pass);
  o.migrations = {{1, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL);", {}}};
  o.retry.seed = 42;
  return o;
}

std::int64_t count_rows(db::Database& d) {
  return d.read([](db::Transaction& tx) {
    return tx.query_value<std::int64_t>("SELECT count(*) FROM t").value_or(-1);
  });
}

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

TEST_CASE("A new database is created encrypted, in WAL mode, with its migrations", "[db]") {
  const auto dir = scratch_dir("create");
  auto d = db::Database::open(options_for(dir / "a.db"));
  d.write([](db::Transaction& tx) { tx.execute("INSERT INTO t(v) VALUES (?)", "x"); });
  CHECK(count_rows(d) == 1);
  CHECK(d.user_version() == 1);
  const auto bytes = slurp(dir / "a.db");
  REQUIRE(bytes.has_value());
  CHECK(bytes->compare(0, 15, "SQLite format 3") != 0);
  RawDb raw(dir / "a.db", kRawPragma, false);
  CHECK(raw.text("PRAGMA journal_mode") == "wal");
  // No temporaries are left behind.
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    CHECK(e.path().filename().string().find("coordkit-new") == std::string::npos);
  }
}

TEST_CASE("The library's key derivation matches SQLCipher's PRAGMA key both ways", "[db][key]") {
  const auto dir = scratch_dir("kdf");
  SECTION("a file created by the library opens with the passphrase through PRAGMA key") {
    {
      auto d = db::Database::open(options_for(dir / "lib.db", kPass));
      d.write([](db::Transaction& tx) { tx.execute("INSERT INTO t(v) VALUES ('from lib')"); });
    }
    RawDb raw(dir / "lib.db", kPass, false);
    CHECK(raw.text("SELECT v FROM t") == "from lib");
    CHECK(raw.text("PRAGMA cipher_version").has_value());
  }
  SECTION("a file created through PRAGMA key opens with the library") {
    {
      RawDb raw(dir / "raw.db", kPass);
      REQUIRE(raw.exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL);"
                       "INSERT INTO t(v) VALUES ('from sqlcipher'); PRAGMA user_version=1;") ==
              SQLITE_OK);
    }
    auto d = db::Database::open(options_for(dir / "raw.db", kPass));
    CHECK(d.read([](db::Transaction& tx) {
      return tx.query_value<std::string>("SELECT v FROM t").value_or("");
    }) == "from sqlcipher");
    // The library switched the file to WAL once, at its first open.
    RawDb raw(dir / "raw.db", kPass, false);
    CHECK(raw.text("PRAGMA journal_mode") == "wal");
  }
}

TEST_CASE("Reopening with a passphrase skips the KDF after the first open", "[db][key]") {
  const auto dir = scratch_dir("reopen");
  const auto t0 = std::chrono::steady_clock::now();
  { auto d = db::Database::open(options_for(dir / "a.db", kPass)); }
  const double first = ms_since(t0);
  const auto t1 = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i) {
    auto d = db::Database::open(options_for(dir / "a.db", kPass));
  }
  const double ten = ms_since(t1);
  // The KDF alone is ~250 ms; ten cached reopens must cost less than one KDF.
  CHECK(ten < first);
}

TEST_CASE("A key the caller wipes after open keeps working for new connections", "[db][key]") {
  const auto dir = scratch_dir("wipe");
  std::string secret = kPass;
  db::Options o = options_for(dir / "a.db", secret);
  std::fill(secret.begin(), secret.end(), '\0');
  auto d = db::Database::open(std::move(o));
  d.write([](db::Transaction& tx) { tx.execute("INSERT INTO t(v) VALUES ('a')"); });
  d.reconnect();
  d.write([](db::Transaction& tx) { tx.execute("INSERT INTO t(v) VALUES ('b')"); });
  CHECK(count_rows(d) == 2);
}

TEST_CASE("A raw key opens the database without a KDF", "[db][key]") {
  const auto dir = scratch_dir("rawkey");
  db::Options o = options_for(dir / "a.db");
  { auto d = db::Database::open(o); }
  auto d = db::Database::open(o);
  CHECK(count_rows(d) == 0);
  o.key = db::Key::raw_hex("ff112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
  CHECK_THROWS_MATCHES(db::Database::open(o), db::Error,
                       has_code(db::ErrorCode::kWrongKeyOrNotADatabase));
  CHECK_THROWS_MATCHES(db::Key::raw_hex("zz"), db::Error,
                       has_code(db::ErrorCode::kInvalidArgument));
  CHECK_THROWS_MATCHES(db::Key::passphrase(""), db::Error,
                       has_code(db::ErrorCode::kInvalidArgument));
}

TEST_CASE("Open fails fast and leaves the file unchanged when it cannot be read with the key",
          "[db][failclosed]") {
  const auto dir = scratch_dir("failclosed");
  const auto good = dir / "good.db";
  {
    auto d = db::Database::open(options_for(good, kPass));
    d.write([](db::Transaction& tx) {
      for (int i = 0; i < 200; ++i)
        tx.execute("INSERT INTO t(v) VALUES (?)", std::string(100, 'x'));
    });
  }
  const std::string db_bytes = slurp(good).value();
  REQUIRE(db_bytes.size() >= 8192);

  struct Case {
    const char* name;
    std::string bytes;
    const char* pass;
    db::ErrorCode code;
  };
  std::string plaintext;
  {
    RawDb raw(dir / "plain.db", "");
    REQUIRE(raw.exec("CREATE TABLE t(x); INSERT INTO t VALUES (1);") == SQLITE_OK);
  }
  plaintext = slurp(dir / "plain.db").value();
  const Case c = GENERATE_REF(
      Case{"wrong passphrase", db_bytes, "not the passphrase",
           db::ErrorCode::kWrongKeyOrNotADatabase},
      Case{"text file", std::string(5000, 'z'), kPass, db::ErrorCode::kWrongKeyOrNotADatabase},
      Case{"zero-byte file", std::string(), kPass, db::ErrorCode::kWrongKeyOrNotADatabase},
      Case{"shorter than a header", std::string("abc"), kPass,
           db::ErrorCode::kWrongKeyOrNotADatabase},
      Case{"truncated to half a page", db_bytes.substr(0, 2000), kPass,
           db::ErrorCode::kWrongKeyOrNotADatabase},
      Case{"truncated at a page boundary", db_bytes.substr(0, 4096), kPass,
           db::ErrorCode::kWrongKeyOrNotADatabase},
      Case{"plaintext SQLite", plaintext, kPass, db::ErrorCode::kPlaintextDatabase});
  CAPTURE(c.name);
  const auto path = dir / (std::string("case-") + std::to_string(std::hash<std::string>{}(c.name)));
  write_file(path, c.bytes);
  db::Options o = options_for(path, c.pass);
  const auto kdfs = coordkit::db::internal::KeyCache::instance().derivations();
  const auto opens = coordkit::db::internal::Connection::open_attempts().load();
  CHECK_THROWS_MATCHES(db::Database::open(o), db::Error, has_code(c.code));
  // Fast: at most one key derivation (about 0.25 s on an idle machine) and at
  // most one reconnection; no retry storm.
  CHECK(coordkit::db::internal::KeyCache::instance().derivations() - kdfs <= 1);
  CHECK(coordkit::db::internal::Connection::open_attempts().load() - opens <= 2);
  CHECK(slurp(path) == c.bytes);
  // Nothing was created beside it either.
  std::error_code ec;
  CHECK_FALSE(std::filesystem::exists(path.string() + ".coordkit-gate", ec));
}

TEST_CASE("A missing file is not created when create_if_missing is off", "[db]") {
  const auto dir = scratch_dir("nocreate");
  db::Options o = options_for(dir / "a.db");
  o.create_if_missing = false;
  CHECK_THROWS_MATCHES(db::Database::open(o), db::Error, has_code(db::ErrorCode::kNotInitialised));
  CHECK_FALSE(std::filesystem::exists(dir / "a.db"));
}

TEST_CASE("Many threads creating the same database at once all succeed", "[db][init]") {
  const auto dir = scratch_dir("race");
  const auto path = dir / "a.db";
  constexpr int kThreads = 6;
  std::atomic<int> ready{0};
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  db::Options o = options_for(path);
  o.migrations.push_back({2, "CREATE TABLE u(x);", {}});
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      ready.fetch_add(1);
      while (ready.load() < kThreads) std::this_thread::yield();
      try {
        auto d = db::Database::open(o);
        d.write([i](db::Transaction& tx) { tx.execute("INSERT INTO t(v) VALUES (?)", i); });
        ok.fetch_add(1);
      } catch (const db::Error& e) {
        UNSCOPED_INFO(e.what());
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok.load() == kThreads);
  auto d = db::Database::open(o);
  CHECK(count_rows(d) == kThreads);
  CHECK(d.user_version() == 2);
}

TEST_CASE("A write retries the whole transaction while another connection holds the lock",
          "[db][retry]") {
  const auto dir = scratch_dir("busy");
  db::Options o = options_for(dir / "a.db");
  o.retry.busy_timeout = milliseconds(5);
  o.retry.initial_backoff = std::chrono::microseconds(500);
  o.retry.max_backoff = std::chrono::microseconds(5000);
  auto d = db::Database::open(o);
  RawDb holder(dir / "a.db", kRawPragma, false);
  REQUIRE(holder.exec("BEGIN IMMEDIATE; INSERT INTO t(v) VALUES ('holder');") == SQLITE_OK);
  std::thread release([&] {
    std::this_thread::sleep_for(milliseconds(100));
    holder.exec("COMMIT");
  });
  int runs = 0;
  d.write([&](db::Transaction& tx) {
    ++runs;
    tx.execute("INSERT INTO t(v) VALUES ('library')");
  });
  release.join();
  const db::Counters c = d.counters();
  CHECK(runs == 1);  // BUSY came at BEGIN IMMEDIATE, before fn ran
  CHECK(c.retries_same >= 1);
  CHECK(c.failures(db::RetryClass::kRetrySameConnection) >= 1);
  CHECK(c.waits >= 1);
  CHECK(c.surfaced_errors == 0);
  CHECK(count_rows(d) == 2);
}

TEST_CASE("A busy-class failure inside fn reruns fn from the start and commits once",
          "[db][retry]") {
  const auto dir = scratch_dir("rerun");
  auto d = db::Database::open(options_for(dir / "a.db"));
  int runs = 0;
  const int result = d.write([&](db::Transaction& tx) {
    ++runs;
    tx.execute("INSERT INTO t(v) VALUES ('once')");
    if (runs == 1) {
      throw db::Error(db::ErrorCode::kBusy, db::RetryClass::kRetrySameConnection,
                      SQLITE_BUSY_SNAPSHOT, "simulated", "");
    }
    return runs;
  });
  CHECK(result == 2);
  CHECK(count_rows(d) == 1);              // the first run's insert was rolled back
  CHECK(d.counters().attempts == 2 + 1);  // two writes' attempts + count_rows' read
}

TEST_CASE("Busy failures surface as kBusy once the deadline passes", "[db][retry]") {
  const auto dir = scratch_dir("deadline");
  db::Options o = options_for(dir / "a.db");
  o.retry.busy_timeout = milliseconds(2);
  o.retry.deadline = milliseconds(80);
  auto d = db::Database::open(o);
  RawDb holder(dir / "a.db", kRawPragma, false);
  REQUIRE(holder.exec("BEGIN IMMEDIATE; INSERT INTO t(v) VALUES ('holder');") == SQLITE_OK);
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_MATCHES(
      d.write([](db::Transaction& tx) { tx.execute("INSERT INTO t(v) VALUES ('x')"); }), db::Error,
      has_code(db::ErrorCode::kBusy));
  CHECK(ms_since(t0) < 5000.0);
  holder.exec("ROLLBACK");
  const db::Counters c = d.counters();
  CHECK(c.surfaced_errors == 1);
  CHECK(c.surfaced(db::ErrorCode::kBusy) == 1);
}

TEST_CASE("Permanent errors surface at once, with the statement", "[db][retry]") {
  const auto dir = scratch_dir("permanent");
  auto d = db::Database::open(options_for(dir / "a.db"));
  d.write([](db::Transaction& tx) { tx.execute("INSERT INTO t(id, v) VALUES (1, 'a')"); });
  int runs = 0;
  try {
    d.write([&](db::Transaction& tx) {
      ++runs;
      tx.execute("INSERT INTO t(id, v) VALUES (1, 'b')");
    });
    FAIL("no error");
  } catch (const db::Error& e) {
    CHECK(e.code() == db::ErrorCode::kConstraint);
    CHECK(e.extended_code() == SQLITE_CONSTRAINT_PRIMARYKEY);
    CHECK(e.sql() == "INSERT INTO t(id, v) VALUES (1, 'b')");
  }
  CHECK(runs == 1);
  CHECK_THROWS_MATCHES(d.read([](db::Transaction& tx) { tx.execute_script("SELECT * FROM nope"); }),
                       db::Error, has_code(db::ErrorCode::kSql));
  CHECK_THROWS_MATCHES(
      d.read([](db::Transaction& tx) { tx.execute("INSERT INTO t(v) VALUES ('x')"); }), db::Error,
      has_code(db::ErrorCode::kReadOnly));
  CHECK(count_rows(d) == 1);
}

TEST_CASE("An exception of fn's own rolls back and propagates without retry", "[db][retry]") {
  const auto dir = scratch_dir("userexc");
  auto d = db::Database::open(options_for(dir / "a.db"));
  int runs = 0;
  CHECK_THROWS_AS(d.write([&](db::Transaction& tx) {
    ++runs;
    tx.execute("INSERT INTO t(v) VALUES ('x')");
    throw std::logic_error("caller's own failure");
  }),
                  std::logic_error);
  CHECK(runs == 1);
  CHECK(count_rows(d) == 0);
  CHECK(d.counters().surfaced_errors == 0);
  CHECK_THROWS_MATCHES(d.write([&](db::Transaction&) { d.write([](db::Transaction&) {}); }),
                       db::Error, has_code(db::ErrorCode::kMisuse));
  // Maintenance from inside fn would take the write turn behind the
  // transaction's own (or drop its connection): refused, and nothing is
  // committed.
  const auto inside = [&](auto call) {
    const db::Error refused = thrown<db::Error>([&] {
      d.write([&](db::Transaction& tx) {
        tx.execute("INSERT INTO t(v) VALUES ('inside')");
        call();
      });
    });
    return refused.code();
  };
  CHECK(inside([&] { d.checkpoint(db::CheckpointMode::kTruncate); }) == db::ErrorCode::kMisuse);
  CHECK(inside([&] { d.rekey(db::Key::passphrase("other")); }) == db::ErrorCode::kMisuse);
  CHECK(inside([&] { d.backup_to(dir / "copy.db", db::Key::passphrase("copy")); }) ==
        db::ErrorCode::kMisuse);
  CHECK(inside([&] { d.reconnect(); }) == db::ErrorCode::kMisuse);
  CHECK(inside([&] { d.quick_check(); }) == db::ErrorCode::kMisuse);
  CHECK(count_rows(d) == 0);
  CHECK_FALSE(std::filesystem::exists(dir / "copy.db"));
  d.write([](db::Transaction& tx) { tx.execute("INSERT INTO t(v) VALUES ('after')"); });
  CHECK(count_rows(d) == 1);
}

TEST_CASE("Reconnect-class failures reconnect and rerun fn, and surface when they persist",
          "[db][reconnect]") {
  const auto dir = scratch_dir("reconnect");
  db::Options o = options_for(dir / "a.db");
  o.retry.max_reconnects = 2;
  auto d = db::Database::open(o);
  SECTION("a transient I/O error heals on a new connection") {
    int runs = 0;
    sqlite3* first = d.native_handle();
    d.write([&](db::Transaction& tx) {
      ++runs;
      tx.execute("INSERT INTO t(v) VALUES ('x')");
      if (runs == 1) {
        throw db::Error(db::ErrorCode::kIo, db::RetryClass::kReconnect, SQLITE_IOERR_SHORT_READ,
                        "simulated", "");
      }
    });
    CHECK(runs == 2);
    CHECK(d.counters().reconnects == 1);
    CHECK(d.native_handle() != nullptr);
    CHECK(count_rows(d) == 1);
    (void)first;
  }
  SECTION("a persistent one surfaces after max_reconnects") {
    int runs = 0;
    CHECK(thrown<db::Error>([&] {
            d.write([&](db::Transaction&) {
              ++runs;
              throw db::Error(db::ErrorCode::kIo, db::RetryClass::kReconnect, SQLITE_IOERR_READ,
                              "simulated", "");
            });
          }).code() == db::ErrorCode::kIo);
    CHECK(runs == 3);
    CHECK(d.counters().reconnects == 2);
    CHECK(d.counters().surfaced(db::ErrorCode::kIo) == 1);
  }
}

TEST_CASE(
    "A connection whose key no longer fits after someone else rekeyed reconnects, then "
    "reports it",
    "[db][reconnect]") {
  const auto dir = scratch_dir("rekeyed");
  db::Options o = options_for(dir / "a.db");
  o.retry.max_reconnects = 2;
  auto d = db::Database::open(o);
  d.write([](db::Transaction& tx) { tx.execute("INSERT INTO t(v) VALUES ('x')"); });
  {
    auto other = db::Database::open(options_for(dir / "a.db"));
    other.rekey(
        db::Key::raw_hex("ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"));
  }
  CHECK_THROWS_MATCHES(count_rows(d), db::Error, has_code(db::ErrorCode::kWrongKeyOrNotADatabase));
  const db::Counters c = d.counters();
  CHECK(c.reconnects == 2);
  CHECK(c.failures(db::RetryClass::kReconnect) == 3);
  CHECK(c.surfaced(db::ErrorCode::kWrongKeyOrNotADatabase) == 1);
}

TEST_CASE("Migrations apply in order once, and a newer file is refused", "[db][migrations]") {
  const auto dir = scratch_dir("migrations");
  db::Options o = options_for(dir / "a.db");
  { auto d = db::Database::open(o); }
  int applied = 0;
  o.migrations.push_back({2, "ALTER TABLE t ADD COLUMN w INTEGER;", {}});
  o.migrations.push_back({3, "", [&](db::Transaction& tx) {
                            ++applied;
                            tx.execute("INSERT INTO t(v, w) VALUES ('seed', 3)");
                          }});
  {
    auto d = db::Database::open(o);
    CHECK(d.user_version() == 3);
    CHECK(count_rows(d) == 1);
  }
  { auto d = db::Database::open(o); }
  CHECK(applied == 1);
  db::Options old = options_for(dir / "a.db");
  CHECK_THROWS_MATCHES(db::Database::open(old), db::Error, has_code(db::ErrorCode::kSchemaTooNew));
  SECTION("a failing migration leaves the version where it was") {
    db::Options bad = o;
    bad.migrations.push_back({4, "CREATE TABLE t(x);", {}});
    CHECK_THROWS_MATCHES(db::Database::open(bad), db::Error, has_code(db::ErrorCode::kSql));
    auto d = db::Database::open(o);
    CHECK(d.user_version() == 3);
  }
}

TEST_CASE("The journal mode is restored to WAL when someone switched it off", "[db][wal]") {
  const auto dir = scratch_dir("walrestore");
  { auto d = db::Database::open(options_for(dir / "a.db")); }
  {
    RawDb raw(dir / "a.db", kRawPragma, false);
    REQUIRE(raw.text("PRAGMA journal_mode=DELETE") == "delete");
  }
  auto d = db::Database::open(options_for(dir / "a.db"));
  RawDb raw(dir / "a.db", kRawPragma, false);
  CHECK(raw.text("PRAGMA journal_mode") == "wal");
}

TEST_CASE("Maintenance: checkpoint, checks, stats, backup and rekey", "[db][maintenance]") {
  const auto dir = scratch_dir("maintenance");
  db::Options o = options_for(dir / "a.db");
  o.wal_autocheckpoint_pages = 0;
  auto d = db::Database::open(o);
  d.write([](db::Transaction& tx) {
    for (int i = 0; i < 300; ++i) tx.execute("INSERT INTO t(v) VALUES (?)", std::string(200, 'v'));
  });
  SECTION("checkpoint and stats") {
    db::Stats before = d.stats();
    CHECK(before.page_size == 4096);
    CHECK(before.page_count > 10);
    CHECK(before.wal_bytes > 0);
    CHECK(before.user_version == 1);
    const db::CheckpointResult p = d.checkpoint(db::CheckpointMode::kPassive);
    CHECK_FALSE(p.busy);
    CHECK(p.log_frames == p.checkpointed_frames);
    const db::CheckpointResult t = d.checkpoint(db::CheckpointMode::kTruncate);
    CHECK_FALSE(t.busy);
    CHECK(d.stats().wal_bytes == 0);
    CHECK(d.stats().counters.transactions >= 1);
  }
  SECTION("integrity checks") {
    CHECK(d.quick_check().ok);
    const db::CheckResult r = d.integrity_check();
    CHECK(r.ok);
    CHECK(r.problems.empty());
  }
  SECTION("backup to a new encrypted file that opens with its own key") {
    d.backup_to(dir / "b.db", db::Key::passphrase("backup pass"));
    // The copy has its own salt, so the shell's PRAGMA key derives the same key.
    auto b = db::Database::open(options_for(dir / "b.db", "backup pass"));
    CHECK(count_rows(b) == 300);
    RawDb raw(dir / "b.db", "backup pass", false);
    CHECK(raw.text("SELECT count(*) FROM t") == "300");
    CHECK_THROWS_MATCHES(d.backup_to(dir / "b.db", db::Key::passphrase("x")), db::Error,
                         has_code(db::ErrorCode::kInvalidArgument));
  }
  SECTION("rekey: the new passphrase opens the file, the old one no longer does") {
    d.rekey(db::Key::passphrase("new pass"));
    d.write([](db::Transaction& tx) { tx.execute("INSERT INTO t(v) VALUES ('after')"); });
    d.reconnect();
    CHECK(count_rows(d) == 301);
    CHECK_THROWS_MATCHES(db::Database::open(options_for(dir / "a.db")), db::Error,
                         has_code(db::ErrorCode::kWrongKeyOrNotADatabase));
    CHECK_THROWS_MATCHES(db::Database::open(options_for(dir / "a.db", kPass)), db::Error,
                         has_code(db::ErrorCode::kWrongKeyOrNotADatabase));
    auto again = db::Database::open(options_for(dir / "a.db", "new pass"));
    CHECK(count_rows(again) == 301);
    RawDb raw(dir / "a.db", "new pass", false);
    CHECK(raw.text("SELECT count(*) FROM t") == "301");
  }
}

TEST_CASE("Counters::transactions counts the caller's transactions, not the library's own reads",
          "[db][counters]") {
  const auto dir = scratch_dir("own");
  auto d = db::Database::open(options_for(dir / "a.db"));
  const db::Counters before = d.counters();
  CHECK(d.stats().user_version == 1);
  CHECK(d.user_version() == 1);
  CHECK(d.quick_check().ok);
  CHECK(d.integrity_check().ok);
  const db::Counters after_maintenance = d.counters();
  CHECK(after_maintenance.transactions == before.transactions);
  CHECK(after_maintenance.own_transactions == before.own_transactions + 4);
  d.write([](db::Transaction& tx) { tx.execute("INSERT INTO t(v) VALUES ('a')"); });
  CHECK(count_rows(d) == 1);
  CHECK(d.counters().transactions == before.transactions + 2);
}

TEST_CASE("A rollback that must prepare its statement and cannot does not end the process",
          "[db][retry]") {
  const auto dir = scratch_dir("rollback");
  auto d = db::Database::open(options_for(dir / "a.db"));
  d.write([](db::Transaction& tx) { tx.execute("INSERT INTO t(v) VALUES ('kept')"); });
  RawDb other(dir / "a.db", kRawPragma, false);
  bool prepare_failed = false;
  // This connection has never rolled back, so its ROLLBACK is not cached:
  // the rollback must prepare it, after another connection changed the
  // schema, with SQLite out of memory.
  CHECK_THROWS_AS(d.read([&](db::Transaction& tx) {
    CHECK(tx.query_value<std::int64_t>("SELECT count(*) FROM t") == 1);
    REQUIRE(other.exec("CREATE TABLE u(x INTEGER)") == SQLITE_OK);
    sqlite3_hard_heap_limit64(sqlite3_memory_used());
    sqlite3_stmt* probe = nullptr;
    prepare_failed =
        sqlite3_prepare_v2(other.get(), "SELECT 1", -1, &probe, nullptr) == SQLITE_NOMEM;
    sqlite3_finalize(probe);
    throw std::runtime_error("fn fails");
  }),
                  std::runtime_error);
  sqlite3_hard_heap_limit64(0);
  REQUIRE(prepare_failed);  // the rollback really could not prepare
  // The connection that could not roll back was dropped; the next call
  // reconnects and sees the other connection's schema.
  CHECK(count_rows(d) == 1);
  CHECK(d.read([](db::Transaction& tx) {
    return tx.query_value<std::int64_t>("SELECT count(*) FROM u");
  }) == 0);
}

TEST_CASE("Open waits out a lock held across the key verification, and says busy, not key",
          "[db][open]") {
  const auto dir = scratch_dir("openbusy");
  const auto path = dir / "a.db";
  { auto d = db::Database::open(options_for(path)); }
  db::Options o = options_for(path);
  o.retry.busy_timeout = milliseconds(50);
  // An exclusive lock: no other connection can read the schema while it lasts.
  auto holder = std::make_unique<RawDb>(path, kRawPragma, false);
  REQUIRE(holder->exec("PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT;") == SQLITE_OK);

  SECTION("held longer than busy_timeout, shorter than the deadline: the open succeeds") {
    o.retry.deadline = milliseconds(10000);
    std::latch opening(1);
    std::thread release([&] {
      opening.wait();
      std::this_thread::sleep_for(milliseconds(300));  // the hold's length, six busy timeouts
      holder.reset();
    });
    opening.count_down();
    const auto t0 = std::chrono::steady_clock::now();
    auto d = db::Database::open(o);
    const double took = ms_since(t0);
    release.join();
    CHECK(took >= 250.0);  // it did wait for the lock
    CHECK(count_rows(d) == 0);
  }
  SECTION("held past the deadline: kBusy, never kWrongKeyOrNotADatabase") {
    o.retry.deadline = milliseconds(300);
    try {
      db::Database::open(o);
      FAIL("opened under an exclusive lock");
    } catch (const db::Error& e) {
      CHECK(e.code() == db::ErrorCode::kBusy);
      CHECK(e.primary_code() == SQLITE_BUSY);
    }
    holder.reset();
    auto d = db::Database::open(o);
    CHECK(count_rows(d) == 0);
  }
}

TEST_CASE("Opening in a directory that does not exist fails with kCantOpen naming it",
          "[db][open]") {
  const auto dir = scratch_dir("nodir");
  db::Options o = options_for(dir / "missing" / "a.db");
  try {
    db::Database::open(o);
    FAIL("opened in a missing directory");
  } catch (const db::Error& e) {
    CHECK(e.code() == db::ErrorCode::kCantOpen);
    CHECK(e.os_error() == ENOENT);
  }
  CHECK_FALSE(std::filesystem::exists(dir / "missing"));
  write_file(dir / "file", "not a directory");
  CHECK_THROWS_MATCHES(db::Database::open(options_for(dir / "file" / "a.db")), db::Error,
                       has_code(db::ErrorCode::kCantOpen));
}

TEST_CASE("auto_vacuum is applied when the file is created, before WAL", "[db][open]") {
  const auto dir = scratch_dir("autovacuum");
  struct Case {
    db::AutoVacuum mode;
    const char* pragma;
  };
  const Case c = GENERATE(Case{db::AutoVacuum::kNone, "0"}, Case{db::AutoVacuum::kFull, "1"},
                          Case{db::AutoVacuum::kIncremental, "2"});
  CAPTURE(c.pragma);
  const auto path = dir / (std::string("a") + c.pragma + ".db");
  db::Options o = options_for(path);
  o.auto_vacuum = c.mode;
  { auto d = db::Database::open(o); }
  RawDb raw(path, kRawPragma, false);
  CHECK(raw.text("PRAGMA auto_vacuum") == c.pragma);
  CHECK(raw.text("PRAGMA journal_mode") == "wal");
  // An existing file keeps its own.
  o.auto_vacuum = c.mode == db::AutoVacuum::kFull ? db::AutoVacuum::kNone : db::AutoVacuum::kFull;
  { auto d = db::Database::open(o); }
  CHECK(raw.text("PRAGMA auto_vacuum") == c.pragma);
}

// cached_sql: whether the connection holds a prepared statement for `sql`.
bool cached_sql(db::Database& d, const std::string& sql) {
  for (sqlite3_stmt* s = sqlite3_next_stmt(d.native_handle(), nullptr); s != nullptr;
       s = sqlite3_next_stmt(d.native_handle(), s)) {
    if (sqlite3_sql(s) == sql) return true;
  }
  return false;
}

TEST_CASE("prepare compiles a statement before the write that runs it, which uses it",
          "[db][prepare]") {
  const auto dir = scratch_dir("prepare");
  auto d = db::Database::open(options_for(dir / "a.db"));
  const std::string insert = "INSERT INTO t(v) VALUES (?)";
  REQUIRE_FALSE(cached_sql(d, insert));
  d.prepare(insert);
  CHECK(cached_sql(d, insert));
  const db::Counters before = d.counters();
  CHECK(before.transactions == 0);  // compiling is not a transaction
  // Another connection changes the schema: the prepared statement is
  // compiled again when it runs.
  {
    RawDb raw(dir / "a.db", kRawPragma, false);
    REQUIRE(raw.exec("ALTER TABLE t ADD COLUMN w TEXT") == SQLITE_OK);
  }
  d.write([&](db::Transaction& tx) { tx.execute(insert, "a"); });
  CHECK(count_rows(d) == 1);
  CHECK(d.counters().surfaced_errors == 0);

  SECTION("SQL that does not compile throws kSql, counted as surfaced") {
    CHECK_THROWS_MATCHES(d.prepare("INSERT INTO nope VALUES (1)"), db::Error,
                         has_code(db::ErrorCode::kSql));
    CHECK_THROWS_MATCHES(d.prepare(" "), db::Error, has_code(db::ErrorCode::kInvalidArgument));
    CHECK(d.counters().surfaced_errors == 2);
  }
  SECTION("prepare inside a transaction's fn is refused") {
    CHECK_THROWS_MATCHES(d.write([&](db::Transaction&) { d.prepare(insert); }), db::Error,
                         has_code(db::ErrorCode::kMisuse));
    CHECK(count_rows(d) == 1);
  }
}

TEST_CASE("turn_held_us counts the time each write held the write turn", "[db][counters]") {
  const auto dir = scratch_dir("held");
  const bool fair = GENERATE(true, false);
  db::Options o = options_for(dir / (fair ? "fair.db" : "unfair.db"));
  o.fair_write_turn = fair;
  auto d = db::Database::open(std::move(o));
  const std::uint64_t before = d.counters().turn_held_us;
  d.write([](db::Transaction& tx) {
    tx.execute("INSERT INTO t(v) VALUES ('a')");
    std::this_thread::sleep_for(milliseconds(20));
  });
  const std::uint64_t held = d.counters().turn_held_us - before;
  CAPTURE(fair, held);
  if (fair) {
    CHECK(held >= 20000);  // the turn was held across fn's 20 ms
  } else {
    CHECK(held == 0);  // no turn taken
  }
}

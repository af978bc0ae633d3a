// Every wait inside a call ends at the call's deadline with kTimeout: the
// write turn, SQLite's busy handler and the retries, the Store's reader pool
// and its group commit. And a writer that ran without the write turn is
// counted.
#include <fcntl.h>
#include <sqlcipher/sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <latch>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "coordkit/db/database.h"
#include "coordkit/db/internal/testing.h"
#include "coordkit/db/internal/write_turn.h"
#include "coordkit/db/store.h"
#include "coordkit/testing/error_matchers.h"
#include "coordkit/testing/scratch_dir.h"

namespace db = coordkit::db;
using coordkit::db::internal::Clock;
using coordkit::db::internal::WriteTurn;
using coordkit::db::testing::RawDb;
using coordkit::testing::has_code;
using coordkit::testing::scratch_dir;
using coordkit::testing::thrown;
using std::chrono::milliseconds;

namespace {

constexpr const char* kRawHex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const std::string kRawPragma = std::string("x'") + kRawHex + "'";

db::Options options_for(const std::filesystem::path& path) {
  db::Options o;
  o.path = path;
  o.key = db::Key::raw_hex(kRawHex);
  o.migrations = {{1, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL);", {}}};
  o.retry.seed = 11;
  return o;
}

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

void insert(db::Transaction& tx) { tx.execute("INSERT INTO t(v) VALUES ('x')"); }

std::int64_t rows(db::Database& d) {
  return d.read([](db::Transaction& tx) {
    return tx.query_value<std::int64_t>("SELECT count(*) FROM t").value_or(-1);
  });
}

// Gate: a latch the test opens once, for threads parked inside fn.
struct Gate {
  std::latch inside{1};
  std::latch release{1};
};

}  // namespace

TEST_CASE("A write behind another connection's write lock fails with kTimeout at its deadline",
          "[db][deadline]") {
  const auto dir = scratch_dir("dl-lock");
  db::Options o = options_for(dir / "a.db");
  o.retry.busy_timeout = milliseconds(5000);  // longer than the call's deadline
  auto d = db::Database::open(o);
  RawDb holder(dir / "a.db", kRawPragma, false);
  REQUIRE(holder.exec("BEGIN IMMEDIATE; INSERT INTO t(v) VALUES ('holder');") == SQLITE_OK);
  const auto t0 = Clock::now();
  const db::Error e =
      thrown<db::Error>([&] { d.write(insert, db::CallOptions::timeout(milliseconds(150))); });
  const double took = ms_since(t0);
  CHECK(e.code() == db::ErrorCode::kTimeout);
  CHECK(e.retry_class() == db::RetryClass::kRetrySameConnection);  // transient
  CHECK(e.primary_code() == SQLITE_BUSY);
  // Bounded by the deadline, not by the 5 s busy timeout nor the 10 s policy.
  CHECK(took < 2500.0);
  CHECK(d.counters().surfaced(db::ErrorCode::kTimeout) == 1);
  holder.exec("ROLLBACK");
  d.write(insert);
  CHECK(rows(d) == 1);
}

TEST_CASE("Without CallOptions, contention past RetryPolicy::deadline still surfaces as kBusy",
          "[db][deadline]") {
  const auto dir = scratch_dir("dl-policy");
  db::Options o = options_for(dir / "a.db");
  o.retry.busy_timeout = milliseconds(5000);
  o.retry.deadline = milliseconds(150);
  auto d = db::Database::open(o);
  RawDb holder(dir / "a.db", kRawPragma, false);
  REQUIRE(holder.exec("BEGIN IMMEDIATE; INSERT INTO t(v) VALUES ('holder');") == SQLITE_OK);
  const auto t0 = Clock::now();
  CHECK_THROWS_MATCHES(d.write(insert), db::Error, has_code(db::ErrorCode::kBusy));
  CHECK(ms_since(t0) < 2500.0);  // the busy handler stops at the deadline too
  holder.exec("ROLLBACK");
}

TEST_CASE("A write waiting for the write turn fails with kTimeout at its deadline, counted",
          "[db][deadline][turn]") {
  const auto dir = scratch_dir("dl-turn");
  const auto path = dir / "a.db";
  auto d = db::Database::open(options_for(path));
  d.write(insert);  // opens the gate
  WriteTurn other;  // another writer of the same file holds the turn
  REQUIRE(other.open(path.string(), std::chrono::microseconds(0)));
  bool got = false;
  other.acquire(Clock::now() + milliseconds(1000), &got);
  REQUIRE(got);

  const db::Error e =
      thrown<db::Error>([&] { d.write(insert, db::CallOptions::timeout(milliseconds(100))); });
  CHECK(e.code() == db::ErrorCode::kTimeout);
  CHECK(d.counters().turn_timeouts == 1);
  CHECK(rows(d) == 1);  // nothing written

  SECTION("at the policy's deadline the writer goes on under SQLite's locks, counted") {
    db::Options o = options_for(path);
    o.retry.deadline = milliseconds(100);
    auto d2 = db::Database::open(o);
    d2.write(insert);
    CHECK(d2.counters().turn_timeouts == 1);
    CHECK(rows(d2) == 2);
  }
  other.release();
}

TEST_CASE("A writer that runs without the write turn is counted", "[db][turn]") {
  const auto dir = scratch_dir("dl-noturn");
  const auto path = dir / "a.db";

  SECTION("every gate slot is taken: the 63rd writer") {
    auto d = db::Database::open(options_for(path));
    std::vector<std::unique_ptr<WriteTurn>> slots;
    for (int i = 0; i < coordkit::db::internal::kGateSlots; ++i) {
      slots.push_back(std::make_unique<WriteTurn>());
      REQUIRE(slots.back()->open(path.string(), std::chrono::microseconds(0)));
    }
    d.write(insert);
    d.write(insert);
    const db::Counters c = d.counters();
    CHECK(c.turn_skipped_no_slot == 2);
    CHECK(c.turn_skipped_no_gate == 0);
    CHECK(c.turn_waits == 0);
    CHECK(rows(d) == 2);
  }

  SECTION("the gate file cannot be opened") {
    auto d = db::Database::open(options_for(path));
    std::filesystem::create_directory(path.string() + ".coordkit-gate");  // a directory is no gate
    d.write(insert);
    const db::Counters c = d.counters();
    CHECK(c.turn_skipped_no_gate == 1);
    CHECK(c.turn_skipped_no_slot == 0);
    CHECK(rows(d) == 1);
  }

  SECTION("a fair run counts neither") {
    auto d = db::Database::open(options_for(path));
    d.write(insert);
    CHECK(d.counters().turn_skipped_no_slot == 0);
    CHECK(d.counters().turn_skipped_no_gate == 0);
  }
}

TEST_CASE("A Store read waiting for a reader connection fails with kTimeout at its deadline",
          "[db][deadline][store]") {
  const auto dir = scratch_dir("dl-pool");
  db::Options o = options_for(dir / "a.db");
  auto store = db::Store::open(o, {.readers = 1});
  Gate gate;
  std::thread busy_reader([&] {
    store->read([&](db::Transaction&) {
      gate.inside.count_down();
      gate.release.wait();
    });
  });
  gate.inside.wait();  // the only reader is taken
  auto read_one = [](db::Transaction& tx) { return tx.query_value<int>("SELECT 1").value_or(0); };
  const auto t0 = Clock::now();
  const db::Error e = thrown<db::Error>(
      [&] { store->read(read_one, db::CallOptions::timeout(milliseconds(100))); });
  CHECK(e.code() == db::ErrorCode::kTimeout);
  CHECK(ms_since(t0) < 2500.0);
  CHECK(store->counters().surfaced(db::ErrorCode::kTimeout) == 1);
  gate.release.count_down();
  busy_reader.join();
  CHECK(store->read(read_one) == 1);
}

TEST_CASE("A Store read's wait for a reader is bounded by RetryPolicy::deadline by default",
          "[db][deadline][store]") {
  const auto dir = scratch_dir("dl-pool-default");
  db::Options o = options_for(dir / "a.db");
  o.retry.deadline = milliseconds(100);
  auto store = db::Store::open(o, {.readers = 1});
  Gate gate;
  std::thread busy_reader([&] {
    store->read([&](db::Transaction&) {
      gate.inside.count_down();
      gate.release.wait();
    });
  });
  gate.inside.wait();
  const db::Error e = thrown<db::Error>([&] { store->read([](db::Transaction&) {}); });
  CHECK(e.code() == db::ErrorCode::kTimeout);
  gate.release.count_down();
  busy_reader.join();
}

TEST_CASE("A Store write queued behind a slow group commit fails with kTimeout at its deadline",
          "[db][deadline][store]") {
  const auto dir = scratch_dir("dl-group");
  auto store = db::Store::open(options_for(dir / "a.db"), {.readers = 1});
  Gate gate;
  std::thread slow([&] {
    store->write([&](db::Transaction& tx) {
      tx.execute("INSERT INTO t(v) VALUES ('slow')");
      gate.inside.count_down();
      gate.release.wait();
    });
  });
  gate.inside.wait();  // the slow batch runs
  const auto t0 = Clock::now();
  const db::Error e = thrown<db::Error>([&] {
    store->write([](db::Transaction& tx) { tx.execute("INSERT INTO t(v) VALUES ('late')"); },
                 db::CallOptions::timeout(milliseconds(100)));
  });
  CHECK(e.code() == db::ErrorCode::kTimeout);
  CHECK(ms_since(t0) < 2500.0);
  CHECK(store->pending_writes() == 0);  // withdrawn from the queue
  gate.release.count_down();
  slow.join();
  const std::string all = store->read([](db::Transaction& tx) {
    std::string s;
    tx.query<std::string>("SELECT v FROM t ORDER BY id",
                          [&](const std::string& v) { s += v + ","; });
    return s;
  });
  CHECK(all == "slow,");
}

TEST_CASE("A Store call waiting for the writer connection fails with kTimeout at its deadline",
          "[db][deadline][store]") {
  const auto dir = scratch_dir("dl-writer");
  auto store = db::Store::open(options_for(dir / "a.db"), {.readers = 1});
  Gate gate;
  std::thread slow([&] {
    store->write([&](db::Transaction&) {
      gate.inside.count_down();
      gate.release.wait();
    });
  });
  gate.inside.wait();  // the writer connection is busy with the slow write
  CHECK_THROWS_MATCHES(store->user_version(db::CallOptions::timeout(milliseconds(100))), db::Error,
                       has_code(db::ErrorCode::kTimeout));
  gate.release.count_down();
  slow.join();
  CHECK(store->user_version() == 1);
}

// An open, a Store's open and a reconnection wait for the file like any
// call: with CallOptions, every wait ends at the call's deadline, long
// before RetryPolicy::deadline and the busy timeout.
TEST_CASE("An open, a Store open and a reconnect fail with kTimeout at the call's deadline",
          "[db][deadline][open]") {
  const auto dir = scratch_dir("dl-open");
  const auto path = dir / "a.db";
  db::Options o = options_for(path);
  o.retry.busy_timeout = milliseconds(5000);
  o.retry.deadline = milliseconds(20000);
  std::optional<db::Database> d = db::Database::open(o);
  d->write(insert);
  std::unique_ptr<RawDb> holder;
  // hold: an exclusive lock, so no other connection can read the schema
  // while it lasts. It needs every other connection of the file closed.
  auto hold = [&] {
    holder = std::make_unique<RawDb>(path, kRawPragma, false);
    REQUIRE(holder->exec("PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT;") == SQLITE_OK);
  };
  const auto call = [] { return db::CallOptions::timeout(milliseconds(150)); };
  auto expect_timeout = [](const db::Error& e, double took) {
    CHECK(e.code() == db::ErrorCode::kTimeout);
    CHECK(e.retry_class() == db::RetryClass::kRetrySameConnection);  // transient
    CHECK(e.primary_code() == SQLITE_BUSY);
    // Bounded by the call's deadline, not by the 5 s busy timeout nor the
    // 20 s policy.
    CHECK(took < 2500.0);
  };
  SECTION("Database::open") {
    d.reset();
    hold();
    const auto t0 = Clock::now();
    const db::Error e = thrown<db::Error>([&] { db::Database::open(o, call()); });
    expect_timeout(e, ms_since(t0));
  }
  SECTION("Store::open") {
    d.reset();
    hold();
    const auto t0 = Clock::now();
    const db::Error e = thrown<db::Error>([&] { db::Store::open(o, {.readers = 2}, call()); });
    expect_timeout(e, ms_since(t0));
  }
  SECTION("Database::reconnect") {
    // d's connection closes with a reconnection that finds no file (moved
    // away for a moment), so the lock can be taken while d lives.
    const auto away = dir / "away.db";
    std::filesystem::rename(path, away);
    CHECK_THROWS_MATCHES(d->reconnect(), db::Error, has_code(db::ErrorCode::kCantOpen));
    std::filesystem::rename(away, path);
    hold();
    const auto t0 = Clock::now();
    const db::Error e = thrown<db::Error>([&] { d->reconnect(call()); });
    expect_timeout(e, ms_since(t0));
  }
  holder.reset();
  if (!d) d = db::Database::open(o, call());
  d->reconnect(call());
  CHECK(rows(*d) == 1);
  auto store = db::Store::open(o, {.readers = 2}, call());
  CHECK(store->user_version() == 1);
}

TEST_CASE("An open waiting for the init lock fails with kTimeout at the call's deadline",
          "[db][deadline][open]") {
  const auto dir = scratch_dir("dl-initlock");
  const auto path = dir / "a.db";
  db::Options o = options_for(path);
  o.retry.deadline = milliseconds(20000);
  // Another process creating or migrating the file holds the init lock.
  const std::string lock_path = path.string() + ".coordkit-init.lock";
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  REQUIRE(::flock(fd, LOCK_EX) == 0);
  const auto t0 = Clock::now();
  const db::Error e = thrown<db::Error>(
      [&] { db::Database::open(o, db::CallOptions::timeout(milliseconds(150))); });
  CHECK(e.code() == db::ErrorCode::kTimeout);
  CHECK(e.retry_class() == db::RetryClass::kRetrySameConnection);
  CHECK(ms_since(t0) < 2500.0);
  CHECK_FALSE(std::filesystem::exists(path));  // nothing was created
  ::close(fd);
  auto d = db::Database::open(o, db::CallOptions::timeout(milliseconds(5000)));
  CHECK(rows(d) == 0);
}

TEST_CASE("An open whose migrations wait for the write lock fails with kTimeout at the deadline",
          "[db][deadline][open]") {
  const auto dir = scratch_dir("dl-migrate");
  const auto path = dir / "a.db";
  { auto d = db::Database::open(options_for(path)); }
  db::Options o = options_for(path);
  o.retry.busy_timeout = milliseconds(5000);
  o.retry.deadline = milliseconds(20000);
  o.migrations.push_back({2, "CREATE TABLE u(id INTEGER PRIMARY KEY);", {}});
  RawDb holder(path, kRawPragma, false);
  REQUIRE(holder.exec("BEGIN IMMEDIATE; INSERT INTO t(v) VALUES ('holder');") == SQLITE_OK);
  const auto t0 = Clock::now();
  const db::Error e = thrown<db::Error>(
      [&] { db::Database::open(o, db::CallOptions::timeout(milliseconds(150))); });
  CHECK(e.code() == db::ErrorCode::kTimeout);
  CHECK(e.primary_code() == SQLITE_BUSY);
  CHECK(ms_since(t0) < 2500.0);
  holder.exec("ROLLBACK");
  auto d = db::Database::open(o, db::CallOptions::timeout(milliseconds(5000)));
  CHECK(d.user_version() == 2);
}

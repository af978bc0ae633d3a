#include "coordkit/gateway/service.h"

#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "coordkit/apps/records.h"
#include "coordkit/db/db.h"
#include "coordkit/gateway/internal/testing.h"

namespace gw = coordkit::gateway;
namespace db = coordkit::db;
namespace records = coordkit::records;
using gw::testing::in;
using std::chrono::milliseconds;

namespace {

gw::ServiceOptions options_in(const std::filesystem::path& dir) {
  return {.database = dir / "gw.db",
          .data_dir = dir,
          .key = db::Key::raw_hex(gw::testing::kTestKeyHex),
          .readers = 2};
}

db::Database open_direct(const std::filesystem::path& path, const char* hex) {
  db::Options o;
  o.path = path;
  o.key = db::Key::raw_hex(hex);
  o.create_if_missing = false;
  o.migrations = records::migrations();
  return db::Database::open(std::move(o));
}

}  // namespace

TEST_CASE("Service serves the records model with versions and conditions", "[gateway]") {
  const auto dir = gw::testing::scratch_dir("service-records");
  auto service = gw::Service::open(options_in(dir));
  const auto d = in(milliseconds(5000));

  const records::Record r = service->create("notes", R"({"text":"hi"})", d);
  CHECK(r.version == 1);
  CHECK(service->get("notes", r.id, d).body == R"({"text":"hi"})");

  SECTION("put with the right version writes version + 1, a stale one is refused") {
    const auto p = service->put("notes", r.id, R"({"text":"v2"})", {.if_version = 1}, d);
    CHECK(p.record.version == 2);
    CHECK_FALSE(p.created);
    try {
      service->put("notes", r.id, R"({"text":"v3"})", {.if_version = 1}, d);
      FAIL("a stale If-Match was accepted");
    } catch (const records::Error& e) {
      CHECK(e.code() == records::ErrorCode::kVersionMismatch);
      CHECK(e.current_version() == 2);
    }
  }
  SECTION("if_absent creates once") {
    CHECK(service->put("notes", "fixed-id", "{}", {.if_absent = true}, d).created);
    try {
      service->put("notes", "fixed-id", "{}", {.if_absent = true}, d);
      FAIL("If-None-Match: * overwrote a record");
    } catch (const records::Error& e) {
      CHECK(e.code() == records::ErrorCode::kAlreadyExists);
    }
  }
  SECTION("remove, then get is not found") {
    CHECK(service->remove("notes", r.id, {}, d) == 1);
    try {
      service->get("notes", r.id, d);
      FAIL("a deleted record was found");
    } catch (const records::Error& e) {
      CHECK(e.code() == records::ErrorCode::kNotFound);
    }
  }
  SECTION("list pages with a cursor, every record once") {
    for (int i = 0; i < 6; ++i) service->create("notes", "{}", d);
    std::set<std::string> seen;
    std::string cursor;
    int pages = 0;
    for (;;) {
      const records::Page page = service->list("notes", cursor, 3, d);
      ++pages;
      for (const auto& rec : page.records) CHECK(seen.insert(rec.id).second);
      if (!page.next_cursor) break;
      cursor = *page.next_cursor;
    }
    CHECK(seen.size() == 7);
    CHECK(pages == 3);
  }
  SECTION("a body over the limit is kTooLarge before any transaction") {
    const std::string big =
        "{\"x\":\"" + std::string(service->limits().max_body_bytes, 'a') + "\"}";
    try {
      service->create("notes", big, d);
      FAIL("an oversized body was accepted");
    } catch (const records::Error& e) {
      CHECK(e.code() == records::ErrorCode::kTooLarge);
    }
  }
}

TEST_CASE("Service bounds a write by its deadline while another process holds the database",
          "[gateway]") {
  const auto dir = gw::testing::scratch_dir("service-deadline");
  auto service = gw::Service::open(options_in(dir));
  db::Database other = open_direct(dir / "gw.db", gw::testing::kTestKeyHex);

  std::mutex mu;
  std::condition_variable cv;
  bool holding = false;
  bool release = false;
  std::thread holder([&] {
    other.write([&](db::Transaction& tx) {
      tx.execute(
          "INSERT INTO records(collection, id, version, body, created_at_ms, "
          "updated_at_ms) VALUES ('c', 'held', 1, '{}', 0, 0)");
      std::unique_lock lock(mu);
      holding = true;
      cv.notify_all();
      cv.wait_for(lock, std::chrono::seconds(10), [&] { return release; });
    });
  });
  {
    std::unique_lock lock(mu);
    REQUIRE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return holding; }));
  }
  const auto start = std::chrono::steady_clock::now();
  try {
    service->create("c", "{}", in(milliseconds(150)));
    FAIL("the write did not wait for the other writer");
  } catch (const db::Error& e) {
    CHECK(e.code() == db::ErrorCode::kTimeout);
  }
  const auto took = std::chrono::steady_clock::now() - start;
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  holder.join();
  CHECK(took < std::chrono::seconds(5));  // bounded by the deadline, not the 10 s policy
  CHECK(service->get("c", "held", in(milliseconds(5000))).version == 1);
}

TEST_CASE("Service's admin operations: stats, checkpoint, checks", "[gateway]") {
  const auto dir = gw::testing::scratch_dir("service-admin");
  auto service = gw::Service::open(options_in(dir));
  const auto d = in(milliseconds(5000));
  for (int i = 0; i < 5; ++i) service->create("a", R"({"n":1})", d);

  const nlohmann::json s = service->stats(d);
  CHECK(s["database"]["user_version"] == records::kSchemaVersion);
  CHECK(s["counters"]["transactions"].get<std::uint64_t>() >= 5);
  CHECK(s["counters"].contains("turn_waits"));
  CHECK(s["counters"].contains("group_commits"));
  REQUIRE(s["collections"].size() == 1);
  CHECK(s["collections"][0]["records"] == 5);

  const db::CheckpointResult c = service->checkpoint(db::CheckpointMode::kTruncate, d);
  CHECK_FALSE(c.busy);
  CHECK(std::filesystem::file_size(dir / "gw.db-wal") == 0);
  CHECK(service->check(false, d).ok);
  CHECK(service->check(true, d).ok);
}

TEST_CASE("Service backs up into the backups folder by name only", "[gateway]") {
  const auto dir = gw::testing::scratch_dir("service-backup");
  auto service = gw::Service::open(options_in(dir));
  const auto d = in(milliseconds(5000));
  const records::Record r = service->create("a", R"({"k":"v"})", d);

  const gw::BackupResult b = service->backup("nightly-1", d);
  CHECK(b.path == dir / "backups" / "nightly-1");
  CHECK(b.bytes > 0);
  db::Database copy = open_direct(b.path, gw::testing::kTestKeyHex);
  CHECK(copy.read([&](db::Transaction& tx) { return records::get(tx, "a", r.id); }).body ==
        R"({"k":"v"})");

  SECTION("the same name twice is kAlreadyExists") {
    try {
      service->backup("nightly-1", d);
      FAIL("a backup was overwritten");
    } catch (const gw::Error& e) {
      CHECK(e.code() == gw::ErrorCode::kAlreadyExists);
    }
  }
  SECTION("a path is refused") {
    for (const char* name : {"../escape", "a/b", ".hidden", "", "/tmp/x"}) {
      CAPTURE(name);
      try {
        service->backup(name, d);
        FAIL("a path was accepted as a backup name");
      } catch (const gw::Error& e) {
        CHECK(e.code() == gw::ErrorCode::kInvalidArgument);
      }
    }
    CHECK_FALSE(std::filesystem::exists(dir / "escape"));
  }
}

TEST_CASE("Service rekeys in place; later connections and backups use the new key", "[gateway]") {
  const auto dir = gw::testing::scratch_dir("service-rekey");
  auto service = gw::Service::open(options_in(dir));
  const auto d = in(milliseconds(5000));
  const records::Record r = service->create("a", "{}", d);

  const gw::RekeyResult done =
      service->rekey(db::Key::raw_hex(gw::testing::kOtherKeyHex), gw::testing::kOtherKeyHex, d);
  CHECK_FALSE(done.key_file_updated);  // no key file: the key came from elsewhere
  CHECK(service->get("a", r.id, d).version == 1);
  service->create("a", "{}", d);
  const gw::BackupResult b = service->backup("after-rekey", d);
  CHECK_NOTHROW(open_direct(b.path, gw::testing::kOtherKeyHex));
  service->close();

  try {
    open_direct(dir / "gw.db", gw::testing::kTestKeyHex);
    FAIL("the old key still opens the database");
  } catch (const db::Error& e) {
    CHECK(e.code() == db::ErrorCode::kWrongKeyOrNotADatabase);
  }
  db::Database reopened = open_direct(dir / "gw.db", gw::testing::kOtherKeyHex);
  CHECK(reopened.read([](db::Transaction& tx) { return records::count(tx, "a"); }) == 2);
}

TEST_CASE("Service close checkpoints and leaves no -wal content", "[gateway]") {
  const auto dir = gw::testing::scratch_dir("service-close");
  auto service = gw::Service::open(options_in(dir));
  for (int i = 0; i < 50; ++i) service->create("a", R"({"i":1})", in(milliseconds(5000)));
  REQUIRE(std::filesystem::file_size(dir / "gw.db-wal") > 0);
  const db::CheckpointResult r = service->close();
  CHECK_FALSE(r.busy);
  std::error_code ec;
  const auto wal = std::filesystem::file_size(dir / "gw.db-wal", ec);
  CHECK((ec || wal == 0));
  try {
    service->get("a", "x", in(milliseconds(100)));
    FAIL("a closed service answered");
  } catch (const gw::Error& e) {
    CHECK(e.code() == gw::ErrorCode::kClosed);
  }
}

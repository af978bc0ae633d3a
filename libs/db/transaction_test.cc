// Transaction: nothing reads as a silent zero. A query's column count must
// match the statement's, NULL reads only into std::optional, and a script
// runs every statement it holds.
#include "coordkit/db/transaction.h"

#include <sqlcipher/sqlite3.h>

#include <catch2/catch_test_macros.hpp>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "coordkit/db/database.h"
#include "coordkit/db/internal/testing.h"
#include "coordkit/testing/error_matchers.h"
#include "coordkit/testing/scratch_dir.h"

namespace db = coordkit::db;
using coordkit::testing::has_code;
using coordkit::testing::scratch_dir;
using coordkit::testing::thrown;

namespace {

db::Database open_db(const std::filesystem::path& dir) {
  db::Options o;
  o.path = dir / "a.db";
  o.key = db::Key::raw_hex("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
  o.migrations = {{1,
                   "CREATE TABLE t(id INTEGER PRIMARY KEY, n INTEGER, s TEXT, b BLOB);"
                   "INSERT INTO t VALUES (1, 7, 'seven', x'07');"
                   "INSERT INTO t VALUES (2, NULL, NULL, NULL);",
                   {}}};
  return db::Database::open(std::move(o));
}

}  // namespace

TEST_CASE("A query asking for more or fewer columns than the statement has is misuse",
          "[db][transaction]") {
  const auto dir = scratch_dir("columns");
  auto d = open_db(dir);
  const db::Error more = thrown<db::Error>([&] {
    d.read([](db::Transaction& tx) {
      tx.query<std::int64_t, std::int64_t, std::int64_t>(
          "SELECT id, n FROM t WHERE id = 1", [](std::int64_t, std::int64_t, std::int64_t) {});
    });
  });
  CHECK(more.code() == db::ErrorCode::kMisuse);
  CHECK(more.sql() == "SELECT id, n FROM t WHERE id = 1");
  CHECK(thrown<db::Error>([&] {
          d.read([](db::Transaction& tx) {
            return tx.query_one<std::int64_t>("SELECT id, n FROM t WHERE id = 1");
          });
        }).code() == db::ErrorCode::kMisuse);
  CHECK(thrown<db::Error>([&] {
          d.read([](db::Transaction& tx) {
            return tx.query_value<std::int64_t>("SELECT id, n FROM t WHERE id = 1");
          });
        }).code() == db::ErrorCode::kMisuse);
  // Misuse is permanent: fn ran once.
  CHECK(d.counters().retries_same == 0);
  // The matching count reads.
  const auto row = d.read([](db::Transaction& tx) {
    return tx.query_one<std::int64_t, std::int64_t>("SELECT id, n FROM t WHERE id = 1");
  });
  REQUIRE(row.has_value());
  CHECK(std::get<1>(*row) == 7);
}

TEST_CASE("NULL read into a non-optional type is kNullValue; std::optional reads it",
          "[db][transaction]") {
  const auto dir = scratch_dir("nulls");
  auto d = open_db(dir);
  for (const char* sql : {"SELECT n FROM t WHERE id = 2", "SELECT s FROM t WHERE id = 2",
                          "SELECT b FROM t WHERE id = 2", "SELECT max(n) FROM t WHERE id > 2"}) {
    CAPTURE(sql);
    CHECK_THROWS_MATCHES(
        d.read([&](db::Transaction& tx) { return tx.query_value<std::int64_t>(sql); }), db::Error,
        has_code(db::ErrorCode::kNullValue));
  }
  CHECK(thrown<db::Error>([&] {
          d.read([](db::Transaction& tx) {
            return tx.query_value<std::string>("SELECT s FROM t WHERE id = 2");
          });
        }).code() == db::ErrorCode::kNullValue);
  CHECK(thrown<db::Error>([&] {
          d.read([](db::Transaction& tx) {
            return tx.query_value<std::vector<std::uint8_t>>("SELECT b FROM t WHERE id = 2");
          });
        }).code() == db::ErrorCode::kNullValue);
  CHECK(db::code_name(db::ErrorCode::kNullValue) == "null_value");

  const auto n = d.read([](db::Transaction& tx) {
    return tx.query_value<std::optional<std::int64_t>>("SELECT n FROM t WHERE id = 2");
  });
  REQUIRE(n.has_value());       // a row
  CHECK_FALSE(n->has_value());  // holding NULL
  const auto present = d.read([](db::Transaction& tx) {
    return tx.query_one<std::optional<std::string>, std::optional<std::vector<std::uint8_t>>>(
        "SELECT s, b FROM t WHERE id = 1");
  });
  REQUIRE(present.has_value());
  CHECK(std::get<0>(*present) == "seven");
  CHECK(std::get<1>(*present) == std::vector<std::uint8_t>{7});
  // An empty blob is a value, not NULL.
  CHECK(d.read([](db::Transaction& tx) {
    return tx.query_value<std::vector<std::uint8_t>>("SELECT x''");
  }) == std::vector<std::uint8_t>{});
}

TEST_CASE("execute_script runs every statement of a script; execute runs one with parameters",
          "[db][transaction]") {
  const auto dir = scratch_dir("script");
  auto d = open_db(dir);
  d.write([](db::Transaction& tx) {
    tx.execute_script(
        "CREATE TABLE u(x INTEGER); -- a comment\n"
        "INSERT INTO u VALUES (1); INSERT INTO u VALUES (2);");
    CHECK(tx.execute("INSERT INTO u VALUES (?)", 3) == 1);
  });
  CHECK(d.read([](db::Transaction& tx) {
    return tx.query_value<std::int64_t>("SELECT sum(x) FROM u");
  }) == 6);
  CHECK_THROWS_MATCHES(d.write([](db::Transaction& tx) { tx.execute("INSERT INTO u VALUES (?)"); }),
                       db::Error, has_code(db::ErrorCode::kInvalidArgument));
}

// Every public header compiles on its own and the umbrella exposes the API.
#include <catch2/catch_test_macros.hpp>

#include "coordkit/db/counters.h"
#include "coordkit/db/database.h"
#include "coordkit/db/db.h"
#include "coordkit/db/error.h"
#include "coordkit/db/key.h"
#include "coordkit/db/maintenance.h"
#include "coordkit/db/options.h"
#include "coordkit/db/store.h"
#include "coordkit/db/transaction.h"

TEST_CASE("The public headers compile together", "[db]") {
  coordkit::db::Options options;
  options.key = coordkit::db::Key::passphrase("x");
  CHECK_FALSE(options.key.empty());
}

// Instantiates the templates without running them (no file is opened).
[[maybe_unused]] static void instantiate(coordkit::db::Database& db, coordkit::db::Store& store) {
  using coordkit::db::Transaction;
  db.write([](Transaction& tx) { tx.execute("INSERT INTO t VALUES (?, ?, ?)", 1, "a", nullptr); });
  auto n = db.read([](Transaction& tx) {
    return tx.query_value<std::int64_t>("SELECT count(*) FROM t").value_or(0);
  });
  (void)n;
  auto row = store.read([](Transaction& tx) {
    return tx.query_one<std::int64_t, std::string, std::optional<double>>("SELECT 1, 'x', NULL");
  });
  (void)row;
  store.write([](Transaction& tx) {
    tx.query<std::int64_t>("SELECT 1", [](std::int64_t) { return true; });
    return tx.last_insert_rowid();
  });
}

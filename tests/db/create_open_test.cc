// Scenarios 1, 9 and 15 of tests/db/README.md: creating, opening and keying
// the same database from many processes.

#include <catch2/catch_test_macros.hpp>
#include <string>
#include <vector>

#include "tests/db/scenario.h"

namespace coordkit::dbtest {
namespace {

// Scenario 1.
TEST_CASE("K processes creating the same missing database at once all succeed and keep every row",
          "[db][scenario1]") {
  constexpr std::int64_t kCreators = 8;
  constexpr std::int64_t kRowsEach = 25;
  Scenario s("k_creators", seconds(90));
  REQUIRE_FALSE(fs::exists(s.db()));
  Barrier barrier(s, "start");
  std::vector<Worker> creators;
  std::vector<std::string> names;
  for (int i = 0; i < kCreators; ++i) {
    names.push_back("creator" + std::to_string(i));
    creators.push_back(s.worker(names.back(),
                                {"insert", "--count", std::to_string(kRowsEach),
                                 "--barrier-before-open", "--seed", std::to_string(i + 1)},
                                &barrier));
  }
  release_when_ready(barrier, creators, s);
  for (auto& w : creators) {
    const WorkerResult& r = w.finish(s.deadline());
    check_clean(r);
    CHECK(r.ops() == kRowsEach);
  }

  const DbCheck db = verify_database(s.db());
  check_database(db);
  CHECK(db.journal_mode == "wal");
  const AckCheck acks = check_nothing_lost(db, s.ack_logs());
  CHECK(acks.acked_rows == kCreators * kRowsEach);
  CHECK(db.row_count == kCreators * kRowsEach);
  check_rows_match_acks(db, acks, names);

  // Atomic creation leaves no half-made temporaries behind.
  for (const auto& e : fs::directory_iterator(s.dir())) {
    const std::string name = e.path().filename().string();
    INFO(name);
    CHECK(name.find("coordkit-new-") == std::string::npos);
  }
}

// Scenario 9.
TEST_CASE("A caller that zeroes its passphrase after opening still gets working new connections",
          "[db][scenario9]") {
  Scenario s("zeroize", seconds(60));
  init_database(s);

  SECTION("the library keeps its own copy of the key material") {
    // Another process writes meanwhile, so the new connections see a live file.
    Worker writer = s.worker("writer", {"insert", "--duration-ms", "1500", "--sleep-us", "500"});
    Worker w = s.worker("zeroizer", {"zeroize"});
    const WorkerResult& r = w.finish(s.deadline());
    INFO(r.describe());
    CHECK(r.clean());
    CHECK(r.report.value("first_connection", "") == "ok");
    CHECK(r.report.value("after_zero_same_connection", "") == "ok");
    CHECK(r.report.value("after_zero_reconnect", "") == "ok");
    CHECK(r.report.value("after_zero_new_connection", "") == "ok");
    check_clean(writer.finish(s.deadline()));
    const DbCheck db = verify_database(s.db());
    check_database(db);
    const AckCheck acks = check_nothing_lost(db, s.ack_logs());
    check_rows_match_acks(db, acks, {"writer", "zeroizer"});
    CHECK(db.rows_of("zeroizer") == 3);
  }

  SECTION("control: keying each new connection from the zeroed buffer fails") {
    Worker w = s.worker("naive_zeroizer", {"zeroize", "--client", "naive"});
    const WorkerResult& r = w.finish(s.deadline());
    INFO(r.describe());
    CHECK(r.report.value("first_connection", "") == "ok");
    // SQLCipher copied the key into the open connection...
    CHECK(r.report.value("after_zero_same_connection", "") == "ok");
    // ...but a connection keyed from the zeroed buffer cannot read the file.
    CHECK(r.report.value("after_zero_new_connection", "") == "SQLITE_NOTADB");
  }
}

// Scenario 15.
TEST_CASE(
    "A CLI that starts before the service created the database reports kNotInitialised, "
    "never 'no such table', and works once the service is up",
    "[db][scenario15]") {
  Scenario s("cli_before_service", seconds(60));

  SECTION("one open of a missing file fails fast and creates nothing") {
    Worker cli = s.worker("cli", {"open", "--no-create"});
    const WorkerResult& r = cli.finish(s.deadline());
    INFO(r.describe());
    CHECK(r.exit_code() == 3);
    CHECK(r.report.value("open_error", "") == "not_initialised");
    CHECK(r.report.value("open_ms", 1e9) < 1000.0);
    CHECK_FALSE(fs::exists(s.db()));
  }

  SECTION("a CLI loop started first succeeds as soon as the service has created the schema") {
    // The CLI loop (pausing 20 ms between attempts) starts first; the
    // service starts 0.7 s later. Every failure must be kNotInitialised
    // (typed; never a half-made file with "no such table"), and once the
    // service has created the database the CLI succeeds: it runs until it
    // has three successes after the service is done.
    const fs::path stop = s.file("stop");
    Worker cli = s.worker("cli", {"cli-loop", "--no-create", "--op", "increment", "--stop-file",
                                  stop.string(), "--sleep-us", "20000"});
    std::this_thread::sleep_for(milliseconds(700));
    Worker service = s.worker("service", {"insert", "--count", "50", "--sleep-us", "1000"});
    check_clean(service.finish(s.deadline()));
    while (read_acks(s.ack_log("cli")).size() < 3 && cli.running() && !s.deadline().expired()) {
      std::this_thread::sleep_for(milliseconds(10));
    }
    touch(stop);
    const WorkerResult& c = cli.finish(s.deadline());
    INFO(c.describe());
    CHECK(c.exit_code() <= 1);
    CHECK(c.ops() >= 3);
    const nlohmann::json errors = c.errors();
    for (const auto& [code, n] : errors.items()) {
      INFO("error " << code << " x" << n);
      CHECK(code == "not_initialised");
    }
    CHECK(c.error_count("sql") == 0);

    const DbCheck db = verify_database(s.db());
    check_database(db);
    const AckCheck acks = check_nothing_lost(db, s.ack_logs());
    check_rows_match_acks(db, acks, {"cli", "service"});
    CHECK(db.counter == acks.acked_increments);
  }
}

}  // namespace
}  // namespace coordkit::dbtest

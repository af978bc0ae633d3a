// Interop with the stock `sqlcipher` shell (Debian's sqlcipher 4.6.1), and
// scenario 10 of tests/db/README.md. The shell always gets its key on stdin
// (PRAGMA key='passphrase'), never in argv.

#include <algorithm>
#include <catch2/catch_test_macros.hpp>
#include <set>
#include <string>
#include <vector>

#include "tests/db/scenario.h"

namespace coordkit::dbtest {
namespace {

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST_CASE(
    "The stock sqlcipher shell reads a database the library created, while the library has it open",
    "[db][interop]") {
  REQUIRE(fs::exists(kSqlcipherShell));
  Scenario s("shell_reads_library", seconds(60));
  Worker rows = s.worker("lib", {"insert", "--count", "30"});
  check_clean(rows.finish(s.deadline()));
  const fs::path stop = s.file("stop");
  Worker service =
      s.worker("service", {"insert", "--stop-file", stop.string(), "--sleep-us", "5000"});

  const ShellResult r = run_shell(s.db(),
                                  "PRAGMA cipher_version;\n"
                                  "SELECT 'rows=' || count(*) FROM items WHERE worker = 'lib';\n"
                                  "PRAGMA cipher_integrity_check;\n"
                                  "PRAGMA integrity_check;\n",
                                  s.deadline());
  touch(stop);
  check_clean(service.finish(s.deadline()));
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.ok());
  const auto out = lines(r.out);
  CHECK(contains(out, "4.6.1 community"));
  CHECK(contains(out, "rows=30"));
  REQUIRE_FALSE(out.empty());
  CHECK(out.back() == "ok");  // integrity_check; cipher_integrity_check printed nothing
  CHECK(r.err.empty());
}

TEST_CASE(
    "The library opens a database the stock sqlcipher shell created and keeps it usable for the "
    "shell",
    "[db][interop]") {
  Scenario s("library_reads_shell", seconds(60));
  std::string script = std::string(kSchemaV1) + "\nPRAGMA user_version = 1;\n";
  for (int i = 0; i < 10; ++i) {
    script += "INSERT INTO items(worker, seq, payload) VALUES('shell', " + std::to_string(i) +
              ", randomblob(60));\n";
  }
  const ShellResult created = run_shell(s.db(), script, s.deadline());
  INFO("stdout: " << created.out << "\nstderr: " << created.err);
  REQUIRE(created.ok());

  Worker open = s.worker("open", {"open"});
  const WorkerResult& o = open.finish(s.deadline());
  check_clean(o);
  CHECK(o.report.value("count", std::int64_t{-1}) == 10);
  CHECK(o.report.value("journal_mode", "") == "wal");  // the library's mode
  Worker more = s.worker("lib", {"insert", "--count", "5"});
  check_clean(more.finish(s.deadline()));

  const ShellResult read =
      run_shell(s.db(), "SELECT 'rows=' || count(*) FROM items;\n", s.deadline());
  INFO("stdout: " << read.out << "\nstderr: " << read.err);
  CHECK(read.ok());
  CHECK(contains(lines(read.out), "rows=15"));
  const DbCheck db = verify_database(s.db());
  check_database(db);
  CHECK(db.rows_of("shell") == 10);
  CHECK(db.rows_of("lib") == 5);
}

TEST_CASE("The stock sqlcipher shell writes while library processes write too, and nothing is lost",
          "[db][interop]") {
  constexpr int kShellRows = 200;
  Scenario s("shell_writes_with_library", seconds(120));
  init_database(s);
  const fs::path stop = s.file("stop");
  Barrier barrier(s, "writers");
  std::vector<Worker> lib;
  lib.push_back(s.worker("service", {"insert", "--stop-file", stop.string(), "--sleep-us", "1000"},
                         &barrier));
  lib.push_back(
      s.worker("writer",
               {"insert", "--stop-file", stop.string(), "--sleep-us", "1000", "--rows-per-tx", "5"},
               &barrier));
  lib.push_back(s.worker(
      "cli", {"cli-loop", "--op", "increment", "--stop-file", stop.string(), "--sleep-us", "5000"},
      &barrier));
  release_when_ready(barrier, lib, s);

  // One autocommit INSERT per row, each followed by a SELECT that prints an
  // acknowledgement only if the INSERT succeeded (.bail on stops at the
  // first error). The shell waits for locks with its own busy timeout.
  std::string script = ".bail on\n.timeout 10000\n";
  for (int i = 0; i < kShellRows; ++i) {
    script += "INSERT INTO items(worker, seq, payload) VALUES('shell', " + std::to_string(i) +
              ", randomblob(60));\nSELECT 'ack " + std::to_string(i) + "';\n";
  }
  const ShellResult r = run_shell(s.db(), script, s.deadline());
  touch(stop);
  const auto results = finish_all(lib, s.deadline());
  for (const auto& res : results) {
    check_clean(res);
    CHECK(res.ops() > 0);
  }
  INFO("shell stderr: " << r.err);
  CHECK(r.ok());
  std::set<std::int64_t> shell_acked;
  for (const auto& line : lines(r.out)) {
    if (line.rfind("ack ", 0) == 0) shell_acked.insert(std::stoll(line.substr(4)));
  }
  CHECK(shell_acked.size() == kShellRows);

  const DbCheck db = verify_database(s.db());
  check_database(db);
  const AckCheck acks = check_nothing_lost(db, s.ack_logs());
  check_rows_match_acks(db, acks, {"service", "writer", "cli"});
  CHECK(db.counter == acks.acked_increments);
  const auto it = db.rows.find("shell");
  REQUIRE(it != db.rows.end());
  for (std::int64_t seq : shell_acked) CHECK(it->second.count(seq) == 1);
  CHECK(db.rows_of("shell") == static_cast<std::int64_t>(shell_acked.size()));
}

// Scenario 10.
TEST_CASE(
    "The stock sqlcipher shell switches the journal mode while the service is down; the service "
    "restores WAL and everyone keeps working",
    "[db][scenario10]") {
  Scenario s("shell_journal_mode", seconds(90));
  Worker first = s.worker("service_run1", {"insert", "--count", "10"});
  check_clean(first.finish(s.deadline()));

  const ShellResult r = run_shell(s.db(), "PRAGMA journal_mode=DELETE;\n", s.deadline());
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.ok());
  REQUIRE(contains(lines(r.out), "delete"));
  REQUIRE(verify_database(s.db()).journal_mode == "delete");

  // The service comes back together with CLI processes.
  Barrier barrier(s, "restart");
  std::vector<Worker> ws;
  ws.push_back(
      s.worker("service_run2", {"insert", "--duration-ms", "1500", "--sleep-us", "500"}, &barrier));
  ws.push_back(
      s.worker("cli1", {"cli-loop", "--op", "increment", "--duration-ms", "1500"}, &barrier));
  ws.push_back(
      s.worker("cli2", {"cli-loop", "--op", "increment", "--duration-ms", "1500"}, &barrier));
  release_when_ready(barrier, ws, s);
  for (const auto& res : finish_all(ws, s.deadline())) check_clean(res);

  Worker open = s.worker("open", {"open"});
  const WorkerResult& o = open.finish(s.deadline());
  check_clean(o);
  CHECK(o.report.value("journal_mode", "") == "wal");
  const DbCheck db = verify_database(s.db());
  check_database(db);
  CHECK(db.journal_mode == "wal");
  const AckCheck acks = check_nothing_lost(db, s.ack_logs());
  check_rows_match_acks(db, acks, {"service_run1", "service_run2", "cli1", "cli2"});
  CHECK(db.counter == acks.acked_increments);
}

}  // namespace
}  // namespace coordkit::dbtest

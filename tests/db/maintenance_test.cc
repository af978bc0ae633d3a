// Scenarios 11, 12 and 13 of tests/db/README.md: the WAL under readers that
// never let go, a reader holding one snapshot for seconds, and rekey, VACUUM
// and backup while other processes keep working.

#include <algorithm>
#include <catch2/catch_test_macros.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/db/scenario.h"

namespace coordkit::dbtest {
namespace {

// The WAL bound of scenario 11, and why. The library's checkpoint policy
// (internal/checkpoint_policy.h) with the default autocheckpoint size L =
// 1000 pages: a PASSIVE checkpoint after every L frames, a RESTART within
// 100 ms once the WAL holds 2L frames, and, after any commit that leaves 3L
// frames, a RESTART that waits for the readers as long as the busy timeout
// allows. So the WAL never holds more than 3L frames (12.4 MB at 4096 + 24
// bytes a frame) plus one transaction per writer, whatever the speed of the
// writer, the readers and the checkpoints, as long as every read transaction
// is shorter than half the busy timeout (here 5 s; the readers hold 30 ms).
// The bound is 4L pages plus 1 MiB: one L of room above the policy's 3L for
// the frame headers and the commits in flight, and the journal_size_limit
// the library sets (4L frames), so a WAL above it would also mean that the
// policy let it grow past the size it cuts back to.
constexpr std::int64_t kAutocheckpointPages = 1000;
constexpr std::int64_t kFrameBytes = 4096 + 24;
constexpr std::int64_t kPolicyFrames = 3 * kAutocheckpointPages;
constexpr std::int64_t kWalBound = 4 * kAutocheckpointPages * 4096 + std::int64_t{1024} * 1024;
// kWriterCommits: the starvation writer's commits. A count, not a duration:
// each commit appends at least one frame, so these append at least twice
// the bound whatever the speed of the build and the machine (under tsan a
// 3 s writer appended less than the bound, and neither the library's check
// nor the naive control's could then tell a bounded WAL from one that only
// grows).
constexpr std::int64_t kWriterCommits = 2 * kWalBound / kFrameBytes + 1;

fs::path wal_of(const Scenario& s) { return fs::path(s.db().string() + "-wal"); }

// Starvation: what one run of the starvation mix measured.
struct Starvation {
  std::int64_t max_wal = 0;  // the largest size of the -wal file seen (sampled every 5 ms)
  std::int64_t writer_ops = 0;
  double writer_p99_ms = 0;
  double writer_max_ms = 0;
  double reader_max_ms = 0;  // the longest read transaction of any reader
  std::string describe() const {
    std::ostringstream o;
    o << "largest WAL " << max_wal << " bytes (" << max_wal / kFrameBytes << " frames) after "
      << writer_ops << " commits; writer p99 " << writer_p99_ms << " ms, max " << writer_max_ms
      << " ms; longest read transaction " << reader_max_ms << " ms";
    return o.str();
  }
};

// starvation_run: a writer at full rate for kWriterCommits commits and
// three readers whose 30 ms read transactions always overlap until it is
// done, optionally with a maintenance process running `maint_op` every
// 100 ms.
Starvation starvation_run(Scenario& s, const std::string& client, const std::string& maint_op) {
  const std::vector<std::string> c = {"--client", client};
  auto with = [&](std::vector<std::string> a) {
    a.insert(a.end(), c.begin(), c.end());
    return a;
  };
  {
    std::vector<std::string> a = with({"insert", "--count", "1"});
    if (client == "naive") a.push_back("--naive-schema");
    Worker init = s.worker("init", a);
    REQUIRE(init.finish(s.deadline()).exit_code() == 0);
  }
  Barrier barrier(s, "go");
  const std::string stop = s.file("stop").string();
  std::vector<Worker> ws;
  ws.push_back(s.worker(
      "writer",
      with({"insert", "--count", std::to_string(kWriterCommits), "--payload-bytes", "200"}),
      &barrier));
  for (int i = 0; i < 3; ++i) {
    ws.push_back(s.worker("reader" + std::to_string(i),
                          with({"reader", "--stop-file", stop, "--read-hold-ms", "30"}), &barrier));
  }
  if (!maint_op.empty()) {
    ws.push_back(s.worker(
        "maint", with({"maint", "--op", maint_op, "--interval-ms", "100", "--stop-file", stop}),
        &barrier));
  }
  WalSampler sampler(s.db(), milliseconds(5));
  release_when_ready(barrier, ws, s);
  ws[0].finish(s.deadline());
  touch(stop);
  const auto results = finish_all(ws, s.deadline());
  sampler.stop();
  for (const auto& r : results) {
    if (client == "lib") check_clean(r);
  }
  // The library's writer commits every one (check_clean); the naive one
  // has no retries, so an attempt may fail.
  if (client == "lib") CHECK(results[0].ops() == kWriterCommits);
  CHECK(results[0].ops() > 0);
  const DbCheck db = verify_database(s.db());
  INFO("client " << client);
  check_database(db);
  const AckCheck acks = check_acks(db, s.ack_logs());
  CHECK(acks.missing == 0);
  Starvation out;
  out.max_wal = sampler.max();
  out.writer_ops = results[0].ops();
  out.writer_p99_ms = results[0].p99_ms();
  out.writer_max_ms = results[0].max_ms();
  for (std::size_t i = 1; i < 4 && i < results.size(); ++i) {
    out.reader_max_ms = std::max(out.reader_max_ms, results[i].max_ms());
  }
  return out;
}

// say_bound: what scenario 11 measured against what bound, and why that bound.
void say_bound(const std::string& what, const Starvation& lib) {
  WARN("scenario 11 (" << what << "): " << lib.describe() << "; bound " << kWalBound
                       << " bytes: the policy waits for the readers once the WAL holds "
                       << kPolicyFrames << " frames (" << kPolicyFrames * kFrameBytes
                       << " bytes), and the bound leaves one autocheckpoint size above that for "
                          "the commits in flight (see kWalBound)");
}

// Scenario 11.
TEST_CASE(
    "Overlapping readers and a fast writer: the WAL stays bounded under the library's own policy",
    "[db][scenario11]") {
  Scenario lib_s("starvation_library", seconds(90));
  const Starvation lib = starvation_run(lib_s, "lib", "");
  // Control: with the naive client's autocheckpoint (PASSIVE, inside
  // COMMIT) the same readers starve every checkpoint and the WAL only grows.
  Scenario naive_s("starvation_naive", seconds(90));
  const Starvation naive = starvation_run(naive_s, "naive", "");
  say_bound("the library alone", lib);
  WARN("scenario 11 (control, the naive client): " << naive.describe());
  CAPTURE(lib.describe(), naive.describe(), kWalBound);
  CHECK(naive.max_wal > kWalBound);
  CHECK(lib.max_wal <= kWalBound);
}

TEST_CASE(
    "Overlapping readers and a fast writer: the WAL stays bounded when a maintenance process runs "
    "checkpoint(kTruncate)",
    "[db][scenario11]") {
  Scenario s("starvation_truncate", seconds(90));
  const Starvation lib = starvation_run(s, "lib", "checkpoint-truncate");
  say_bound("with checkpoint(kTruncate) every 100 ms", lib);
  CAPTURE(lib.describe(), kWalBound);
  CHECK(lib.max_wal <= kWalBound);
}

// Scenario 12.
TEST_CASE(
    "A CLI holding a read transaction for seconds keeps a consistent snapshot, and the WAL stops "
    "growing and is cut back once it lets go",
    "[db][scenario12]") {
  Scenario s("long_reader", seconds(90));
  init_database(s);
  const fs::path stop = s.file("stop");
  Worker writer = s.worker("writer", {"insert", "--stop-file", stop.string(), "--payload-bytes",
                                      "200", "--sleep-us", "200"});
  WalSampler sampler(s.db(), milliseconds(5));
  while (read_acks(s.ack_log("writer")).size() < 20 && writer.running() &&
         !s.deadline().expired()) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  // The CLI: one read transaction, counting the rows at its start and again
  // 2.5 s later; the reader exits 5 if the two counts differ.
  Worker holder = s.worker("holder", {"reader", "--count", "1", "--read-hold-ms", "2500"});
  const WorkerResult& h = holder.finish(s.deadline());
  std::int64_t acked_at_release = 0;
  for (const auto& a : read_acks(s.ack_log("writer"))) acked_at_release += a.count;
  const std::int64_t wal_at_release = file_bytes(wal_of(s));
  std::this_thread::sleep_for(milliseconds(1500));
  const std::int64_t wal_later = file_bytes(wal_of(s));
  touch(stop);
  const WorkerResult& w = writer.finish(s.deadline());
  sampler.stop();
  check_clean(w);
  check_clean(h);
  CHECK(h.report.value("snapshot_moved", -1) == 0);
  // The writer went on committing during the hold: the snapshot was old.
  CHECK(acked_at_release > h.report.value("last_count", std::int64_t{0}));

  // While the snapshot is held, no checkpoint can reuse the WAL: it grows by
  // what the writer commits. Once the reader is gone the WAL is checkpointed
  // and rewritten from its start: it stops growing although the writer goes
  // on for another 1.5 s, and shrinks.
  std::int64_t acked_end = 0;
  for (const auto& a : read_acks(s.ack_log("writer"))) acked_end += a.count;
  CAPTURE(wal_at_release, wal_later, sampler.max(), acked_at_release, acked_end);
  WARN("scenario 12: WAL " << wal_at_release << " bytes when the 2.5 s reader let go, " << wal_later
                           << " bytes 1.5 s and " << (acked_end - acked_at_release)
                           << " commits later; writer p99 " << w.p99_ms() << " ms, max "
                           << w.max_ms() << " ms");
  CHECK(wal_later <= wal_at_release + std::int64_t{4} * 1024 * 1024);
  // And it is cut back: when it starts over, the library's journal_size_limit
  // (four times the autocheckpoint size) trims what the long reader made grow.
  if (wal_at_release > kWalBound) CHECK(wal_later <= kWalBound);

  Worker truncate = s.worker("truncate", {"maint", "--op", "checkpoint-truncate", "--count", "1"});
  check_clean(truncate.finish(s.deadline()));
  CHECK(file_bytes(wal_of(s)) == 0);

  const DbCheck db = verify_database(s.db());
  check_database(db);
  const AckCheck acks = check_nothing_lost(db, s.ack_logs());
  check_rows_match_acks(db, acks, {"writer"});
}

// Scenario 13.
TEST_CASE("Backup, VACUUM and rekey while a writer, a reader and a CLI keep working",
          "[db][scenario13]") {
  Scenario s("maintenance_under_load", seconds(120));
  init_database(s);
  const fs::path key_file = s.file("key");
  std::ofstream(key_file) << kDefaultPassphrase << "\n";
  const fs::path stop = s.file("stop");
  // The load reads its passphrase from the key file at every (re)open and,
  // when a rekey made its key wrong, reopens with the file's current one.
  const std::vector<std::string> keyed = {"--key-file", key_file.string(), "--reopen-on-key-error",
                                          "--stop-file", stop.string()};
  auto with = [&](std::vector<std::string> a) {
    a.insert(a.end(), keyed.begin(), keyed.end());
    return a;
  };
  Barrier barrier(s, "load");
  std::vector<Worker> load;
  load.push_back(s.worker("writer", with({"insert", "--sleep-us", "500"}), &barrier));
  load.push_back(s.worker("reader", with({"reader", "--read-hold-ms", "2"}), &barrier));
  load.push_back(
      s.worker("cli", with({"cli-loop", "--op", "increment", "--sleep-us", "5000"}), &barrier));
  release_when_ready(barrier, load, s);
  std::this_thread::sleep_for(milliseconds(500));

  // Backup: a consistent copy holding at least everything acknowledged
  // before it started.
  const fs::path backup = s.file("backup.db");
  const std::vector<Ack> acked_before = read_all_acks(s.ack_logs());
  Worker b =
      s.worker("backup", {"maint", "--op", "backup", "--arg", backup.string(), "--count", "1"});
  check_clean(b.finish(s.deadline()));

  Worker v = s.worker("vacuum", {"maint", "--op", "vacuum", "--count", "1"});
  check_clean(v.finish(s.deadline()));

  // Rekey: the new passphrase goes to the key file once the rekey is done;
  // until then, processes that reopen keep getting a typed wrong-key error.
  Worker r = s.worker("rekey", {"maint", "--op", "rekey", "--count", "1"}, nullptr,
                      {{"DB_WORKER_NEW_PASSPHRASE", "the new passphrase"}});
  check_clean(r.finish(s.deadline()));
  std::ofstream(s.file("key.tmp")) << "the new passphrase\n";
  fs::rename(s.file("key.tmp"), key_file);
  std::this_thread::sleep_for(milliseconds(700));
  touch(stop);
  const auto results = finish_all(load, s.deadline());
  std::int64_t handled = 0;
  for (const auto& res : results) {
    INFO(res.describe());
    CHECK(res.exit_code() == 0);
    CHECK(res.surfaced() == 0);
    CHECK(res.ops() > 0);
    // The only errors the load saw were the typed wrong-key errors of the
    // rekey, which it handled by reopening with the new key.
    for (const auto& [code, n] : res.report["handled_errors"].items()) {
      INFO(code << " x" << n);
      CHECK((code == "wrong_key_or_not_a_database" || code == "corrupt"));
      handled += n.get<std::int64_t>();
    }
  }
  WARN("scenario 13: the load handled " << handled << " wrong-key errors after the rekey");

  const DbCheck db = verify_database(s.db(), "the new passphrase");
  check_database(db);
  const AckCheck acks = check_nothing_lost(db, s.ack_logs());
  check_rows_match_acks(db, acks, {"writer", "cli"});
  CHECK(db.counter == acks.acked_increments);
  // The backup (still under the old passphrase) holds what was acknowledged
  // before it was taken.
  const DbCheck backup_db = verify_database(backup);
  check_database(backup_db);
  const AckCheck in_backup = check_acks(backup_db, acked_before);
  CHECK(in_backup.acked_rows > 0);
  CHECK(in_backup.missing == 0);
  // The old passphrase no longer opens the file, and says so at once.
  Worker old = s.worker("old_key", {"open"});
  const WorkerResult& o = old.finish(s.deadline());
  INFO(o.describe());
  CHECK(o.report.value("open_error", "") == "wrong_key_or_not_a_database");
}

// Scenario 13, VACUUM as a maintenance call: Database::vacuum() under the
// write turn and the retry ladder, while one process holds a read snapshot
// and another writes. It completes (or fails with a classified, transient
// error: never a raw SQLite code), the writer and the reader go on, and once
// the reader has let go the file has shrunk by what the deletes freed.
TEST_CASE("vacuum() while another process holds a read snapshot and another writes",
          "[db][scenario13][vacuum]") {
  Scenario s("vacuum_under_load", seconds(120));
  init_database(s);
  // 4000 rows of 1000 bytes (about 5 MB), then all of them deleted: the
  // pages go to the freelist, and the file keeps its size.
  {
    Worker filler = s.worker("filler", {"big-tx", "--rows", "4000", "--payload-bytes", "1000",
                                        "--marker", s.file("filler.marker").string()});
    check_clean(filler.finish(s.deadline()));
    Worker del =
        s.worker("delete", {"maint", "--op", "delete-rows", "--arg", "filler", "--count", "1"});
    const WorkerResult& d = del.finish(s.deadline());
    check_clean(d);
    REQUIRE(d.report["results"].size() == 1);
    CHECK(d.report["results"][0].value("deleted", 0) == 4000);
    Worker truncate =
        s.worker("truncate0", {"maint", "--op", "checkpoint-truncate", "--count", "1"});
    check_clean(truncate.finish(s.deadline()));
  }
  const std::int64_t before = file_bytes(s.db());
  REQUIRE(before > std::int64_t{4} * 1024 * 1024);

  const fs::path stop = s.file("stop");
  Barrier barrier(s, "load");
  std::vector<Worker> load;
  load.push_back(s.worker(
      "writer",
      {"insert", "--sleep-us", "2000", "--payload-bytes", "200", "--stop-file", stop.string()},
      &barrier));
  // One read transaction held for 1.5 s, started before the VACUUM.
  load.push_back(
      s.worker("holder", {"reader", "--count", "1", "--read-hold-ms", "1500"}, &barrier));
  release_when_ready(barrier, load, s);
  std::this_thread::sleep_for(milliseconds(200));

  Worker v = s.worker("vacuum", {"maint", "--op", "vacuum", "--count", "1"});
  const WorkerResult& vr = v.finish(s.deadline());
  INFO(vr.describe());
  CHECK(vr.exit_code() <= 1);
  if (vr.ops() == 1) {
    const nlohmann::json r = vr.report["results"][0];
    WARN("vacuum under load: pages "
         << r.value("pages_before", 0) << " -> " << r.value("pages_after", 0)
         << ", WAL truncated at once: " << r.value("wal_truncated", false) << "; "
         << vr.report["latency_ms"].dump());
    CHECK(r.value("pages_after", 0) < r.value("pages_before", 0));
  } else {
    // It did not complete: only a transient, classified error may say why.
    for (const auto& [code, n] : vr.errors().items()) {
      INFO(code << " x" << n);
      CHECK((code == "busy" || code == "timeout"));
    }
  }

  const WorkerResult& h = load[1].finish(s.deadline());
  check_clean(h);
  CHECK(h.report.value("snapshot_moved", -1) == 0);
  std::this_thread::sleep_for(milliseconds(300));
  touch(stop);
  const WorkerResult& w = load[0].finish(s.deadline());
  check_clean(w);
  CHECK(w.ops() > 0);

  // With the reader gone, a checkpoint copies the vacuumed pages and cuts
  // the main file to its new size.
  Worker truncate = s.worker("truncate", {"maint", "--op", "checkpoint-truncate", "--count", "1"});
  check_clean(truncate.finish(s.deadline()));
  const std::int64_t after = file_bytes(s.db());
  WARN("vacuum under load: main file " << before << " bytes before, " << after << " after");
  if (vr.ops() == 1) CHECK(after < before / 2);

  const DbCheck db = verify_database(s.db());
  check_database(db);
  CHECK(db.rows_of("filler") == 0);
  const AckCheck acks = check_acks(db, {s.ack_log("writer")});
  CHECK(acks.missing == 0);
  CHECK(db.rows_of("writer") == acks.acked_rows);
}

}  // namespace
}  // namespace coordkit::dbtest

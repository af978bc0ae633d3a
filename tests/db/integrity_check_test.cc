// integrity_check() and quick_check() under concurrent writers: no false
// alarm while other processes write (PRAGMA cipher_integrity_check reads the
// main file only, and pages whose newest frames are still in the WAL may be
// missing or being rewritten there), and still sharp: a damaged page of the
// main file that has no newer frame in the WAL, and a damaged WAL frame, are
// reported as corruption.

#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <cstdint>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/db/scenario.h"

namespace coordkit::dbtest {
namespace {

constexpr std::int64_t kPageBytes = 4096;
constexpr std::int64_t kWalHeaderBytes = 32;
constexpr std::int64_t kFrameBytes = 24 + kPageBytes;

std::uint32_t be32(const std::string& bytes, std::size_t at) {
  auto b = [&](std::size_t i) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i]));
  };
  return (b(at) << 24) | (b(at + 1) << 16) | (b(at + 2) << 8) | b(at + 3);
}

// WalFrame: one frame of a -wal file: its index (0-based), page, offset.
struct WalFrame {
  std::int64_t index = 0;
  std::uint32_t page = 0;
  std::int64_t offset = 0;  // of the frame header
};

// wal_frames: the frames of `wal` that carry the header's salts (the
// current generation), in order. Opens the file by hand: the test process
// holds no connection to the database.
std::vector<WalFrame> wal_frames(const fs::path& wal) {
  const std::string bytes = read_text(wal);
  std::vector<WalFrame> out;
  if (static_cast<std::int64_t>(bytes.size()) < kWalHeaderBytes) return out;
  for (std::int64_t off = kWalHeaderBytes;
       off + kFrameBytes <= static_cast<std::int64_t>(bytes.size()); off += kFrameBytes) {
    const auto at = static_cast<std::size_t>(off);
    if (bytes.compare(at + 8, 8, bytes, 16, 8) != 0) break;
    out.push_back({static_cast<std::int64_t>(out.size()), be32(bytes, at), off});
  }
  return out;
}

// flip: inverts 8 bytes of `file` at `offset` (inside a page's encrypted
// data, so its HMAC no longer matches).
void flip(const fs::path& file, std::int64_t offset) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  REQUIRE(f.good());
  f.seekg(offset);
  char b[8];
  f.read(b, sizeof b);
  for (char& c : b) c = static_cast<char>(~c);
  f.seekp(offset);
  f.write(b, sizeof b);
  f.flush();
  REQUIRE(f.good());
}

// check_once: one library integrity_check() (or quick_check()) in a worker
// process; the worker's result.
WorkerResult check_once(Scenario& s, const std::string& name, const std::string& op) {
  Worker w = s.worker(name, {"maint", "--op", op, "--count", "1"});
  return w.finish(s.deadline());
}

// reported_corruption: the check ran and said not ok (problems listed), or
// the library surfaced corruption.
bool reported_corruption(const WorkerResult& r) {
  return r.report.value("checks_failed", std::int64_t{0}) == 1 || r.error_count("corrupt") > 0;
}

// Damage: which bytes a test case damages.
enum class Damage { kMainPageWalEmpty, kMainPageNotInWal, kWalFrame };

TEST_CASE("integrity_check() and quick_check() still report a damaged page or WAL frame",
          "[db][integrity]") {
  const Damage damage =
      GENERATE(Damage::kMainPageWalEmpty, Damage::kMainPageNotInWal, Damage::kWalFrame);
  Scenario s("integrity_damage", seconds(90));
  init_database(s);
  // 200 rows of 300 bytes, committed and checkpointed into the main file
  // when the writer closes (it is the last connection).
  {
    Worker filler = s.worker("filler", {"insert", "--count", "200", "--payload-bytes", "300"});
    check_clean(filler.finish(s.deadline()));
  }
  const fs::path wal(s.db().string() + "-wal");
  std::optional<Worker> holder;
  if (damage != Damage::kMainPageWalEmpty) {
    // 30 more commits that stay in the WAL: the holder keeps its connection
    // open afterwards, so nobody checkpoints them into the main file.
    const fs::path done = s.file("holder.done");
    holder.emplace(s.worker("holder", {"insert", "--count", "30", "--payload-bytes", "300",
                                       "--hold-ms", "60000", "--done-marker", done.string()}));
    while (!fs::exists(done) && holder->running() && !s.deadline().expired()) {
      std::this_thread::sleep_for(milliseconds(5));
    }
    REQUIRE(fs::exists(done));
  }
  const std::vector<WalFrame> frames = wal_frames(wal);
  std::set<std::uint32_t> in_wal;
  for (const WalFrame& f : frames) in_wal.insert(f.page);
  if (damage == Damage::kMainPageWalEmpty) {
    REQUIRE(frames.empty());
  } else {
    REQUIRE(frames.size() >= 30);
  }

  // Undamaged, the same checks say ok: the verdict is about the damage.
  for (const char* op : {"integrity", "quick-check"}) {
    const WorkerResult before = check_once(s, std::string("before_") + op, op);
    INFO(before.describe());
    REQUIRE(before.clean());
    REQUIRE(before.report.value("checks_failed", std::int64_t{-1}) == 0);
  }

  std::string where;
  if (damage == Damage::kWalFrame) {
    // The newest frame of the highest page in the WAL: a b-tree page in use
    // whose newest copy is that frame (never page 1, which the open reads).
    const WalFrame* target = nullptr;
    for (const WalFrame& f : frames) {
      if (f.page != 1 && (target == nullptr || f.page >= target->page)) target = &f;
    }
    REQUIRE(target != nullptr);
    flip(wal, target->offset + 24 + 1000);
    where = "WAL frame " + std::to_string(target->index) + " (page " +
            std::to_string(target->page) + ")";
  } else {
    // A page in the middle of the table that has no frame in the WAL.
    const std::int64_t pages = file_bytes(s.db()) / kPageBytes;
    REQUIRE(pages > 20);
    std::int64_t page = pages / 2;
    while (in_wal.count(static_cast<std::uint32_t>(page)) != 0) --page;
    REQUIRE(page > 2);
    flip(s.db(), (page - 1) * kPageBytes + 1000);
    where = "main-file page " + std::to_string(page) +
            " (WAL frames: " + std::to_string(frames.size()) + ")";
  }
  for (const char* op : {"integrity", "quick-check"}) {
    const WorkerResult after = check_once(s, std::string("after_") + op, op);
    INFO("damaged " << where << ": " << after.describe());
    CHECK(reported_corruption(after));
  }
  if (holder) holder->terminate();
}

// The reliability case from outside the tree: two processes inserting
// 300-byte rows in loops while others call integrity_check() and
// quick_check() in loops. Checkers are readers that hold snapshots, so the
// writers' checkpoints cannot copy every frame and the main file has pages
// missing or stale all along.
TEST_CASE("integrity_check() and quick_check() report no corruption while two processes write",
          "[db][integrity]") {
  Scenario s("integrity_under_writers", seconds(120));
  init_database(s);
  Barrier barrier(s, "go");
  std::vector<Worker> ws;
  for (const char* w : {"writer1", "writer2"}) {
    ws.push_back(
        s.worker(w, {"insert", "--duration-ms", "8000", "--payload-bytes", "300"}, &barrier));
  }
  ws.push_back(s.worker(
      "checker", {"maint", "--op", "integrity", "--interval-ms", "0", "--duration-ms", "8000"},
      &barrier));
  ws.push_back(s.worker(
      "quick_checker",
      {"maint", "--op", "quick-check", "--interval-ms", "0", "--duration-ms", "8000"}, &barrier));
  release_when_ready(barrier, ws, s);
  const auto results = finish_all(ws, s.deadline());
  std::int64_t checks = 0;
  for (const auto& r : results) {
    check_clean(r);
    CHECK(r.ops() > 0);
    if (r.name == "checker" || r.name == "quick_checker") {
      INFO(r.describe());
      CHECK(r.report.value("checks_failed", std::int64_t{-1}) == 0);
      checks += r.ops();
    }
  }
  WARN("integrity under writers: " << checks << " checks, writers committed "
                                   << results[0].ops() + results[1].ops() << " transactions");
  CHECK(checks >= 10);
  const DbCheck db = verify_database(s.db());
  check_database(db);
  const AckCheck acks = check_nothing_lost(db, s.ack_logs());
  check_rows_match_acks(db, acks, {"writer1", "writer2"});
}

}  // namespace
}  // namespace coordkit::dbtest

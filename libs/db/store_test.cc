// Store: group commit batches concurrent writes, each caller learns its own
// outcome, readers run beside the writer; thread-safe (run under tsan too).
#include "coordkit/db/store.h"

#include <atomic>
#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <latch>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "coordkit/db/internal/testing.h"
#include "coordkit/testing/deadline.h"
#include "coordkit/testing/scratch_dir.h"

namespace db = coordkit::db;
using coordkit::testing::eventually;
using coordkit::testing::scratch_dir;
using std::chrono::milliseconds;

namespace {

db::Options options_for(const std::filesystem::path& path) {
  db::Options o;
  o.path = path;
  o.key = db::Key::raw_hex("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
  o.migrations = {{1, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE);", {}}};
  o.retry.seed = 7;
  return o;
}

std::int64_t count_rows(db::Store& s) {
  return s.read([](db::Transaction& tx) {
    return tx.query_value<std::int64_t>("SELECT count(*) FROM t").value_or(-1);
  });
}

// HeldLeader: a write ('leader') that holds the writer from its start until
// release(), so that the writes submitted meanwhile queue up behind it and
// form batches. The destructor releases it too, so a failed check never
// leaves the thread behind.
class HeldLeader {
 public:
  explicit HeldLeader(db::Store& store)
      : thread_([this, &store] {
          store.write([this](db::Transaction& tx) {
            tx.execute("INSERT INTO t(v) VALUES ('leader')");
            inside_.count_down();
            std::unique_lock<std::mutex> lock(mu_);
            cv_.wait(lock, [this] { return open_; });
          });
        }) {
    inside_.wait();
  }
  HeldLeader(const HeldLeader&) = delete;
  HeldLeader& operator=(const HeldLeader&) = delete;
  ~HeldLeader() { release(); }

  // release: lets the leader's write commit and waits for its thread.
  void release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::mutex mu_;
  bool open_ = false;
  std::condition_variable cv_;
  std::latch inside_{1};
  std::thread thread_;  // last: it starts once the members above exist
};

}  // namespace

TEST_CASE("Writes queued behind a running one commit as one batch, run by one caller's thread",
          "[db][store]") {
  const auto dir = scratch_dir("onebatch");
  auto store = db::Store::open(options_for(dir / "a.db"), {.readers = 1});
  constexpr int kQueued = 15;
  HeldLeader leader(*store);
  const std::uint64_t transactions_before = store->counters().transactions;
  std::mutex mu;
  std::set<std::thread::id> fn_threads;
  std::atomic<int> ran_elsewhere{0};
  std::vector<std::thread> callers;
  for (int i = 0; i < kQueued; ++i) {
    callers.emplace_back([&, i] {
      const std::thread::id caller = std::this_thread::get_id();
      store->write([&](db::Transaction& tx) {
        tx.execute("INSERT INTO t(v) VALUES (?)", std::to_string(i));
        const std::thread::id runner = std::this_thread::get_id();
        if (runner != caller) ran_elsewhere.fetch_add(1);
        std::lock_guard<std::mutex> lock(mu);
        fn_threads.insert(runner);
      });
    });
  }
  REQUIRE(eventually([&] { return store->pending_writes() == kQueued; }));
  leader.release();
  for (auto& t : callers) t.join();
  CHECK(count_rows(*store) == kQueued + 1);
  const db::Counters c = store->counters();
  // The leader's transaction and one batch: fewer transactions than calls.
  CHECK(c.transactions - transactions_before == 1 + 1 + 1);  // + count_rows' read
  CHECK(c.group_commits == 1);
  CHECK(c.group_commit_writes == kQueued);
  // One caller's thread ran every fn of the batch, its own and the others'.
  CHECK(fn_threads.size() == 1);
  CHECK(ran_elsewhere.load() == kQueued - 1);
}

TEST_CASE("Writes left queued after a full batch are led by one of them as soon as it ends",
          "[db][store]") {
  const auto dir = scratch_dir("handoff");
  auto store = db::Store::open(options_for(dir / "a.db"), {.readers = 1, .max_batch = 4});
  constexpr int kQueued = 10;  // batches of 4, 4 and 2 after the leader's own
  HeldLeader leader(*store);
  std::atomic<int> timed_out{0};
  std::vector<std::thread> callers;
  for (int i = 0; i < kQueued; ++i) {
    callers.emplace_back([&, i] {
      try {
        // A caller left waiting for a leader would wait until this deadline.
        store->write(
            [&](db::Transaction& tx) {
              tx.execute("INSERT INTO t(v) VALUES (?)", std::to_string(i));
            },
            db::CallOptions::timeout(std::chrono::seconds(20)));
      } catch (const db::Error& e) {
        if (e.code() == db::ErrorCode::kTimeout) timed_out.fetch_add(1);
      }
    });
  }
  REQUIRE(eventually([&] { return store->pending_writes() == kQueued; }));
  leader.release();
  for (auto& t : callers) t.join();
  CHECK(timed_out.load() == 0);
  CHECK(count_rows(*store) == kQueued + 1);
  const db::Counters c = store->counters();
  CHECK(c.group_commits == 3);
  CHECK(c.group_commit_writes == kQueued);
}

TEST_CASE("Store batches concurrent writes and gives each caller its own row and id",
          "[db][store]") {
  const auto dir = scratch_dir("batch");
  db::Options o = options_for(dir / "a.db");
  o.synchronous = db::Synchronous::kFull;
  auto store = db::Store::open(o, {.readers = 2, .group_commit = true, .max_batch = 64});
  constexpr int kThreads = 16;
  constexpr int kEach = 20;
  std::vector<std::thread> threads;
  std::atomic<int> ready{0};
  std::mutex ids_mu;
  std::set<std::int64_t> ids;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ready.fetch_add(1);
      while (ready.load() < kThreads) std::this_thread::yield();
      for (int i = 0; i < kEach; ++i) {
        const std::int64_t id = store->write([&](db::Transaction& tx) {
          tx.execute("INSERT INTO t(v) VALUES (?)", std::to_string(t) + ":" + std::to_string(i));
          return tx.last_insert_rowid();
        });
        std::lock_guard<std::mutex> lock(ids_mu);
        ids.insert(id);
      }
    });
  }
  for (auto& th : threads) th.join();
  const db::Counters c = store->counters();
  // How many transactions the batches took is exact in the test above.
  CHECK(c.group_commits > 0);
  CHECK(c.surfaced_errors == 0);
  CHECK(count_rows(*store) == std::int64_t{kThreads} * kEach);
  CHECK(ids.size() == static_cast<std::size_t>(kThreads * kEach));  // each caller got its own id
}

TEST_CASE("In a batch, a failing caller gets its own error and only its work is undone",
          "[db][store]") {
  const auto dir = scratch_dir("outcomes");
  auto store = db::Store::open(options_for(dir / "a.db"), {.readers = 1});
  store->write([](db::Transaction& tx) { tx.execute("INSERT INTO t(v) VALUES ('taken')"); });

  HeldLeader leader(*store);

  std::atomic<int> ok{0};
  std::atomic<int> own_exception{0};
  std::atomic<int> constraint{0};
  std::atomic<int> whole_rollback{0};
  std::vector<std::thread> callers;
  callers.emplace_back([&] {
    store->write([](db::Transaction& tx) { tx.execute("INSERT INTO t(v) VALUES ('ok-1')"); });
    ok.fetch_add(1);
  });
  callers.emplace_back([&] {
    try {
      store->write([](db::Transaction& tx) {
        tx.execute("INSERT INTO t(v) VALUES ('thrower')");
        throw std::runtime_error("the caller's own failure");
      });
    } catch (const std::runtime_error&) {
      own_exception.fetch_add(1);
    }
  });
  callers.emplace_back([&] {
    try {
      store->write([](db::Transaction& tx) {
        tx.execute("INSERT INTO t(v) VALUES ('dup-partial')");
        tx.execute("INSERT INTO t(v) VALUES ('taken')");
      });
    } catch (const db::Error& e) {
      if (e.code() == db::ErrorCode::kConstraint) constraint.fetch_add(1);
    }
  });
  callers.emplace_back([&] {
    try {
      // ON CONFLICT ROLLBACK ends the whole transaction: the batch reruns
      // without this caller.
      store->write(
          [](db::Transaction& tx) { tx.execute("INSERT OR ROLLBACK INTO t(v) VALUES ('taken')"); });
    } catch (const db::Error& e) {
      if (e.code() == db::ErrorCode::kConstraint) whole_rollback.fetch_add(1);
    }
  });
  callers.emplace_back([&] {
    store->write([](db::Transaction& tx) { tx.execute("INSERT INTO t(v) VALUES ('ok-2')"); });
    ok.fetch_add(1);
  });
  REQUIRE(eventually([&] { return store->pending_writes() == 5; }));  // all five queue
  leader.release();
  for (auto& t : callers) t.join();

  CHECK(ok.load() == 2);
  CHECK(own_exception.load() == 1);
  CHECK(constraint.load() == 1);
  CHECK(whole_rollback.load() == 1);
  const std::string all = store->read([](db::Transaction& tx) {
    std::string s;
    tx.query<std::string>("SELECT v FROM t ORDER BY v",
                          [&](const std::string& v) { s += v + ","; });
    return s;
  });
  CHECK(all == "leader,ok-1,ok-2,taken,");
  CHECK(store->counters().group_commits >= 1);
}

TEST_CASE("Store readers run while the writer writes", "[db][store]") {
  const auto dir = scratch_dir("readers");
  auto store = db::Store::open(options_for(dir / "a.db"), {.readers = 3});
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      std::int64_t last = 0;
      while (!stop.load()) {
        try {
          const std::int64_t n = count_rows(*store);
          if (n < last) errors.fetch_add(1);  // snapshots never go back in time
          last = n;
          reads.fetch_add(1);
        } catch (const db::Error&) {
          errors.fetch_add(1);
        }
      }
    });
  }
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < 50; ++i) {
        store->write([&](db::Transaction& tx) {
          tx.execute("INSERT INTO t(v) VALUES (?)", std::to_string(w * 1000 + i));
        });
      }
    });
  }
  for (auto& t : writers) t.join();
  stop.store(true);
  for (auto& t : readers) t.join();
  CHECK(errors.load() == 0);
  CHECK(reads.load() > 0);
  CHECK(count_rows(*store) == 200);
  CHECK(store->integrity_check().ok);
  const db::Stats s = store->stats();
  CHECK(s.user_version == 1);
  CHECK(s.counters.surfaced_errors == 0);
}

TEST_CASE("Store without group commit writes one transaction per call", "[db][store]") {
  const auto dir = scratch_dir("nogroup");
  auto store = db::Store::open(options_for(dir / "a.db"), {.readers = 0, .group_commit = false});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        store->write([&](db::Transaction& tx) {
          tx.execute("INSERT INTO t(v) VALUES (?)", std::to_string(t * 100 + i));
        });
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(count_rows(*store) == 40);
  CHECK(store->counters().group_commits == 0);
}

TEST_CASE("Store rekey reconnects its readers with the new key", "[db][store]") {
  const auto dir = scratch_dir("storerekey");
  auto store = db::Store::open(options_for(dir / "a.db"), {.readers = 2});
  store->write([](db::Transaction& tx) { tx.execute("INSERT INTO t(v) VALUES ('a')"); });
  store->rekey(
      db::Key::raw_hex("0f112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"));
  store->write([](db::Transaction& tx) { tx.execute("INSERT INTO t(v) VALUES ('b')"); });
  // The pool hands out its most recently returned reader first, so one read
  // holds a reader while the other read must take the second one.
  std::latch first_inside(1);
  std::latch second_done(1);
  std::int64_t first_rows = -1;
  std::thread first([&] {
    first_rows = store->read([&](db::Transaction& tx) {
      const auto n = tx.query_value<std::int64_t>("SELECT count(*) FROM t").value_or(-1);
      first_inside.count_down();
      second_done.wait();
      return n;
    });
  });
  first_inside.wait();
  CHECK(count_rows(*store) == 2);  // on the second reader
  second_done.count_down();
  first.join();
  CHECK(first_rows == 2);
  CHECK(store->counters().surfaced_errors == 0);
  CHECK(store->checkpoint(db::CheckpointMode::kTruncate).busy == false);
}

TEST_CASE("Store integrity and quick checks run on a reader: writes go on during a check",
          "[db][store]") {
  const auto dir = scratch_dir("checkreader");
  auto store = db::Store::open(options_for(dir / "a.db"), {.readers = 1});
  store->write([](db::Transaction& tx) {
    for (int i = 0; i < 40000; ++i) {
      tx.execute("INSERT INTO t(v) VALUES (?)", std::to_string(i) + std::string(80, 'x'));
    }
  });
  std::atomic<bool> checking{false};
  std::atomic<bool> done{false};
  std::atomic<int> writes_during_checks{0};
  // Every row of the verdict, the cipher check's included: a healthy file
  // under a concurrent writer has none.
  std::vector<std::string> problems;
  std::atomic<int> checks{0};
  std::latch writer_running(1);
  std::thread writer([&] {
    int i = 0;
    writer_running.count_down();
    while (!done.load()) {
      store->write([&](db::Transaction& tx) {
        tx.execute("INSERT INTO t(v) VALUES (?)", "w" + std::to_string(i++));
      });
      if (checking.load()) writes_during_checks.fetch_add(1);
    }
  });
  writer_running.wait();
  for (int round = 0; round < 3; ++round) {
    checking.store(true);
    for (const db::CheckResult& r : {store->integrity_check(), store->quick_check()}) {
      checks.fetch_add(1);
      CHECK(r.ok == r.problems.empty());
      problems.insert(problems.end(), r.problems.begin(), r.problems.end());
    }
    checking.store(false);
  }
  done.store(true);
  writer.join();
  CHECK(checks.load() == 6);
  for (const std::string& p : problems) UNSCOPED_INFO(p);
  CHECK(problems.empty());
  // On the writer connection, a check would let at most the write in flight
  // when it began and one after it ended count here.
  CHECK(writes_during_checks.load() >= 5);
}

// The checks' verdict under writers, every row counted: the Store's writer
// and a second connection insert 300-byte rows and checkpoint meanwhile, so
// while a check's reader holds its snapshot the main file has pages that
// are missing, stale or being rewritten (their newest frames are in the
// WAL). PRAGMA cipher_integrity_check alone reports those pages; the
// library's checks judge them by their WAL frames and report nothing.
TEST_CASE("Store integrity and quick checks report no corruption while two writers write",
          "[db][store][integrity]") {
  const auto dir = scratch_dir("checkwriters");
  const db::Options o = options_for(dir / "a.db");
  auto store = db::Store::open(o, {.readers = 2});
  auto other = db::Database::open(o);
  std::atomic<bool> done{false};
  std::atomic<std::int64_t> committed{0};
  std::latch writers_running(2);
  auto insert_loop = [&](auto& target, const std::string& who) {
    writers_running.count_down();
    for (int i = 0; !done.load(); ++i) {
      target.write([&](db::Transaction& tx) {
        tx.execute("INSERT INTO t(v) VALUES (?)", who + std::to_string(i) + std::string(300, 'p'));
      });
      committed.fetch_add(1);
      if (i % 64 == 0) target.checkpoint(db::CheckpointMode::kPassive);
    }
  };
  std::thread store_writer([&] { insert_loop(*store, "s"); });
  std::thread other_writer([&] { insert_loop(other, "o"); });
  writers_running.wait();
  std::vector<std::string> problems;
  int checks = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (std::chrono::steady_clock::now() < until || checks < 10) {
    for (const db::CheckResult& r : {store->integrity_check(), store->quick_check()}) {
      ++checks;
      CHECK(r.ok == r.problems.empty());
      problems.insert(problems.end(), r.problems.begin(), r.problems.end());
    }
  }
  done.store(true);
  store_writer.join();
  other_writer.join();
  WARN("checks under two writers: " << checks << " checks, " << committed.load()
                                    << " writes committed");
  for (const std::string& p : problems) UNSCOPED_INFO(p);
  CHECK(problems.empty());
  CHECK(committed.load() > 0);
  CHECK(store->counters().surfaced_errors == 0);
  store.reset();
  auto after = db::Database::open(o);
  CHECK(after.integrity_check().ok);
}

TEST_CASE("Calling the Store from inside its own transaction is reported as misuse",
          "[db][store]") {
  const auto dir = scratch_dir("nested");
  auto store = db::Store::open(options_for(dir / "a.db"), {.readers = 1});
  auto code = [](auto&& f) {
    try {
      f();
    } catch (const db::Error& e) {
      return e.code();
    }
    return db::ErrorCode::kInternal;
  };
  CHECK(code([&] {
          store->write([&](db::Transaction&) { store->write([](db::Transaction&) {}); });
        }) == db::ErrorCode::kMisuse);
  CHECK(code([&] {
          store->read([&](db::Transaction&) { store->read([](db::Transaction&) { return 1; }); });
        }) == db::ErrorCode::kMisuse);
  store->write([](db::Transaction& tx) { tx.execute("INSERT INTO t(v) VALUES ('still fine')"); });
  CHECK(count_rows(*store) == 1);
}

// Store: group commit batches concurrent writes, each caller learns its own
// outcome, readers run beside the writer; thread-safe (run under tsan too).
#include "coordkit/db/store.h"

#include <atomic>
#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "coordkit/db/internal/testing.h"

namespace db = coordkit::db;
using coordkit::db::testing::scratch_dir;
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

// Blocker: the first write holds the writer until released, so that the
// writes submitted meanwhile queue up and form one batch.
struct Blocker {
  std::mutex mu;
  bool open = false;
  std::condition_variable cv;
  void wait() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return open; });
  }
  void release() {
    {
      std::lock_guard<std::mutex> lock(mu);
      open = true;
    }
    cv.notify_all();
  }
};

}  // namespace

TEST_CASE("Store batches concurrent writes into fewer transactions", "[db][store]") {
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
  CHECK(count_rows(*store) == kThreads * kEach);
  CHECK(ids.size() == static_cast<std::size_t>(kThreads * kEach));  // each caller got its own id
  const db::Counters c = store->counters();
  CHECK(c.surfaced_errors == 0);
  CHECK(c.group_commit_writes + (c.transactions - c.group_commits) >=
        static_cast<std::uint64_t>(kThreads * kEach));
  // Batching happened: fewer write transactions than writes.
  CHECK(c.group_commits > 0);
}

TEST_CASE("In a batch, a failing caller gets its own error and only its work is undone",
          "[db][store]") {
  const auto dir = scratch_dir("outcomes");
  auto store = db::Store::open(options_for(dir / "a.db"), {.readers = 1});
  store->write([](db::Transaction& tx) { tx.execute("INSERT INTO t(v) VALUES ('taken')"); });

  Blocker blocker;
  std::thread leader([&] {
    store->write([&](db::Transaction& tx) {
      tx.execute("INSERT INTO t(v) VALUES ('leader')");
      blocker.wait();
    });
  });
  std::this_thread::sleep_for(milliseconds(50));  // the leader is inside its transaction

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
  std::this_thread::sleep_for(milliseconds(100));  // all five queue behind the leader
  blocker.release();
  leader.join();
  for (auto& t : callers) t.join();

  CHECK(ok.load() == 2);
  CHECK(own_exception.load() == 1);
  CHECK(constraint.load() == 1);
  CHECK(whole_rollback.load() == 1);
  const std::string all = store->read([](db::Transaction& tx) {
    std::string s;
    tx.query<std::string>("SELECT v FROM t ORDER BY v", [&](std::string v) { s += v + ","; });
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
  CHECK(count_rows(*store) == 2);
  CHECK(count_rows(*store) == 2);
  CHECK(store->checkpoint(db::CheckpointMode::kTruncate).busy == false);
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

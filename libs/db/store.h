// coordkit/db/store.h: the database for a multi-threaded server: one writer
// connection, a pool of reader connections, and group commit.
//
// Group commit: while one transaction commits (with synchronous=FULL, an
// fsync), other threads' writes queue; the next commit takes up to
// StoreOptions::max_batch of them at once, runs each caller's fn inside its own
// SAVEPOINT within one BEGIN IMMEDIATE ... COMMIT, and tells each caller its own
// outcome: a caller whose fn throws has only its own savepoint rolled back and
// gets its own exception; the others commit. A transient failure of the batch
// (busy, reconnect) retries the whole batch, so each fn may run more than once.
// A batch that finally fails gives every caller in it that error.
// No thread is added: the first waiting caller leads the batch.
//
// Example:
//   auto store = coordkit::db::Store::open(std::move(options), {.readers = 4});
//   std::int64_t id = store->write([&](coordkit::db::Transaction& tx) {
//     tx.execute("INSERT INTO records(body) VALUES (?)", body);
//     return tx.last_insert_rowid();
//   });
//   auto n = store->read([](coordkit::db::Transaction& tx) {
//     return tx.query_value<std::int64_t>("SELECT count(*) FROM records").value_or(0);
//   });
#ifndef COORDKIT_DB_STORE_H_
#define COORDKIT_DB_STORE_H_

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "coordkit/db/counters.h"
#include "coordkit/db/database.h"
#include "coordkit/db/error.h"
#include "coordkit/db/internal/function_ref.h"
#include "coordkit/db/key.h"
#include "coordkit/db/maintenance.h"
#include "coordkit/db/options.h"
#include "coordkit/db/transaction.h"

namespace coordkit::db {

// StoreOptions: the shape of a Store.
struct StoreOptions {
  // readers: reader connections (0: reads use the writer connection).
  int readers = 4;
  // group_commit: batch concurrent writes into one transaction. Off: writes
  // take turns on the writer connection, one transaction each.
  bool group_commit = true;
  // max_batch: the most caller writes in one batch transaction.
  int max_batch = 64;
};

// Store: thread-safe; every method may be called from any thread. Non-copyable,
// non-movable (owned through the unique_ptr from open()). The destructor waits
// for nothing: destroy it only after every call has returned. Calling write()
// or read() of the same Store from inside fn throws Error{kMisuse} (it would
// wait for itself).
class Store {
 public:
  // open: opens the writer first (creation and migrations happen there, see
  // Database::open), then the readers. Throws like Database::open, and
  // Error{kInvalidArgument} for readers < 0 or max_batch < 1.
  static std::unique_ptr<Store> open(Options options, StoreOptions store_options = {}) {
    if (store_options.readers < 0 || store_options.max_batch < 1) {
      throw Error(ErrorCode::kInvalidArgument, "StoreOptions: readers >= 0 and max_batch >= 1");
    }
    Database writer = Database::open(options);
    std::unique_ptr<Store> store(new Store(std::move(writer), store_options));
    for (int i = 0; i < store_options.readers; ++i) {
      store->readers_.push_back(std::make_unique<Database>(Database::open(options)));
    }
    for (auto& r : store->readers_) store->idle_.push_back(r.get());
    return store;
  }

  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  ~Store() = default;

  // write: runs fn(Transaction&) in a write transaction (batched with other
  // threads' writes when group commit is on) and returns fn's result. Throws
  // fn's own exception if fn threw (only its own work is rolled back), or the
  // batch's Error if the batch failed.
  template <class F>
  auto write(F&& fn) {
    check_not_inside();
    using R = std::remove_cvref_t<std::invoke_result_t<F&, Transaction&>>;
    if constexpr (std::is_void_v<R>) {
      submit([&fn](Transaction& tx) { fn(tx); });
    } else {
      std::optional<R> out;
      submit([&fn, &out](Transaction& tx) { out.emplace(fn(tx)); });
      return std::move(*out);
    }
  }

  // read: runs fn(Transaction&) in a read transaction on an idle reader
  // (waiting for one if all are busy) and returns fn's result.
  template <class F>
  auto read(F&& fn) {
    check_not_inside();
    Inside inside(this);
    if (readers_.empty()) {
      std::lock_guard<std::mutex> lock(writer_mu_);
      return writer_.read(std::forward<F>(fn));
    }
    ReaderLease lease(*this);
    return lease.db->read(std::forward<F>(fn));
  }

  // counters: the writer's and all readers' counters summed, plus the group
  // commit figures.
  Counters counters() const {
    Counters c = writer_.counters();
    for (const auto& r : readers_) c += r->counters();
    c.group_commits += group_commits_.load(std::memory_order_relaxed);
    c.group_commit_writes += group_commit_writes_.load(std::memory_order_relaxed);
    return c;
  }

  // checkpoint, backup_to, integrity_check, quick_check, stats, user_version:
  // as on Database, run on the writer connection between writes.
  CheckpointResult checkpoint(CheckpointMode mode) {
    std::lock_guard<std::mutex> lock(writer_mu_);
    return writer_.checkpoint(mode);
  }
  void backup_to(const std::filesystem::path& dest, const Key& dest_key) {
    std::lock_guard<std::mutex> lock(writer_mu_);
    writer_.backup_to(dest, dest_key);
  }
  CheckResult integrity_check() {
    std::lock_guard<std::mutex> lock(writer_mu_);
    return writer_.integrity_check();
  }
  CheckResult quick_check() {
    std::lock_guard<std::mutex> lock(writer_mu_);
    return writer_.quick_check();
  }
  // vacuum: Database::vacuum() on the writer connection, between writes.
  VacuumResult vacuum() {
    std::lock_guard<std::mutex> lock(writer_mu_);
    return writer_.vacuum();
  }
  Stats stats() {
    Stats s;
    {
      std::lock_guard<std::mutex> lock(writer_mu_);
      s = writer_.stats();
    }
    s.counters = counters();
    return s;
  }
  int user_version() {
    std::lock_guard<std::mutex> lock(writer_mu_);
    return writer_.user_version();
  }

  // rekey: waits until no read is running, rekeys through the writer, then
  // reconnects every reader with the new key. Same caveats as Database::rekey.
  void rekey(const Key& new_key) {
    std::lock_guard<std::mutex> wlock(writer_mu_);
    std::unique_lock<std::mutex> plock(pool_mu_);
    pool_cv_.wait(plock, [this] { return idle_.size() == readers_.size(); });
    writer_.rekey(new_key);
    for (auto& r : readers_) r->adopt_key(new_key);
  }

 private:
  struct Request {
    internal::FunctionRef<void(Transaction&)> fn;
    std::exception_ptr error;
    bool done = false;
    bool finalized = false;  // failed in a way that took it out of the batch
  };

  // Inside: marks this thread as running a transaction of this Store, so a
  // nested call (which would wait for itself) throws kMisuse instead.
  static const Store*& inside_store() noexcept {
    thread_local const Store* s = nullptr;
    return s;
  }
  struct Inside {
    explicit Inside(const Store* s) : prev(std::exchange(inside_store(), s)) {}
    Inside(const Inside&) = delete;
    Inside& operator=(const Inside&) = delete;
    ~Inside() { inside_store() = prev; }
    const Store* prev;
  };
  void check_not_inside() const {
    if (inside_store() == this) {
      throw Error(ErrorCode::kMisuse,
                  "Store::write()/read() called inside one of its transactions");
    }
  }

  // BatchRestart: a caller's failure ended the whole transaction (e.g.
  // ON CONFLICT ROLLBACK); the batch runs again without that caller.
  struct BatchRestart {};

  class ReaderLease {
   public:
    explicit ReaderLease(Store& s) : store(s) {
      std::unique_lock<std::mutex> lock(store.pool_mu_);
      store.pool_cv_.wait(lock, [this] { return !store.idle_.empty(); });
      db = store.idle_.back();
      store.idle_.pop_back();
    }
    ReaderLease(const ReaderLease&) = delete;
    ReaderLease& operator=(const ReaderLease&) = delete;
    ~ReaderLease() {
      {
        std::lock_guard<std::mutex> lock(store.pool_mu_);
        store.idle_.push_back(db);
      }
      store.pool_cv_.notify_all();
    }
    Store& store;
    Database* db = nullptr;
  };

  Store(Database writer, StoreOptions options) : options_(options), writer_(std::move(writer)) {}

  void submit(internal::FunctionRef<void(Transaction&)> fn) {
    Request request{fn, nullptr, false, false};
    if (!options_.group_commit) {
      Inside inside(this);
      std::lock_guard<std::mutex> lock(writer_mu_);
      writer_.write([&](Transaction& tx) { request.fn(tx); });
      return;
    }
    std::unique_lock<std::mutex> lock(queue_mu_);
    queue_.push_back(&request);
    while (!request.done) {
      if (leader_active_) {
        queue_cv_.wait(lock);
        continue;
      }
      leader_active_ = true;
      std::vector<Request*> batch;
      while (!queue_.empty() && batch.size() < static_cast<std::size_t>(options_.max_batch)) {
        batch.push_back(queue_.front());
        queue_.pop_front();
      }
      lock.unlock();
      run_batch(batch);
      lock.lock();
      for (Request* r : batch) r->done = true;
      leader_active_ = false;
      queue_cv_.notify_all();
    }
    lock.unlock();
    if (request.error) std::rethrow_exception(request.error);
  }

  // run_batch: one transaction for the whole batch (never throws: every
  // outcome lands in its Request).
  void run_batch(const std::vector<Request*>& batch) noexcept {
    Inside inside(this);
    std::lock_guard<std::mutex> lock(writer_mu_);
    if (batch.size() == 1) {
      Request* r = batch.front();
      try {
        writer_.write([r](Transaction& tx) { r->fn(tx); });
      } catch (...) {
        r->error = std::current_exception();
      }
      return;
    }
    for (;;) {
      try {
        writer_.write([&batch](Transaction& tx) {
          for (Request* r : batch) {
            if (!r->finalized) r->error = nullptr;
          }
          for (Request* r : batch) {
            if (r->finalized) continue;
            tx.execute("SAVEPOINT coordkit_group_commit");
            try {
              r->fn(tx);
              tx.execute("RELEASE coordkit_group_commit");
            } catch (const Error& e) {
              // Transient: the whole batch is retried by the ladder.
              if (e.retry_class() != RetryClass::kPermanent) throw;
              r->error = std::current_exception();
              rollback_savepoint(tx, r);
            } catch (...) {
              r->error = std::current_exception();
              rollback_savepoint(tx, r);
            }
          }
        });
        std::size_t committed = 0;
        for (Request* r : batch) committed += r->error ? 0 : 1;
        group_commits_.fetch_add(1, std::memory_order_relaxed);
        group_commit_writes_.fetch_add(committed, std::memory_order_relaxed);
        return;
      } catch (const BatchRestart&) {
        continue;
      } catch (...) {
        const std::exception_ptr e = std::current_exception();
        for (Request* r : batch) {
          if (!r->finalized) r->error = e;
        }
        return;
      }
    }
  }

  static void rollback_savepoint(Transaction& tx, Request* r) {
    if (!internal::TransactionAccess::in_transaction(tx)) {
      r->finalized = true;
      throw BatchRestart{};
    }
    tx.execute("ROLLBACK TO coordkit_group_commit");
    tx.execute("RELEASE coordkit_group_commit");
  }

  const StoreOptions options_;
  mutable std::mutex writer_mu_;
  Database writer_;
  std::vector<std::unique_ptr<Database>> readers_;

  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<Database*> idle_;

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<Request*> queue_;
  bool leader_active_ = false;

  std::atomic<std::uint64_t> group_commits_{0};
  std::atomic<std::uint64_t> group_commit_writes_{0};
};

}  // namespace coordkit::db

#endif  // COORDKIT_DB_STORE_H_

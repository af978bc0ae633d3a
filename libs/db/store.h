// coordkit/db/store.h: Store, the database for a multi-threaded server: one
// writer connection, a pool of reader connections, and group commit.
//
// Group commit: while one transaction commits (with synchronous=FULL, an
// fsync), other threads' writes queue; the next commit takes up to
// StoreOptions::max_batch of them at once, runs each caller's fn inside its
// own SAVEPOINT within one BEGIN IMMEDIATE ... COMMIT, and tells each caller
// its own outcome: a caller whose fn throws has only its own savepoint rolled
// back and gets its own exception; the others commit. A transient failure of
// the batch (busy, reconnect) retries the whole batch, so each fn may run
// more than once. A batch that finally fails gives every caller in it that
// error. No thread is added: the first waiting caller leads the batch.
//
// Who runs fn: in a group commit, the leading caller's thread runs every
// fn of its batch, so a write()'s fn may run on another caller's thread,
// while its own caller waits. fn must not touch thread-local state or state
// bound to the caller's thread or strand (an Asio strand, a thread's logger
// context, a lock the caller holds); capture what it needs by reference or
// value. A read()'s fn runs on its caller's thread.
//
// Example:
//   auto store = coordkit::db::Store::open(options, {.readers = 4});
//   std::int64_t id = store->write([&](coordkit::db::Transaction& tx) {
//     tx.execute("INSERT INTO records(body) VALUES (?)", body);
//     return tx.last_insert_rowid();
//   });
//   auto n = store->read([](coordkit::db::Transaction& tx) {
//     return tx.query_value<std::int64_t>("SELECT count(*) FROM records").value_or(0);
//   });
#ifndef COORDKIT_DB_STORE_H_
#define COORDKIT_DB_STORE_H_

#ifdef _WIN32
#error "libs/db is POSIX-only: Debian packages no SQLCipher for mingw"
#endif

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "coordkit/db/counters.h"
#include "coordkit/db/database.h"
#include "coordkit/db/error.h"
#include "coordkit/db/internal/counters_cell.h"
#include "coordkit/db/internal/deadline.h"
#include "coordkit/db/internal/function_ref.h"
#include "coordkit/db/key.h"
#include "coordkit/db/maintenance.h"
#include "coordkit/db/options.h"
#include "coordkit/db/transaction.h"

namespace coordkit::db {

// StoreOptions: the shape of a Store. Plain value.
struct StoreOptions {
  // readers: reader connections (0: reads use the writer connection).
  int readers = 4;
  // group_commit: batch concurrent writes into one transaction. Off: writes
  // take turns on the writer connection, one transaction each.
  bool group_commit = true;
  // max_batch: the most caller writes in one batch transaction.
  int max_batch = 64;
};

// Store: thread-safe; every method may be called from any thread.
// Non-copyable, non-movable (owned through the unique_ptr from open()). The
// destructor waits for nothing: destroy it only after every call has
// returned. Calling write() or read() of the same Store from inside fn throws
// Error{kMisuse} (it would wait for itself).
//
// Every call takes an optional CallOptions last, as on Database: its deadline
// bounds every wait inside the call, the Store's own included (a free reader
// connection, the group commit, the writer connection while another call
// holds it); a miss throws Error{kTimeout}. Without one, the deadline is
// RetryPolicy::deadline after the call began.
class Store {
 public:
  // open: opens the writer first (creation and migrations happen there, see
  // Database::open), then the readers. `call`'s deadline bounds all of these
  // opens together (a miss is kTimeout); without one, each open waits as
  // Database::open does. Throws like Database::open, and
  // Error{kInvalidArgument} for readers < 0 or max_batch < 1.
  static std::unique_ptr<Store> open(const Options& options, StoreOptions store_options = {},
                                     const CallOptions& call = {}) {
    if (store_options.readers < 0 || store_options.max_batch < 1) {
      throw Error(ErrorCode::kInvalidArgument, "StoreOptions: readers >= 0 and max_batch >= 1");
    }
    const auto policy_deadline = options.retry.deadline;
    Database writer = Database::open(options, call);
    std::unique_ptr<Store> store(new Store(std::move(writer), store_options, policy_deadline));
    for (int i = 0; i < store_options.readers; ++i) {
      store->readers_.push_back(std::make_unique<Database>(Database::open(options, call)));
    }
    for (auto& r : store->readers_) store->idle_.push_back(r.get());
    return store;
  }

  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  ~Store() = default;

  // write: runs fn(Transaction&) in a write transaction (batched with other
  // threads' writes when group commit is on; fn may then run on another
  // caller's thread, see the file comment) and returns fn's result. Throws
  // fn's own exception if fn threw (only its own work is rolled back), the
  // batch's Error if the batch failed, or Error{kTimeout} when the call's
  // deadline passed first.
  template <class F>
  auto write(F&& fn, const CallOptions& call = {}) {
    check_not_inside();
    const internal::Deadline deadline = resolve(call);
    using R = std::remove_cvref_t<std::invoke_result_t<F&, Transaction&>>;
    if constexpr (std::is_void_v<R>) {
      submit([&fn](Transaction& tx) { fn(tx); }, deadline);
    } else {
      std::optional<R> out;
      submit([&fn, &out](Transaction& tx) { out.emplace(fn(tx)); }, deadline);
      return std::move(*out);
    }
  }

  // read: runs fn(Transaction&) in a read transaction on an idle reader, on
  // the caller's thread, waiting for one (within the deadline) if all are
  // busy, and returns fn's result. Throws like Database::read, and
  // Error{kTimeout} when no reader came free in time.
  template <class F>
  auto read(F&& fn, const CallOptions& call = {}) {
    check_not_inside();
    const internal::Deadline deadline = resolve(call);
    Inside inside(this);
    if (readers_.empty()) {
      WriterLock lock(*this, deadline);
      return writer_.run(std::forward<F>(fn), false, deadline);
    }
    ReaderLease lease(*this, deadline);
    return lease.db->run(std::forward<F>(fn), false, deadline);
  }

  // counters: the writer's and all readers' counters summed, plus the group
  // commit figures. Thread-safe.
  Counters counters() const {
    Counters c = writer_.counters();
    for (const auto& r : readers_) c += r->counters();
    c += own_.snapshot();
    return c;
  }

  // pending_writes: writes queued for the next group commit (diagnostics).
  std::size_t pending_writes() const {
    std::lock_guard<std::mutex> lock(queue_mu_);
    return queue_.size();
  }

  // checkpoint, backup_to, stats, user_version: as on Database, run on the
  // writer connection between writes.
  CheckpointResult checkpoint(CheckpointMode mode, const CallOptions& call = {}) {
    const internal::Deadline deadline = resolve(call);
    WriterLock lock(*this, deadline);
    return writer_.state_->checkpoint(mode, deadline);
  }
  void backup_to(const std::filesystem::path& dest, const Key& dest_key,
                 const CallOptions& call = {}) {
    const internal::Deadline deadline = resolve(call);
    WriterLock lock(*this, deadline);
    writer_.state_->backup_to(dest, dest_key, deadline);
  }
  // vacuum: Database::vacuum() on the writer connection, between writes.
  VacuumResult vacuum(const CallOptions& call = {}) {
    const internal::Deadline deadline = resolve(call);
    WriterLock lock(*this, deadline);
    return writer_.state_->vacuum(deadline);
  }
  Stats stats(const CallOptions& call = {}) {
    const internal::Deadline deadline = resolve(call);
    Stats s;
    {
      WriterLock lock(*this, deadline);
      s = writer_.state_->stats(deadline);
    }
    s.counters = counters();
    return s;
  }
  int user_version(const CallOptions& call = {}) {
    const internal::Deadline deadline = resolve(call);
    WriterLock lock(*this, deadline);
    return writer_.state_->user_version(deadline);
  }

  // integrity_check, quick_check: as on Database, run on a reader connection
  // (the writer when there are none), so writes go on during the check.
  CheckResult integrity_check(const CallOptions& call = {}) { return check(true, call); }
  CheckResult quick_check(const CallOptions& call = {}) { return check(false, call); }

  // rekey: waits (within the deadline) until no read is running, rekeys
  // through the writer, then reconnects every reader with the new key. Same
  // caveats as Database::rekey.
  void rekey(const Key& new_key, const CallOptions& call = {}) {
    const internal::Deadline deadline = resolve(call);
    WriterLock wlock(*this, deadline);
    std::unique_lock<std::mutex> plock(pool_mu_);
    if (!pool_cv_.wait_until(plock, deadline.at,
                             [this] { return idle_.size() == readers_.size(); })) {
      throw timed_out("the readers to finish before a rekey");
    }
    writer_.state_->rekey(new_key, deadline);
    for (auto& r : readers_) r->adopt_key(new_key, call);
  }

 private:
  struct Request {
    internal::FunctionRef<void(Transaction&)> fn;
    internal::Deadline deadline;
    std::exception_ptr error;
    bool taken = false;  // in a batch that a leader runs
    bool done = false;
    bool finalized = false;  // failed in a way that took it out of the batch
    // wake: its caller waits on it (with queue_mu_), so that a leader wakes
    // the callers whose batch it finished and the one that leads next, not
    // every caller that waits.
    std::condition_variable wake;
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

  internal::Deadline resolve(const CallOptions& call) const {
    return internal::Deadline::resolve(call, policy_deadline_);
  }

  // timed_out: the Store's own kTimeout, counted as surfaced.
  Error timed_out(const std::string& waiting_for) const {
    own_.surfaced(ErrorCode::kTimeout);
    return internal::timeout_error(waiting_for);
  }

  // BatchRestart: a caller's failure ended the whole transaction (e.g.
  // ON CONFLICT ROLLBACK); the batch runs again without that caller.
  struct BatchRestart {};

  // WriterLock: the writer connection, waited for within a deadline. A flag
  // under a mutex and a condition variable rather than a timed mutex: the
  // wait is the same, and thread sanitizers follow it.
  class WriterLock {
   public:
    WriterLock(Store& s, const internal::Deadline& deadline) : store_(s) {
      std::unique_lock<std::mutex> lock(store_.writer_mu_);
      if (!store_.writer_cv_.wait_until(lock, deadline.at,
                                        [this] { return !store_.writer_busy_; })) {
        throw store_.timed_out("the writer connection (another call of this Store holds it)");
      }
      store_.writer_busy_ = true;
    }
    WriterLock(const WriterLock&) = delete;
    WriterLock& operator=(const WriterLock&) = delete;
    ~WriterLock() {
      {
        std::lock_guard<std::mutex> lock(store_.writer_mu_);
        store_.writer_busy_ = false;
      }
      store_.writer_cv_.notify_one();
    }

   private:
    Store& store_;
  };

  class ReaderLease {
   public:
    ReaderLease(Store& s, const internal::Deadline& deadline) : store(s) {
      std::unique_lock<std::mutex> lock(store.pool_mu_);
      if (!store.pool_cv_.wait_until(lock, deadline.at, [this] { return !store.idle_.empty(); })) {
        throw store.timed_out("a reader connection (all " + std::to_string(store.readers_.size()) +
                              " in use)");
      }
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

  Store(Database writer, StoreOptions options, std::chrono::milliseconds policy_deadline)
      : options_(options), policy_deadline_(policy_deadline), writer_(std::move(writer)) {}

  CheckResult check(bool full, const CallOptions& call) {
    const internal::Deadline deadline = resolve(call);
    if (readers_.empty()) {
      WriterLock lock(*this, deadline);
      return writer_.state_->check(full, deadline);
    }
    ReaderLease lease(*this, deadline);
    return lease.db->state_->check(full, deadline);
  }

  void submit(internal::FunctionRef<void(Transaction&)> fn, const internal::Deadline& deadline) {
    Request request{fn, deadline, nullptr, false, false, false, {}};
    if (!options_.group_commit) {
      Inside inside(this);
      WriterLock lock(*this, deadline);
      writer_.run([&](Transaction& tx) { request.fn(tx); }, true, deadline);
      return;
    }
    std::unique_lock<std::mutex> lock(queue_mu_);
    queue_.push_back(&request);
    while (!request.done) {
      if (leader_active_) {
        if (request.taken) {
          // In a batch another caller leads: that batch runs under the
          // earliest deadline of its callers, so this wait is bounded too.
          request.wake.wait(lock);
        } else if (request.wake.wait_until(lock, deadline.at) == std::cv_status::timeout &&
                   !request.taken && !request.done) {
          queue_.erase(std::find(queue_.begin(), queue_.end(), &request));
          // It may have been woken to lead: the next in line leads instead.
          if (!leader_active_ && !queue_.empty()) queue_.front()->wake.notify_one();
          lock.unlock();
          throw timed_out("the group commit (queued behind a running batch)");
        }
        continue;
      }
      leader_active_ = true;
      std::vector<Request*> batch;
      while (!queue_.empty() && batch.size() < static_cast<std::size_t>(options_.max_batch)) {
        batch.push_back(queue_.front());
        batch.back()->taken = true;
        queue_.pop_front();
      }
      lock.unlock();
      run_batch(batch);
      lock.lock();
      leader_active_ = false;
      // The next leader first: the writer connection waits for it, while the
      // callers only return. Under queue_mu_, since a caller returns (and
      // its Request is gone) as soon as it sees done.
      if (!queue_.empty()) queue_.front()->wake.notify_one();
      for (Request* r : batch) {
        r->done = true;
        if (r != &request) r->wake.notify_one();
      }
    }
    lock.unlock();
    if (request.error) std::rethrow_exception(request.error);
  }

  // batch_deadline: the earliest deadline of the batch's live callers; from
  // the caller if any of them chose theirs.
  static internal::Deadline batch_deadline(const std::vector<Request*>& batch) {
    internal::Deadline d;
    bool first = true;
    for (const Request* r : batch) {
      if (r->finalized) continue;
      if (first || r->deadline.at < d.at) d.at = r->deadline.at;
      d.from_caller = d.from_caller || r->deadline.from_caller;
      first = false;
    }
    return d;
  }

  // expire: gives `e` to the callers whose own deadline has passed and takes
  // them out of the batch. Returns how many.
  static std::size_t expire(const std::vector<Request*>& batch, const std::exception_ptr& e) {
    std::size_t n = 0;
    for (Request* r : batch) {
      if (r->finalized || !r->deadline.passed()) continue;
      r->error = e;
      r->finalized = true;
      ++n;
    }
    return n;
  }

  static bool any_live(const std::vector<Request*>& batch) {
    return std::any_of(batch.begin(), batch.end(), [](const Request* r) { return !r->finalized; });
  }

  // run_batch: one transaction for the whole batch, under the earliest
  // deadline of its callers; when that runs out, the callers whose deadline
  // passed get kTimeout and the others run again (never throws: every
  // outcome lands in its Request).
  void run_batch(const std::vector<Request*>& batch) noexcept {
    Inside inside(this);
    for (;;) {
      const internal::Deadline deadline = batch_deadline(batch);
      try {
        WriterLock lock(*this, deadline);
        if (batch.size() == 1) {
          Request* r = batch.front();
          try {
            writer_.run([r](Transaction& tx) { r->fn(tx); }, true, r->deadline);
          } catch (...) {
            r->error = std::current_exception();
          }
          return;
        }
        writer_.run(
            [&batch](Transaction& tx) {
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
            },
            true, deadline);
        std::uint64_t committed = 0;
        for (Request* r : batch) committed += r->error ? 0 : 1;
        internal::CountersCell::add(own_.group_commits);
        internal::CountersCell::add(own_.group_commit_writes, committed);
        return;
      } catch (const BatchRestart&) {
        continue;
      } catch (const Error& e) {
        const std::exception_ptr ep = std::current_exception();
        // The earliest deadline ran out: those whose own deadline passed
        // leave with it, the others try again under theirs.
        if (e.code() == ErrorCode::kTimeout && expire(batch, ep) > 0 && any_live(batch)) continue;
        for (Request* r : batch) {
          if (!r->finalized) r->error = ep;
        }
        return;
      } catch (...) {
        const std::exception_ptr ep = std::current_exception();
        for (Request* r : batch) {
          if (!r->finalized) r->error = ep;
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
  const std::chrono::milliseconds policy_deadline_;
  // writer_busy_: a call holds the writer connection (WriterLock).
  std::mutex writer_mu_;
  std::condition_variable writer_cv_;
  bool writer_busy_ = false;
  Database writer_;
  std::vector<std::unique_ptr<Database>> readers_;

  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<Database*> idle_;

  mutable std::mutex queue_mu_;
  std::deque<Request*> queue_;
  bool leader_active_ = false;

  // own_: the Store's own counters (group commits, its timeouts).
  mutable internal::CountersCell own_;
};

}  // namespace coordkit::db

#endif  // COORDKIT_DB_STORE_H_

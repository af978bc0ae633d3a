// Internal: the state behind a Database, composed of its parts: the opener
// (open.h), the retry ladder (retry.h), the write turn (turn_glue.h), the
// checkpoint policy (checkpoint_policy.h) and the maintenance operations
// (maintenance_ops.h).
#ifndef COORDKIT_DB_INTERNAL_DATABASE_STATE_H_
#define COORDKIT_DB_INTERNAL_DATABASE_STATE_H_

#include <sqlcipher/sqlite3.h>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "coordkit/db/counters.h"
#include "coordkit/db/error.h"
#include "coordkit/db/internal/checkpoint_policy.h"
#include "coordkit/db/internal/connection.h"
#include "coordkit/db/internal/counters_cell.h"
#include "coordkit/db/internal/deadline.h"
#include "coordkit/db/internal/function_ref.h"
#include "coordkit/db/internal/maintenance_ops.h"
#include "coordkit/db/internal/open.h"
#include "coordkit/db/internal/posix.h"
#include "coordkit/db/internal/retry.h"
#include "coordkit/db/internal/turn_glue.h"
#include "coordkit/db/key.h"
#include "coordkit/db/maintenance.h"
#include "coordkit/db/options.h"
#include "coordkit/db/transaction.h"

namespace coordkit::db::internal {

class DatabaseState {
 public:
  // open: the first open and the migrations; every wait ends by `call`'s
  // deadline when it has one (kTimeout), else each waits up to
  // RetryPolicy::deadline.
  static std::unique_ptr<DatabaseState> open(Options options, const CallOptions& call) {
    if (options.path.empty()) throw Error(ErrorCode::kInvalidArgument, "empty database path");
    if (options.key.empty()) throw Error(ErrorCode::kInvalidArgument, "no key given");
    const int max_version = sort_migrations(options.migrations);
    std::unique_ptr<DatabaseState> st(new DatabaseState(std::move(options), max_version));
    st->opener_.open_initial(
        [&st, &call] {
          DatabaseState& s = *st;
          s.run_transaction([&s](Transaction& tx) { s.opener_.migrate(tx); }, true,
                            s.deadline(call));
        },
        st->deadline(call));
    return st;
  }

  DatabaseState(const DatabaseState&) = delete;
  DatabaseState& operator=(const DatabaseState&) = delete;
  ~DatabaseState() {
    turn_.close();
    conn_.reset();
  }

  // deadline: the deadline of a call that starts now.
  Deadline deadline(const CallOptions& call) const {
    return Deadline::resolve(call, options_.retry.deadline);
  }

  // run_transaction: fn as one transaction under the retry ladder, counted
  // as the caller's (Counters::transactions) or, `own`, as one of the
  // library's own reads (Counters::own_transactions).
  void run_transaction(FunctionRef<void(Transaction&)> fn, bool write, const Deadline& deadline,
                       bool own = false) {
    refuse_in_call("write()/read()");
    in_call_ = true;
    struct Reset {
      bool* flag;
      ~Reset() { *flag = false; }
    } reset{&in_call_};
    CallDeadline bound(*this, deadline);
    ladder_.run(
        deadline,
        [&](bool* in_open) {
          if (!conn_) {
            *in_open = true;
            opener_.reopen(deadline);
            *in_open = false;
          }
          attempt(fn, write, deadline);
        },
        [this] { conn_.reset(); }, [this] { return diagnose_corruption(); });
    CountersCell::add(own ? counters_.own_transactions : counters_.transactions);
  }

  // prepare: see Database::prepare.
  void prepare(std::string_view sql, const Deadline& deadline) {
    refuse_in_call("prepare()");
    ensure_connection(deadline);
    CallDeadline bound(*this, deadline);
    try {
      conn_->cache().get(conn_->db(), sql, opener_.key_verified());
    } catch (const Error& e) {
      if (e.retry_class() != RetryClass::kPermanent) return;
      counters_.surfaced(e.code());
      throw;
    }
  }

  Counters counters() const { return counters_.snapshot(); }

  CheckpointResult checkpoint(CheckpointMode mode, const Deadline& deadline) {
    refuse_in_call("checkpoint()");
    ensure_connection(deadline);
    CallDeadline bound(*this, deadline);
    TurnHold hold(turn_, mode != CheckpointMode::kPassive, deadline);
    CheckpointResult out;
    try {
      out = checkpoint_connection(*conn_, mode, opener_.key_verified(), counters_);
    } catch (...) {
      hold.let_go();
      throw;
    }
    hold.let_go();
    checkpoints_.checkpointed(out.log_frames);
    return out;
  }

  void backup_to(const std::filesystem::path& dest, const Key& dest_key, const Deadline& deadline) {
    check_backup_arguments(dest, dest_key);
    refuse_in_call("backup_to()");
    ensure_connection(deadline);
    try {
      backup_connection(
          conn_->db(), dest, dest_key,
          [this](const std::string& path) { return opener_.setup_for(path); }, deadline.at,
          opener_.key_verified(), [this, &deadline] { return user_version(deadline); });
    } catch (const Error& e) {
      if (e.code() == ErrorCode::kBusy && deadline.from_caller && deadline.passed()) {
        throw timeout_error("the backup's busy steps (" + std::string(e.what()) + ")",
                            e.extended_code());
      }
      throw;
    }
  }

  void rekey(const Key& new_key, const Deadline& deadline) {
    if (new_key.empty()) throw Error(ErrorCode::kInvalidArgument, "no new key");
    refuse_in_call("rekey()");
    ensure_connection(deadline);
    CallDeadline bound(*this, deadline);
    TurnHold hold(turn_, true, deadline);
    rekey_connection(*conn_, new_key, opener_.key_verified(), counters_);
    options_.key = new_key;
  }

  CheckResult check(bool full, const Deadline& deadline) {
    CheckResult out;
    bool first = true;
    run_transaction(
        [&](Transaction& tx) {
          const bool first_attempt = std::exchange(first, false);
          out = run_check(tx, conn_->db(), full, first_attempt);
        },
        false, deadline, true);
    return out;
  }

  // vacuum: VACUUM and a TRUNCATE checkpoint (maintenance_ops.h) under the
  // write turn and the retry ladder; it cannot run inside a transaction.
  VacuumResult vacuum(const Deadline& deadline) {
    refuse_in_call("vacuum()");
    in_call_ = true;
    struct Reset {
      bool* flag;
      ~Reset() { *flag = false; }
    } reset{&in_call_};
    CallDeadline bound(*this, deadline);
    VacuumResult out;
    int log_frames = 0;
    ladder_.run(
        deadline,
        [&](bool* in_open) {
          if (!conn_) {
            *in_open = true;
            opener_.reopen(deadline);
            *in_open = false;
          }
          TurnHold hold(turn_, true, deadline);
          conn_->set_deadline(deadline.at);
          try {
            out = vacuum_connection(*conn_, opener_.key_verified(), &log_frames);
          } catch (...) {
            hold.let_go();
            throw;
          }
          hold.let_go();
        },
        [this] { conn_.reset(); }, [this] { return diagnose_corruption(); });
    checkpoints_.checkpointed(log_frames);
    return out;
  }

  Stats stats(const Deadline& deadline) {
    Stats s;
    run_transaction([&](Transaction& tx) { read_stats(tx, s); }, false, deadline, true);
    s.wal_bytes = wal_bytes(options_.path);
    s.counters = counters();
    return s;
  }

  int user_version(const Deadline& deadline) {
    int v = 0;
    run_transaction(
        [&](Transaction& tx) { v = tx.query_value<int>("PRAGMA user_version").value_or(0); }, false,
        deadline, true);
    return v;
  }

  void reconnect(bool forced, const Deadline& deadline) {
    refuse_in_call("reconnect()");
    if (forced) CountersCell::add(counters_.reconnects);
    conn_.reset();
    opener_.reopen(deadline);
  }

  void adopt_key(const Key& key, const Deadline& deadline) {
    refuse_in_call("adopt_key()");
    options_.key = key;
    conn_.reset();
    opener_.reopen(deadline);
  }

  const std::filesystem::path& path() const noexcept { return options_.path; }
  sqlite3* handle() noexcept { return conn_ ? conn_->db() : nullptr; }

 private:
  DatabaseState(Options options, int max_version)
      : options_(std::move(options)),
        ladder_(options_.retry, counters_),
        turn_(options_.path.string(), options_.fair_write_turn, options_.write_turn_lease,
              counters_),
        checkpoints_(options_.wal_autocheckpoint_pages),
        opener_(options_, max_version, checkpoints_.journal_size_limit(), conn_, counters_,
                ladder_) {}

  void ensure_connection(const Deadline& deadline) {
    if (!conn_) opener_.reopen(deadline);
  }

  // CallDeadline: bounds the busy handler of the connection by the call's
  // deadline while the call runs.
  class CallDeadline {
   public:
    CallDeadline(DatabaseState& st, const Deadline& deadline) : st_(st) {
      if (st_.conn_) st_.conn_->set_deadline(deadline.at);
    }
    CallDeadline(const CallDeadline&) = delete;
    CallDeadline& operator=(const CallDeadline&) = delete;
    ~CallDeadline() {
      if (st_.conn_) st_.conn_->set_deadline(Clock::time_point::max());
    }

   private:
    DatabaseState& st_;
  };

  // attempt: one run of the transaction. Errors propagate to the ladder.
  void attempt(FunctionRef<void(Transaction&)> fn, bool write, const Deadline& deadline) {
    Connection& c = *conn_;
    const bool verified = opener_.key_verified();
    if (write) {
      // Prepared before the turn is taken: a new connection (a command-line
      // process's) would otherwise compile them while every other writer
      // waits for it.
      c.cache().get(c.db(), "COMMIT", verified);
      c.cache().get(c.db(), "BEGIN IMMEDIATE", verified);
    }
    TurnHold hold(turn_, write, deadline);
    c.set_deadline(deadline.at);
    int rc = c.step_cached(write ? "BEGIN IMMEDIATE" : "BEGIN", verified);
    if (rc != SQLITE_OK) throw_error(c.db(), rc, write ? "BEGIN IMMEDIATE" : "BEGIN", {}, verified);
    try {
      Transaction tx = TransactionAccess::make(c.db(), &c.cache(), verified, !write);
      fn(tx);
      if (sqlite3_get_autocommit(c.db()) != 0) {
        throw Error(ErrorCode::kMisuse,
                    "the transaction ended inside fn (COMMIT/ROLLBACK in fn, or an error that "
                    "rolled it back was caught and ignored)");
      }
      rc = c.step_cached("COMMIT", verified);
      if (rc != SQLITE_OK) throw_error(c.db(), rc, "COMMIT", {}, verified);
    } catch (...) {
      rollback();
      throw;
    }
    if (write) checkpoints_.committed();
    hold.release();
    // After the turn is released (kept only while the lease runs), so other
    // library writers are not held up by the copy and its fsyncs any longer
    // than the lease allows. Passing the turn on here instead would send this
    // writer to the back of the queue after every checkpoint.
    if (write) checkpoints_.after_commit(*conn_, turn_);
  }

  // refuse_in_call: kMisuse for a call made from inside write()/read()'s
  // fn. Such a call would take the write turn a second time, behind this
  // transaction's own, and every writer would wait for the deadline.
  void refuse_in_call(const char* what) const {
    if (in_call_)
      throw Error(ErrorCode::kMisuse, std::string(what) + " called inside a transaction");
  }

  // rollback: ends a failed attempt's transaction. Never throws: the cached
  // ROLLBACK may have to be prepared (first use, evicted, the schema changed
  // under it), and a prepare can fail (out of memory, a locked schema); a
  // connection that cannot roll back is closed instead, which rolls back, and
  // is not reused.
  void rollback() noexcept {
    if (!conn_ || sqlite3_get_autocommit(conn_->db()) != 0) return;
    try {
      if (conn_->step_cached("ROLLBACK", opener_.key_verified()) == SQLITE_OK) return;
    } catch (...) {
    }
    conn_.reset();
  }

  // diagnose_corruption: a short quick_check for the message of a corruption
  // that reconnection did not heal.
  std::string diagnose_corruption() {
    std::string detail;
    try {
      ensure_connection(deadline(CallOptions{}));
      sqlite3_stmt* raw = nullptr;
      if (sqlite3_prepare_v2(conn_->db(), "PRAGMA quick_check(5)", -1, &raw, nullptr) ==
          SQLITE_OK) {
        Stmt stmt(raw);
        while (sqlite3_step(stmt.get()) == SQLITE_ROW) {
          const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), 0));
          if (t != nullptr) {
            detail += detail.empty() ? "; quick_check: " : " | ";
            detail += t;
          }
        }
      }
    } catch (const Error&) {
      detail = "; quick_check could not run";
    }
    return detail;
  }

  Options options_;
  std::unique_ptr<Connection> conn_;
  bool in_call_ = false;
  CountersCell counters_;
  RetryLadder ladder_;
  TurnGlue turn_;
  CheckpointPolicy checkpoints_;
  Opener opener_;
};

}  // namespace coordkit::db::internal

#endif  // COORDKIT_DB_INTERNAL_DATABASE_STATE_H_

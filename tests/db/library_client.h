// tests/db/library_client.h: the db_worker client that goes through
// coordkit::db (one Database per process, the retry ladder, the derived-key
// cache). Errors reach the worker only when the library surfaces them.

#ifndef COORDKIT_TESTS_DB_LIBRARY_CLIENT_H_
#define COORDKIT_TESTS_DB_LIBRARY_CLIENT_H_

#include <cstddef>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <type_traits>

#include "coordkit/db/db.h"
#include "tests/db/client.h"
#include "tests/db/raw_sqlcipher.h"
#include "tests/db/worker_support.h"

namespace coordkit::dbtest {

namespace cdb = coordkit::db;

// error_code_name: "busy", "corrupt", ... (cdb::code_name), the names the
// worker's JSON report and the tests use.
inline std::string error_code_name(cdb::ErrorCode code) {
  return std::string(cdb::code_name(code));
}

// counters_json: every field of cdb::Counters, the per-class and per-code
// arrays as objects keyed by name (zero entries left out).
inline nlohmann::json counters_json(const cdb::Counters& c) {
  nlohmann::json j = {
      {"transactions", c.transactions},
      {"attempts", c.attempts},
      {"retries_same", c.retries_same},
      {"reconnects", c.reconnects},
      {"waits", c.waits},
      {"wait_us", c.wait_us},
      {"busy_handler_waits", c.busy_handler_waits},
      {"busy_handler_wait_us", c.busy_handler_wait_us},
      {"turn_waits", c.turn_waits},
      {"turn_wait_us", c.turn_wait_us},
      {"surfaced_errors", c.surfaced_errors},
      {"group_commits", c.group_commits},
      {"group_commit_writes", c.group_commit_writes},
  };
  nlohmann::json by_class = nlohmann::json::object();
  for (std::size_t i = 0; i < cdb::kRetryClassCount; ++i) {
    if (c.failures_by_class[i] != 0) {
      by_class[std::string(cdb::code_name(static_cast<cdb::RetryClass>(i)))] =
          c.failures_by_class[i];
    }
  }
  nlohmann::json by_code = nlohmann::json::object();
  for (std::size_t i = 0; i < cdb::kErrorCodeCount; ++i) {
    if (c.surfaced_by_code[i] != 0) {
      by_code[error_code_name(static_cast<cdb::ErrorCode>(i))] = c.surfaced_by_code[i];
    }
  }
  j["failures_by_class"] = by_class;
  j["surfaced_by_code"] = by_code;
  return j;
}

// library_options: the Options every library worker opens with.
inline cdb::Options library_options(const ClientConfig& config, const std::string& passphrase) {
  cdb::Options o;
  o.path = config.db;
  o.key = config.raw_key_hex.empty() ? cdb::Key::passphrase(passphrase)
                                     : cdb::Key::raw_hex(config.raw_key_hex);
  o.create_if_missing = config.create;
  o.synchronous = config.full_sync ? cdb::Synchronous::kFull : cdb::Synchronous::kNormal;
  o.retry.busy_timeout = std::chrono::milliseconds(config.busy_timeout_ms);
  o.retry.deadline = std::chrono::milliseconds(config.deadline_ms);
  o.retry.seed = config.seed;
  o.wal_autocheckpoint_pages = config.autocheckpoint_pages;
  o.fair_write_turn = config.fair_write_turn;
  if (config.max_reconnects >= 0) o.retry.max_reconnects = config.max_reconnects;
  o.migrations = {cdb::Migration{1, std::string(kSchemaV1), {}}};
  return o;
}

class LibraryClient final : public Client {
 public:
  explicit LibraryClient(ClientConfig config) : config_(std::move(config)) {}

  void open() override {
    close();
    guarded([&] {
      db_.emplace(cdb::Database::open(library_options(config_, passphrase())));
      return 0;
    });
  }
  void close() noexcept override {
    if (db_) closed_counters_ += db_->counters();
    db_.reset();
  }
  bool is_open() const noexcept override { return db_.has_value(); }

  std::int64_t max_seq(std::string_view worker) override {
    return guarded([&] {
      return db().read([&](cdb::Transaction& tx) {
        return tx
            .query_value<std::int64_t>("SELECT coalesce(max(seq), -1) FROM items WHERE worker = ?",
                                       worker)
            .value_or(-1);
      });
    });
  }

  void insert(std::string_view worker, std::int64_t first, int n,
              const std::string& payload) override {
    guarded([&] {
      db().write([&](cdb::Transaction& tx) {
        for (int i = 0; i < n; ++i) insert_row(tx, worker, first + i, payload);
      });
      return 0;
    });
  }

  std::int64_t increment(std::string_view worker, std::int64_t seq,
                         const std::string& payload) override {
    return guarded([&] {
      return db().write([&](cdb::Transaction& tx) {
        const std::int64_t value =
            tx.query_value<std::int64_t>("SELECT value FROM counters WHERE name = 'c'")
                .value_or(0) +
            1;
        tx.execute("UPDATE counters SET value = ? WHERE name = 'c'", value);
        insert_row(tx, worker, seq, payload);
        return value;
      });
    });
  }

  Snapshot read_snapshot(std::chrono::milliseconds hold) override {
    return guarded([&] {
      return db().read([&](cdb::Transaction& tx) {
        Snapshot s;
        s.first = tx.query_value<std::int64_t>("SELECT count(*) FROM items").value_or(-1);
        if (hold.count() > 0) std::this_thread::sleep_for(hold);
        s.second = tx.query_value<std::int64_t>("SELECT count(*) FROM items").value_or(-1);
        return s;
      });
    });
  }

  void big_transaction(std::string_view worker, std::int64_t first, int n,
                       const std::string& payload, const std::filesystem::path& marker,
                       std::chrono::microseconds row_sleep) override {
    guarded([&] {
      db().write([&](cdb::Transaction& tx) {
        for (int i = 0; i < n; ++i) {
          insert_row(tx, worker, first + i, payload);
          if (i == 100) touch(marker);
          if (row_sleep.count() > 0) std::this_thread::sleep_for(row_sleep);
        }
      });
      return 0;
    });
  }

  nlohmann::json maintenance(std::string_view op, const std::string& arg) override {
    return guarded([&] {
      nlohmann::json out = nlohmann::json::object();
      if (op == "checkpoint-passive" || op == "checkpoint-restart" || op == "checkpoint-truncate" ||
          op == "checkpoint-full") {
        cdb::CheckpointMode mode = cdb::CheckpointMode::kPassive;
        if (op == "checkpoint-restart") mode = cdb::CheckpointMode::kRestart;
        if (op == "checkpoint-truncate") mode = cdb::CheckpointMode::kTruncate;
        if (op == "checkpoint-full") mode = cdb::CheckpointMode::kFull;
        const cdb::CheckpointResult r = db().checkpoint(mode);
        out["busy"] = r.busy;
        out["log_frames"] = r.log_frames;
        out["checkpointed_frames"] = r.checkpointed_frames;
      } else if (op == "backup") {
        db().backup_to(arg, cdb::Key::passphrase(passphrase()));
      } else if (op == "vacuum") {
        const cdb::VacuumResult r = db().vacuum();
        out["pages_before"] = r.pages_before;
        out["pages_after"] = r.pages_after;
        out["wal_truncated"] = r.wal_truncated;
      } else if (op == "delete-rows") {
        out["deleted"] = db().write([&](cdb::Transaction& tx) {
          return tx.execute("DELETE FROM items WHERE worker = ?", arg);
        });
      } else if (op == "rekey") {
        // The new passphrase comes from the environment, never argv.
        const char* next = std::getenv("DB_WORKER_NEW_PASSPHRASE");
        if (next == nullptr) throw ClientError("Usage", "rekey needs DB_WORKER_NEW_PASSPHRASE");
        db().rekey(cdb::Key::passphrase(next));
      } else if (op == "integrity" || op == "quick-check") {
        const cdb::CheckResult r = op == "integrity" ? db().integrity_check() : db().quick_check();
        out["ok"] = r.ok;
        out["problems"] = r.problems;
      } else {
        throw ClientError("Unsupported", "no maintenance op " + std::string(op));
      }
      return out;
    });
  }

  nlohmann::json counters() override {
    cdb::Counters c = closed_counters_;
    if (db_) c += db_->counters();
    return counters_json(c);
  }

  std::string journal_mode() override {
    // PRAGMA journal_mode counts as a writing statement, so read() refuses
    // it; ask the connection directly (outside any transaction).
    sqlite3_stmt* stmt = nullptr;
    sqlite3* h = db().native_handle();
    std::string mode;
    if (sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      const auto* t = sqlite3_column_text(stmt, 0);
      mode = t != nullptr ? reinterpret_cast<const char*>(t) : "";
    }
    sqlite3_finalize(stmt);
    return mode;
  }

  void reconnect() override {
    guarded([&] {
      db().reconnect();
      return 0;
    });
  }

  cdb::Database& db() {
    if (!db_) throw ClientError("NotOpen", "library client is not open");
    return *db_;
  }

 private:
  std::string passphrase() const {
    if (config_.key_file.empty()) return config_.passphrase;
    std::ifstream in(config_.key_file);
    std::string line;
    std::getline(in, line);
    return line;
  }

  static void insert_row(cdb::Transaction& tx, std::string_view worker, std::int64_t seq,
                         const std::string& payload) {
    const std::span<const std::byte> blob(reinterpret_cast<const std::byte*>(payload.data()),
                                          payload.size());
    tx.execute("INSERT INTO items(worker, seq, payload) VALUES(?, ?, ?)", worker, seq, blob);
  }

  template <class F>
  std::invoke_result_t<F&> guarded(F&& f) {
    try {
      return f();
    } catch (const cdb::Error& e) {
      throw ClientError(error_code_name(e.code()), e.what());
    }
  }

  ClientConfig config_;
  std::optional<cdb::Database> db_;
  cdb::Counters closed_counters_;
};

}  // namespace coordkit::dbtest

#endif  // COORDKIT_TESTS_DB_LIBRARY_CLIENT_H_

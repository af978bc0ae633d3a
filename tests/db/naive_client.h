// tests/db/naive_client.h: what a typical application does with plain
// SQLCipher, for the control runs. Deliberately naive, the way applications
// commonly use it: `PRAGMA key='passphrase'` on every open (the full KDF each
// time), `PRAGMA journal_mode=WAL` on every open, a busy timeout, deferred
// transactions (`BEGIN`), and no retries: every failure reaches the caller.

#ifndef COORDKIT_TESTS_DB_NAIVE_CLIENT_H_
#define COORDKIT_TESTS_DB_NAIVE_CLIENT_H_

#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>

#include "tests/db/client.h"
#include "tests/db/raw_sqlcipher.h"
#include "tests/db/worker_support.h"

namespace coordkit::dbtest {

class NaiveClient final : public Client {
 public:
  explicit NaiveClient(ClientConfig config) : config_(std::move(config)) {}

  void open() override {
    close();
    try {
      auto c = RawConnection::open(config_.db, config_.create);
      c.exec("PRAGMA key=" + (config_.raw_key_hex.empty() ? sql_quote(passphrase())
                                                          : "\"x'" + config_.raw_key_hex + "'\""));
      c.busy_timeout(config_.busy_timeout_ms);
      if (config_.salt_first) {
        // Scenario 7's first-access control: a wrapper that reads the salt
        // through SQLite right after keying and does nothing else yet.
        c.query("PRAGMA cipher_salt");
        conn_.emplace(std::move(c));
        return;
      }
      c.exec("PRAGMA journal_mode=WAL");
      c.exec(config_.full_sync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
      c.exec("PRAGMA wal_autocheckpoint=" + std::to_string(config_.autocheckpoint_pages));
      if (config_.naive_schema) {
        c.exec(kSchemaV1);
        c.exec("PRAGMA user_version=1");
      }
      conn_.emplace(std::move(c));
    } catch (const RawError& e) {
      throw ClientError(result_code_name(e.extended_code()), e.what());
    }
  }
  void close() noexcept override {
    insert_.reset();
    conn_.reset();
  }
  bool is_open() const noexcept override { return conn_.has_value(); }

  std::int64_t max_seq(std::string_view worker) override {
    return guarded([&] {
      auto st = conn().prepare("SELECT coalesce(max(seq), -1) FROM items WHERE worker = ?1");
      st.bind(1, worker);
      const int rc = st.step();
      if (rc != SQLITE_ROW) throw RawError(rc, "max_seq");
      return st.column_int64(0);
    });
  }

  void insert(std::string_view worker, std::int64_t first, int n,
              const std::string& payload) override {
    transaction("BEGIN", [&] {
      for (int i = 0; i < n; ++i) insert_row(worker, first + i, payload);
    });
  }

  std::int64_t increment(std::string_view worker, std::int64_t seq,
                         const std::string& payload) override {
    std::int64_t value = 0;
    transaction("BEGIN", [&] {
      value = conn().query_int("SELECT value FROM counters WHERE name = 'c'") + 1;
      conn().exec("UPDATE counters SET value = " + std::to_string(value) + " WHERE name = 'c'");
      insert_row(worker, seq, payload);
    });
    return value;
  }

  Snapshot read_snapshot(std::chrono::milliseconds hold) override {
    Snapshot s;
    transaction("BEGIN", [&] {
      s.first = conn().query_int("SELECT count(*) FROM items");
      if (hold.count() > 0) std::this_thread::sleep_for(hold);
      s.second = conn().query_int("SELECT count(*) FROM items");
    });
    return s;
  }

  void big_transaction(std::string_view worker, std::int64_t first, int n,
                       const std::string& payload, const std::filesystem::path& marker,
                       std::chrono::microseconds row_sleep) override {
    transaction("BEGIN", [&] {
      for (int i = 0; i < n; ++i) {
        insert_row(worker, first + i, payload);
        if (i == 100) touch(marker);
        if (row_sleep.count() > 0) std::this_thread::sleep_for(row_sleep);
      }
    });
  }

  nlohmann::json maintenance(std::string_view op, const std::string& /*arg*/) override {
    return guarded([&] {
      nlohmann::json out = nlohmann::json::object();
      if (op == "checkpoint-passive" || op == "checkpoint-restart" || op == "checkpoint-truncate") {
        const std::string mode = std::string(op.substr(std::string_view("checkpoint-").size()));
        auto rows = conn().query("PRAGMA wal_checkpoint(" + mode + ")");
        if (!rows.empty() && rows[0].size() == 3) {
          out["busy"] = rows[0][0] != "0";
          out["log_frames"] = std::stoll(rows[0][1]);
          out["checkpointed_frames"] = std::stoll(rows[0][2]);
        }
      } else if (op == "vacuum") {
        conn().exec("VACUUM");
      } else if (op == "rekey") {
        const char* next = std::getenv("DB_WORKER_NEW_PASSPHRASE");
        if (next == nullptr) throw ClientError("Usage", "rekey needs DB_WORKER_NEW_PASSPHRASE");
        conn().exec("PRAGMA rekey=" + sql_quote(next));
      } else if (op == "integrity") {
        auto rows = conn().query("PRAGMA integrity_check");
        out["ok"] = rows.size() == 1 && rows[0][0] == "ok";
      } else {
        throw ClientError("Unsupported", "naive client has no maintenance op " + std::string(op));
      }
      return out;
    });
  }

  nlohmann::json counters() override { return nlohmann::json::object(); }

  std::string journal_mode() override {
    return guarded([&] { return conn().query("PRAGMA journal_mode").at(0).at(0); });
  }

  void reconnect() override { open(); }

 private:
  std::string passphrase() const {
    if (config_.key_file.empty()) return config_.passphrase;
    std::ifstream in(config_.key_file);
    std::string line;
    std::getline(in, line);
    return line;
  }

  RawConnection& conn() {
    if (!conn_) throw ClientError("NotOpen", "naive client is not open");
    return *conn_;
  }

  void insert_row(std::string_view worker, std::int64_t seq, const std::string& payload) {
    if (!insert_) {
      insert_.emplace(conn().prepare("INSERT INTO items(worker, seq, payload) VALUES(?1, ?2, ?3)"));
    }
    insert_->reset();
    insert_->bind(1, worker);
    insert_->bind(2, seq);
    insert_->bind_blob(3, payload.data(), static_cast<int>(payload.size()));
    const int rc = insert_->step();
    insert_->reset();
    if (rc != SQLITE_DONE) throw RawError(rc, "INSERT INTO items");
  }

  template <class F>
  std::invoke_result_t<F&> guarded(F&& f) {
    try {
      return f();
    } catch (const RawError& e) {
      throw ClientError(result_code_name(e.extended_code()), e.what());
    }
  }

  // transaction: begin, fn, COMMIT; on any failure ROLLBACK (if a
  // transaction is still open) and surface the error: no retry.
  template <class F>
  void transaction(std::string_view begin, F&& fn) {
    guarded([&] {
      conn().exec(begin);
      try {
        fn();
        conn().exec("COMMIT");
      } catch (...) {
        if (insert_) insert_->reset();
        if (sqlite3_get_autocommit(conn().get()) == 0) conn().try_exec("ROLLBACK");
        throw;
      }
      return 0;
    });
  }

  ClientConfig config_;
  std::optional<RawConnection> conn_;
  std::optional<RawStatement> insert_;
};

}  // namespace coordkit::dbtest

#endif  // COORDKIT_TESTS_DB_NAIVE_CLIENT_H_

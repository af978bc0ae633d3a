// tests/db/client.h: the operations a db_worker role performs, behind one
// interface with two implementations: the library (coordkit::db, in
// library_client.h) and a naive client (plain SQLCipher, naive_client.h).
// Every role runs the same loop over either, so a control run differs from
// the library run in the client alone.

#ifndef COORDKIT_TESTS_DB_CLIENT_H_
#define COORDKIT_TESTS_DB_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace coordkit::dbtest {

// ClientError: a failure that reached the caller (the worker counts it by
// `code`: an ErrorCode name such as "busy" for the library, an SQLite name
// such as "SQLITE_BUSY_SNAPSHOT" for the naive client).
class ClientError : public std::runtime_error {
 public:
  ClientError(std::string code, const std::string& what)
      : std::runtime_error(what), code_(std::move(code)) {}
  const std::string& code() const noexcept { return code_; }

 private:
  std::string code_;
};

// ClientConfig: how a client opens the database.
struct ClientConfig {
  std::filesystem::path db;
  std::string passphrase;          // used when key_file is empty
  std::string raw_key_hex;         // 64 hex digits: a raw key instead of the passphrase
  std::filesystem::path key_file;  // re-read on every open when set
  bool create = true;
  bool full_sync = false;
  int busy_timeout_ms = 5000;  // naive: sqlite3_busy_timeout; library: RetryPolicy::busy_timeout
  int deadline_ms = 20000;     // library: RetryPolicy::deadline
  int autocheckpoint_pages = 1000;
  std::uint64_t seed = 1;
  bool naive_schema = false;    // naive: CREATE TABLE IF NOT EXISTS at open
  bool fair_write_turn = true;  // library: Options::fair_write_turn
  bool salt_first = false;      // naive: PRAGMA cipher_salt right after PRAGMA key
  int max_reconnects = -1;      // library: RetryPolicy::max_reconnects (-1: default)
};

// Snapshot: two counts read inside one read transaction, `hold` apart.
struct Snapshot {
  std::int64_t first = 0;
  std::int64_t second = 0;
};

class Client {
 public:
  virtual ~Client() = default;

  // open: connect, key, verify as the client does. Throws ClientError.
  virtual void open() = 0;
  virtual void close() noexcept = 0;
  virtual bool is_open() const noexcept = 0;

  // max_seq: the highest seq of `worker` in items, -1 if none.
  virtual std::int64_t max_seq(std::string_view worker) = 0;
  // insert: rows first .. first+n-1 of `worker` in one write transaction.
  virtual void insert(std::string_view worker, std::int64_t first, int n,
                      const std::string& payload) = 0;
  // increment: one transaction that reads the counter, then writes it + 1
  // and inserts row `seq`; returns the value written.
  virtual std::int64_t increment(std::string_view worker, std::int64_t seq,
                                 const std::string& payload) = 0;
  // read_snapshot: count(items) twice in one read transaction, `hold` apart.
  virtual Snapshot read_snapshot(std::chrono::milliseconds hold) = 0;
  // big_transaction: n rows in one transaction, sleeping `row_sleep` after
  // each; creates `marker` once 100 rows are in (so a test knows the
  // transaction is under way and can kill it).
  virtual void big_transaction(std::string_view worker, std::int64_t first, int n,
                               const std::string& payload, const std::filesystem::path& marker,
                               std::chrono::microseconds row_sleep) = 0;
  // maintenance: checkpoint-passive|checkpoint-restart|checkpoint-truncate|
  // backup|vacuum|rekey|integrity|quick-check|delete-rows; `arg` is the backup
  // destination or (delete-rows) the worker whose rows go. Returns details
  // for the report.
  virtual nlohmann::json maintenance(std::string_view op, const std::string& arg) = 0;
  // counters: the library's counters (empty object for the naive client).
  virtual nlohmann::json counters() = 0;
  // journal_mode: PRAGMA journal_mode as this client sees it.
  virtual std::string journal_mode() = 0;
  // reconnect: drop and re-establish the connection (library: reconnect()).
  virtual void reconnect() = 0;
};

}  // namespace coordkit::dbtest

#endif  // COORDKIT_TESTS_DB_CLIENT_H_

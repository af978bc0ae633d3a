// tests/db/scenario.h: what every multi-process libs/db scenario test needs:
// a fresh directory, db_worker processes that are always stopped and reaped
// (even when a REQUIRE throws), a start barrier, a bound on the test's own
// run time, the stock `sqlcipher` shell fed through stdin, and an
// independent verifier (plain SQLCipher, not coordkit::db) that runs
// integrity_check, cipher_integrity_check and checks every acknowledged write.
//
// Example:
//   Scenario s("k_creators");                      // TEST_TMPDIR/k_creators.N/
//   Barrier barrier(s, "start");
//   std::vector<Worker> ws;
//   for (int i = 0; i < 8; ++i)
//     ws.push_back(s.worker("c" + std::to_string(i), {"insert", "--count", "20"}, barrier));
//   barrier.wait_ready(ws.size(), s.deadline());
//   barrier.release();
//   for (auto& w : ws) CHECK(w.finish(s.deadline()).clean());
//   DbCheck check = verify_database(s.db());
//   CHECK(check.ok());

#ifndef COORDKIT_TESTS_DB_SCENARIO_H_
#define COORDKIT_TESTS_DB_SCENARIO_H_

#include <openssl/evp.h>

#include <atomic>
#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "coordkit/spawn/spawn.h"
#include "coordkit/testing/deadline.h"
#include "coordkit/testing/runfiles.h"
#include "coordkit/testing/scratch_dir.h"
#include "tests/db/raw_sqlcipher.h"
#include "tests/db/worker_support.h"

namespace coordkit::dbtest {

namespace fs = std::filesystem;
namespace sp = coordkit::spawn;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Deadline: a bound on a test's own run time.
using coordkit::testing::Deadline;

inline fs::path worker_binary() { return coordkit::testing::runfile("tests/db/db_worker"); }

// WorkerResult: how a worker ended and what it reported.
struct WorkerResult {
  std::string name;
  std::optional<sp::ExitStatus> status;  // nullopt: it had to be killed at the deadline
  bool timed_out = false;
  nlohmann::json report = nlohmann::json::object();
  std::string stdout_text;
  std::string stderr_text;

  int exit_code() const { return status && status->exit_code ? *status->exit_code : -1; }
  bool killed_by_signal() const { return status && status->signal.has_value(); }
  std::int64_t ops() const { return report.value("ops", std::int64_t{0}); }
  std::int64_t surfaced() const { return report.value("surfaced_errors", std::int64_t{0}); }
  nlohmann::json errors() const { return report.value("errors", nlohmann::json::object()); }
  std::int64_t error_count(const std::string& code) const {
    return errors().value(code, std::int64_t{0});
  }
  nlohmann::json counters() const { return report.value("counters", nlohmann::json::object()); }
  std::uint64_t counter(const std::string& name) const {
    return counters().value(name, std::uint64_t{0});
  }
  double p99_ms() const { return report["latency_ms"].value("p99", 0.0); }
  double max_ms() const { return report["latency_ms"].value("max", 0.0); }
  // clean: exited 0 with a report and no surfaced error.
  bool clean() const { return exit_code() == 0 && !timed_out && surfaced() == 0; }
  // describe: one line for test failure messages.
  std::string describe() const {
    std::ostringstream o;
    o << name << ": exit=" << exit_code() << (timed_out ? " TIMED OUT" : "")
      << (killed_by_signal() ? " signal=" + std::to_string(*status->signal) : "")
      << " report=" << report.dump();
    if (!stderr_text.empty()) o << " stderr=" << stderr_text.substr(0, 2000);
    return o.str();
  }
};

inline std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream o;
  o << in.rdbuf();
  return o.str();
}

// last_json_line: the worker's report (its last stdout line), or {} if none.
inline nlohmann::json last_json_line(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  std::string last;
  while (std::getline(in, line)) {
    if (!line.empty() && line.front() == '{') last = line;
  }
  if (last.empty()) return nlohmann::json::object();
  return nlohmann::json::parse(last, nullptr, /*allow_exceptions=*/false);
}

// Worker: one db_worker process. Move-only. Its destructor kills and reaps
// it (sp::Child does), so a failing REQUIRE never leaks a process.
class Worker {
 public:
  Worker(std::string name, sp::Child child, fs::path out, fs::path err)
      : name_(std::move(name)),
        child_(std::move(child)),
        out_(std::move(out)),
        err_(std::move(err)) {}

  const std::string& name() const { return name_; }
  std::int64_t pid() const { return child_.pid(); }
  bool running() { return result_ ? false : !child_.try_wait().has_value(); }
  // kill: SIGKILL now (a crash, as the scenarios mean it).
  void kill() { child_.kill(); }
  void terminate() { child_.terminate(); }

  // finish: waits for the exit until the deadline, then kills it; reads the
  // report. Idempotent.
  const WorkerResult& finish(const Deadline& deadline) {
    if (result_) return *result_;
    WorkerResult r;
    r.name = name_;
    r.status = child_.wait_for(deadline.remaining());
    if (!r.status) {
      r.timed_out = true;
      child_.kill();
      r.status = child_.wait_for(seconds(10));
    }
    r.stdout_text = read_text(out_);
    r.stderr_text = read_text(err_);
    r.report = last_json_line(r.stdout_text);
    result_ = std::move(r);
    return *result_;
  }

 private:
  std::string name_;
  sp::Child child_;
  fs::path out_;
  fs::path err_;
  std::optional<WorkerResult> result_;
};

class Barrier;

// Scenario: a fresh directory for one test case and the factory of its workers.
class Scenario {
 public:
  explicit Scenario(const std::string& name, milliseconds budget = seconds(120))
      : dir_(coordkit::testing::scratch_dir(name)), deadline_(budget) {}
  Scenario(const Scenario&) = delete;
  Scenario& operator=(const Scenario&) = delete;

  const fs::path& dir() const { return dir_; }
  fs::path db() const { return dir_ / "scenario.db"; }
  fs::path file(const std::string& name) const { return dir_ / name; }
  fs::path ack_log(const std::string& worker) const { return dir_ / (worker + ".acks"); }
  const Deadline& deadline() const { return deadline_; }

  // worker: starts `db_worker <args> --db <db> --id <name> --ack-log <...>`
  // (plus the barrier's flags when given); stdout and stderr go to files in
  // the scenario directory. `env` adds variables (e.g. DB_WORKER_PASSPHRASE).
  Worker worker(const std::string& name, std::vector<std::string> args,
                const Barrier* barrier = nullptr,
                std::map<std::string, std::optional<std::string>> env = {},
                std::optional<fs::path> db = std::nullopt);

  std::vector<fs::path> ack_logs() const {
    std::vector<fs::path> logs;
    for (const auto& e : fs::directory_iterator(dir_)) {
      if (e.path().extension() == ".acks") logs.push_back(e.path());
    }
    return logs;
  }

 private:
  fs::path dir_;
  Deadline deadline_;
};

// Barrier: workers touch `<name>.ready.<worker>` once up and wait for
// `<name>.go`; the test waits for all ready files, then releases them at once.
class Barrier {
 public:
  Barrier(const Scenario& s, const std::string& name) : dir_(s.dir()), name_(name) {}

  std::vector<std::string> args(const std::string& worker) const {
    return {"--ready", (dir_ / (name_ + ".ready." + worker)).string(), "--barrier", go().string()};
  }
  fs::path go() const { return dir_ / (name_ + ".go"); }

  // wait_ready: true once `n` workers have touched their ready file.
  bool wait_ready(std::size_t n, const Deadline& deadline) const {
    const std::string prefix = name_ + ".ready.";
    return coordkit::testing::eventually(
        [&] {
          std::size_t ready = 0;
          for (const auto& e : fs::directory_iterator(dir_)) {
            if (e.path().filename().string().rfind(prefix, 0) == 0) ++ready;
          }
          return ready >= n;
        },
        deadline);
  }
  void release() const { touch(go()); }

 private:
  fs::path dir_;
  std::string name_;
};

inline Worker Scenario::worker(const std::string& name, std::vector<std::string> args,
                               const Barrier* barrier,
                               std::map<std::string, std::optional<std::string>> env,
                               std::optional<fs::path> db) {
  std::vector<std::string> full = std::move(args);
  const std::vector<std::string> common = {
      "--db", (db ? *db : this->db()).string(), "--id", name, "--ack-log", ack_log(name).string()};
  full.insert(full.begin() + 1, common.begin(), common.end());
  if (barrier != nullptr) {
    const auto b = barrier->args(name);
    full.insert(full.end(), b.begin(), b.end());
  }
  const fs::path out = dir_ / (name + ".out");
  const fs::path err = dir_ / (name + ".err");
  sp::Command cmd{
      .executable = worker_binary(),
      .args = full,
      .env = std::move(env),
      .in = sp::Stdio::null(),
      .out = sp::Stdio::file(out),
      .err = sp::Stdio::file(err),
  };
  return Worker(name, sp::spawn(cmd), out, err);
}

// finish_all: finishes every worker (each bounded by the deadline).
inline std::vector<WorkerResult> finish_all(std::vector<Worker>& workers,
                                            const Deadline& deadline) {
  std::vector<WorkerResult> out;
  for (auto& w : workers) out.push_back(w.finish(deadline));
  return out;
}

// sum: a field of every report added up.
inline std::int64_t sum_ops(const std::vector<WorkerResult>& rs) {
  std::int64_t n = 0;
  for (const auto& r : rs) n += r.ops();
  return n;
}
inline std::int64_t sum_surfaced(const std::vector<WorkerResult>& rs) {
  std::int64_t n = 0;
  for (const auto& r : rs) n += r.surfaced();
  return n;
}

// ---------------------------------------------------------------- verifier

// DbCheck: the database as an independent plain-SQLCipher connection sees it.
struct DbCheck {
  fs::path path;
  std::int64_t file_bytes_at_check = 0;
  std::int64_t wal_bytes_at_check = 0;
  bool opened = false;
  std::string open_error;
  std::vector<std::string> integrity;         // PRAGMA integrity_check rows ("ok")
  std::vector<std::string> cipher_integrity;  // PRAGMA cipher_integrity_check rows (none = ok)
  // What cipher_integrity_check said before the checkpoint (for diagnosis
  // only), and the main file's all-zero pages (never written) at that time.
  std::vector<std::string> cipher_integrity_before_checkpoint;
  std::vector<std::int64_t> zero_pages_before_checkpoint;
  std::string checkpoint;  // PRAGMA wal_checkpoint(TRUNCATE): "busy|log|checkpointed"
  std::map<std::string, std::set<std::int64_t>> rows;  // worker -> seqs in items
  std::int64_t row_count = 0;
  std::int64_t counter = 0;  // counters.value for 'c'
  std::string journal_mode;

  bool integrity_ok() const { return integrity.size() == 1 && integrity[0] == "ok"; }
  bool cipher_ok() const { return opened && cipher_integrity.empty(); }
  bool ok() const { return opened && integrity_ok() && cipher_ok(); }
  std::int64_t rows_of(const std::string& worker) const {
    auto it = rows.find(worker);
    return it == rows.end() ? 0 : static_cast<std::int64_t>(it->second.size());
  }
  std::string describe() const {
    std::ostringstream o;
    o << "opened=" << opened << " " << open_error << " integrity=[";
    for (const auto& s : integrity) o << s << ";";
    o << "] cipher_integrity=[";
    for (const auto& s : cipher_integrity) o << s << ";";
    o << "] before checkpoint [";
    for (const auto& s : cipher_integrity_before_checkpoint) o << s << ";";
    o << "] zero pages [";
    for (auto p : zero_pages_before_checkpoint) o << p << ";";
    o << "] checkpoint=" << checkpoint << " rows=" << row_count << " counter=" << counter
      << " journal_mode=" << journal_mode << " file=" << path.string() << " ("
      << file_bytes_at_check << " bytes, wal " << wal_bytes_at_check << " bytes)";
    return o.str();
  }
};

// zero_pages: the 1-based numbers of the all-zero pages of a database file
// (pages that were never written). Opens the file by hand: never call it
// while this process holds a connection to it.
inline std::vector<std::int64_t> zero_pages(const fs::path& db, std::size_t page_size = 4096) {
  const std::string bytes = read_text(db);
  const std::string zeros(page_size, '\0');
  std::vector<std::int64_t> out;
  for (std::size_t off = 0; off + page_size <= bytes.size(); off += page_size) {
    if (bytes.compare(off, page_size, zeros) == 0) {
      out.push_back(static_cast<std::int64_t>(off / page_size) + 1);
    }
  }
  return out;
}

// verify_database: opens `db` with plain SQLCipher and PRAGMA key, runs
// PRAGMA integrity_check (which reads through the WAL), then a TRUNCATE
// checkpoint, then PRAGMA cipher_integrity_check, and reads every
// (worker, seq). cipher_integrity_check verifies the HMAC of every page of
// the main file only, ignoring the WAL: before the checkpoint it misses the
// newest pages, and it flags pages of the main file that SQLite never wrote
// (seen here on healthy files that still had a WAL, see README.md); after
// the checkpoint the main file holds every page. Never throws: a failure to
// open or read is reported in the result. Call it only when this process has
// no other connection to the file (fcntl locks are per process) and no other
// process uses it.
inline DbCheck verify_database(const fs::path& db,
                               std::string_view passphrase = kDefaultPassphrase) {
  DbCheck c;
  c.path = db;
  {
    std::error_code ec;
    c.file_bytes_at_check = static_cast<std::int64_t>(fs::file_size(db, ec));
    c.wal_bytes_at_check = static_cast<std::int64_t>(fs::file_size(db.string() + "-wal", ec));
    if (ec) c.wal_bytes_at_check = 0;
    c.zero_pages_before_checkpoint = zero_pages(db);
  }
  try {
    auto conn = RawConnection::open(db, /*create=*/false);
    conn.busy_timeout(10000);
    conn.exec("PRAGMA key=" + sql_quote(passphrase));
    for (auto& r : conn.query("PRAGMA integrity_check")) c.integrity.push_back(r.at(0));
    for (auto& r : conn.query("PRAGMA cipher_integrity_check")) {
      c.cipher_integrity_before_checkpoint.push_back(r.empty() ? "" : r.at(0));
    }
    // On a full disk the checkpoint itself can fail (it extends the main
    // file): then the check runs on the file as it is.
    RawConnection::Rows ckpt;
    const int ckpt_rc = conn.try_query("PRAGMA wal_checkpoint(TRUNCATE)", &ckpt);
    if (ckpt_rc != SQLITE_OK) {
      c.checkpoint = "error:" + result_code_name(ckpt_rc);
    } else if (!ckpt.empty() && ckpt[0].size() == 3) {
      c.checkpoint = ckpt[0][0] + "|" + ckpt[0][1] + "|" + ckpt[0][2];
    }
    for (auto& r : conn.query("PRAGMA cipher_integrity_check")) {
      c.cipher_integrity.push_back(r.empty() ? "" : r.at(0));
    }
    c.opened = true;
    c.journal_mode = conn.query("PRAGMA journal_mode").at(0).at(0);
    RawConnection::Rows rows;
    if (conn.try_query("SELECT worker, seq FROM items", &rows) == SQLITE_OK) {
      for (auto& r : rows) c.rows[r.at(0)].insert(std::stoll(r.at(1)));
      c.row_count = static_cast<std::int64_t>(rows.size());
    }
    if (conn.try_query("SELECT value FROM counters WHERE name = 'c'", &rows) == SQLITE_OK &&
        !rows.empty()) {
      c.counter = std::stoll(rows.at(0).at(0));
    }
  } catch (const std::exception& e) {
    c.opened = false;
    c.open_error = e.what();
  }
  return c;
}

// AckCheck: the acknowledged writes against the database.
struct AckCheck {
  std::int64_t acked_rows = 0;        // rows acknowledged by all logs
  std::int64_t acked_increments = 0;  // read-then-write increments acknowledged
  std::int64_t missing = 0;           // acknowledged rows not in the database
  std::string first_missing;
  std::map<std::string, std::int64_t> acked_by_worker;
};

// read_all_acks: the lines of every log, as they are now.
inline std::vector<Ack> read_all_acks(const std::vector<fs::path>& logs) {
  std::vector<Ack> all;
  for (const auto& log : logs) {
    for (Ack& a : read_acks(log)) all.push_back(std::move(a));
  }
  return all;
}

inline AckCheck check_acks(const DbCheck& db, const std::vector<Ack>& acked) {
  AckCheck a;
  for (const Ack& ack : acked) {
    a.acked_rows += ack.count;
    a.acked_by_worker[ack.worker] += ack.count;
    if (ack.kind == 'c') a.acked_increments += ack.count;
    auto it = db.rows.find(ack.worker);
    for (std::int64_t s = ack.first_seq; s < ack.first_seq + ack.count; ++s) {
      if (it == db.rows.end() || it->second.count(s) == 0) {
        if (a.missing == 0) a.first_missing = ack.worker + "#" + std::to_string(s);
        ++a.missing;
      }
    }
  }
  return a;
}

inline AckCheck check_acks(const DbCheck& db, const std::vector<fs::path>& logs) {
  return check_acks(db, read_all_acks(logs));
}

// sha256_file: hex digest of a file's bytes ("" if unreadable). Opens the
// file by hand: never call it while this process holds a connection to it.
inline std::string sha256_file(const fs::path& path) {
  const std::string data = read_text(path);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1) return "";
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

// ---------------------------------------------------------------- sqlcipher shell

inline const fs::path kSqlcipherShell = "/usr/bin/sqlcipher";

struct ShellResult {
  std::optional<sp::ExitStatus> status;
  std::string out;
  std::string err;
  bool ok() const { return status && status->success(); }
};

// ShellProcess: the stock `sqlcipher` shell on `db`; the script (with the
// key) goes through stdin, never argv.
class ShellProcess {
 public:
  explicit ShellProcess(const fs::path& db)
      : child_(sp::spawn(sp::Command{.executable = kSqlcipherShell,
                                     .args = {"-batch", db.string()},
                                     .in = sp::Stdio::pipe(),
                                     .out = sp::Stdio::pipe(),
                                     .err = sp::Stdio::pipe()})) {}

  // run: writes the whole script, closes stdin, collects the output and the
  // exit status, all bounded by the deadline.
  ShellResult run(const std::string& script, const Deadline& deadline) {
    ShellResult r;
    try {
      auto output = child_.communicate(script, deadline.remaining());
      r.out = std::move(output.out);
      r.err = std::move(output.err);
    } catch (const sp::Error& e) {
      r.err += std::string("communicate: ") + e.what();
    }
    r.status = child_.wait_for(deadline.remaining());
    if (!r.status) child_.kill();
    return r;
  }
  sp::Child& child() { return child_; }

 private:
  sp::Child child_;
};

// run_shell: one shell run with `script` after `PRAGMA key=...`.
inline ShellResult run_shell(const fs::path& db, const std::string& script,
                             const Deadline& deadline,
                             std::string_view passphrase = kDefaultPassphrase) {
  ShellProcess shell(db);
  return shell.run("PRAGMA key=" + sql_quote(passphrase) + ";\n" + script, deadline);
}

// lines: text split on '\n', empty lines dropped.
inline std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// file_size: bytes, 0 if missing.
inline std::int64_t file_bytes(const fs::path& p) {
  std::error_code ec;
  const auto n = fs::file_size(p, ec);
  return ec ? 0 : static_cast<std::int64_t>(n);
}

// WalSampler: samples the size of `<db>-wal` every `period` on a thread
// while alive; max() is the largest size seen.
class WalSampler {
 public:
  WalSampler(const fs::path& db, milliseconds period)
      : wal_(db.string() + "-wal"), thread_([this, period] {
          while (!stop_.load()) {
            const std::int64_t n = file_bytes(wal_);
            std::int64_t m = max_.load();
            while (n > m && !max_.compare_exchange_weak(m, n)) {
            }
            std::this_thread::sleep_for(period);
          }
        }) {}
  WalSampler(const WalSampler&) = delete;
  WalSampler& operator=(const WalSampler&) = delete;
  ~WalSampler() { stop(); }
  void stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  std::int64_t max() const { return max_.load(); }

 private:
  fs::path wal_;
  std::atomic<bool> stop_{false};
  std::atomic<std::int64_t> max_{0};
  std::thread thread_;
};

// init_database: creates the scenario's database through the library (one
// db_worker open), so later workers start from the same schema.
inline void init_database(Scenario& s, const std::string& name = "init") {
  Worker w = s.worker(name, {"open"});
  const WorkerResult& r = w.finish(s.deadline());
  if (r.exit_code() != 0) throw std::runtime_error("init_database: " + r.describe());
}

// ---------------------------------------------------------------- checks

// check_clean: the worker exited 0 with no surfaced error.
inline void check_clean(const WorkerResult& r) {
  INFO(r.describe());
  CHECK(r.clean());
}

// preserve_for_post_mortem: copies the database and its -wal/-shm to
// $TEST_UNDECLARED_OUTPUTS_DIR (Bazel keeps them in outputs.zip), so that a
// failed check can be examined after the run. Only when this process holds
// no connection to the file.
inline void preserve_for_post_mortem(const fs::path& db) {
  const char* out = std::getenv("TEST_UNDECLARED_OUTPUTS_DIR");
  if (out == nullptr) return;
  const fs::path dest = fs::path(out) / db.parent_path().filename();
  std::error_code ec;
  fs::create_directories(dest, ec);
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const fs::path from(db.string() + suffix);
    if (fs::exists(from, ec))
      fs::copy_file(from, dest / from.filename(), fs::copy_options::overwrite_existing, ec);
  }
}

// check_database: integrity_check says ok and cipher_integrity_check is empty.
inline void check_database(const DbCheck& c) {
  if (!c.cipher_integrity_before_checkpoint.empty()) {
    WARN(
        "cipher_integrity_check complained before the checkpoint (main file only, WAL "
        "pending): "
        << c.describe());
  }
  INFO(c.describe());
  CHECK(c.opened);
  CHECK(c.integrity_ok());
  CHECK(c.cipher_ok());
  // Nobody else uses the file at verification: the checkpoint is never busy.
  CHECK(c.checkpoint.rfind("1|", 0) != 0);
  if (!c.ok() && !c.path.empty()) preserve_for_post_mortem(c.path);
}

// check_nothing_lost: every acknowledged row is in the database.
inline AckCheck check_nothing_lost(const DbCheck& c, const std::vector<fs::path>& logs) {
  AckCheck a = check_acks(c, logs);
  INFO("acked rows " << a.acked_rows << ", missing " << a.missing << " (first " << a.first_missing
                     << ")");
  CHECK(a.acked_rows > 0);
  CHECK(a.missing == 0);
  return a;
}

// check_rows_match_acks: for workers that were not killed, the database
// holds exactly the rows they acknowledged (no more, no less).
inline void check_rows_match_acks(const DbCheck& c, const AckCheck& a,
                                  const std::vector<std::string>& workers) {
  for (const auto& w : workers) {
    const auto it = a.acked_by_worker.find(w);
    const std::int64_t acked = it == a.acked_by_worker.end() ? 0 : it->second;
    INFO("worker " << w);
    CHECK(c.rows_of(w) == acked);
  }
}

// release_when_ready: waits until every worker is at the barrier, then opens
// it. A worker that exits before reaching it (a failed open) fails the test
// at once with its report instead of running into the deadline.
inline void release_when_ready(const Barrier& b, const std::vector<Worker*>& workers,
                               const Scenario& s) {
  while (!b.wait_ready(workers.size(), Deadline(milliseconds(20)))) {
    for (Worker* w : workers) {
      if (!w->running()) {
        const WorkerResult& r = w->finish(s.deadline());
        FAIL("worker exited before the start barrier: " << r.describe());
      }
    }
    REQUIRE_FALSE(s.deadline().expired());
  }
  b.release();
}

inline void release_when_ready(const Barrier& b, std::vector<Worker>& workers, const Scenario& s) {
  std::vector<Worker*> ptrs;
  for (auto& w : workers) ptrs.push_back(&w);
  release_when_ready(b, ptrs, s);
}

}  // namespace coordkit::dbtest

#endif  // COORDKIT_TESTS_DB_SCENARIO_H_

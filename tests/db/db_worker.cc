// db_worker: one process of a multi-process libs/db scenario (tests/db).
//
// Usage: db_worker <role> --db PATH [options]; `db_worker --help` lists them.
//
// Roles (each runs through --client lib (coordkit::db, the default) or
// --client naive (plain SQLCipher the way a typical app uses it: PRAGMA key
// per open, WAL, busy timeout, deferred BEGIN, no retries)):
//   insert     write transactions of --rows-per-tx rows, --count times or for
//              --duration-ms or until --stop-file exists; a long-lived
//              writer with --duration-ms/--stop-file; with --hold-ms it
//              stays open afterwards (touching --done-marker first)
//   cli-loop   like a command-line tool: open, key, read, write, close, in a
//              loop; --op insert|increment chooses the write
//   increment  read-then-write transactions on one connection (the counter)
//   reader     read transactions held --read-hold-ms each; checks that the
//              snapshot does not move inside one transaction
//   big-tx     one transaction of --rows rows (slowly, --row-sleep-us),
//              touching --marker once under way: a target for SIGKILL
//   maint      --op checkpoint-passive|checkpoint-restart|checkpoint-truncate|
//              backup|vacuum|rekey|integrity|quick-check|delete-rows every
//              --interval-ms (delete-rows: the rows of worker --arg);
//              checks that did not say ok are counted in checks_failed
//   open       open once and read once: how fast and how a damaged file fails
//   probe      open, read, touch --ready, wait for --barrier, then --count
//              reads on the same connection (bare retries), then, with
//              --reconnect-probe, reconnect and read once more (scenario 7)
//   zeroize    key from a buffer, open, zero the buffer, then reconnect and
//              open new connections (scenario 9)
//   service    a multi-threaded server: --threads writer threads and
//              --reader-threads reader threads over one Store (library) or
//              one connection per thread (naive)
//
// Start barrier: with --ready F the worker touches F and with --barrier B it
// then waits until B exists. Roles that keep one connection open it first
// (so that the KDF of a passphrase open is not part of the race) unless
// --barrier-before-open (racing creators); cli-loop passes the barrier before
// its first open; probe after its first read. --duration-ms counts from the
// barrier; cli-loop --min-measured N goes on past it (for at most 60 s more)
// until N iterations after its first have succeeded. Every acknowledged
// write is appended to --ack-log after its COMMIT returned (see
// worker_support.h for the format). Keys never come from argv: the
// passphrase from $DB_WORKER_PASSPHRASE (default "passphrase") or
// --key-file; $DB_WORKER_RAW_KEY (64 hex digits) selects a raw key instead;
// maint's rekey takes the new passphrase from $DB_WORKER_NEW_PASSPHRASE.
//
// The last line on stdout is one JSON object: role, client, id, ops (completed
// operations), errors (surfaced errors by code: ErrorCode names for the
// library, SQLite names for the naive client), surfaced_errors, latency_ms
// {n, p50, p99, max} (cli-loop: without its first iteration, which pays the
// library's one-time key derivation; latency_all_ms includes it), counters
// (the library's), open_ms, and role extras.
//
// Exit codes:
//   0  the role ran to its end and no operation surfaced an error
//   1  the role ran to its end, some operations surfaced errors (see JSON)
//   2  bad command line
//   3  the first open failed (JSON: open_error)
//   4  the start barrier did not open in time
//   5  an invariant the worker checks itself failed (reader: the snapshot moved)
//   6  an unexpected exception

#include <signal.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "tests/db/client.h"
#include "tests/db/library_client.h"
#include "tests/db/naive_client.h"
#include "tests/db/worker_support.h"

namespace {

using namespace coordkit::dbtest;
using std::chrono::milliseconds;

enum ExitCode : int {
  kExitOk = 0,
  kExitErrors = 1,
  kExitUsage = 2,
  kExitOpenFailed = 3,
  kExitBarrier = 4,
  kExitInvariant = 5,
  kExitException = 6,
};

struct Args {
  std::string role;
  std::string client = "lib";
  std::string id = "w";
  std::filesystem::path ack_log, ready, barrier, stop_file, done_marker, marker;
  int barrier_timeout_ms = 60000;
  std::int64_t count = 0;
  int duration_ms = 0;
  int min_measured = 0;
  int sleep_us = 0;
  int rows_per_tx = 1;
  int payload_bytes = 60;
  int hold_ms = 0;
  int read_hold_ms = 0;
  int rows = 100000;
  int row_sleep_us = 0;
  std::string op;
  std::string arg;
  int interval_ms = 100;
  bool stop_on_error = false;
  bool reopen_on_key_error = false;
  int key_retry_ms = 10000;
  bool reconnect_probe = false;
  bool salt_first = false;
  bool barrier_before_open = false;
  int max_reconnects = -1;
  int threads = 4;
  int reader_threads = 2;
  ClientConfig config;
};

// Run: one role's bookkeeping and its JSON report.
class Run {
 public:
  explicit Run(const Args& args) : args_(args), ack_(args.ack_log) {
    start_ = Clock::now();
    report_["role"] = args.role;
    report_["client"] = args.client;
    report_["id"] = args.id;
  }

  std::unique_ptr<Client> make_client() const {
    ClientConfig c = args_.config;
    if (args_.client == "naive") return std::make_unique<NaiveClient>(c);
    return std::make_unique<LibraryClient>(c);
  }

  // keep_going: whether the loop goes on (--count counts attempts of all
  // threads together). Thread-safe.
  bool keep_going() const {
    std::lock_guard<std::mutex> lock(mu_);
    if (args_.count > 0 && tried_ >= args_.count) return false;
    if (args_.duration_ms > 0 && ms_since(start_) >= args_.duration_ms) return false;
    if (!args_.stop_file.empty() && file_exists(args_.stop_file)) return false;
    if (args_.stop_on_error && !errors_.empty()) return false;
    if (args_.count == 0 && args_.duration_ms == 0 && args_.stop_file.empty()) return tried_ == 0;
    return true;
  }

  // measured: successes counted in latency_ms.
  std::size_t measured() const {
    std::lock_guard<std::mutex> lock(mu_);
    return latencies_.size();
  }
  std::int64_t surfaced_count() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::int64_t n = 0;
    for (const auto& [k, v] : errors_) n += v;
    return n;
  }
  double elapsed_ms() const { return ms_since(start_); }

  void error(const std::string& code) {
    std::lock_guard<std::mutex> lock(mu_);
    ++tried_;
    ++errors_[code];
  }
  void handled(const std::string& code) {
    std::lock_guard<std::mutex> lock(mu_);
    ++handled_[code];
  }
  void ok(double latency_ms) {
    std::lock_guard<std::mutex> lock(mu_);
    ++tried_;
    ++ops_;
    latencies_.push_back(latency_ms);
    all_latencies_.push_back(latency_ms);
  }
  // ok_unmeasured: a success kept out of latency_ms (but in latency_all_ms).
  void ok_unmeasured(double latency_ms) {
    std::lock_guard<std::mutex> lock(mu_);
    ++tried_;
    ++ops_;
    all_latencies_.push_back(latency_ms);
  }
  void pause() const {
    if (args_.sleep_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(args_.sleep_us));
  }
  void start_work() { start_ = Clock::now(); }
  AckLog& ack() { return ack_; }
  nlohmann::json& report() { return report_; }

  // finish: prints the report (the last stdout line) and returns the exit
  // code: kExitOk becomes kExitErrors when an operation surfaced an error.
  int finish(Client* client, int code) {
    std::lock_guard<std::mutex> lock(mu_);
    std::int64_t surfaced = 0;
    for (const auto& [k, v] : errors_) surfaced += v;
    report_["ops"] = ops_;
    report_["attempted"] = tried_;
    report_["errors"] = errors_;
    report_["handled_errors"] = handled_;
    report_["surfaced_errors"] = surfaced;
    const LatencySummary s = summarize(latencies_);
    report_["latency_ms"] = {{"n", s.n}, {"p50", s.p50}, {"p99", s.p99}, {"max", s.max}};
    const LatencySummary a = summarize(all_latencies_);
    report_["latency_all_ms"] = {{"n", a.n}, {"p50", a.p50}, {"p99", a.p99}, {"max", a.max}};
    report_["elapsed_ms"] = ms_since(start_);
    if (client != nullptr) {
      report_["counters"] = client->counters();
    } else if (!report_.contains("counters")) {
      report_["counters"] = nlohmann::json::object();
    }
    if (code == kExitOk && surfaced > 0) code = kExitErrors;
    report_["exit_code"] = code;
    std::cout << report_.dump() << std::endl;
    return code;
  }

 private:
  const Args& args_;
  mutable std::mutex mu_;
  AckLog ack_;
  Clock::time_point start_;
  std::int64_t ops_ = 0;    // operations that succeeded
  std::int64_t tried_ = 0;  // operations attempted (what --count limits)
  std::map<std::string, std::int64_t> errors_;
  std::map<std::string, std::int64_t> handled_;
  std::vector<double> latencies_;
  std::vector<double> all_latencies_;
  nlohmann::json report_;
};

bool is_key_error(const std::string& code) {
  return code == "wrong_key_or_not_a_database" || code == "corrupt" || code == "SQLITE_NOTADB";
}

// attempt: runs op once; with --reopen-on-key-error a key error (the key was
// changed by a rekey) reopens with the key file's current content and runs op
// again until --key-retry-ms has passed. Returns true on success.
template <class F>
bool attempt(const Args& args, Run& run, Client& client, F&& op) {
  const auto give_up = Clock::now() + milliseconds(args.key_retry_ms);
  for (;;) {
    try {
      if (!client.is_open()) client.open();
      op();
      return true;
    } catch (const ClientError& e) {
      if (args.reopen_on_key_error && is_key_error(e.code()) && Clock::now() < give_up) {
        run.handled(e.code());
        client.close();
        std::this_thread::sleep_for(milliseconds(5));
        continue;
      }
      run.error(e.code());
      if (!run.report().contains("first_error")) run.report()["first_error"] = e.what();
      return false;
    }
  }
}

// ProcIo: this process's read/write system call counts (/proc/self/io):
// a retry storm on a damaged file shows up as many reads during one open.
struct ProcIo {
  std::int64_t syscr = 0;
  std::int64_t syscw = 0;
};

ProcIo proc_io() {
  ProcIo io;
  std::ifstream in("/proc/self/io");
  std::string key;
  std::int64_t value = 0;
  while (in >> key >> value) {
    if (key == "syscr:") io.syscr = value;
    if (key == "syscw:") io.syscw = value;
  }
  return io;
}

// cpu_ms: this process's user + system CPU time: unlike wall time it does
// not grow when other processes load the machine.
double cpu_ms() {
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  auto ms = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) * 1e3 + static_cast<double>(tv.tv_usec) / 1e3;
  };
  return ms(ru.ru_utime) + ms(ru.ru_stime);
}

bool pass_barrier(const Args& args) {
  touch(args.ready);
  return args.barrier.empty() || wait_for_file(args.barrier, milliseconds(args.barrier_timeout_ms));
}

// open_first: the start of every role that keeps one connection: open, then
// the start barrier (or the barrier first with --barrier-before-open, for
// racing creators). Returns an exit code if the role must stop, else -1.
// --duration-ms counts from here, so slow opens (the naive KDF under load)
// do not eat the measured phase.
int open_first(const Args& args, Run& run, Client& client) {
  if (args.barrier_before_open && !pass_barrier(args)) return run.finish(&client, kExitBarrier);
  const auto t0 = Clock::now();
  const ProcIo io0 = proc_io();
  const double cpu0 = cpu_ms();
  auto record_io = [&] {
    const ProcIo io1 = proc_io();
    run.report()["open_ms"] = ms_since(t0);
    run.report()["open_cpu_ms"] = cpu_ms() - cpu0;
    run.report()["open_read_calls"] = io1.syscr - io0.syscr;
    run.report()["open_write_calls"] = io1.syscw - io0.syscw;
  };
  try {
    client.open();
  } catch (const ClientError& e) {
    record_io();
    run.report()["open_error"] = e.code();
    run.report()["open_error_message"] = e.what();
    return run.finish(&client, kExitOpenFailed);
  }
  record_io();
  if (!args.barrier_before_open && !pass_barrier(args)) return run.finish(&client, kExitBarrier);
  run.start_work();
  return -1;
}

int role_insert(const Args& args, Run& run, Client& client) {
  if (int rc = open_first(args, run, client); rc >= 0) return rc;
  std::int64_t seq = 0;
  if (!attempt(args, run, client, [&] { seq = client.max_seq(args.id) + 1; })) {
    return run.finish(&client, kExitOk);
  }
  run.report()["first_seq"] = seq;
  while (run.keep_going()) {
    const std::string data =
        payload(args.config.seed, seq, static_cast<std::size_t>(args.payload_bytes));
    const auto t0 = Clock::now();
    if (attempt(args, run, client, [&] { client.insert(args.id, seq, args.rows_per_tx, data); })) {
      run.ack().record(args.id, seq, args.rows_per_tx, 'i');
      run.ok(ms_since(t0));
      seq += args.rows_per_tx;
    } else {
      // The naive client keeps no state across a failed transaction; both
      // clients go on with the same seq (nothing of it was committed).
      if (!client.is_open()) break;
    }
    run.pause();
  }
  run.report()["next_seq"] = seq;
  if (args.hold_ms > 0) {
    touch(args.done_marker);
    const auto end = Clock::now() + milliseconds(args.hold_ms);
    while (Clock::now() < end && !(file_exists(args.stop_file) && !args.stop_file.empty())) {
      std::this_thread::sleep_for(milliseconds(5));
    }
  }
  return run.finish(&client, kExitOk);
}

int role_increment(const Args& args, Run& run, Client& client) {
  if (int rc = open_first(args, run, client); rc >= 0) return rc;
  std::int64_t seq = 0;
  if (!attempt(args, run, client, [&] { seq = client.max_seq(args.id) + 1; })) {
    return run.finish(&client, kExitOk);
  }
  while (run.keep_going()) {
    const std::string data =
        payload(args.config.seed, seq, static_cast<std::size_t>(args.payload_bytes));
    const auto t0 = Clock::now();
    if (attempt(args, run, client, [&] { client.increment(args.id, seq, data); })) {
      run.ack().record(args.id, seq, 1, 'c');
      run.ok(ms_since(t0));
      ++seq;
    }
    run.pause();
  }
  return run.finish(&client, kExitOk);
}

int role_cli_loop(const Args& args, Run& run, std::unique_ptr<Client>& client) {
  // The seq to continue from is read once; one CLI id runs in one process.
  std::int64_t seq = -1;
  const bool increment = args.op == "increment";
  bool first = true;
  // --min-measured: a loop whose first iteration (the key derivation) took
  // most of --duration-ms (sanitizers, a loaded machine) goes on, for at most
  // kMinMeasuredGraceMs more, so that its latency_ms describes something.
  static constexpr double kMinMeasuredGraceMs = 60000;
  const auto more_wanted = [&] {
    return run.measured() < static_cast<std::size_t>(args.min_measured) &&
           run.surfaced_count() == 0 && run.elapsed_ms() < args.duration_ms + kMinMeasuredGraceMs;
  };
  while (run.keep_going() || more_wanted()) {
    const auto t0 = Clock::now();
    bool ok = true;
    try {
      client->open();
      if (seq < 0) seq = client->max_seq(args.id) + 1;
      (void)client->read_snapshot(milliseconds(0));
      const std::string data =
          payload(args.config.seed, seq, static_cast<std::size_t>(args.payload_bytes));
      if (increment) {
        client->increment(args.id, seq, data);
      } else {
        client->insert(args.id, seq, 1, data);
      }
    } catch (const ClientError& e) {
      ok = false;
      if (args.reopen_on_key_error && is_key_error(e.code())) {
        // The key changed (rekey): the next iteration reopens with the key
        // file's current content.
        run.handled(e.code());
      } else {
        run.error(e.code());
        if (!run.report().contains("first_error")) run.report()["first_error"] = e.what();
      }
    }
    if (ok) {
      run.ack().record(args.id, seq, 1, increment ? 'c' : 'i');
      ++seq;
    }
    client->close();
    if (ok && first) {
      // The first iteration pays the library's one-time key derivation; it
      // is reported apart so that percentiles describe the steady state.
      const double first_ms = ms_since(t0);
      run.report()["first_ms"] = first_ms;
      run.ok_unmeasured(first_ms);
    } else if (ok) {
      run.ok(ms_since(t0));
    }
    if (ok) first = false;
    run.pause();
  }
  return run.finish(client.get(), kExitOk);
}

int role_reader(const Args& args, Run& run, Client& client) {
  if (int rc = open_first(args, run, client); rc >= 0) return rc;
  std::int64_t moved = 0;
  std::int64_t last = 0;
  while (run.keep_going()) {
    const auto t0 = Clock::now();
    Snapshot s;
    if (attempt(args, run, client,
                [&] { s = client.read_snapshot(milliseconds(args.read_hold_ms)); })) {
      run.ok(ms_since(t0));
      if (s.first != s.second) ++moved;
      last = s.second;
    }
    run.pause();
  }
  run.report()["snapshot_moved"] = moved;
  run.report()["last_count"] = last;
  return run.finish(&client, moved > 0 ? kExitInvariant : kExitOk);
}

int role_big_tx(const Args& args, Run& run, Client& client) {
  if (int rc = open_first(args, run, client); rc >= 0) return rc;
  std::int64_t first = 0;
  if (!attempt(args, run, client, [&] { first = client.max_seq(args.id) + 1; })) {
    return run.finish(&client, kExitOk);
  }
  const std::string data =
      payload(args.config.seed, first, static_cast<std::size_t>(args.payload_bytes));
  const auto t0 = Clock::now();
  if (attempt(args, run, client, [&] {
        client.big_transaction(args.id, first, args.rows, data, args.marker,
                               std::chrono::microseconds(args.row_sleep_us));
      })) {
    run.ack().record(args.id, first, args.rows, 'i');
    run.ok(ms_since(t0));
  }
  return run.finish(&client, kExitOk);
}

int role_maint(const Args& args, Run& run, Client& client) {
  if (int rc = open_first(args, run, client); rc >= 0) return rc;
  nlohmann::json results = nlohmann::json::array();
  // Checks (integrity, quick-check) that ran and did not say ok, and the
  // first few of them.
  std::int64_t checks_failed = 0;
  nlohmann::json failed = nlohmann::json::array();
  while (run.keep_going()) {
    const auto t0 = Clock::now();
    nlohmann::json r;
    if (attempt(args, run, client, [&] { r = client.maintenance(args.op, args.arg); })) {
      run.ok(ms_since(t0));
      if (results.size() < 200) results.push_back(r);
      if (r.contains("ok") && !r["ok"].get<bool>()) {
        ++checks_failed;
        if (failed.size() < 5) failed.push_back(r);
      }
    }
    std::this_thread::sleep_for(milliseconds(args.interval_ms));
  }
  run.report()["results"] = results;
  run.report()["checks_failed"] = checks_failed;
  run.report()["failed_checks"] = failed;
  return run.finish(&client, kExitOk);
}

int role_open(const Args& args, Run& run, Client& client) {
  if (int rc = open_first(args, run, client); rc >= 0) return rc;
  try {
    const Snapshot s = client.read_snapshot(milliseconds(0));
    run.report()["count"] = s.second;
    run.report()["journal_mode"] = client.journal_mode();
    run.ok(0);
  } catch (const ClientError& e) {
    run.error(e.code());
    run.report()["first_error"] = e.what();
  }
  return run.finish(&client, kExitOk);
}

// role_probe: scenario 7. Open (recording the outcome), read once unless
// --salt-first, pass the barrier (the test replaces or creates the file
// meanwhile), then --count reads on the same connection: bare retries; then,
// with --reconnect-probe, reconnect (or open, if the first open failed) and
// read once more. Outcomes are the report's data ("ok:<rows>" or an error
// code), not errors of the worker.
int role_probe(const Args& args, Run& run, Client& client) {
  auto read_once = [&]() -> std::string {
    try {
      const Snapshot s = client.read_snapshot(milliseconds(0));
      return "ok:" + std::to_string(s.second);
    } catch (const ClientError& e) {
      return e.code();
    }
  };
  bool opened = false;
  try {
    client.open();
    opened = true;
    run.report()["open"] = "ok";
  } catch (const ClientError& e) {
    run.report()["open"] = e.code();
  }
  if (opened && !args.salt_first) run.report()["before"] = read_once();
  if (!pass_barrier(args)) return run.finish(&client, kExitBarrier);
  nlohmann::json bare = nlohmann::json::array();
  for (std::int64_t i = 0; i < std::max<std::int64_t>(args.count, 1); ++i) {
    bare.push_back(opened ? read_once() : std::string("not-open"));
  }
  run.report()["bare_retries"] = bare;
  if (args.reconnect_probe) {
    try {
      if (opened) {
        client.reconnect();
      } else {
        client.open();
      }
      run.report()["after_reconnect"] = read_once();
    } catch (const ClientError& e) {
      run.report()["after_reconnect"] = e.code();
    }
  }
  return run.finish(&client, kExitOk);
}

// secure_zero: what a careful caller does to its passphrase buffer.
void secure_zero(std::string& s) {
  volatile char* p = s.data();
  for (std::size_t i = 0; i < s.size(); ++i) p[i] = 0;
}

// role_zeroize: scenario 9. The caller keys from its own buffer, opens, then
// zeroes the buffer; later connections must still work. The library keeps
// its own copy of the key material. The naive control keys each new
// connection from the caller's (now zeroed) buffer, which is what breaks.
int role_zeroize(const Args& args, Run& run) {
  std::string secret = args.config.passphrase;
  auto step = [&](const char* name, auto&& fn) {
    try {
      fn();
      run.report()[name] = "ok";
      run.ok(0);
    } catch (const ClientError& e) {
      run.report()[name] = e.code();
      run.error(e.code());
    } catch (const RawError& e) {
      run.report()[name] = result_code_name(e.extended_code());
      run.error(result_code_name(e.extended_code()));
    } catch (const cdb::Error& e) {
      run.report()[name] = error_code_name(e.code());
      run.error(error_code_name(e.code()));
    }
  };
  if (args.client == "naive") {
    auto keyed = [&] {
      auto c = RawConnection::open(args.config.db, false);
      sqlite3_key(c.get(), secret.data(), static_cast<int>(secret.size()));
      return c;
    };
    std::optional<RawConnection> first;
    step("first_connection", [&] {
      first.emplace(keyed());
      first->query_int("SELECT count(*) FROM items");
    });
    secure_zero(secret);
    step("after_zero_same_connection", [&] { first->query_int("SELECT count(*) FROM items"); });
    step("after_zero_new_connection", [&] {
      auto c = keyed();
      c.query_int("SELECT count(*) FROM items");
    });
    return run.finish(nullptr, kExitOk);
  }
  cdb::Options options = library_options(args.config, secret);
  std::optional<cdb::Database> db;
  std::int64_t seq = 0;
  auto write_one = [&](cdb::Database& d) {
    const std::string data = payload(args.config.seed, seq, 16);
    d.write([&](cdb::Transaction& tx) {
      tx.execute("INSERT INTO items(worker, seq, payload) VALUES(?, ?, ?)", args.id, seq, data);
    });
    run.ack().record(args.id, seq, 1, 'i');
    ++seq;
  };
  step("first_connection", [&] {
    db.emplace(cdb::Database::open(options));
    seq = db->read([&](cdb::Transaction& tx) {
      return tx
          .query_value<std::int64_t>(
              "SELECT coalesce(max(seq), -1) + 1 FROM items WHERE worker = ?", args.id)
          .value_or(0);
    });
  });
  secure_zero(secret);
  step("after_zero_same_connection", [&] { write_one(*db); });
  step("after_zero_reconnect", [&] {
    db->reconnect();
    write_one(*db);
  });
  step("after_zero_new_connection", [&] {
    cdb::Database second = cdb::Database::open(options);
    write_one(second);
  });
  if (db) run.report()["counters"] = counters_json(db->counters());
  return run.finish(nullptr, kExitOk);
}

// role_service: a multi-threaded server. Library: one Store (a writer
// connection with group commit and --reader-threads reader connections)
// shared by --threads writer threads and the reader threads. Naive: every
// thread opens its own plain SQLCipher connection. Writer thread t writes
// rows of worker "<id>.<t>" (one row per write) until --duration-ms or
// --stop-file; reader threads count the rows in read transactions.
int role_service(const Args& args, Run& run) {
  std::unique_ptr<cdb::Store> store;
  std::vector<std::unique_ptr<Client>> naive;
  const int writers = std::max(args.threads, 1);
  const int readers = std::max(args.reader_threads, 0);
  if (args.barrier_before_open && !pass_barrier(args)) return run.finish(nullptr, kExitBarrier);
  const auto t0 = Clock::now();
  try {
    if (args.client == "naive") {
      for (int i = 0; i < writers + readers; ++i) {
        naive.push_back(run.make_client());
        naive.back()->open();
      }
    } else {
      store = cdb::Store::open(
          library_options(args.config, args.config.passphrase),
          cdb::StoreOptions{.readers = readers, .group_commit = true, .max_batch = 64});
    }
  } catch (const ClientError& e) {
    run.report()["open_error"] = e.code();
    return run.finish(nullptr, kExitOpenFailed);
  } catch (const cdb::Error& e) {
    run.report()["open_error"] = error_code_name(e.code());
    run.report()["open_error_message"] = e.what();
    return run.finish(nullptr, kExitOpenFailed);
  }
  run.report()["open_ms"] = ms_since(t0);
  if (!args.barrier_before_open && !pass_barrier(args)) return run.finish(nullptr, kExitBarrier);
  run.start_work();

  auto guarded = [&](auto&& fn) -> bool {
    try {
      fn();
      return true;
    } catch (const ClientError& e) {
      run.error(e.code());
    } catch (const cdb::Error& e) {
      run.error(error_code_name(e.code()));
    }
    return false;
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < writers; ++t) {
    threads.emplace_back([&, t] {
      const std::string id = args.id + "." + std::to_string(t);
      std::int64_t seq = 0;
      bool ready = guarded([&] {
        if (store) {
          seq = store->read([&](cdb::Transaction& tx) {
            return tx
                .query_value<std::int64_t>(
                    "SELECT coalesce(max(seq), -1) + 1 FROM items WHERE worker = ?", id)
                .value_or(0);
          });
        } else {
          seq = naive[static_cast<std::size_t>(t)]->max_seq(id) + 1;
        }
      });
      while (ready && run.keep_going()) {
        const std::string data =
            payload(args.config.seed, seq, static_cast<std::size_t>(args.payload_bytes));
        const auto start = Clock::now();
        const bool ok = guarded([&] {
          if (store) {
            store->write([&](cdb::Transaction& tx) {
              tx.execute("INSERT INTO items(worker, seq, payload) VALUES(?, ?, ?)", id, seq,
                         std::span<const std::byte>(reinterpret_cast<const std::byte*>(data.data()),
                                                    data.size()));
            });
          } else {
            naive[static_cast<std::size_t>(t)]->insert(id, seq, 1, data);
          }
        });
        if (ok) {
          run.ack().record(id, seq, 1, 'i');
          run.ok(ms_since(start));
          ++seq;
        }
        run.pause();
      }
    });
  }
  std::atomic<std::int64_t> reads{0};
  for (int r = 0; r < readers; ++r) {
    threads.emplace_back([&, r] {
      while (run.keep_going()) {
        const bool ok = guarded([&] {
          if (store) {
            store->read([](cdb::Transaction& tx) {
              return tx.query_value<std::int64_t>("SELECT count(*) FROM items").value_or(0);
            });
          } else {
            naive[static_cast<std::size_t>(writers) + static_cast<std::size_t>(r)]->read_snapshot(
                milliseconds(0));
          }
        });
        if (ok) reads.fetch_add(1);
        run.pause();
      }
    });
  }
  for (auto& th : threads) th.join();
  run.report()["reads"] = reads.load();
  if (store) run.report()["counters"] = counters_json(store->counters());
  return run.finish(nullptr, kExitOk);
}

int run_role(const Args& args) {
  Run run(args);
  std::unique_ptr<Client> client = run.make_client();
  if (args.role == "cli-loop") {
    if (!pass_barrier(args)) return run.finish(nullptr, kExitBarrier);
    run.start_work();
  }
  if (args.role == "insert") return role_insert(args, run, *client);
  if (args.role == "increment") return role_increment(args, run, *client);
  if (args.role == "cli-loop") return role_cli_loop(args, run, client);
  if (args.role == "reader") return role_reader(args, run, *client);
  if (args.role == "big-tx") return role_big_tx(args, run, *client);
  if (args.role == "maint") return role_maint(args, run, *client);
  if (args.role == "open") return role_open(args, run, *client);
  if (args.role == "probe") return role_probe(args, run, *client);
  if (args.role == "zeroize") return role_zeroize(args, run);
  if (args.role == "service") return role_service(args, run);
  std::cerr << "db_worker: unknown role '" << args.role << "'\n";
  return kExitUsage;
}

}  // namespace

namespace {

int worker_main(int argc, char** argv) {
  Args args;
  CLI::App app{"db_worker: one process of a libs/db multi-process scenario"};
  app.add_option("role", args.role,
                 "insert|cli-loop|increment|reader|big-tx|maint|open|probe|zeroize|service")
      ->required()
      ->check(CLI::IsMember({"insert", "cli-loop", "increment", "reader", "big-tx", "maint", "open",
                             "probe", "zeroize", "service"}));
  app.add_option("--db", args.config.db, "database file")->required();
  app.add_option("--client", args.client, "lib (coordkit::db) or naive (plain SQLCipher)")
      ->check(CLI::IsMember({"lib", "naive"}));
  app.add_option("--id", args.id, "worker name stored with each row");
  app.add_option("--ack-log", args.ack_log, "append one line per committed write here");
  app.add_option("--ready", args.ready, "touch this file once started");
  app.add_option("--barrier", args.barrier, "wait for this file before starting");
  app.add_option("--barrier-timeout-ms", args.barrier_timeout_ms);
  app.add_option("--stop-file", args.stop_file, "stop the loop once this file exists");
  app.add_option("--done-marker", args.done_marker, "insert: touched when the writes are done");
  app.add_option("--marker", args.marker, "big-tx: touched once the transaction is under way");
  app.add_option("--count", args.count, "operations to run (0: no limit)");
  app.add_option("--duration-ms", args.duration_ms, "run this long (0: no limit)");
  app.add_option("--min-measured", args.min_measured,
                 "cli-loop: go on past the end until this many iterations after the first "
                 "(the one that derives the key) succeeded");
  app.add_option("--sleep-us", args.sleep_us, "pause between operations");
  app.add_option("--rows-per-tx", args.rows_per_tx)->check(CLI::PositiveNumber);
  app.add_option("--payload-bytes", args.payload_bytes)->check(CLI::NonNegativeNumber);
  app.add_option("--hold-ms", args.hold_ms, "insert: stay open this long after the writes");
  app.add_option("--read-hold-ms", args.read_hold_ms, "reader: hold each read transaction");
  app.add_option("--rows", args.rows, "big-tx: rows in the transaction");
  app.add_option("--row-sleep-us", args.row_sleep_us, "big-tx: pause after each row");
  app.add_option("--op", args.op, "maint: the operation; cli-loop: insert|increment");
  app.add_option("--arg", args.arg,
                 "maint: backup destination (rekey reads $DB_WORKER_NEW_PASSPHRASE)");
  app.add_option("--interval-ms", args.interval_ms, "maint: pause between operations");
  app.add_flag("--stop-on-error", args.stop_on_error);
  app.add_flag("--reopen-on-key-error", args.reopen_on_key_error,
               "reopen with --key-file's current key after a wrong-key error (rekey)");
  app.add_option("--key-retry-ms", args.key_retry_ms);
  app.add_flag("--reconnect-probe", args.reconnect_probe, "probe: reconnect and read again");
  app.add_flag("--salt-first", args.salt_first,
               "probe, naive: read the salt (PRAGMA cipher_salt) right after keying");
  app.add_flag("--barrier-before-open", args.barrier_before_open,
               "wait for the barrier before opening (racing creators); default: open first");
  app.add_option("--threads", args.threads, "service: writer threads");
  app.add_option("--reader-threads", args.reader_threads,
                 "service: reader threads (Store readers)");
  app.add_option("--max-reconnects", args.max_reconnects, "lib: RetryPolicy::max_reconnects");
  app.add_option("--key-file", args.config.key_file,
                 "passphrase file (first line), re-read per open");
  app.add_option("--busy-timeout-ms", args.config.busy_timeout_ms);
  app.add_option("--deadline-ms", args.config.deadline_ms);
  app.add_option("--autocheckpoint", args.config.autocheckpoint_pages);
  app.add_option("--seed", args.config.seed);
  app.add_flag("--full-sync", args.config.full_sync);
  app.add_flag("!--no-create", args.config.create, "do not create a missing database");
  app.add_flag("--naive-schema", args.config.naive_schema, "naive: create the schema at open");
  app.add_flag("!--no-fair-turn", args.config.fair_write_turn,
               "lib: Options::fair_write_turn = false");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  const char* pass = std::getenv(kPassphraseEnv);
  args.config.passphrase = pass != nullptr ? pass : std::string(kDefaultPassphrase);
  if (const char* raw = std::getenv("DB_WORKER_RAW_KEY"); raw != nullptr)
    args.config.raw_key_hex = raw;
  args.config.salt_first = args.salt_first;
  args.config.max_reconnects = args.max_reconnects;
  try {
    return run_role(args);
  } catch (const std::exception& e) {
    std::cout << nlohmann::json{{"role", args.role},
                                {"exception", e.what()},
                                {"exit_code", kExitException}}
                     .dump()
              << std::endl;
    return kExitException;
  }
}

}  // namespace

int main(int argc, char** argv) {
  // A test that closes its end of our stdout must not kill us mid-report.
  ::signal(SIGPIPE, SIG_IGN);
  try {
    return worker_main(argc, argv);
  } catch (...) {
    return kExitException;
  }
}

// db_benchmark: coordkit::db against plain SQLCipher, all in one run on one
// file system. Run through tools/bench/db (bazel run -c opt). Re-executes
// itself for the worker processes of the multi-process phases.
//
// Prints one line per figure, then one JSON object with all of them, the
// library's and the naive client's side by side. The multi-process phase
// runs, for each client, one writer alone and four mixes of one long-lived
// writer (the service) with four CLI-like processes (see MixKind): the
// tight loop, its CPU-share control (the CLIs read instead of writing), a
// paced mix (each CLI writes 100 times a second) and the paced mix's
// control.
#include <fcntl.h>
#include <signal.h>
#include <sqlcipher/sqlite3.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "coordkit/db/db.h"
#include "coordkit/db/internal/key_cache.h"

namespace db = coordkit::db;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kPassphrase = "benchmark passphrase";
constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS rows(id INTEGER PRIMARY KEY, who INTEGER, body TEXT)";
// kReadSql: the CPU-share control's read, one index lookup whatever the
// table's size.
constexpr const char* kReadSql = "SELECT max(id) FROM rows";

// The multi-process phases alternate this many stretches of the mix with
// baseline stretches (alternating_mix).
constexpr int kMixRounds = 5;
// 60-byte rows, as in the notes' measurements.
const std::string kBody(60 - 8, 'r');

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(std::lround(p * static_cast<double>(v.size() - 1)));
  return v[std::min(i, v.size() - 1)];
}

// median: the middle value, or the mean of the two middle ones.
double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// ratio: a / b, 0 when b is 0 (a phase that did not run), so the JSON stays valid.
double ratio(double a, double b) { return b > 0 ? a / b : 0; }

db::Options lib_options(const fs::path& path, db::Synchronous sync = db::Synchronous::kNormal) {
  db::Options o;
  o.path = path;
  o.key = db::Key::passphrase(kPassphrase);
  o.synchronous = sync;
  o.migrations = {{1, std::string(kSchema) + ";", {}}};
  o.retry.deadline = std::chrono::milliseconds(30000);
  // Knobs for experiments (the defaults are what the library ships with).
  if (const char* v = std::getenv("COORDKIT_BENCH_LEASE_US")) {
    o.write_turn_lease = std::chrono::microseconds(std::atoi(v));
  }
  if (const char* v = std::getenv("COORDKIT_BENCH_NO_TURN")) o.fair_write_turn = v[0] != '1';
  return o;
}

// ---------------------------------------------------------------- naive client

// NaiveDb: plain SQLCipher as an application without the library would use
// it: raw key (so the comparison is about scheduling, not the KDF), WAL, a 10 s
// busy timeout, BEGIN IMMEDIATE per write, no retries.
struct NaiveDb {
  sqlite3* db = nullptr;
  sqlite3_stmt* insert = nullptr;
  sqlite3_stmt* begin = nullptr;
  sqlite3_stmt* commit = nullptr;
  sqlite3_stmt* select = nullptr;
  NaiveDb(const fs::path& path, const std::string& raw_key, db::Synchronous sync) {
    sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    sqlite3_key_v2(db, "main", raw_key.data(), static_cast<int>(raw_key.size()));
    sqlite3_busy_timeout(db, 10000);
    sqlite3_exec(
        db,
        sync == db::Synchronous::kFull ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
        nullptr, nullptr, nullptr);
    sqlite3_prepare_v2(db, "INSERT INTO rows(who, body) VALUES (?, ?)", -1, &insert, nullptr);
    sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, nullptr);
    sqlite3_prepare_v2(db, "COMMIT", -1, &commit, nullptr);
    sqlite3_prepare_v2(db, kReadSql, -1, &select, nullptr);
  }
  ~NaiveDb() {
    sqlite3_finalize(insert);
    sqlite3_finalize(begin);
    sqlite3_finalize(commit);
    sqlite3_finalize(select);
    sqlite3_close_v2(db);
  }
  static bool step(sqlite3_stmt* s) {
    const int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE;
  }
  bool row(int who) {
    sqlite3_bind_int(insert, 1, who);
    sqlite3_bind_text(insert, 2, kBody.data(), static_cast<int>(kBody.size()), SQLITE_STATIC);
    return step(insert);
  }
  // read: one read (autocommit); false on any error (no retry).
  bool read() {
    const int rc = sqlite3_step(select);
    sqlite3_reset(select);
    return rc == SQLITE_ROW;
  }
  // write: one transaction of `n` rows; false on any error (no retry).
  bool write(int who, int n = 1) {
    if (!step(begin)) return false;
    for (int i = 0; i < n; ++i) {
      if (!row(who)) {
        sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
        return false;
      }
    }
    if (!step(commit)) {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      return false;
    }
    return true;
  }
};

// naive_raw_key: the raw form of the benchmark passphrase for a library-made
// file: derived once here with the file's salt, exactly as the library does.
std::string naive_raw_key(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  coordkit::db::internal::Salt salt{};
  in.read(reinterpret_cast<char*>(salt.data()), static_cast<std::streamsize>(salt.size()));
  const std::string pass = kPassphrase;
  const auto key = coordkit::db::internal::pbkdf2_sqlcipher4(
      {reinterpret_cast<const std::uint8_t*>(pass.data()), pass.size()}, salt);
  const auto text = coordkit::db::internal::raw_key_text(key, salt);
  return std::string(text.chars(), text.size());
}

constexpr const char* kInsertSql = "INSERT INTO rows(who, body) VALUES (?, ?)";

void lib_insert(db::Transaction& tx, int who) { tx.execute(kInsertSql, who, kBody); }

void lib_read(db::Transaction& tx) { tx.query_value<std::int64_t>(kReadSql); }

// ---------------------------------------------------------------- workers

// CliMode: what a CLI-like worker does in each of its short-lived processes'
// worth of work: open, one write transaction or one read transaction, close.
// Tight: back to back; paced: at kPacedRate per second, each operation due
// at a fixed time (its latency counts from then, so a CLI that falls behind
// shows it instead of hiding it).
struct CliMode {
  bool write = true;
  bool paced = false;
  // alternate: write in the mix's write windows, read in the others (see
  // writes_in_window).
  bool alternate = false;
};

CliMode cli_mode(const std::string& kind) {
  return {kind.find("-read") == std::string::npos, kind.find("-paced") != std::string::npos,
          kind.find("-alt") != std::string::npos};
}

// writes_in_window: whether window `w` of an alternating mix is a write
// window. A stretch is four windows, write, read, read, write, so that a
// drift of the machine's speed within the stretch favours neither side.
bool writes_in_window(std::int64_t w) {
  const std::int64_t k = w % 4;
  return k == 0 || k == 3;
}

// window_of: the window (a quarter of the stretch) that time `t` falls in.
std::int64_t window_of(Clock::time_point t, Clock::time_point start, double seconds) {
  const double x = std::chrono::duration<double>(t - start).count() / (seconds / 4);
  return x < 0 ? 0 : std::min<std::int64_t>(static_cast<std::int64_t>(x), 3);
}

// kPacedRate: operations per second of each paced CLI, as scripts and people
// run them.
constexpr double kPacedRate = 100;

// StatementClock: with COORDKIT_BENCH_DEBUG, when a CLI write's statements
// (BEGIN IMMEDIATE, the insert, COMMIT) ended, taken in SQLite's profile
// callback (whose own durations count whole milliseconds), so the time the
// CLI holds the write turn can be split into what it does there.
struct StatementClock {
  // [0] when the statement started (SQLITE_TRACE_STMT), [1] when it ended.
  Clock::time_point begin[2]{};
  Clock::time_point insert[2]{};
  Clock::time_point commit[2]{};

  static int on_trace(unsigned type, void* ctx, void* p, void*) {
    auto* self = static_cast<StatementClock*>(ctx);
    const char* sql = sqlite3_sql(static_cast<sqlite3_stmt*>(p));
    if (sql == nullptr) return 0;
    const auto now = Clock::now();
    const int i = type == SQLITE_TRACE_STMT ? 0 : 1;
    if (std::strncmp(sql, "BEGIN", 5) == 0) {
      self->begin[i] = now;
    } else if (std::strncmp(sql, "INSERT", 6) == 0) {
      self->insert[i] = now;
    } else if (std::strncmp(sql, "COMMIT", 6) == 0) {
      self->commit[i] = now;
    }
    return 0;
  }
};

// InTurn: one CLI write's time under the write turn (us): from the grant
// to the release (Counters::turn_held_us), and in it: the rest, outside
// the statements (from the grant to BEGIN IMMEDIATE's step, and from the
// end of COMMIT to the release), BEGIN IMMEDIATE's step, the insert's prepare and bind, its step,
// from fn to COMMIT's step (its prepare, if not done before), COMMIT's step; the pages the write
// read (cache misses: each one read and decrypted) and wrote (each one encrypted into the WAL);
// then the release (passing the turn on, waking the next holder) up to write()'s return.
struct InTurn {
  static constexpr int kFields = 10;
  double v[kFields] = {};  // held, to_begin, begin, prepare, insert, to_commit, commit, release,
                           // pages_read, pages_written
};

int db_status(sqlite3* db, int op) {
  int cur = 0;
  int hi = 0;
  sqlite3_db_status(db, op, &cur, &hi, 0);
  return cur;
}

// A worker reports on stdout: "READY" once set up, then after "GO <start>"
// on stdin (the start time, steady clock ns, the same for every worker) and
// `seconds` of work: for the writer "WINDOWS <c0> <c1> <c2> <c3>" (its
// commits in each quarter of the stretch), then "RESULT <commits> <surfaced
// errors> <commits in read windows>", and writes its per-operation latencies
// (ms, one per line) to <db>.lat.<who> (of the read windows' operations, in
// an alternating mix: <db>.latr.<who>). Kinds: writer / naive-writer (the
// service: one connection, writes back to back), cli / naive-cli (open,
// write, close), with "-read" (open, read, close: the CPU-share control),
// "-paced" (kPacedRate operations per second) and "-alt" (write in the
// write windows, read in the others; see writes_in_window).
int worker_main(const std::string& kind, const fs::path& path, int who, double seconds,
                const std::string& raw_key) {
  const bool naive = kind.rfind("naive", 0) == 0;
  const bool cli = kind.find("cli") != std::string::npos;
  const CliMode mode = cli_mode(kind);
  std::vector<double> lat;
  lat.reserve(200000);
  std::uint64_t commits = 0;
  std::uint64_t surfaced = 0;
  std::uint64_t cli_turn_waits = 0, cli_turn_wait_us = 0, cli_busy_us = 0;
  // The debug latency split of each CLI operation: open (from its due time),
  // the write or read (of which: the write-turn wait and SQLite's busy
  // handler), close; and, per operation, the late start (a paced CLI woken
  // after its due time) apart from the open, for the split of the tail.
  std::vector<double> dbg_open, dbg_write, dbg_turn, dbg_busy, dbg_close, dbg_late;
  const bool debug = std::getenv("COORDKIT_BENCH_DEBUG") != nullptr;
  std::vector<InTurn> in_turn;
  std::optional<db::Database> lib;
  std::optional<NaiveDb> nv;
  // Warm-up outside the measurement: the derived key is cached per process.
  if (!naive) {
    lib.emplace(db::Database::open(lib_options(path)));
    if (cli) lib.reset();
  } else if (!cli) {
    nv.emplace(path, raw_key, db::Synchronous::kNormal);
  }
  std::printf("READY\n");
  std::fflush(stdout);
  char go[64] = {};
  if (std::fgets(go, sizeof go, stdin) == nullptr) return 2;
  long long start_ns = 0;
  auto start = Clock::now();
  if (std::sscanf(go, "GO %lld", &start_ns) == 1) {
    start = Clock::time_point(std::chrono::nanoseconds(start_ns));
    std::this_thread::sleep_until(start);
  }
  struct rusage ru_go {};
  ::getrusage(RUSAGE_SELF, &ru_go);
  std::array<std::uint64_t, 4> window_commits{};
  // With COORDKIT_BENCH_DEBUG, the service's CPU time (us), write-turn wait
  // (us) and pages read in each window, taken at the window's first commit.
  std::array<std::array<double, 3>, 4> window_use{};
  std::array<double, 3> use_mark{};
  std::int64_t use_window = 0;
  auto service_use = [&]() -> std::array<double, 3> {
    struct rusage u {};
    ::getrusage(RUSAGE_SELF, &u);
    return {static_cast<double>((u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000000LL +
                                u.ru_utime.tv_usec + u.ru_stime.tv_usec),
            static_cast<double>(lib->counters().turn_wait_us),
            static_cast<double>(db_status(lib->native_handle(), SQLITE_DBSTATUS_CACHE_MISS))};
  };
  auto charge_use = [&](std::int64_t next) {
    const auto now = service_use();
    for (int k = 0; k < 3; ++k)
      window_use[static_cast<std::size_t>(use_window)][k] += now[k] - use_mark[k];
    use_mark = now;
    use_window = next;
  };
  if (debug && lib) use_mark = service_use();
  std::uint64_t read_commits = 0;
  std::vector<double> lat_read;
  const auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  const auto period =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / kPacedRate));
  // Paced CLIs start a quarter period apart, so their operations interleave.
  auto due = start + period * who / 4;
  while (Clock::now() < end) {
    if (cli && mode.paced) {
      std::this_thread::sleep_until(due);
      if (due >= end) break;
    }
    const auto t0 = cli && mode.paced ? due : Clock::now();
    const auto woke = Clock::now();
    due += period;
    const bool op_write =
        mode.alternate ? writes_in_window(window_of(t0, start, seconds)) : mode.write;
    bool ok = true;
    if (!naive) {
      try {
        if (cli) {
          auto d = db::Database::open(lib_options(path));
          // Compiled before the write turn, as a command-line write does.
          if (op_write) d.prepare(kInsertSql);
          StatementClock sc;
          const bool split = debug && op_write;
          int miss0 = 0;
          int written0 = 0;
          if (split) {
            sqlite3_trace_v2(d.native_handle(), SQLITE_TRACE_STMT | SQLITE_TRACE_PROFILE,
                             &StatementClock::on_trace, &sc);
            miss0 = db_status(d.native_handle(), SQLITE_DBSTATUS_CACHE_MISS);
            written0 = db_status(d.native_handle(), SQLITE_DBSTATUS_CACHE_WRITE);
          }
          const auto t1 = Clock::now();
          Clock::time_point fn0{}, fn1{};
          if (op_write) {
            d.write([&](db::Transaction& tx) {
              fn0 = Clock::now();
              lib_insert(tx, who);
              fn1 = Clock::now();
            });
            if (split) {
              const auto t2w = Clock::now();
              const db::Counters cw = d.counters();
              auto us = [](Clock::duration x) {
                return std::chrono::duration<double, std::micro>(x).count();
              };
              InTurn it;
              it.v[0] = static_cast<double>(cw.turn_held_us);
              it.v[1] = it.v[0] - us(sc.commit[1] - sc.begin[0]);
              it.v[2] = us(sc.begin[1] - sc.begin[0]);
              it.v[3] = us(sc.insert[0] - fn0);
              it.v[4] = us(sc.insert[1] - sc.insert[0]);
              it.v[5] = us(sc.commit[0] - fn1);
              it.v[6] = us(sc.commit[1] - sc.commit[0]);
              it.v[7] = us(t2w - sc.commit[1]);
              it.v[8] = db_status(d.native_handle(), SQLITE_DBSTATUS_CACHE_MISS) - miss0;
              it.v[9] = db_status(d.native_handle(), SQLITE_DBSTATUS_CACHE_WRITE) - written0;
              in_turn.push_back(it);
              sqlite3_trace_v2(d.native_handle(), 0, nullptr, nullptr);
            }
          } else {
            d.read([](db::Transaction& tx) { lib_read(tx); });
          }
          const auto t2 = Clock::now();
          dbg_late.push_back(std::chrono::duration<double, std::milli>(woke - t0).count());
          dbg_open.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
          dbg_write.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
          const db::Counters c = d.counters();
          dbg_turn.push_back(static_cast<double>(c.turn_wait_us) / 1000.0);
          dbg_busy.push_back(static_cast<double>(c.busy_handler_wait_us) / 1000.0);
          surfaced += c.surfaced_errors;
          cli_turn_waits += c.turn_waits;
          cli_turn_wait_us += c.turn_wait_us;
          cli_busy_us += c.busy_handler_wait_us;
        } else {
          lib->write([&](db::Transaction& tx) { lib_insert(tx, who); });
          const std::int64_t w = window_of(Clock::now(), start, seconds);
          ++window_commits[static_cast<std::size_t>(w)];
          if (debug && w != use_window) charge_use(w);
        }
      } catch (const db::Error&) {
        ok = false;
      }
    } else if (cli) {
      NaiveDb d(path, raw_key, db::Synchronous::kNormal);
      ok = op_write ? d.write(who) : d.read();
    } else {
      ok = nv->write(who);
      if (ok) ++window_commits[static_cast<std::size_t>(window_of(Clock::now(), start, seconds))];
    }
    const bool read_window = mode.alternate && !op_write;
    if (ok) {
      ++commits;
      if (read_window) ++read_commits;
    } else {
      ++surfaced;
    }
    if (cli) {
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      (read_window ? lat_read : lat).push_back(ms);
      if (!naive && ok) dbg_close.push_back(ms - dbg_open.back() - dbg_write.back());
    }
  }
  if (lib) surfaced += lib->counters().surfaced_errors;
  if (debug && lib) {
    charge_use(use_window);
    // The service's use in the write windows and in the read windows:
    // commits, CPU time (us), write-turn wait (us), pages read.
    std::ofstream by_window(path.string() + ".service-windows");
    for (const std::int64_t w : {0, 1}) {
      const std::size_t a = w == 0 ? 0 : 1;
      const std::size_t b = w == 0 ? 3 : 2;
      by_window << window_commits[a] + window_commits[b];
      for (int k = 0; k < 3; ++k) by_window << ' ' << window_use[a][k] + window_use[b][k];
      by_window << '\n';
    }
  }
  if (debug && lib) {
    // The service's side of the split, for run_multi: commits, turn waits,
    // time waited (us), CPU time (us), pages read (cache misses).
    const db::Counters c = lib->counters();
    struct rusage ru {};
    ::getrusage(RUSAGE_SELF, &ru);
    std::ofstream out(path.string() + ".service");
    auto cpu_us = [](const struct rusage& u) {
      return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000000LL + u.ru_utime.tv_usec +
             u.ru_stime.tv_usec;
    };
    out << commits << ' ' << c.turn_waits << ' ' << c.turn_wait_us << ' '
        << cpu_us(ru) - cpu_us(ru_go) << ' '
        << db_status(lib->native_handle(), SQLITE_DBSTATUS_CACHE_MISS) << '\n';
  }
  if (std::getenv("COORDKIT_BENCH_DEBUG") != nullptr && lib) {
    const db::Counters c = lib->counters();
    std::fprintf(stderr,
                 "[%s %d] commits=%llu turn_waits=%llu turn_wait_ms=%.1f busy_waits=%llu "
                 "busy_ms=%.1f retries=%llu\n",
                 kind.c_str(), who, static_cast<unsigned long long>(commits),
                 static_cast<unsigned long long>(c.turn_waits), c.turn_wait_us / 1000.0,
                 static_cast<unsigned long long>(c.busy_handler_waits),
                 c.busy_handler_wait_us / 1000.0, static_cast<unsigned long long>(c.retries_same));
    struct rusage ru {};
    ::getrusage(RUSAGE_SELF, &ru);
    std::fprintf(stderr, "[%s %d] cpu_s=%.3f voluntary_switches=%ld involuntary_switches=%ld\n",
                 kind.c_str(), who,
                 static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                     static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6,
                 ru.ru_nvcsw, ru.ru_nivcsw);
  }
  lib.reset();
  nv.reset();
  if (std::getenv("COORDKIT_BENCH_DEBUG") != nullptr && cli && !naive) {
    std::fprintf(stderr,
                 "[%s %d] commits=%llu turn_waits=%llu turn_wait_ms=%.1f busy_ms=%.1f "
                 "p50/p99 ms: open %.2f/%.2f write %.2f/%.2f (turn %.2f/%.2f busy %.2f/%.2f) "
                 "close %.2f/%.2f total %.2f/%.2f\n",
                 kind.c_str(), who, static_cast<unsigned long long>(commits),
                 static_cast<unsigned long long>(cli_turn_waits), cli_turn_wait_us / 1000.0,
                 cli_busy_us / 1000.0, percentile(dbg_open, 0.5), percentile(dbg_open, 0.99),
                 percentile(dbg_write, 0.5), percentile(dbg_write, 0.99), percentile(dbg_turn, 0.5),
                 percentile(dbg_turn, 0.99), percentile(dbg_busy, 0.5), percentile(dbg_busy, 0.99),
                 percentile(dbg_close, 0.5), percentile(dbg_close, 0.99), percentile(lat, 0.5),
                 percentile(lat, 0.99));
  }
  {
    std::ofstream out(path.string() + ".lat." + std::to_string(who));
    for (double v : lat) out << v << '\n';
    std::ofstream out_read(path.string() + ".latr." + std::to_string(who));
    for (double v : lat_read) out_read << v << '\n';
  }
  if (std::getenv("COORDKIT_BENCH_DEBUG") != nullptr && cli && !naive) {
    // One line per successful operation: total late open turn busy write close (ms).
    std::ofstream out(path.string() + ".phases." + std::to_string(who));
    for (std::size_t i = 0; i < dbg_close.size(); ++i) {
      out << dbg_open[i] + dbg_write[i] + dbg_close[i] << ' ' << dbg_late[i] << ' '
          << dbg_open[i] - dbg_late[i] << ' ' << dbg_turn[i] << ' ' << dbg_busy[i] << ' '
          << dbg_write[i] - dbg_turn[i] - dbg_busy[i] << ' ' << dbg_close[i] << '\n';
    }
  }
  if (!in_turn.empty()) {
    // One line per write: InTurn's fields.
    std::ofstream out(path.string() + ".inturn." + std::to_string(who));
    for (const InTurn& it : in_turn) {
      for (double x : it.v) out << x << ' ';
      out << '\n';
    }
  }
  if (!cli) {
    std::printf("WINDOWS %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", window_commits[0],
                window_commits[1], window_commits[2], window_commits[3]);
  }
  std::printf("RESULT %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", commits, surfaced, read_commits);
  std::fflush(stdout);
  return 0;
}

struct Child {
  pid_t pid = -1;
  FILE* out = nullptr;  // its stdout
  int in = -1;          // its stdin
};

Child spawn_worker(const std::string& self, const std::string& kind, const fs::path& path, int who,
                   double seconds, const std::string& raw_key) {
  int to_child[2];
  int from_child[2];
  if (::pipe2(to_child, O_CLOEXEC) != 0 || ::pipe2(from_child, O_CLOEXEC) != 0) std::abort();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(to_child[0], 0);
    ::dup2(from_child[1], 1);
    const std::string who_s = std::to_string(who);
    const std::string sec_s = std::to_string(seconds);
    // The raw key goes through the environment of a private child, never argv.
    ::setenv("COORDKIT_BENCH_RAW_KEY", raw_key.c_str(), 1);
    ::execl(self.c_str(), self.c_str(), "--worker", kind.c_str(), path.c_str(), who_s.c_str(),
            sec_s.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  Child c;
  c.pid = pid;
  c.in = to_child[1];
  c.out = ::fdopen(from_child[0], "r");
  return c;
}

// MultiResult: one or more stretches of a multi-process mix, summed.
struct MultiResult {
  double seconds = 0;
  std::uint64_t writer_commits = 0;
  std::uint64_t cli_commits = 0;  // the CLIs' transactions (reads in the controls)
  std::uint64_t surfaced = 0;
  std::vector<double> cli_lat_ms;  // every CLI-like open-write-close (or open-read-close)

  double tps() const { return ratio(static_cast<double>(writer_commits + cli_commits), seconds); }
  // service_tps: the long-lived writer's own rate.
  double service_tps() const { return ratio(static_cast<double>(writer_commits), seconds); }
  double cli_p99_ms() const { return percentile(cli_lat_ms, 0.99); }
  double cli_max_ms() const {
    return cli_lat_ms.empty() ? 0 : *std::max_element(cli_lat_ms.begin(), cli_lat_ms.end());
  }
  void add(const MultiResult& o) {
    seconds += o.seconds;
    writer_commits += o.writer_commits;
    cli_commits += o.cli_commits;
    surfaced += o.surfaced;
    cli_lat_ms.insert(cli_lat_ms.end(), o.cli_lat_ms.begin(), o.cli_lat_ms.end());
  }
};

// print_tail_split: with COORDKIT_BENCH_DEBUG, what the CLIs' operations at
// and above their p99 spent their time on (the mean of each phase over those
// operations, beside the median operation's phases), from the phase records
// the CLI workers wrote.
void print_tail_split(const std::string& cli_kind, const fs::path& path, int clis) {
  static constexpr int kPhases = 7;
  static constexpr const char* kNames[kPhases] = {"total", "late",  "open", "turn",
                                                  "busy",  "write", "close"};
  std::vector<std::array<double, kPhases>> ops;
  for (int i = 1; i <= clis; ++i) {
    std::ifstream in(path.string() + ".phases." + std::to_string(i));
    std::array<double, kPhases> op{};
    while (in >> op[0] >> op[1] >> op[2] >> op[3] >> op[4] >> op[5] >> op[6]) ops.push_back(op);
  }
  if (ops.empty()) return;
  std::sort(ops.begin(), ops.end(), [](const auto& a, const auto& b) { return a[0] < b[0]; });
  const std::size_t p99 =
      std::min(ops.size() - 1,
               static_cast<std::size_t>(std::lround(0.99 * static_cast<double>(ops.size() - 1))));
  std::array<double, kPhases> tail{};
  for (std::size_t i = p99; i < ops.size(); ++i) {
    for (int k = 0; k < kPhases; ++k) tail[k] += ops[i][k];
  }
  const double n = static_cast<double>(ops.size() - p99);
  std::string line = cli_kind + " ops at/above p99 (" + std::to_string(ops.size() - p99) + " of " +
                     std::to_string(ops.size()) + "), mean ms:";
  char buf[64];
  for (int k = 0; k < kPhases; ++k) {
    std::snprintf(buf, sizeof buf, " %s %.2f", kNames[k], tail[k] / n);
    line += buf;
  }
  line += "; median op:";
  for (int k = 0; k < kPhases; ++k) {
    std::snprintf(buf, sizeof buf, " %s %.2f", kNames[k], ops[ops.size() / 2][k]);
    line += buf;
  }
  std::fprintf(stderr, "%s\n", line.c_str());
}

// print_service_split: with COORDKIT_BENCH_DEBUG, where the service's time
// went beside these CLIs: its CPU time and pages read per transaction, its
// waits for the write turn (in all, and per CLI write), and, for writing
// CLIs, the mean of what each CLI write did while it held the turn.
void print_service_split(const std::string& cli_kind, const fs::path& path, int clis,
                         double seconds) {
  std::ifstream svc(path.string() + ".service");
  double commits = 0, waits = 0, wait_us = 0, cpu_us = 0, misses = 0;
  if (!(svc >> commits >> waits >> wait_us >> cpu_us >> misses) || commits == 0) return;
  static constexpr int kFields = InTurn::kFields;
  std::array<std::vector<double>, kFields> f;
  for (int i = 1; i <= clis; ++i) {
    std::ifstream in(path.string() + ".inturn." + std::to_string(i));
    for (;;) {
      std::array<double, kFields> v{};
      bool ok = true;
      for (double& x : v) ok = ok && static_cast<bool>(in >> x);
      if (!ok) break;
      for (int k = 0; k < kFields; ++k) f[k].push_back(v[k]);
    }
    fs::remove(path.string() + ".inturn." + std::to_string(i));
  }
  std::fprintf(stderr,
               "%s service: %.0f tx/s, cpu %.1f us/tx (%.0f%% of the wall), pages read %.2f/tx; "
               "turn waits %.0f, %.1f ms in all (%.1f%% of the wall)",
               cli_kind.c_str(), commits / seconds, cpu_us / commits, cpu_us / (seconds * 1e4),
               misses / commits, waits, wait_us / 1000, wait_us / (seconds * 1e4));
  const double n = static_cast<double>(f[0].size());
  if (n > 0) {
    auto mean = [&](int k) {
      double t = 0;
      for (double x : f[k]) t += x;
      return t / n;
    };
    std::fprintf(
        stderr,
        ", %.0f us per CLI write; CLI writes %.0f, in the turn (us, mean / p50): "
        "held %.1f / %.1f (p99 %.1f) = outside the statements %.1f / %.1f + BEGIN IMMEDIATE "
        "%.1f / %.1f + insert prepare %.1f / %.1f + insert step %.1f / %.1f + to "
        "COMMIT %.1f / %.1f + COMMIT %.1f / %.1f; pages read %.2f written %.2f; "
        "release to return %.1f / %.1f",
        wait_us / n, n, mean(0), median(f[0]), percentile(f[0], 0.99), mean(1), median(f[1]),
        mean(2), median(f[2]), mean(3), median(f[3]), mean(4), median(f[4]), mean(5), median(f[5]),
        mean(6), median(f[6]), mean(8), mean(9), mean(7), median(f[7]));
  }
  std::fprintf(stderr, "\n");
  if (cli_mode(cli_kind).alternate) {
    std::ifstream in(path.string() + ".service-windows");
    for (const char* name : {"write", "read"}) {
      double n = 0, cpu = 0, wait = 0, pages = 0;
      if (!(in >> n >> cpu >> wait >> pages) || n == 0) break;
      const double wall_us = seconds / 2 * 1e6;
      std::fprintf(stderr,
                   "  service in the %s windows: %.0f tx/s, cpu %.1f us/tx, on the CPU %.1f%% of "
                   "the wall, waiting for the turn %.1f%%, neither %.1f%%; pages read %.3f/tx\n",
                   name, n / (seconds / 2), cpu / n, 100 * cpu / wall_us, 100 * wait / wall_us,
                   100 * (1 - (cpu + wait) / wall_us), pages / n);
    }
  }
}

// MixRun: one run of a mix; for an alternating mix (kind "-alt"), `mix` is
// its write windows and `control` its read windows, each half the stretch.
struct MixRun {
  MultiResult mix;
  MultiResult control;
};

// run_multi: 1 long-lived writer process + `clis` CLI-like processes of
// kind `cli_kind` ("cli", "cli-read", "cli-paced", "cli-read-paced",
// "cli-alt-paced"; see worker_main), all started at one time.
MixRun run_multi(const std::string& self, bool naive, const std::string& cli_kind,
                 const fs::path& path, int clis, double seconds, const std::string& raw_key) {
  std::vector<Child> children;
  const std::string prefix = naive ? "naive-" : "";
  children.push_back(spawn_worker(self, prefix + "writer", path, 0, seconds, raw_key));
  for (int i = 1; i <= clis; ++i) {
    children.push_back(spawn_worker(self, prefix + cli_kind, path, i, seconds, raw_key));
  }
  char line[256];
  for (auto& c : children) {
    if (std::fgets(line, sizeof line, c.out) == nullptr) std::abort();
  }
  // Every worker starts at the same time (steady clock, the same across
  // processes), so the windows of an alternating mix line up.
  const auto start = Clock::now() + std::chrono::milliseconds(20);
  const std::string go =
      "GO " +
      std::to_string(
          std::chrono::duration_cast<std::chrono::nanoseconds>(start.time_since_epoch()).count()) +
      "\n";
  for (auto& c : children) {
    if (::write(c.in, go.data(), go.size()) != static_cast<ssize_t>(go.size())) std::abort();
  }
  const bool alternate = cli_mode(cli_kind).alternate;
  MixRun run;
  MultiResult& r = run.mix;
  r.seconds = alternate ? seconds / 2 : seconds;
  run.control.seconds = alternate ? seconds / 2 : 0;
  for (std::size_t i = 0; i < children.size(); ++i) {
    Child& c = children[i];
    unsigned long long commits = 0;
    unsigned long long surfaced = 0;
    unsigned long long read_commits = 0;
    unsigned long long w[4] = {};
    while (std::fgets(line, sizeof line, c.out) != nullptr) {
      std::sscanf(line, "WINDOWS %llu %llu %llu %llu", &w[0], &w[1], &w[2], &w[3]);
      if (std::sscanf(line, "RESULT %llu %llu %llu", &commits, &surfaced, &read_commits) >= 2) {
        break;
      }
    }
    ::waitpid(c.pid, nullptr, 0);
    std::fclose(c.out);
    ::close(c.in);
    r.surfaced += surfaced;
    if (i == 0) {
      if (alternate) {
        // Write windows 0 and 3, read windows 1 and 2 (writes_in_window).
        r.writer_commits += w[0] + w[3];
        run.control.writer_commits += w[1] + w[2];
      } else {
        r.writer_commits += commits;
      }
      continue;
    }
    r.cli_commits += commits - read_commits;
    run.control.cli_commits += read_commits;
    auto read_lat = [&](const char* suffix, std::vector<double>* out) {
      std::ifstream in(path.string() + suffix + std::to_string(i));
      double v;
      while (in >> v) out->push_back(v);
    };
    read_lat(".lat.", &r.cli_lat_ms);
    read_lat(".latr.", &run.control.cli_lat_ms);
  }
  if (std::getenv("COORDKIT_BENCH_DEBUG") != nullptr && !naive) {
    print_tail_split(cli_kind, path, clis);
    print_service_split(cli_kind, path, clis, seconds);
  }
  return run;
}

// ---------------------------------------------------------------- phases

double single_writer_tps_lib(const fs::path& path, db::Synchronous sync, double seconds,
                             std::uint64_t* surfaced) {
  auto d = db::Database::open(lib_options(path, sync));
  std::uint64_t n = 0;
  const auto start = Clock::now();
  while (seconds_since(start) < seconds) {
    d.write([](db::Transaction& tx) { lib_insert(tx, 0); });
    ++n;
  }
  const double tps = static_cast<double>(n) / seconds_since(start);
  *surfaced += d.counters().surfaced_errors;
  return tps;
}

double single_writer_tps_naive(const fs::path& path, const std::string& raw_key,
                               db::Synchronous sync, double seconds) {
  NaiveDb d(path, raw_key, sync);
  std::uint64_t n = 0;
  const auto start = Clock::now();
  while (seconds_since(start) < seconds) n += d.write(0) ? 1 : 0;
  return static_cast<double>(n) / seconds_since(start);
}

double group_commit_tps(const fs::path& path, int threads, double seconds,
                        std::uint64_t* surfaced) {
  auto store = db::Store::open(lib_options(path, db::Synchronous::kFull),
                               {.readers = 2, .group_commit = true, .max_batch = 64});
  std::atomic<bool> go{false};
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> n{0};
  std::atomic<std::uint64_t> errors{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      while (!stop.load()) {
        try {
          store->write([&](db::Transaction& tx) { lib_insert(tx, t); });
          n.fetch_add(1);
        } catch (const db::Error&) {
          errors.fetch_add(1);
        }
      }
    });
  }
  const auto start = Clock::now();
  go.store(true);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop.store(true);
  for (auto& t : ts) t.join();
  const double tps = static_cast<double>(n.load()) / seconds_since(start);
  *surfaced += errors.load() + store->counters().surfaced_errors;
  return tps;
}

// thread_cpu_seconds: CPU time (user + system) of the calling thread.
double thread_cpu_seconds() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// wrapper_overhead: library / raw CPU time for 100k inserts in batches of
// 1000, same file. The two sides alternate every 10 batches, each stretch
// starting from an empty WAL (emptied outside the timing, so neither side
// runs a checkpoint inside it and neither inherits the other's WAL); a
// round sums 10 stretches per side, and the result is the median of five
// rounds. CPU time of this thread, because what the wrapper adds is CPU
// work, and alternating often because this machine's speed drifts: the
// same 100k inserts took 95 to 170 ms of CPU from one run to the next.
double wrapper_overhead(const fs::path& path, const std::string& raw_key, std::uint64_t* surfaced) {
  static constexpr int kBatch = 1000;
  static constexpr int kBatchesPerStretch = 10;
  static constexpr int kStretches = 10;  // 10 x 10 x 1000 = 100k rows per side per round
  auto d = db::Database::open(lib_options(path));
  NaiveDb raw(path, raw_key, db::Synchronous::kNormal);
  // stretch: kBatchesPerStretch batches through `write_batch`, from an empty WAL.
  auto stretch = [&](auto write_batch) {
    d.checkpoint(db::CheckpointMode::kTruncate);
    const double t0 = thread_cpu_seconds();
    for (int b = 0; b < kBatchesPerStretch; ++b) write_batch();
    return thread_cpu_seconds() - t0;
  };
  auto lib_stretch = [&] {
    return stretch([&] {
      d.write([](db::Transaction& tx) {
        for (int i = 0; i < kBatch; ++i) lib_insert(tx, i);
      });
    });
  };
  auto raw_stretch = [&] {
    return stretch([&] {
      if (!raw.write(1, kBatch)) ++*surfaced;
    });
  };
  std::vector<double> ratios;
  for (int round = 0; round < 5; ++round) {
    double lib_s = 0;
    double raw_s = 0;
    for (int k = 0; k < kStretches; ++k) {
      if (k % 2 == 0) {
        lib_s += lib_stretch();
        raw_s += raw_stretch();
      } else {
        raw_s += raw_stretch();
        lib_s += lib_stretch();
      }
    }
    ratios.push_back(lib_s / raw_s);
    if (std::getenv("COORDKIT_BENCH_DEBUG") != nullptr) {
      std::fprintf(stderr, "[overhead %d] library %.1f ms, raw %.1f ms CPU\n", round, lib_s * 1000,
                   raw_s * 1000);
    }
  }
  *surfaced += d.counters().surfaced_errors;
  return median(ratios);
}

// The mixes of a multi-process phase, each one long-lived writer (the
// service) and four CLI-like processes, in the order each round runs them:
//  - kTight: the CLIs open, write, close back to back (the first figures
//    this benchmark had; they move with how fast the CLI loops run);
//  - kControl: the CPU-share control: the same CLIs open, read, close back
//    to back and take no write turn. On two cores, five busy processes share
//    the CPU whatever the locking does; the service's rate here is what that
//    sharing alone leaves it, and the tight mix against it is what the write
//    turn costs;
//  - kPaced: each CLI writes at kPacedRate per second, as scripts and people
//    do;
//  - kPacedControl: the paced mix's CPU-share control: each CLI opens, reads
//    and closes at kPacedRate per second. The paced mix's service ratio is
//    taken against this one, which costs the CPU the paced CLIs cost; against
//    the tight control (whose CLIs burn whole cores) any paced mix would look
//    better than one writer's share.
// The paced mix and its control run as one: the same processes alternate
// between them within each stretch (write, read, read, write; see
// writes_in_window), so the pair sees the same machine. Run as two stretches
// one after the other, the same build's ratio ranged 0.66-1.03 from one
// pair of 1 s stretches to the next.
enum MixKind { kTight, kControl, kPaced, kPacedControl, kMixKinds };
// kCliKind: the CLI workers' kind for each mix (kPacedControl runs inside
// kPaced's).
constexpr const char* kCliKind[kMixKinds] = {"cli", "cli-read", "cli-alt-paced", ""};
constexpr const char* kMixName[kMixKinds] = {"tight", "control", "paced", "paced_control"};

// PhaseResult: one client's multi-process phase. (clang-tidy names the loop
// variable of its implicit array copy, __i0, as if it were ours.)
struct PhaseResult {  // NOLINT(bugprone-reserved-identifier,readability-identifier-naming)
  double single = 0;  // one writer alone, mean of the baseline stretches
  MultiResult mix[kMixKinds];
  // paced_rounds: each round's paced service ratio (the paced mix's service
  // rate against the paced control's in the same round).
  std::vector<double> paced_rounds;
};

// alternating_mix: `rounds` rounds, each running every mix of `kinds` for
// seconds / rounds, bracketed by stretches of the single-writer baseline
// (rounds + 1 of them, seconds / (rounds + 1) each, so the baseline runs as
// long as each mix), summed into `*out`. This machine's speed drifts over
// seconds: with one baseline stretch before and one after the mix, two runs
// whose mixes committed nearly the same (67k and 70k) gave ratios of 0.69
// and 0.81; alternating averages more of the drift out, and a mix is
// compared with its control from the same rounds. The paced mix runs with
// its control (run_mix fills both); each round's paced ratio is kept. With
// COORDKIT_BENCH_DEBUG, prints each round's figures.
template <class Baseline, class Mix>
void alternating_mix(double seconds, int rounds, const std::vector<MixKind>& kinds,
                     Baseline baseline, Mix run_mix, PhaseResult* out) {
  const double base_stretch = seconds / (rounds + 1);
  double before = baseline(base_stretch);
  double sum = before;
  for (int r = 0; r < rounds; ++r) {
    MultiResult m[kMixKinds];
    for (MixKind k : kinds) run_mix(k, seconds / rounds, m);
    if (m[kPacedControl].service_tps() > 0) {
      out->paced_rounds.push_back(ratio(m[kPaced].service_tps(), m[kPacedControl].service_tps()));
    }
    const double after = baseline(base_stretch);
    sum += after;
    if (std::getenv("COORDKIT_BENCH_DEBUG") != nullptr) {
      std::fprintf(stderr,
                   "round %d: baseline %.0f -> %.0f; tight %.0f tx/s (ratio %.3f, against the "
                   "control %.3f); paced service %.0f tx/s (against its control %.3f), cli p99 "
                   "%.2f ms\n",
                   r, before, after, m[kTight].tps(), m[kTight].tps() / ((before + after) / 2),
                   ratio(m[kTight].tps(), m[kControl].service_tps()), m[kPaced].service_tps(),
                   ratio(m[kPaced].service_tps(), m[kPacedControl].service_tps()),
                   m[kPaced].cli_p99_ms());
    }
    for (int k = 0; k < kMixKinds; ++k) out->mix[k].add(m[k]);
    before = after;
  }
  out->single = sum / (rounds + 1);
}

// say: one figure, one line.
void say(const std::string& name, double v, const char* unit) {
  std::printf("%-32s %12.3f %s\n", name.c_str(), v, unit);
  std::fflush(stdout);
}

// Json: the final line, built one figure at a time.
class Json {
 public:
  void add(const std::string& name, double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    text_ += (text_.empty() ? "{" : ", ") + ("\"" + name + "\": ") + buf;
  }
  // add_list: a JSON array of figures.
  void add_list(const std::string& name, const std::vector<double>& v, int decimals) {
    std::string list;
    char buf[64];
    for (double x : v) {
      std::snprintf(buf, sizeof buf, "%.*f", decimals, x);
      list += (list.empty() ? "" : ", ") + std::string(buf);
    }
    text_ += (text_.empty() ? "{" : ", ") + ("\"" + name + "\": [") + list + "]";
  }
  std::string str() const { return text_ + "}"; }

 private:
  std::string text_;
};

// Figure: one named figure of a phase, printed on its own line and in the JSON.
struct Figure {
  std::string name;
  double value;
  int decimals;
  std::string unit;
};

// The paced mix's targets: the service keeps this share of its rate against
// the paced control, and the CLIs' p99 stays within this.
constexpr double kPacedServiceTarget = 0.9;
constexpr double kPacedP99TargetMs = 10;

// paced_service_ratio: the median of the rounds' paced service ratios (0
// when the paced mix did not run).
double paced_service_ratio(const PhaseResult& r) {
  return r.paced_rounds.empty() ? 0 : median(r.paced_rounds);
}

// phase_figures: what one client's phase shows, in the order printed. A
// phase that did not run gives zeros, so the JSON always has every key.
std::vector<Figure> phase_figures(const PhaseResult& r) {
  const MultiResult& tight = r.mix[kTight];
  const MultiResult& control = r.mix[kControl];
  const MultiResult& paced = r.mix[kPaced];
  const MultiResult& paced_control = r.mix[kPacedControl];
  std::uint64_t errors = 0;
  for (const MultiResult& m : r.mix) errors += m.surfaced;
  return {
      {"single_writer_tps", r.single, 0, "tx/s (NORMAL; alternating with the mixes)"},
      // The tight-loop mix.
      {"multi_process_tps", tight.tps(), 0, "tx/s (1 writer + 4 open-write-close loops)"},
      {"multi_process_ratio", ratio(tight.tps(), r.single), 3, "(against one writer alone)"},
      {"cli_p99_ms", tight.cli_p99_ms(), 3, "ms (open, write, close)"},
      {"cli_max_ms", tight.cli_max_ms(), 3, "ms"},
      // The CPU-share control, and the tight mix against it.
      {"control_service_tps", control.service_tps(), 0,
       "tx/s (the writer beside 4 open-read-close loops)"},
      {"control_ratio", ratio(control.service_tps(), r.single), 3,
       "(the CPU share alone, against one writer alone)"},
      {"multi_process_vs_control", ratio(tight.tps(), control.service_tps()), 3,
       "(the tight mix against the control: what the write turn costs)"},
      // The paced mix against its control.
      {"paced_control_service_tps", paced_control.service_tps(), 0,
       "tx/s (the writer beside 4 open-read-close at 100/s each)"},
      {"paced_service_tps", paced.service_tps(), 0,
       "tx/s (the writer beside 4 open-write-close at 100/s each)"},
      {"paced_cli_writes_per_s", ratio(static_cast<double>(paced.cli_commits), paced.seconds), 0,
       "writes/s (the 4 CLIs together)"},
      {"paced_service_ratio", paced_service_ratio(r), 3,
       "(median of the rounds' ratios against the paced control; target >= 0.9)"},
      {"paced_service_ratio_pooled", ratio(paced.service_tps(), paced_control.service_tps()), 3,
       "(all rounds' paced service commits against all of the paced control's)"},
      {"paced_cli_p99_ms", paced.cli_p99_ms(), 3, "ms (from each write's due time; target <= 10)"},
      {"paced_cli_max_ms", paced.cli_max_ms(), 3, "ms"},
      {"errors", static_cast<double>(errors), 0, "(surfaced in the mixes)"},
  };
}

// mix_phase: one writer alone, alternating with every mix (MixKind) through
// the library or (naive) plain SQLCipher. Prints its figures, named with
// "naive_" in front for the naive client.
PhaseResult mix_phase(const std::string& self, const fs::path& dir, double seconds, int rounds,
                      const std::vector<MixKind>& kinds, bool naive, std::uint64_t* surfaced) {
  const fs::path path = dir / (naive ? "multi-naive.db" : "multi-lib.db");
  { auto d = db::Database::open(lib_options(path)); }
  const std::string raw_key = naive_raw_key(path);
  PhaseResult r;
  alternating_mix(
      seconds, rounds, kinds,
      [&](double s) {
        return naive ? single_writer_tps_naive(path, raw_key, db::Synchronous::kNormal, s)
                     : single_writer_tps_lib(path, db::Synchronous::kNormal, s, surfaced);
      },
      [&](MixKind k, double s, MultiResult* m) {
        MixRun run = run_multi(self, naive, kCliKind[k], path, 4, s, raw_key);
        m[k] = std::move(run.mix);
        if (k == kPaced) m[kPacedControl] = std::move(run.control);
      },
      &r);
  const std::string p = naive ? "naive_" : "";
  for (const Figure& f : phase_figures(r)) say(p + f.name, f.value, f.unit.c_str());
  if (!naive) {
    for (const MultiResult& m : r.mix) *surfaced += m.surfaced;
    const MultiResult& paced = r.mix[kPaced];
    const double service = paced_service_ratio(r);
    std::string rounds_text;
    for (double v : r.paced_rounds) {
      char buf[16];
      std::snprintf(buf, sizeof buf, " %.3f", v);
      rounds_text += buf;
    }
    std::printf("paced service ratio by round:%s\n", rounds_text.c_str());
    const bool met = service >= kPacedServiceTarget && paced.cli_p99_ms() <= kPacedP99TargetMs;
    std::printf("paced targets (service >= %.1f of its control, cli p99 <= %.0f ms): %s\n",
                kPacedServiceTarget, kPacedP99TargetMs, met ? "met" : "MISSED");
  }
  if (std::getenv("COORDKIT_BENCH_DEBUG") != nullptr) {
    for (int k = 0; k < kMixKinds; ++k) {
      const auto& lat = r.mix[k].cli_lat_ms;
      if (lat.empty()) continue;
      std::fprintf(stderr, "%s%s cli latency ms p50 %.2f p90 %.2f p95 %.2f p99 %.2f p99.9 %.2f\n",
                   p.c_str(), kMixName[k], percentile(lat, 0.5), percentile(lat, 0.9),
                   percentile(lat, 0.95), percentile(lat, 0.99), percentile(lat, 0.999));
    }
  }
  return r;
}

int bench_main(const std::string& self, const fs::path& dir, double seconds, int rounds,
               const std::string& only) {
  auto want = [&](const char* phase) { return only.empty() || only == phase; };
  std::uint64_t surfaced = 0;
  // Opens: passphrase (the KDF every time, cache cleared) vs derived (cached).
  double open_passphrase_ms = 0;
  double reopen_derived_ms = 0;
  if (want("open")) {
    const fs::path open_db = dir / "open.db";
    { auto d = db::Database::open(lib_options(open_db)); }
    std::vector<double> pass_ms;
    std::vector<double> derived_ms;
    {
      // A long-lived connection, as a running service would hold.
      auto service = db::Database::open(lib_options(open_db));
      coordkit::db::internal::Salt salt{};
      {
        std::ifstream in(open_db, std::ios::binary);
        in.read(reinterpret_cast<char*>(salt.data()), 16);
      }
      for (int i = 0; i < 7; ++i) {
        coordkit::db::internal::KeyCache::instance().forget_salt(salt);
        const auto t0 = Clock::now();
        auto d = db::Database::open(lib_options(open_db));
        d.read([](db::Transaction& tx) { tx.query_value<int>("SELECT count(*) FROM rows"); });
        pass_ms.push_back(seconds_since(t0) * 1000);
      }
      for (int i = 0; i < 300; ++i) {
        const auto t0 = Clock::now();
        auto d = db::Database::open(lib_options(open_db));
        d.read([](db::Transaction& tx) { tx.query_value<int>("SELECT count(*) FROM rows"); });
        derived_ms.push_back(seconds_since(t0) * 1000);
      }
    }
    open_passphrase_ms = median(pass_ms);
    reopen_derived_ms = median(derived_ms);
    say("open_passphrase_ms", open_passphrase_ms, "ms (median, KDF each time)");
    say("reopen_derived_ms", reopen_derived_ms, "ms (median, derived key cached)");
    say("reopen_speedup", open_passphrase_ms / reopen_derived_ms, "x");
  }

  PhaseResult lib;
  const std::vector<MixKind> all = {kTight, kControl, kPaced};
  if (want("multi")) lib = mix_phase(self, dir, seconds, rounds, all, false, &surfaced);
  // --only paced: the paced mix and its control alone (with the baseline).
  if (only == "paced") {
    lib = mix_phase(self, dir, seconds, rounds, {kPaced}, false, &surfaced);
  }
  PhaseResult naive;
  if (want("naive")) naive = mix_phase(self, dir, seconds, rounds, all, true, &surfaced);
  double single_full = 0;
  double gc = 0;
  if (want("group")) {
    // Group commit with FULL against one writer with FULL.
    const fs::path full_db = dir / "full.db";
    single_full = single_writer_tps_lib(full_db, db::Synchronous::kFull, seconds, &surfaced);
    say("single_writer_full_tps", single_full, "tx/s (library, FULL)");
    const fs::path gc_db = dir / "group.db";
    gc = group_commit_tps(gc_db, 64, seconds, &surfaced);
    say("group_commit_tps", gc, "tx/s (Store, 64 threads, FULL)");
    say("group_commit_speedup", gc / single_full, "x");
  }
  double overhead = 0;
  if (want("overhead")) {
    // Wrapper overhead.
    const fs::path bulk_db = dir / "bulk.db";
    { auto d = db::Database::open(lib_options(bulk_db)); }
    overhead = wrapper_overhead(bulk_db, naive_raw_key(bulk_db), &surfaced);
    say("wrapper_overhead", overhead, "(library / raw CPU time, 100k inserts in batches of 1000)");
  }
  say("surfaced_errors", static_cast<double>(surfaced), "");

  // The JSON line: the library's and the naive client's figures side by side.
  Json json;
  json.add("open_passphrase_ms", open_passphrase_ms, 3);
  json.add("reopen_derived_ms", reopen_derived_ms, 3);
  json.add("reopen_speedup", ratio(open_passphrase_ms, reopen_derived_ms), 1);
  const std::vector<Figure> lib_figures = phase_figures(lib);
  const std::vector<Figure> naive_figures = phase_figures(naive);
  for (std::size_t i = 0; i < lib_figures.size(); ++i) {
    // The library's mix errors are in surfaced_errors.
    if (lib_figures[i].name != "errors") {
      json.add(lib_figures[i].name, lib_figures[i].value, lib_figures[i].decimals);
    }
    json.add("naive_" + naive_figures[i].name, naive_figures[i].value, naive_figures[i].decimals);
    if (lib_figures[i].name == "paced_service_ratio") {
      json.add_list("paced_service_ratio_rounds", lib.paced_rounds, 3);
      json.add_list("naive_paced_service_ratio_rounds", naive.paced_rounds, 3);
    }
  }
  json.add("single_writer_full_tps", single_full, 0);
  json.add("group_commit_tps", gc, 0);
  json.add("group_commit_speedup", ratio(gc, single_full), 2);
  json.add("wrapper_overhead", overhead, 3);
  json.add("surfaced_errors", static_cast<double>(surfaced), 0);
  std::printf("%s\n", json.str().c_str());
  return 0;
}

}  // namespace

namespace {

int run(int argc, char** argv) {
  if (argc >= 6 && std::strcmp(argv[1], "--worker") == 0) {
    const char* key = std::getenv("COORDKIT_BENCH_RAW_KEY");
    return worker_main(argv[2], argv[3], std::atoi(argv[4]), std::atof(argv[5]),
                       key != nullptr ? key : "");
  }
  double seconds = 5;
  int rounds = kMixRounds;
  fs::path dir;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--seconds" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else if (a == "--rounds" && i + 1 < argc) {
      rounds = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else if (a == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: db_benchmark [--seconds S] [--rounds R] [--dir DIR]\n"
                   "                    [--only open|multi|paced|naive|group|overhead]\n"
                   "  runs every phase for S seconds (default 5) in DIR (default: a new\n"
                   "  directory under $TMPDIR or /tmp), prints figures and a JSON line;\n"
                   "  the multi-process phases alternate their mixes in R rounds (default 5);\n"
                   "  --only paced runs the paced mix and its control alone\n");
      return 2;
    }
  }
  if (dir.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp != nullptr ? tmp : "/tmp") + "/coordkit-db-bench.XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) return 1;
    dir = templ;
  }
  fs::create_directories(dir);
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  const int rc = bench_main(self, dir, seconds, rounds, only);
  std::error_code ec;
  fs::remove_all(dir, ec);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "db_benchmark: %s\n", e.what());
    return 1;
  }
}

// coordkit/stress/worker.h: the stress tester's CLI-like worker process
// (`coordkit-stress worker`, hidden). It behaves like coordctl on the same
// database file as the gateway: open with the key, create, read or
// read-modify-write one record (a get, then a put with the version it read,
// If-Match style), close; or, long-lived, keep one connection open.
//
// Every operation goes to its JSON-lines ledger file (coordkit/stress/
// ledger.h) with one write() per line: an intent line before each write and
// the acknowledgement after its commit, so a kill -9 at any moment loses no
// acknowledged operation and leaves an unanswered write marked in doubt.
//
// Example:
//   coordkit::stress::WorkerOptions o{.database = db, .key_file = key, .out = "w0.jsonl",
//                                     .actor = "worker-0", .duration_ms = 5000};
//   int rc = coordkit::stress::run_worker(o);
#ifndef COORDKIT_APPS_STRESS_WORKER_H_
#define COORDKIT_APPS_STRESS_WORKER_H_

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include "coordkit/apps/key_source.h"
#include "coordkit/apps/records.h"
#include "coordkit/base/unique_fd.h"
#include "coordkit/db/db.h"
#include "coordkit/stress/ledger.h"

namespace coordkit::stress {

// WorkerOptions: what the parent passes on the worker's command line.
struct WorkerOptions {
  std::filesystem::path database{};
  std::optional<std::filesystem::path> key_file{};
  std::filesystem::path out{};
  std::string actor = "worker";
  std::string collection = "stress";
  std::uint64_t seed = 1;
  std::int64_t duration_ms = 10000;
  std::uint64_t max_ops = 0;  // 0: no limit
  bool long_lived = false;
  int pause_ms = 2;  // between operations, like a script calling coordctl
};

// recent_cursor: a list cursor that skips records created more than
// `age_ms` ago (ids are UUIDv7: their first 48 bits are the creation time),
// so workers and HTTP connections contend on the same recent records.
inline std::string recent_cursor(const std::string& collection, std::int64_t age_ms) {
  const std::int64_t t = std::max<std::int64_t>(0, records::now_ms() - age_ms);
  char buf[20];
  std::snprintf(buf, sizeof buf, "%08llx-%04llx",
                static_cast<unsigned long long>((t >> 16) & 0xffffffffLL),
                static_cast<unsigned long long>(t & 0xffffLL));
  return records::encode_cursor(collection, buf);
}

namespace internal {

class LedgerFile {
 public:
  explicit LedgerFile(const std::filesystem::path& path)
      : fd_(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) {
    if (!fd_) throw std::runtime_error("cannot open " + path.string());
  }
  void line(const nlohmann::json& j) {
    const std::string s = j.dump() + "\n";
    std::size_t done = 0;
    while (done < s.size()) {
      const ssize_t n = ::write(fd_.get(), s.data() + done, s.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw std::runtime_error("ledger write failed");
      }
      done += static_cast<std::size_t>(n);
    }
  }

 private:
  UniqueFd fd_;
};

inline bool transient(const db::Error& e) {
  return e.code() == db::ErrorCode::kBusy || e.code() == db::ErrorCode::kTimeout;
}

}  // namespace internal

// run_worker: runs until duration_ms or max_ops; returns 0, or 1 (with a
// line on stderr saying why) when the database could not be opened at all.
// Transient errors that reach it are counted in its counters line, never
// hidden.
inline int run_worker(const WorkerOptions& o) {
  namespace rec = records;
  internal::LedgerFile ledger(o.out);
  const db::Key key = keys::load_key({.key_file = o.key_file});
  const auto open = [&] {
    db::Options options;
    options.path = o.database;
    options.key = key;
    options.create_if_missing = false;
    options.migrations = rec::migrations();
    return db::Database::open(std::move(options));
  };
  std::mt19937_64 rng(o.seed);
  std::uint64_t seq = 0;
  std::uint64_t unfair = 0, turn_waits = 0, transient = 0, retries = 0;
  std::optional<db::Database> held;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(o.duration_ms);
  const auto base = [&](OpKind k) {
    Op op;
    op.kind = k;
    op.collection = o.collection;
    op.actor = o.actor;
    op.actor_kind = ActorKind::kWorker;
    op.seq = ++seq;
    return op;
  };
  const auto ack = [&](Op op, std::chrono::steady_clock::time_point started) {
    op.t_ms = rec::now_ms();
    op.latency_us =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                       std::chrono::steady_clock::now() - started)
                                       .count());
    ledger.line({{"op", to_json(op)}});
  };
  std::uint64_t done = 0;
  while (std::chrono::steady_clock::now() < until && (o.max_ops == 0 || done < o.max_ops)) {
    ++done;
    const auto started = std::chrono::steady_clock::now();
    std::optional<db::Database> fresh;
    try {
      if (o.long_lived && !held) held.emplace(open());
      if (!o.long_lived) fresh.emplace(open());
    } catch (const db::Error& e) {
      if (internal::transient(e)) {
        ++transient;
        continue;
      }
      std::fprintf(stderr, "coordkit-stress worker %s: cannot open the database: %s\n",
                   o.actor.c_str(), e.what());
      return 1;
    }
    db::Database& d = o.long_lived ? *held : *fresh;
    const int dice = static_cast<int>(rng() % 100);
    try {
      if (dice < 25) {
        const rec::Body body = rec::Body::from_json({{"w", o.actor}, {"n", seq + 1}});
        Op op = base(OpKind::kCreate);
        op.id = rec::new_id();
        op.version = 1;
        op.hash = content_hash_text(body.text());
        ledger.line({{"intent", to_json(op)}});
        const std::int64_t now = rec::now_ms();
        d.write([&](db::Transaction& tx) {
          return rec::insert_new(tx, o.collection, op.id, body, now);
        });
        ack(op, started);
      } else {
        const rec::Page page = d.read([&](db::Transaction& tx) {
          return rec::list(tx, o.collection, recent_cursor(o.collection, 2000), 50, rec::Limits{});
        });
        if (page.records.empty()) continue;
        const std::string id = page.records[rng() % page.records.size()].id;
        const std::optional<rec::Record> got =
            d.read([&](db::Transaction& tx) { return rec::find(tx, o.collection, id); });
        Op read = base(OpKind::kGet);
        read.id = id;
        if (got) {
          read.version = got->version;
          read.hash = content_hash_text(got->body);
        } else {
          read.outcome = Outcome::kNotFound;
        }
        ack(read, started);
        if (dice >= 60 && got) {
          const rec::Body body =
              rec::Body::from_json({{"w", o.actor}, {"n", seq + 1}, {"from", got->version}});
          Op op = base(OpKind::kPut);
          op.id = id;
          op.version = got->version + 1;
          op.hash = content_hash_text(body.text());
          ledger.line({{"intent", to_json(op)}});
          const std::int64_t now = rec::now_ms();
          try {
            d.write([&](db::Transaction& tx) {
              return rec::put(tx, o.collection, id, body, {.if_version = got->version}, now);
            });
          } catch (const rec::Error& e) {
            if (e.code() != rec::ErrorCode::kVersionMismatch) throw;
            op.outcome = Outcome::kConflict;
          }
          ack(op, started);
        }
      }
    } catch (const db::Error& e) {
      if (!internal::transient(e)) throw;
      ++transient;
    }
    const db::Counters c = d.counters();
    if (!o.long_lived) {
      unfair += c.turn_skipped_no_slot + c.turn_skipped_no_gate;
      turn_waits += c.turn_waits;
      retries += c.retries_same + c.reconnects;
    } else {
      unfair = c.turn_skipped_no_slot + c.turn_skipped_no_gate;
      turn_waits = c.turn_waits;
      retries = c.retries_same + c.reconnects;
    }
    ledger.line({{"counters",
                  {{"unfair_writes", unfair},
                   {"turn_waits", turn_waits},
                   {"surfaced_transient", transient},
                   {"retries", retries}}}});
    if (o.pause_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(o.pause_ms));
  }
  return 0;
}

}  // namespace coordkit::stress

#endif  // COORDKIT_APPS_STRESS_WORKER_H_

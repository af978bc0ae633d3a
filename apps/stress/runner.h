// coordkit/stress/runner.h: one stress run: M HTTP connections and N worker
// processes against a gateway, the chaos schedule, the final read-back
// through the gateway and directly through libs/db, the checks and the
// report.
//
// Example:
//   coordkit::stress::RunOptions o;
//   o.spawn_gateway = true;  o.data_dir = dir;  o.key_file = dir / "key";
//   o.gateway_binary = "apps/gateway/coordkit-gateway";
//   coordkit::stress::Report r = coordkit::stress::run(o);
//   return r.ok() ? 0 : 1;
#ifndef COORDKIT_APPS_STRESS_RUNNER_H_
#define COORDKIT_APPS_STRESS_RUNNER_H_

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "coordkit/apps/key_source.h"
#include "coordkit/apps/records.h"
#include "coordkit/db/db.h"
#include "coordkit/ipc/ipc.h"
#include "coordkit/spawn/spawn.h"
#include "coordkit/stress/checks.h"
#include "coordkit/stress/http_client.h"
#include "coordkit/stress/ledger.h"
#include "coordkit/stress/report.h"
#include "coordkit/stress/worker.h"

namespace coordkit::stress {

// Mix: relative weights of the HTTP operations.
struct Mix {
  int create = 20;
  int get = 35;
  int upsert = 30;
  int list = 10;
  int remove = 5;
};

// RunOptions: a run's settings (the `run` command's flags).
struct RunOptions {
  std::string url{};          // the gateway; empty with spawn_gateway
  std::string admin_token{};  // or read from <runtime_dir>/gateway.admin-token
  std::optional<std::filesystem::path> runtime_dir{};
  std::filesystem::path database{};  // for the workers and the direct read-back
  std::optional<std::filesystem::path> key_file{};
  bool spawn_gateway = false;
  std::filesystem::path gateway_binary{};
  std::filesystem::path data_dir{};  // spawn_gateway: the gateway's data dir; else the work dir
  std::filesystem::path work_dir{};  // worker ledgers; default <data_dir>/stress
  std::string collection = "stress";
  int connections = 4;
  int workers = 3;
  int long_lived_workers = 1;
  double duration_s = 10;
  std::uint64_t max_ops = 0;
  double rate = 0;  // total HTTP requests per second; 0: closed loop
  Mix mix{};
  std::uint64_t seed = 1;
  // chaos
  double kill_rate = 0;  // worker kills per second
  double checkpoint_every_s = 0;
  double backup_every_s = 0;
  int graceful_restarts = 0;  // spread over the run: spawned gateway, or restart_command
  // restart_command: for a gateway the tester did not start: after stopping
  // it (shutdown file, or kill -9 of the verified pid from its status file),
  // `/bin/sh -c restart_command` starts it again (e.g. coordctl gateway start).
  std::string restart_command{};
  int kill9_restarts = 0;
  // progress: a status line on stderr while the run goes: rewritten in place
  // once a second when stderr is a terminal, else one plain line every
  // progress_every_s. stdout (the table, the JSON) is never touched.
  bool progress = true;
  double progress_every_s = 5;
  std::function<void(double)> on_tick{};  // tests: called about every 100 ms with t_s
};

// Progress: what the progress line shows.
struct Progress {
  double t_s = 0;
  double duration_s = 0;
  std::uint64_t http_ops = 0;
  std::uint64_t errors = 0;
  std::uint64_t kills = 0;
  std::uint64_t restarts = 0;
  std::uint64_t checkpoints = 0;
  std::uint64_t backups = 0;
};

// progress_line: one ASCII line without a newline, e.g.
// "coordkit-stress 12.0/30.0 s  http 18234 ops 1519/s  errors 0  kills 11  restarts 1
// checkpoints 5  backups 2" (one line).
inline std::string progress_line(const Progress& p) {
  char buf[256];
  const double rate = p.t_s > 0 ? static_cast<double>(p.http_ops) / p.t_s : 0;
  std::snprintf(buf, sizeof buf,
                "coordkit-stress %.1f/%.1f s  http %llu ops %.0f/s  errors %llu  kills %llu  "
                "restarts %llu  checkpoints %llu  backups %llu",
                p.t_s, p.duration_s, static_cast<unsigned long long>(p.http_ops), rate,
                static_cast<unsigned long long>(p.errors), static_cast<unsigned long long>(p.kills),
                static_cast<unsigned long long>(p.restarts),
                static_cast<unsigned long long>(p.checkpoints),
                static_cast<unsigned long long>(p.backups));
  return buf;
}

namespace internal {

using Clock = std::chrono::steady_clock;

inline std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  std::uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  if (port == 0) throw std::runtime_error("no free loopback port");
  return port;
}

inline std::string read_token(const std::filesystem::path& runtime_dir) {
  std::ifstream in(runtime_dir / "gateway.admin-token");
  std::string t;
  std::getline(in, t);
  return t;
}

// kHotMs: how long after its creation a record is read and written by the
// load (HTTP pool and workers' listings alike).
inline constexpr std::int64_t kHotMs = 2000;

// Shared: what every thread of a run sees.
struct Shared {
  const RunOptions* o = nullptr;
  Clock::time_point start{};
  std::int64_t start_wall_ms = 0;
  std::atomic<bool> stop{false};
  std::atomic<int> window{0};  // > 0 while a restart (and its grace) is on
  std::atomic<std::uint64_t> total_ops{0};
  // http_ops, http_errors: live counts for the progress line (errors: every
  // failed exchange except expected conflicts and restart-window retries).
  std::atomic<std::uint64_t> http_ops{0};
  std::atomic<std::uint64_t> http_errors{0};
  std::mutex mu;
  // pool: ids created or listed in the last kHotMs, shared by the HTTP
  // connections; older records go cold (no actor touches them again), so a
  // test can tamper with one behind the tester's back.
  std::deque<std::pair<std::string, Clock::time_point>> pool;
  std::vector<Event> events;
  double t() const { return std::chrono::duration<double>(Clock::now() - start).count(); }
  void event(std::string kind, std::string detail) {
    std::lock_guard<std::mutex> l(mu);
    events.push_back({t(), std::move(kind), std::move(detail)});
  }
  void add_id(const std::string& id) {
    std::lock_guard<std::mutex> l(mu);
    pool.emplace_back(id, Clock::now());
    while (pool.size() > 256) pool.pop_front();
  }
  void drop_id(const std::string& id) {
    std::lock_guard<std::mutex> l(mu);
    for (auto it = pool.begin(); it != pool.end(); ++it) {
      if (it->first == id) {
        pool.erase(it);
        break;
      }
    }
  }
  std::optional<std::string> pick(std::mt19937_64& rng) {
    std::lock_guard<std::mutex> l(mu);
    const auto cold = Clock::now() - std::chrono::milliseconds(kHotMs);
    while (!pool.empty() && pool.front().second < cold) pool.pop_front();
    if (pool.empty()) return std::nullopt;
    return pool[rng() % pool.size()].first;
  }
};

// ActorStats: one thread's figures, merged at the end.
struct ActorStats {
  std::vector<Op> ledger;
  std::map<std::string, Series> series;
  std::map<std::string, std::uint64_t> errors;
  std::uint64_t retries = 0;
  std::uint64_t reconnects = 0;
  std::vector<std::string> transient_examples;
  // unexpected / unexpected_examples: answers outside what a request
  // promises (a status it does not answer, a body that is not JSON), the
  // first few described.
  std::uint64_t unexpected = 0;
  std::vector<std::string> unexpected_examples;
};

// HttpActor: one connection's loop.
class HttpActor {
 public:
  HttpActor(Shared& sh, int index, std::function<Target()> target, std::string token)
      : sh_(sh),
        index_(index),
        target_(std::move(target)),
        client_(target_(), std::move(token), std::chrono::milliseconds(5000)),
        rng_(sh.o->seed * 1000003ULL + static_cast<std::uint64_t>(index)),
        actor_("http-" + std::to_string(index)) {}

  ActorStats& stats() { return st_; }

  void run() {
    const RunOptions& o = *sh_.o;
    const double per_conn_rate = o.rate > 0 ? o.rate / o.connections : 0;
    std::uint64_t k = 0;
    const Mix& m = o.mix;
    const int total = m.create + m.get + m.upsert + m.list + m.remove;
    while (!sh_.stop.load()) {
      Clock::time_point intended = Clock::now();
      if (per_conn_rate > 0) {
        intended =
            sh_.start + std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double>(static_cast<double>(k) / per_conn_rate));
        ++k;
        if (intended > Clock::now()) std::this_thread::sleep_until(intended);
        if (sh_.stop.load()) break;
      }
      int dice = total > 0 ? static_cast<int>(rng_() % static_cast<std::uint64_t>(total)) : 0;
      OpKind kind = OpKind::kCreate;
      if ((dice -= m.create) < 0) {
        kind = OpKind::kCreate;
      } else if ((dice -= m.get) < 0) {
        kind = OpKind::kGet;
      } else if ((dice -= m.upsert) < 0) {
        kind = OpKind::kPut;
      } else if ((dice -= m.list) < 0) {
        kind = OpKind::kList;
      } else {
        kind = OpKind::kRemove;
      }
      one(kind, intended);
      sh_.http_ops.fetch_add(1, std::memory_order_relaxed);
      if (o.max_ops && sh_.total_ops.fetch_add(1) + 1 >= o.max_ops) sh_.stop = true;
    }
    st_.reconnects = client_.reconnects();
  }

 private:
  std::string records_path() const { return "/v1/collections/" + sh_.o->collection + "/records"; }

  // error: counts one error of `kind` for the report and the progress line.
  void error(const std::string& kind) {
    ++st_.errors[kind];
    if (kind != "conflict" && kind != "in_window") sh_.http_errors.fetch_add(1);
  }

  // unexpected: counts an answer outside what the last request promises,
  // as error `kind`, and describes the first few: the request, the status
  // and, from a uniform error body, its code and request id (to find the
  // gateway's log line).
  void unexpected(const HttpResult& r, const std::string& kind) {
    error(kind);
    ++st_.unexpected;
    if (st_.unexpected_examples.size() >= 10) return;
    std::string what = actor_ + " at " + fixed(sh_.t(), 2) + " s: " + last_request_ + " answered " +
                       std::to_string(r.status);
    if (kind == "bad_response") {
      what += ", a body that is not JSON";
    } else if (const nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
               j.is_object() && j.contains("error") && j["error"].is_object()) {
      const nlohmann::json& e = j["error"];
      what += " " + e.value("code", std::string("?")) + " (request " +
              e.value("request_id", std::string("?")) + ")";
    }
    st_.unexpected_examples.push_back(std::move(what));
  }

  // unexpected_write_status: counts a write's answer that is none of the
  // statuses it promises; true when the write is in doubt. A 5xx other than
  // 503 (which the gateway answers only for work it did not do) does not say
  // whether the transaction committed; a 4xx says it did not.
  bool unexpected_write_status(const HttpResult& r) {
    unexpected(r, "status_" + std::to_string(r.status));
    return r.status >= 500;
  }

  Op base(OpKind k) {
    Op op;
    op.kind = k;
    op.collection = sh_.o->collection;
    op.actor = actor_;
    op.actor_kind = ActorKind::kHttp;
    op.seq = ++seq_;
    return op;
  }
  void log(Op op) {
    op.t_ms = records::now_ms();
    st_.ledger.push_back(std::move(op));
  }

  // exchange: sends until answered with something other than 503, or the
  // run stops. A write sent without an answer is not resent: it is in
  // doubt, and the caller records it so. Returns nullopt then.
  std::optional<HttpResult> exchange(bhttp::verb v, const std::string& path,
                                     const std::string& body,
                                     const std::vector<std::pair<std::string, std::string>>& h,
                                     bool is_write) {
    last_request_ = std::string(bhttp::to_string(v)) + " " + path;
    for (int attempt = 0;; ++attempt) {
      if (attempt > 0) {
        ++st_.retries;
        std::this_thread::sleep_for(std::chrono::milliseconds(std::min(200, 10 * attempt)));
        if (sh_.stop.load() && attempt > 50) return std::nullopt;
      }
      HttpResult r = client_.request(v, path, body, h);
      const bool in_window = sh_.window.load() > 0;
      if (r.answered() && r.status != 503) return r;
      const std::string what = r.answered() ? "503 " + path : "transport " + r.error.message();
      if (in_window) {
        error("in_window");
      } else {
        error("transient");
        if (st_.transient_examples.size() < 10) {
          st_.transient_examples.push_back(actor_ + " at " + fixed(sh_.t(), 2) + " s: " + what);
        }
      }
      if (!r.answered() && r.sent && is_write) {
        error("in_doubt");
        return std::nullopt;
      }
      if (!r.answered()) client_.close();
    }
  }

  std::optional<nlohmann::json> parse(const HttpResult& r) {
    nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
    if (j.is_discarded()) {
      unexpected(r, "bad_response");
      return std::nullopt;
    }
    return j;
  }

  // get: a logged read; returns the version seen (0: not found).
  std::optional<nlohmann::json> get(const std::string& id) {
    Op op = base(OpKind::kGet);
    op.id = id;
    const auto r = exchange(bhttp::verb::get, records_path() + "/" + id, {}, {}, false);
    if (!r) return std::nullopt;
    if (r->status == 404) {
      op.outcome = Outcome::kNotFound;
      log(op);
      return nlohmann::json();
    }
    if (r->status != 200) {
      unexpected(*r, "status_" + std::to_string(r->status));
      return std::nullopt;
    }
    auto j = parse(*r);
    if (!j) return std::nullopt;
    op.version = (*j)["version"].get<std::int64_t>();
    op.hash = content_hash((*j)["body"]);
    log(op);
    return j;
  }

  // one: one operation; its latency goes to "http <op>", or to
  // "window http <op>" when a gateway restart window was open at its start
  // or end (so restart stalls never hide in, nor inflate, normal latency).
  void one(OpKind kind, Clock::time_point intended) {
    const bool window_at_start = sh_.window.load() > 0;
    const std::optional<std::string> picked =
        kind == OpKind::kCreate || kind == OpKind::kList ? std::nullopt : sh_.pick(rng_);
    if (!picked && kind != OpKind::kList) kind = OpKind::kCreate;
    switch (kind) {
      case OpKind::kCreate: {
        const nlohmann::json body = {{"a", actor_}, {"n", seq_ + 1}};
        Op op = base(OpKind::kCreate);
        op.hash = content_hash(body);
        const auto r = exchange(bhttp::verb::post, records_path(), body.dump(), {}, true);
        const auto j = r && r->status == 201 ? parse(*r) : std::nullopt;
        if (!j) {
          // In doubt: no answer, a 5xx that does not say, or created without
          // saying which record.
          if (!r || r->status == 201 || unexpected_write_status(*r)) {
            op.outcome = Outcome::kInDoubt;
            log(op);
          }
          break;
        }
        op.id = (*j)["id"].get<std::string>();
        op.version = (*j)["version"].get<std::int64_t>();
        log(op);
        sh_.add_id(op.id);
        break;
      }
      case OpKind::kGet:
        get(*picked);
        break;
      case OpKind::kPut:
      case OpKind::kRemove: {
        const auto seen = get(*picked);
        if (!seen || seen->is_null()) {
          if (seen) sh_.drop_id(*picked);
          break;
        }
        const std::int64_t v = (*seen)["version"].get<std::int64_t>();
        const std::vector<std::pair<std::string, std::string>> h = {{"If-Match", records::etag(v)}};
        Op op = base(kind);
        op.id = *picked;
        if (kind == OpKind::kPut) {
          const nlohmann::json body = {{"a", actor_}, {"n", seq_}, {"from", v}};
          op.hash = content_hash(body);
          op.version = v + 1;
          const auto r =
              exchange(bhttp::verb::put, records_path() + "/" + *picked, body.dump(), h, true);
          if (r && r->status == 412) {
            op.outcome = Outcome::kConflict;
            error("conflict");
          } else if (r && r->status == 200) {
            if (auto j = parse(*r)) {
              op.version = (*j)["version"].get<std::int64_t>();
            } else {
              op.outcome = Outcome::kInDoubt;  // written, its version unread
            }
          } else if (!r || unexpected_write_status(*r)) {
            op.outcome = Outcome::kInDoubt;
          } else {
            break;
          }
        } else {
          op.version = v;
          const auto r =
              exchange(bhttp::verb::delete_, records_path() + "/" + *picked, {}, h, true);
          if (r && (r->status == 412 || r->status == 404)) {
            op.outcome = r->status == 412 ? Outcome::kConflict : Outcome::kNotFound;
            error("conflict");
          } else if (r && r->status == 204) {
            sh_.drop_id(*picked);
          } else if (!r || unexpected_write_status(*r)) {
            op.outcome = Outcome::kInDoubt;
          } else {
            break;
          }
        }
        log(op);
        break;
      }
      case OpKind::kList: {
        const auto r = exchange(
            bhttp::verb::get,
            records_path() + "?limit=50&cursor=" + recent_cursor(sh_.o->collection, kHotMs), {}, {},
            false);
        if (r && r->status == 200) {
          if (auto j = parse(*r)) {
            for (const auto& rec : (*j)["records"]) {
              if (rng_() % 8 == 0) sh_.add_id(rec["id"].get<std::string>());
            }
          }
        } else if (r) {
          unexpected(*r, "status_" + std::to_string(r->status));
        }
        break;
      }
    }
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - intended);
    const bool in_window = window_at_start || sh_.window.load() > 0;
    st_.series[(in_window ? "window http " : "http ") + std::string(to_string(kind))].record(
        std::chrono::duration<double>(intended - sh_.start).count(),
        static_cast<std::uint64_t>(std::max<std::int64_t>(0, us.count())));
  }

  Shared& sh_;
  int index_;
  std::function<Target()> target_;
  HttpClient client_;
  std::mt19937_64 rng_;
  std::string actor_;
  std::uint64_t seq_ = 0;
  std::string last_request_;  // "METHOD path" of the last exchange()
  ActorStats st_;
};

// GatewayProcess: the gateway this run started (--spawn-gateway).
class GatewayProcess {
 public:
  GatewayProcess(const RunOptions& o, std::filesystem::path runtime_dir, std::uint16_t port)
      : o_(o), runtime_dir_(std::move(runtime_dir)), port_(port) {}
  ~GatewayProcess() { child_.reset(); }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const std::filesystem::path& runtime_dir() const { return runtime_dir_; }
  ipc::Client client() const {
    return ipc::Client({.app = "gateway", .runtime_dir = runtime_dir_});
  }

  void start() {
    std::vector<std::string> args = {"--data-dir",      o_.data_dir.string(),
                                     "--database",      o_.database.string(),
                                     "--runtime-dir",   runtime_dir_.string(),
                                     "--listen",        "127.0.0.1:" + std::to_string(port_),
                                     "--threads",       "2",
                                     "--console-level", "error"};
    if (o_.key_file) {
      args.push_back("--key-file");
      args.push_back(o_.key_file->string());
    }
    child_.emplace(spawn::spawn({.executable = o_.gateway_binary,
                                 .args = args,
                                 .out = spawn::Stdio::file(o_.work_dir / "gateway.stdout"),
                                 .err = spawn::Stdio::file(o_.work_dir / "gateway.stderr")}));
    client().wait_until_ready(std::chrono::milliseconds(30000), *child_);
  }
  // stop_graceful: the shutdown file, then wait for the process.
  void stop_graceful() {
    if (!child_) return;
    try {
      client().request_shutdown(ipc::ShutdownMode::kGraceful, std::chrono::milliseconds(5000));
    } catch (const ipc::Error&) {
      child_->kill();
    }
    if (!child_->wait_for(std::chrono::milliseconds(20000))) {
      child_->kill();
      child_->wait();
    }
    child_.reset();
  }
  void kill9() {
    if (!child_) return;
    child_->kill();
    child_->wait();
    child_.reset();
  }

 private:
  const RunOptions& o_;
  std::filesystem::path runtime_dir_;
  std::uint16_t port_;
  std::optional<spawn::Child> child_;
};

// ExternalGateway: a gateway someone else started, known by its runtime dir.
class ExternalGateway {
 public:
  ExternalGateway(std::filesystem::path runtime_dir, std::string restart_command,
                  std::filesystem::path log)
      : client_({.app = "gateway", .runtime_dir = std::move(runtime_dir)}),
        restart_(std::move(restart_command)),
        log_(std::move(log)) {}

  void stop(bool graceful) {
    if (graceful) {
      client_.request_shutdown(ipc::ShutdownMode::kGraceful, std::chrono::milliseconds(5000));
    } else {
      const ipc::Status s = client_.status();
      if (!s.verified || !s.record) throw std::runtime_error("the gateway has no verified status");
      ::kill(static_cast<pid_t>(s.record->pid), SIGKILL);
    }
    if (!client_.wait_until_stopped(std::chrono::milliseconds(30000))) {
      throw std::runtime_error("the gateway did not stop");
    }
  }
  void start() {
    spawn::Child c = spawn::spawn({.executable = "/bin/sh",
                                   .args = {"-c", restart_},
                                   .out = spawn::Stdio::file(log_),
                                   .err = spawn::Stdio::file(log_)});
    const auto st = c.wait_for(std::chrono::milliseconds(60000));
    if (!st || !st->success()) throw std::runtime_error("the restart command failed");
    client_.wait_until_ready(std::chrono::milliseconds(30000));
  }

 private:
  ipc::Client client_;
  std::string restart_;
  std::filesystem::path log_;
};

// WorkerPool: N worker processes kept running; killed ones replaced.
class WorkerPool {
 public:
  WorkerPool(Shared& sh, std::filesystem::path self) : sh_(sh), self_(std::move(self)) {}

  void start_all() {
    slots_.resize(static_cast<std::size_t>(sh_.o->workers));
    names_.resize(slots_.size());
    for (int i = 0; i < sh_.o->workers; ++i) start(i);
  }
  // tend: replaces workers that ended while the run goes on; one that
  // ended with a failure is counted (failures()).
  void tend() {
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (!slots_[i]) continue;
      if (const auto status = slots_[i]->try_wait()) {
        ended(i, *status);
        if (!sh_.stop.load() && remaining_ms() > 500) start(static_cast<int>(i));
      }
    }
  }
  // kill_one: kill -9 of a random running worker; true when one was killed.
  bool kill_one(std::mt19937_64& rng) {
    std::vector<std::size_t> live;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i]) live.push_back(i);
    }
    if (live.empty()) return false;
    const std::size_t i = live[rng() % live.size()];
    const std::int64_t pid = slots_[i]->pid();
    slots_[i]->kill();
    slots_[i]->wait();
    slots_[i].reset();  // killed here: not a failure of its own
    sh_.event("kill", "worker slot " + std::to_string(i) + " pid " + std::to_string(pid));
    if (!sh_.stop.load() && remaining_ms() > 500) start(static_cast<int>(i));
    return true;
  }
  // finish: waits for the workers to end by themselves, then kills
  // stragglers; a straggler and a worker that ended with a failure are
  // counted (failures()).
  void finish() {
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (!slots_[i]) continue;
      if (const auto status = slots_[i]->wait_for(std::chrono::milliseconds(10000))) {
        ended(i, *status);
        continue;
      }
      slots_[i]->kill();
      slots_[i]->wait();
      failures_.push_back(names_[i] + ": still running 10 s after its duration, killed");
      slots_[i].reset();
    }
  }
  const std::vector<std::filesystem::path>& files() const { return files_; }
  // failures: workers that ended by themselves with anything but exit code
  // 0 (an error they could not handle: their stderr is workers.stderr in the
  // work directory), or did not end; chaos kills are not among them.
  const std::vector<std::string>& failures() const { return failures_; }

 private:
  std::int64_t remaining_ms() const {
    return static_cast<std::int64_t>((sh_.o->duration_s - sh_.t()) * 1000);
  }
  void ended(std::size_t slot, const spawn::ExitStatus& status) {
    if (!status.success()) {
      failures_.push_back(names_[slot] + ": ended with " + status.to_string() +
                          " (why: " + (sh_.o->work_dir / "workers.stderr").string() + ")");
    }
    slots_[slot].reset();
  }
  void start(int slot) {
    const RunOptions& o = *sh_.o;
    const std::string actor =
        "worker-" + std::to_string(slot) + "-" + std::to_string(generation_++);
    const std::filesystem::path out = o.work_dir / (actor + ".jsonl");
    files_.push_back(out);
    std::vector<std::string> args = {"worker",
                                     "--database",
                                     o.database.string(),
                                     "--out",
                                     out.string(),
                                     "--actor",
                                     actor,
                                     "--collection",
                                     o.collection,
                                     "--seed",
                                     std::to_string(o.seed * 7919 + generation_),
                                     "--duration-ms",
                                     std::to_string(std::max<std::int64_t>(0, remaining_ms()))};
    if (o.key_file) {
      args.push_back("--key-file");
      args.push_back(o.key_file->string());
    }
    if (slot < o.long_lived_workers) args.push_back("--long-lived");
    const auto i = static_cast<std::size_t>(slot);
    slots_[i].emplace(spawn::spawn({.executable = self_,
                                    .args = args,
                                    .err = spawn::Stdio::file(o.work_dir / "workers.stderr")}));
    names_[i] = actor + " (pid " + std::to_string(slots_[i]->pid()) + ")";
  }

  Shared& sh_;
  std::filesystem::path self_;
  std::vector<std::optional<spawn::Child>> slots_;
  std::vector<std::filesystem::path> files_;
  std::vector<std::string> names_;  // per slot: its worker's actor and pid
  std::vector<std::string> failures_;
  int generation_ = 0;
};

// read_via_gateway: every record of the collection, page by page.
inline FinalState read_via_gateway(HttpClient& c, const std::string& collection, bool& ok) {
  FinalState out;
  std::string cursor;
  ok = false;
  for (int pages = 0; pages < 100000; ++pages) {
    std::string path = "/v1/collections/" + collection + "/records?limit=1000";
    if (!cursor.empty()) path += "&cursor=" + cursor;
    HttpResult r;
    for (int attempt = 0; attempt < 50; ++attempt) {
      r = c.request(bhttp::verb::get, path);
      if (r.answered() && r.status != 503) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!r.answered() || r.status != 200) return out;
    const nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
    if (j.is_discarded()) return out;
    for (const auto& rec : j["records"]) {
      out[{collection, rec["id"].get<std::string>()}] = {rec["version"].get<std::int64_t>(),
                                                         content_hash(rec["body"])};
    }
    if (j["next_cursor"].is_null()) {
      ok = true;
      return out;
    }
    cursor = j["next_cursor"].get<std::string>();
  }
  return out;
}

}  // namespace internal

// run: one whole run; see the file comment. Throws for a setup failure
// (no gateway, no key); every finding of the run is in the Report.
inline Report run(RunOptions o, const std::filesystem::path& self) {
  using internal::Clock;
  if (o.work_dir.empty()) o.work_dir = o.data_dir / "stress";
  std::filesystem::create_directories(o.work_dir);
  std::filesystem::remove_all(o.work_dir / "ledgers");
  std::filesystem::create_directories(o.work_dir / "ledgers");
  o.work_dir /= "ledgers";
  std::optional<internal::GatewayProcess> gw;
  std::filesystem::path runtime_dir = o.runtime_dir.value_or(o.data_dir / "run");
  if (o.spawn_gateway) {
    ::mkdir(runtime_dir.c_str(), 0700);
    gw.emplace(o, runtime_dir, internal::free_port());
    gw->start();
    o.url = gw->url();
  }
  if (o.admin_token.empty()) o.admin_token = internal::read_token(runtime_dir);
  const Target target = parse_target(o.url);

  internal::Shared sh;
  sh.o = &o;
  Report report;
  report.config = {{"url", o.url},
                   {"connections", o.connections},
                   {"workers", o.workers},
                   {"long_lived_workers", o.long_lived_workers},
                   {"duration_s", o.duration_s},
                   {"rate", o.rate},
                   {"seed", o.seed},
                   {"kill_rate", o.kill_rate},
                   {"checkpoint_every_s", o.checkpoint_every_s},
                   {"backup_every_s", o.backup_every_s},
                   {"graceful_restarts", o.graceful_restarts},
                   {"kill9_restarts", o.kill9_restarts},
                   {"spawned_gateway", o.spawn_gateway}};
  sh.start = Clock::now();
  sh.start_wall_ms = records::now_ms();

  std::vector<std::unique_ptr<internal::HttpActor>> actors;
  std::vector<std::thread> threads;
  for (int i = 0; i < o.connections; ++i) {
    // Each call hands the actor its own copy of the one target.
    auto next_target = [target]() -> Target {
      // NOLINTNEXTLINE(performance-no-automatic-move): a copy per call, by design
      return target;
    };
    actors.push_back(
        std::make_unique<internal::HttpActor>(sh, i, std::move(next_target), o.admin_token));
  }
  for (auto& a : actors) threads.emplace_back([&a] { a->run(); });
  internal::WorkerPool pool(sh, self);
  if (o.workers > 0 && !o.database.empty()) pool.start_all();

  // Chaos and progress on this thread.
  std::mt19937_64 chaos_rng(o.seed * 31 + 7);
  HttpClient admin_client(target, o.admin_token, std::chrono::milliseconds(30000));
  // admin: one admin exchange; a keep-alive connection that a restarted
  // gateway closed answers nothing, so one fresh connection is tried then.
  const auto admin = [&admin_client](bhttp::verb v, const std::string& path,
                                     const std::string& body) {
    HttpResult r = admin_client.request(v, path, body, {}, true);
    if (!r.answered()) {
      admin_client.close();
      r = admin_client.request(v, path, body, {}, true);
    }
    return r;
  };
  double next_kill = o.kill_rate > 0 ? 1.0 / o.kill_rate : 1e18;
  double next_checkpoint = o.checkpoint_every_s > 0 ? o.checkpoint_every_s : 1e18;
  double next_backup = o.backup_every_s > 0 ? o.backup_every_s : 1e18;
  std::vector<std::pair<double, bool>> restarts;  // (time, graceful)
  std::optional<internal::ExternalGateway> ext;
  if (!gw && !o.restart_command.empty()) {
    ext.emplace(runtime_dir, o.restart_command, o.work_dir / "restart.log");
  }
  if (gw || ext) {
    const int n = o.graceful_restarts + o.kill9_restarts;
    for (int i = 0; i < n; ++i) restarts.push_back({o.duration_s * (i + 1) / (n + 1), true});
    // alternate graceful / kill -9 while both remain
    int g = o.graceful_restarts, k = o.kill9_restarts;
    for (auto& r : restarts) {
      r.second = g > 0 && (k == 0 || g >= k);
      (r.second ? g : k)--;
    }
  }
  std::size_t next_restart = 0;
  int backups = 0;
  double last_progress = 0;
  const bool progress_tty = ::isatty(STDERR_FILENO) == 1;
  bool progress_open = false;  // a terminal line is on screen without its newline
  std::size_t progress_width = 0;
  std::uint64_t checkpoints = 0, kills = 0, graceful = 0, kill9 = 0;
  double unavailable_ms = 0;
  std::vector<std::string> admin_failures;
  while (!sh.stop.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const double t = sh.t();
    if (t >= o.duration_s) break;
    if (o.on_tick) o.on_tick(t);
    pool.tend();
    if (t >= next_kill) {
      if (pool.kill_one(chaos_rng)) ++kills;
      next_kill += 1.0 / o.kill_rate;
    }
    if (t >= next_checkpoint) {
      const char* mode = checkpoints % 2 ? "truncate" : "passive";
      const HttpResult r =
          admin(bhttp::verb::post, std::string("/v1/admin/checkpoint?mode=") + mode, {});
      if (r.answered() && r.status == 200) {
        ++checkpoints;
        sh.event("checkpoint", mode);
      } else if (sh.window.load() == 0) {
        admin_failures.push_back("checkpoint: " +
                                 (r.answered() ? std::to_string(r.status) : r.error.message()));
      }
      next_checkpoint += o.checkpoint_every_s;
    }
    if (t >= next_backup) {
      const std::string name = "stress-" + std::to_string(o.seed) + "-" +
                               std::to_string(backups++) + "-" + std::to_string(records::now_ms());
      const HttpResult r =
          admin(bhttp::verb::post, "/v1/admin/backup", nlohmann::json{{"name", name}}.dump());
      if (r.answered() && r.status == 200) {
        sh.event("backup", name);
      } else if (sh.window.load() == 0) {
        admin_failures.push_back("backup: " +
                                 (r.answered() ? std::to_string(r.status) : r.error.message()));
      }
      next_backup += o.backup_every_s;
    }
    if ((gw || ext) && next_restart < restarts.size() && t >= restarts[next_restart].first) {
      const bool graceful_restart = restarts[next_restart++].second;
      ++sh.window;
      const auto down = Clock::now();
      sh.event(graceful_restart ? "restart_graceful" : "restart_kill9", "");
      if (gw) {
        graceful_restart ? gw->stop_graceful() : gw->kill9();
        gw->start();
      } else {
        ext->stop(graceful_restart);
        ext->start();
      }
      ++(graceful_restart ? graceful : kill9);
      unavailable_ms += std::chrono::duration<double, std::milli>(Clock::now() - down).count();
      sh.event("ready", "");
      std::thread([&sh] {
        std::this_thread::sleep_for(std::chrono::milliseconds(1000));
        --sh.window;
      }).detach();
    }
    if (o.progress && t - last_progress >= (progress_tty ? 1.0 : o.progress_every_s)) {
      last_progress = t;
      const std::string line = progress_line({.t_s = t,
                                              .duration_s = o.duration_s,
                                              .http_ops = sh.http_ops.load(),
                                              .errors = sh.http_errors.load(),
                                              .kills = kills,
                                              .restarts = graceful + kill9,
                                              .checkpoints = checkpoints,
                                              .backups = static_cast<std::uint64_t>(backups)});
      // On a terminal the line is rewritten in place (\r, then spaces over
      // whatever a longer earlier line left).
      if (progress_tty) {
        progress_width = std::max(progress_width, line.size());
        std::fprintf(stderr, "\r%-*s", static_cast<int>(progress_width), line.c_str());
        progress_open = true;
      } else {
        std::fprintf(stderr, "%s\n", line.c_str());
      }
      std::fflush(stderr);
    }
  }
  if (progress_open) std::fprintf(stderr, "\n");
  sh.stop = true;
  for (auto& th : threads) th.join();
  pool.finish();
  while (sh.window.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  report.duration_s = sh.t();

  // Merge every actor's figures and the workers' ledgers.
  std::vector<Op> ledger;
  std::vector<std::string> transient_examples = admin_failures;
  std::uint64_t transient = admin_failures.size();
  std::uint64_t unfair = 0, worker_turn_waits = 0, worker_retries = 0;
  std::uint64_t unexpected_answers = 0;
  std::vector<std::string> unexpected_examples;
  for (auto& a : actors) {
    internal::ActorStats& s = a->stats();
    ledger.insert(ledger.end(), s.ledger.begin(), s.ledger.end());
    for (auto& [name, series] : s.series) report.series[name].merge(series);
    for (auto& [k, v] : s.errors) report.errors[k] += v;
    report.counters["http_retries"] += s.retries;
    report.counters["reconnects"] += s.reconnects;
    transient += s.errors["transient"];
    transient_examples.insert(transient_examples.end(), s.transient_examples.begin(),
                              s.transient_examples.end());
    unexpected_answers += s.unexpected;
    unexpected_examples.insert(unexpected_examples.end(), s.unexpected_examples.begin(),
                               s.unexpected_examples.end());
  }
  for (const auto& f : pool.files()) {
    std::ifstream in(f);
    WorkerFile w = parse_worker_file(in);
    for (const Op& op : w.ops) {
      if (op.outcome != Outcome::kInDoubt) {
        report.series["worker " + std::string(to_string(op.kind))].record(
            static_cast<double>(op.t_ms - sh.start_wall_ms) / 1000.0, op.latency_us);
      } else {
        ++report.errors["worker_in_doubt"];
      }
      if (op.outcome == Outcome::kConflict) ++report.errors["worker_conflict"];
    }
    ledger.insert(ledger.end(), w.ops.begin(), w.ops.end());
    unfair += w.unfair_writes;
    worker_turn_waits += w.turn_waits;
    worker_retries += w.retries;
    transient += w.surfaced_transient;
    if (w.surfaced_transient) {
      transient_examples.push_back(f.filename().string() + ": " +
                                   std::to_string(w.surfaced_transient) +
                                   " transient database errors");
    }
  }
  report.counters["worker_turn_waits"] = worker_turn_waits;
  report.counters["worker_retries"] = worker_retries;
  report.counters["kills"] = kills;
  report.counters["restarts_graceful"] = graceful;
  report.counters["restarts_kill9"] = kill9;
  report.counters["checkpoints"] = checkpoints;
  report.counters["backups"] = static_cast<std::uint64_t>(backups);
  report.counters["ledger_entries"] = ledger.size();
  report.unavailable_ms = unavailable_ms;
  report.events = sh.events;

  // The gateway's own counters: writes without the write turn, its turn waits.
  std::uint64_t gateway_unfair = 0;
  {
    const HttpResult r = admin(bhttp::verb::get, "/v1/admin/stats", {});
    if (r.answered() && r.status == 200) {
      const nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
      if (!j.is_discarded() && j.contains("counters")) {
        const auto& c = j["counters"];
        gateway_unfair = c.value("turn_skipped_no_slot", std::uint64_t{0}) +
                         c.value("turn_skipped_no_gate", std::uint64_t{0});
        report.counters["gateway_turn_waits"] = c.value("turn_waits", std::uint64_t{0});
        report.counters["gateway_retries"] = c.value("retries_same", std::uint64_t{0});
      }
    }
  }

  // Read everything back: through the gateway, then directly.
  bool gateway_ok = false;
  HttpClient reader(target, o.admin_token, std::chrono::milliseconds(30000));
  const FinalState via_gateway = internal::read_via_gateway(reader, o.collection, gateway_ok);
  FinalState via_db;
  bool integrity_ok = false;
  std::vector<std::string> problems;
  std::string integrity_detail;
  if (!o.database.empty()) {
    db::Options options;
    options.path = o.database;
    options.key = keys::load_key({.key_file = o.key_file});
    options.create_if_missing = false;
    options.migrations = records::migrations();
    db::Database d = db::Database::open(std::move(options));
    const std::vector<records::Record> all =
        d.read([&](db::Transaction& tx) { return records::export_records(tx, o.collection); });
    for (const records::Record& r : all) {
      via_db[{r.collection, r.id}] = {r.version, content_hash_text(r.body)};
    }
    const db::CheckResult c = d.integrity_check();
    integrity_ok = c.ok;
    problems = c.problems;
    integrity_detail = "integrity_check + cipher_integrity_check through libs/db";
  } else {
    problems.push_back("no --database: the direct checks did not run");
  }

  const Expectations ex = expectations(ledger);
  Verdict g = check_writes_kept(ex, via_gateway, "gateway");
  if (!gateway_ok) g.offend("the gateway's listing did not complete");
  report.verdicts.push_back(std::move(g));
  report.verdicts.push_back(check_writes_kept(ex, via_db, "database"));
  report.verdicts.push_back(check_views_agree(via_gateway, via_db));
  report.verdicts.push_back(check_no_lost_update(ex, via_db));
  report.verdicts.push_back(check_reads_consistent(ledger));
  report.verdicts.push_back(check_integrity(integrity_ok, problems, integrity_detail));
  report.verdicts.push_back(check_zero("no_transient_errors_surfaced", transient,
                                       transient_examples,
                                       std::to_string(report.errors["in_window"]) +
                                           " in restart windows, retried and counted apart"));
  const std::vector<std::string>& worker_failures = pool.failures();
  // Workers' failures first: they are few, and each is a process's whole end.
  unexpected_examples.insert(unexpected_examples.begin(), worker_failures.begin(),
                             worker_failures.end());
  report.verdicts.push_back(check_zero(
      "no_unexpected_failures", unexpected_answers + worker_failures.size(), unexpected_examples,
      std::to_string(unexpected_answers) + " answers outside the promised statuses, " +
          std::to_string(worker_failures.size()) + " workers failed"));
  report.verdicts.push_back(check_zero(
      "fair_write_turn", unfair + gateway_unfair, {},
      "gateway " + std::to_string(gateway_unfair) + ", workers " + std::to_string(unfair)));
  if (gw) gw->stop_graceful();
  return report;
}

}  // namespace coordkit::stress

#endif  // COORDKIT_APPS_STRESS_RUNNER_H_

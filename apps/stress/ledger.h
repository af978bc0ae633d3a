// coordkit/stress/ledger.h: the ledger of every operation the stress tester
// saw acknowledged (and of every write whose outcome it cannot know), the
// evidence the final checks judge the database by.
//
// An entry names the collection, id, version, the body's content hash, the
// actor and the time. Workers write their entries as JSON lines, one line
// flushed per operation, so a kill -9 loses nothing that was acknowledged;
// an `intent` line before each write marks it in doubt until its
// acknowledgement follows.
//
// Example:
//   coordkit::stress::Op op{.kind = OpKind::kPut, .collection = "c", .id = id,
//                           .version = 3, .hash = content_hash(body), .actor = "http-1"};
//   std::string line = to_json(op).dump();
//   coordkit::stress::Op back = op_from_json(nlohmann::json::parse(line));
#ifndef COORDKIT_APPS_STRESS_LEDGER_H_
#define COORDKIT_APPS_STRESS_LEDGER_H_

#include <cstdint>
#include <istream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace coordkit::stress {

// OpKind: what an actor did. kCreate, kPut and kRemove are writes.
enum class OpKind { kCreate, kGet, kPut, kList, kRemove };
inline constexpr OpKind kAllOpKinds[] = {OpKind::kCreate, OpKind::kGet, OpKind::kPut, OpKind::kList,
                                         OpKind::kRemove};
inline constexpr std::size_t kOpKindCount = 5;

constexpr std::string_view to_string(OpKind k) noexcept {
  switch (k) {
    case OpKind::kCreate:
      return "create";
    case OpKind::kGet:
      return "get";
    case OpKind::kPut:
      return "upsert";
    case OpKind::kList:
      return "list";
    case OpKind::kRemove:
      return "delete";
  }
  return "?";
}
inline std::optional<OpKind> parse_op_kind(std::string_view s) noexcept {
  for (OpKind k : kAllOpKinds) {
    if (to_string(k) == s) return k;
  }
  return std::nullopt;
}
constexpr bool is_write(OpKind k) noexcept {
  return k == OpKind::kCreate || k == OpKind::kPut || k == OpKind::kRemove;
}

// Outcome: how an operation ended, as far as the tester knows.
enum class Outcome {
  kAcked,     // the write committed / the read returned `version`
  kNotFound,  // a read or write met no record
  kConflict,  // If-Match did not match (412): nothing written
  kInDoubt,   // a write sent without an answer: it may or may not have committed
};
constexpr std::string_view to_string(Outcome o) noexcept {
  switch (o) {
    case Outcome::kAcked:
      return "acked";
    case Outcome::kNotFound:
      return "not_found";
    case Outcome::kConflict:
      return "conflict";
    case Outcome::kInDoubt:
      return "in_doubt";
  }
  return "?";
}
inline std::optional<Outcome> parse_outcome(std::string_view s) noexcept {
  for (Outcome o : {Outcome::kAcked, Outcome::kNotFound, Outcome::kConflict, Outcome::kInDoubt}) {
    if (to_string(o) == s) return o;
  }
  return std::nullopt;
}

// ActorKind: HTTP connections, CLI-like worker processes, the tester itself.
enum class ActorKind { kHttp, kWorker };
constexpr std::string_view to_string(ActorKind k) noexcept {
  return k == ActorKind::kHttp ? "http" : "worker";
}

// Op: one ledger entry. For a write, `version` is the version it made (a
// delete: the version it removed); for a read, the version it saw. `seq`
// orders one actor's operations.
struct Op {
  OpKind kind = OpKind::kGet;
  Outcome outcome = Outcome::kAcked;
  std::string collection{};
  std::string id{};
  std::int64_t version = 0;
  std::uint64_t hash = 0;  // content_hash of the body written or read
  std::string actor{};
  ActorKind actor_kind = ActorKind::kHttp;
  std::int64_t t_ms = 0;  // wall clock, ms since the epoch
  std::uint64_t seq = 0;
  std::uint64_t latency_us = 0;  // how long the operation took, for the worker's histograms
};

// content_hash: FNV-1a 64 over the compact JSON of a body, so the same
// object hashes the same whoever serialised it.
inline std::uint64_t content_hash(const nlohmann::json& body) {
  const std::string s = body.dump();
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}
// content_hash_text: content_hash of a body's stored text. Text that is not
// JSON (a body damaged behind the gateway's back) hashes as an array, which
// no body (an object) hashes as: the checks report it as changed instead of
// stopping the run.
inline std::uint64_t content_hash_text(std::string_view text) {
  nlohmann::json body = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) body = nlohmann::json::array({"not JSON", std::string(text)});
  return content_hash(body);
}

inline nlohmann::json to_json(const Op& op) {
  return {{"kind", to_string(op.kind)},
          {"outcome", to_string(op.outcome)},
          {"collection", op.collection},
          {"id", op.id},
          {"version", op.version},
          {"hash", op.hash},
          {"actor", op.actor},
          {"actor_kind", to_string(op.actor_kind)},
          {"t_ms", op.t_ms},
          {"seq", op.seq},
          {"latency_us", op.latency_us}};
}

// op_from_json: the inverse of to_json. Throws nlohmann::json's errors or
// std::invalid_argument for a malformed entry.
inline Op op_from_json(const nlohmann::json& j) {
  Op op;
  const auto kind = parse_op_kind(j.at("kind").get<std::string>());
  const auto outcome = parse_outcome(j.at("outcome").get<std::string>());
  if (!kind || !outcome) throw std::invalid_argument("bad ledger entry");
  op.kind = *kind;
  op.outcome = *outcome;
  op.collection = j.at("collection").get<std::string>();
  op.id = j.at("id").get<std::string>();
  op.version = j.at("version").get<std::int64_t>();
  op.hash = j.at("hash").get<std::uint64_t>();
  op.actor = j.at("actor").get<std::string>();
  op.actor_kind =
      j.at("actor_kind").get<std::string>() == "http" ? ActorKind::kHttp : ActorKind::kWorker;
  op.t_ms = j.at("t_ms").get<std::int64_t>();
  op.seq = j.at("seq").get<std::uint64_t>();
  op.latency_us = j.value("latency_us", std::uint64_t{0});
  return op;
}

// WorkerFile: what a worker's JSON-lines file says. Each line is
// {"op": {...}} (an entry), {"intent": {...}} (a write about to be sent:
// in doubt unless an entry with the same seq follows) or {"counters": {...}}
// (the worker's unfair-write and turn-wait totals, cumulative). A torn last
// line (the worker was killed while writing it) is ignored: its operation
// has an intent line and stays in doubt.
struct WorkerFile {
  std::vector<Op> ops{};  // entries, intents without an entry as kInDoubt
  std::uint64_t unfair_writes = 0;
  std::uint64_t turn_waits = 0;
  std::uint64_t surfaced_transient = 0;
  std::uint64_t retries = 0;
};

inline WorkerFile parse_worker_file(std::istream& in) {
  WorkerFile out;
  std::vector<Op> intents;
  std::string line{};
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) continue;
    try {
      if (j.contains("op")) {
        Op op = op_from_json(j["op"]);
        if (!intents.empty() && intents.back().seq == op.seq) intents.pop_back();
        out.ops.push_back(std::move(op));
      } else if (j.contains("intent")) {
        intents.push_back(op_from_json(j["intent"]));
      } else if (j.contains("counters")) {
        const nlohmann::json& c = j["counters"];
        out.unfair_writes = c.value("unfair_writes", std::uint64_t{0});
        out.turn_waits = c.value("turn_waits", std::uint64_t{0});
        out.surfaced_transient = c.value("surfaced_transient", std::uint64_t{0});
        out.retries = c.value("retries", std::uint64_t{0});
      }
    } catch (const std::exception&) {
      continue;  // a torn or foreign line
    }
  }
  for (Op& op : intents) {
    op.outcome = Outcome::kInDoubt;
    out.ops.push_back(std::move(op));
  }
  return out;
}

}  // namespace coordkit::stress

#endif  // COORDKIT_APPS_STRESS_LEDGER_H_

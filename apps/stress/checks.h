// coordkit/stress/checks.h: the verdicts of a stress run. Each check is a
// pure function of the ledger (what was acknowledged) and the final state
// (what the database holds, read through the gateway and directly), so a
// test can feed it a lost write, a lost update or a stale read and see
// exactly that check fail on exactly those records.
//
// Example:
//   coordkit::stress::Expectations ex = coordkit::stress::expectations(ledger);
//   coordkit::stress::Verdict v = coordkit::stress::check_writes_kept(ex, db_state, "database");
//   if (!v.ok) for (const std::string& o : v.offenders) std::puts(o.c_str());
#ifndef COORDKIT_APPS_STRESS_CHECKS_H_
#define COORDKIT_APPS_STRESS_CHECKS_H_

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "coordkit/stress/ledger.h"

namespace coordkit::stress {

// Key: (collection, id).
using Key = std::pair<std::string, std::string>;
inline std::string to_string(const Key& k) { return k.first + "/" + k.second; }

// RecordState: one record as the end of the run found it.
struct RecordState {
  std::int64_t version = 0;
  std::uint64_t hash = 0;
};
using FinalState = std::map<Key, RecordState>;

// kMaxOffenders: how many offending records a verdict names.
inline constexpr std::size_t kMaxOffenders = 10;

// Verdict: one check. `count` is the number of offences (records or
// operations); `offenders` names the first kMaxOffenders of them.
struct Verdict {
  std::string name{};
  bool ok = true;
  std::uint64_t count = 0;
  std::vector<std::string> offenders{};
  std::string detail{};

  void offend(std::string what) {
    ok = false;
    ++count;
    if (offenders.size() < kMaxOffenders) offenders.push_back(std::move(what));
  }
};

// Expected: what the ledger says of one record.
struct Expected {
  std::int64_t acked_writes = 0;           // creates and puts acknowledged
  std::int64_t in_doubt = 0;               // writes sent without an answer
  std::int64_t max_version = 0;            // the newest acknowledged version
  std::uint64_t max_hash = 0;              // the body that version carried
  bool removed = false;                    // a delete was acknowledged
  bool remove_in_doubt = false;            // a delete was sent without an answer
  bool create_logged = false;              // its create is in the ledger (answered or not)
  std::map<std::int64_t, int> versions{};  // acknowledged versions made -> how many acks
};

struct Expectations {
  std::map<Key, Expected> records{};
  std::map<std::string, std::int64_t> in_doubt_creates{};  // by collection: ids unknown
};

// expectations: folds the ledger into one Expected per record.
inline Expectations expectations(const std::vector<Op>& ledger) {
  Expectations out;
  for (const Op& op : ledger) {
    if (!is_write(op.kind)) continue;
    const bool in_doubt = op.outcome == Outcome::kInDoubt;
    if (!in_doubt && op.outcome != Outcome::kAcked) continue;
    if (in_doubt && op.kind == OpKind::kCreate && op.id.empty()) {
      ++out.in_doubt_creates[op.collection];
      continue;
    }
    Expected& e = out.records[{op.collection, op.id}];
    e.create_logged = e.create_logged || op.kind == OpKind::kCreate;
    if (in_doubt) {
      if (op.kind == OpKind::kRemove) {
        e.remove_in_doubt = true;
      } else {
        ++e.in_doubt;
      }
      continue;
    }
    if (op.kind == OpKind::kRemove) {
      e.removed = true;
      continue;
    }
    ++e.acked_writes;
    ++e.versions[op.version];
    if (op.version > e.max_version) {
      e.max_version = op.version;
      e.max_hash = op.hash;
    }
  }
  return out;
}

// created_in_doubt: the records present in a view whose create the ledger
// does not name but a create in doubt accounts for. A create sent without an
// answer names no id (the gateway picks it), yet the record may exist, and
// the load may find it in a listing and write it again, acknowledged: such a
// record's version 1 is that create's. Each create in doubt accounts for one
// record of its collection, taken in key order; a record left over was made
// by no write of the tester.
inline std::set<Key> created_in_doubt(const Expectations& ex, const FinalState& view) {
  std::set<Key> out;
  std::map<std::string, std::int64_t> left = ex.in_doubt_creates;
  for (const auto& [key, s] : view) {
    const auto it = ex.records.find(key);
    if (it != ex.records.end() && it->second.create_logged) continue;
    std::int64_t& n = left[key.first];
    if (n > 0) {
      --n;
      out.insert(key);
    }
  }
  return out;
}

// check_writes_kept: no acknowledged write lost or altered, in `view`
// (named `view_name` in the offenders): every record with an acknowledged
// write and no acknowledged delete is there, at least at its newest
// acknowledged version, with that version's body; a record whose delete was
// acknowledged is gone; a record nobody acknowledged is there only if a
// create was in doubt in its collection (created_in_doubt).
inline Verdict check_writes_kept(const Expectations& ex, const FinalState& view,
                                 const std::string& view_name) {
  Verdict v{.name = "writes_kept_" + view_name};
  const std::set<Key> from_doubt = created_in_doubt(ex, view);
  for (const auto& [key, e] : ex.records) {
    const auto it = view.find(key);
    if (e.removed) {
      if (it != view.end()) v.offend(to_string(key) + ": deleted (acknowledged) but present");
      continue;
    }
    if (e.acked_writes == 0) continue;  // only in-doubt writes: anything goes
    if (it == view.end()) {
      if (!e.remove_in_doubt) {
        v.offend(to_string(key) + ": missing (acknowledged version " +
                 std::to_string(e.max_version) + ")");
      }
      continue;
    }
    const RecordState& s = it->second;
    if (s.version < e.max_version) {
      v.offend(to_string(key) + ": version " + std::to_string(s.version) +
               " older than acknowledged " + std::to_string(e.max_version));
    } else if (s.version == e.max_version && s.hash != e.max_hash) {
      v.offend(to_string(key) + ": body altered at version " + std::to_string(s.version));
    }
  }
  for (const auto& [key, s] : view) {
    if (ex.records.count(key) != 0 || from_doubt.count(key) != 0) continue;
    v.offend(to_string(key) + ": present at version " + std::to_string(s.version) +
             " but never written by the tester");
  }
  v.detail = std::to_string(ex.records.size()) + " records in the ledger, " +
             std::to_string(view.size()) + " in the " + view_name;
  return v;
}

// check_no_lost_update: every record present at the end has as many
// versions as acknowledged writes (plus at most its in-doubt writes, plus
// the one create in doubt that created_in_doubt gives a record whose create
// the ledger does not name), and no version was acknowledged twice: two
// read-modify-writes through If-Match never both won.
inline Verdict check_no_lost_update(const Expectations& ex, const FinalState& view) {
  Verdict v{.name = "no_lost_update"};
  const std::set<Key> from_doubt = created_in_doubt(ex, view);
  for (const auto& [key, e] : ex.records) {
    if (e.removed || e.acked_writes == 0) continue;
    for (const auto& [version, n] : e.versions) {
      if (n > 1) {
        v.offend(to_string(key) + ": version " + std::to_string(version) + " acknowledged " +
                 std::to_string(n) + " times");
      }
    }
    const auto it = view.find(key);
    if (it == view.end()) continue;  // missing: writes_kept's finding
    const std::int64_t final_version = it->second.version;
    const std::int64_t made = e.acked_writes + (from_doubt.count(key) ? 1 : 0);
    if (final_version < made || final_version > made + e.in_doubt) {
      v.offend(to_string(key) + ": final version " + std::to_string(final_version) + " after " +
               std::to_string(e.acked_writes) + " acknowledged writes" +
               (e.in_doubt ? " (+" + std::to_string(e.in_doubt) + " in doubt)" : "") +
               (made > e.acked_writes ? " and a create in doubt" : ""));
    }
  }
  return v;
}

// check_reads_consistent: read-your-writes and monotonic reads per actor:
// after an actor wrote or saw version v of a record, its later reads return
// at least v; a read finding no record counts only when no delete of it was
// ever sent.
inline Verdict check_reads_consistent(const std::vector<Op>& ledger) {
  Verdict v{.name = "reads_consistent"};
  std::set<Key> delete_sent;
  for (const Op& op : ledger) {
    if (op.kind == OpKind::kRemove) delete_sent.insert({op.collection, op.id});
  }
  std::map<std::string, std::vector<const Op*>> by_actor;
  for (const Op& op : ledger) by_actor[op.actor].push_back(&op);
  std::uint64_t reads = 0;
  for (auto& [actor, ops] : by_actor) {
    std::stable_sort(ops.begin(), ops.end(),
                     [](const Op* a, const Op* b) { return a->seq < b->seq; });
    std::map<Key, std::int64_t> seen;
    for (const Op* op : ops) {
      const Key key{op->collection, op->id};
      if (op->kind == OpKind::kGet) {
        ++reads;
        std::int64_t& s = seen[key];
        if (op->outcome == Outcome::kAcked) {
          if (op->version < s) {
            v.offend(to_string(key) + ": " + actor + " read version " +
                     std::to_string(op->version) + " after version " + std::to_string(s));
          }
          s = std::max(s, op->version);
        } else if (op->outcome == Outcome::kNotFound && s > 0 && delete_sent.count(key) == 0) {
          v.offend(to_string(key) + ": " + actor + " found no record after version " +
                   std::to_string(s));
        }
      } else if ((op->kind == OpKind::kCreate || op->kind == OpKind::kPut) &&
                 op->outcome == Outcome::kAcked) {
        std::int64_t& s = seen[key];
        s = std::max(s, op->version);
      }
    }
  }
  v.detail = std::to_string(reads) + " reads by " + std::to_string(by_actor.size()) + " actors";
  return v;
}

// check_views_agree: the gateway and the database return the same records
// at the same versions and bodies.
inline Verdict check_views_agree(const FinalState& gateway, const FinalState& database) {
  Verdict v{.name = "gateway_matches_database"};
  for (const auto& [key, s] : database) {
    const auto it = gateway.find(key);
    if (it == gateway.end()) {
      v.offend(to_string(key) + ": in the database, not served by the gateway");
    } else if (it->second.version != s.version || it->second.hash != s.hash) {
      v.offend(to_string(key) + ": gateway version " + std::to_string(it->second.version) +
               ", database version " + std::to_string(s.version));
    }
  }
  for (const auto& [key, s] : gateway) {
    if (database.count(key) == 0) v.offend(to_string(key) + ": served by the gateway only");
  }
  return v;
}

// check_zero: a counter that must be zero (transient errors surfaced,
// unfair writes), with examples of what was counted.
inline Verdict check_zero(std::string name, std::uint64_t count,
                          const std::vector<std::string>& examples, std::string detail = {}) {
  Verdict v{.name = std::move(name)};
  v.count = count;
  v.ok = count == 0;
  for (std::size_t i = 0; i < examples.size() && i < kMaxOffenders; ++i) {
    v.offenders.push_back(examples[i]);
  }
  v.detail = std::move(detail);
  return v;
}

// check_integrity: integrity_check and cipher_integrity_check's verdict.
inline Verdict check_integrity(bool ok, const std::vector<std::string>& problems,
                               std::string detail = {}) {
  Verdict v{.name = "integrity"};
  v.ok = ok;
  v.count = ok ? 0 : std::max<std::uint64_t>(1, problems.size());
  for (std::size_t i = 0; i < problems.size() && i < kMaxOffenders; ++i) {
    v.offenders.push_back(problems[i]);
  }
  v.detail = std::move(detail);
  return v;
}

}  // namespace coordkit::stress

#endif  // COORDKIT_APPS_STRESS_CHECKS_H_

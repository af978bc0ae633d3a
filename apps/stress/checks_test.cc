#include "coordkit/stress/checks.h"

#include <algorithm>
#include <catch2/catch_test_macros.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "coordkit/stress/ledger.h"

namespace cs = coordkit::stress;
using cs::OpKind;
using cs::Outcome;

namespace {

struct Builder {
  std::vector<cs::Op> ops;
  std::uint64_t seq = 0;
  void add(OpKind k, Outcome o, const std::string& id, std::int64_t v, std::uint64_t hash,
           const std::string& actor) {
    ops.push_back({.kind = k,
                   .outcome = o,
                   .collection = "c",
                   .id = id,
                   .version = v,
                   .hash = hash,
                   .actor = actor,
                   .t_ms = 0,
                   .seq = ++seq});
  }
};

// A run where everything held: a, b and c written by two actors; d deleted.
Builder healthy() {
  Builder b;
  b.add(OpKind::kCreate, Outcome::kAcked, "a", 1, 11, "http-0");
  b.add(OpKind::kGet, Outcome::kAcked, "a", 1, 11, "http-1");
  b.add(OpKind::kPut, Outcome::kAcked, "a", 2, 12, "http-1");
  b.add(OpKind::kPut, Outcome::kConflict, "a", 0, 0, "http-0");
  b.add(OpKind::kGet, Outcome::kAcked, "a", 2, 12, "http-0");
  b.add(OpKind::kPut, Outcome::kAcked, "a", 3, 13, "http-0");
  b.add(OpKind::kCreate, Outcome::kAcked, "b", 1, 21, "worker-0");
  b.add(OpKind::kCreate, Outcome::kAcked, "c", 1, 31, "worker-0");
  b.add(OpKind::kPut, Outcome::kInDoubt, "c", 2, 32, "worker-0");
  b.add(OpKind::kCreate, Outcome::kAcked, "d", 1, 41, "http-0");
  b.add(OpKind::kRemove, Outcome::kAcked, "d", 1, 0, "http-1");
  b.add(OpKind::kGet, Outcome::kNotFound, "d", 0, 0, "http-0");
  return b;
}

cs::FinalState healthy_state() {
  return {{{"c", "a"}, {3, 13}}, {{"c", "b"}, {1, 21}}, {{"c", "c"}, {2, 32}}};
}

std::vector<cs::Verdict> all_checks(const std::vector<cs::Op>& ledger, const cs::FinalState& s) {
  const cs::Expectations ex = cs::expectations(ledger);
  return {cs::check_writes_kept(ex, s, "database"), cs::check_no_lost_update(ex, s),
          cs::check_reads_consistent(ledger)};
}

}  // namespace

TEST_CASE("Checks pass a run where every acknowledged write is there", "[stress]") {
  for (const cs::Verdict& v : all_checks(healthy().ops, healthy_state())) {
    INFO(v.name);
    CHECK(v.ok);
    CHECK(v.count == 0);
  }
  SECTION("an in-doubt write may also not have happened") {
    cs::FinalState s = healthy_state();
    s[{"c", "c"}] = {1, 31};
    for (const cs::Verdict& v : all_checks(healthy().ops, s)) CHECK(v.ok);
  }
}

TEST_CASE("A lost write fails writes_kept on exactly that record", "[stress]") {
  cs::FinalState s = healthy_state();
  SECTION("missing") { s.erase({"c", "b"}); }
  SECTION("altered without a version bump") { s[{"c", "b"}] = {1, 999}; }
  SECTION("rolled back to an older version") {
    s[{"c", "a"}] = {2, 12};
    s[{"c", "b"}] = {1, 21};
  }
  const auto verdicts = all_checks(healthy().ops, s);
  REQUIRE(verdicts[0].name == "writes_kept_database");
  CHECK_FALSE(verdicts[0].ok);
  CHECK(verdicts[0].count == 1);
  REQUIRE(verdicts[0].offenders.size() == 1);
  const bool names_b = verdicts[0].offenders[0].rfind("c/b:", 0) == 0;
  const bool names_a = verdicts[0].offenders[0].rfind("c/a:", 0) == 0;
  CHECK((names_a || names_b));
  CHECK(verdicts[2].ok);
}

TEST_CASE("A resurrected delete and an unknown record fail writes_kept", "[stress]") {
  cs::FinalState s = healthy_state();
  s[{"c", "d"}] = {1, 41};
  s[{"c", "zz"}] = {1, 5};
  const cs::Verdict v = cs::check_writes_kept(cs::expectations(healthy().ops), s, "gateway");
  CHECK(v.name == "writes_kept_gateway");
  CHECK(v.count == 2);
  SECTION("an in-doubt create allows one unknown record") {
    Builder b = healthy();
    b.add(OpKind::kCreate, Outcome::kInDoubt, "", 0, 0, "http-0");
    CHECK(cs::check_writes_kept(cs::expectations(b.ops), s, "gateway").count == 1);
  }
}

TEST_CASE("A lost update fails no_lost_update on exactly that record", "[stress]") {
  Builder b = healthy();
  // e: two actors read version 1 and both got their If-Match put acknowledged.
  b.add(OpKind::kCreate, Outcome::kAcked, "e", 1, 51, "http-0");
  b.add(OpKind::kPut, Outcome::kAcked, "e", 2, 52, "http-0");
  b.add(OpKind::kPut, Outcome::kAcked, "e", 2, 53, "worker-1");
  cs::FinalState s = healthy_state();
  s[{"c", "e"}] = {2, 53};
  const auto verdicts = all_checks(b.ops, s);
  CHECK(verdicts[1].name == "no_lost_update");
  CHECK_FALSE(verdicts[1].ok);
  REQUIRE_FALSE(verdicts[1].offenders.empty());
  for (const std::string& o : verdicts[1].offenders) CHECK(o.rfind("c/e:", 0) == 0);
  CHECK(verdicts[2].ok);
}

TEST_CASE("A record from a create in doubt, found and written again, is no lost update",
          "[stress]") {
  // The gateway committed a create and was killed before it answered: the
  // tester has the create in doubt without its id. A worker then found the
  // record in a listing and wrote version 2, and an HTTP connection version 3.
  Builder b = healthy();
  b.add(OpKind::kCreate, Outcome::kInDoubt, "", 0, 0, "http-2");
  b.add(OpKind::kGet, Outcome::kAcked, "f", 1, 61, "worker-2");
  b.add(OpKind::kPut, Outcome::kAcked, "f", 2, 62, "worker-2");
  b.add(OpKind::kGet, Outcome::kAcked, "f", 2, 62, "http-3");
  b.add(OpKind::kPut, Outcome::kAcked, "f", 3, 63, "http-3");
  cs::FinalState s = healthy_state();
  s[{"c", "f"}] = {3, 63};
  for (const cs::Verdict& v : all_checks(b.ops, s)) {
    INFO(v.name << ": " << (v.offenders.empty() ? "" : v.offenders[0]));
    CHECK(v.ok);
  }
  SECTION("without the create in doubt, version 1 is nobody's") {
    b.ops.erase(std::find_if(b.ops.begin(), b.ops.end(), [](const cs::Op& op) {
      return op.kind == OpKind::kCreate && op.outcome == Outcome::kInDoubt;
    }));
    const auto verdicts = all_checks(b.ops, s);
    CHECK(verdicts[0].ok);
    REQUIRE_FALSE(verdicts[1].ok);
    CHECK(verdicts[1].offenders ==
          std::vector<std::string>{"c/f: final version 3 after 2 acknowledged writes"});
  }
  SECTION("one create in doubt accounts for one record, not two") {
    s[{"c", "zz"}] = {1, 5};
    const auto verdicts = all_checks(b.ops, s);
    CHECK(verdicts[0].count + verdicts[1].count == 1);
  }
  SECTION("the create's version is still owed: a record at version 2 lost one") {
    s[{"c", "f"}] = {2, 62};
    const auto verdicts = all_checks(b.ops, s);
    CHECK_FALSE(verdicts[0].ok);  // older than the acknowledged version 3
    CHECK_FALSE(verdicts[1].ok);
  }
}

TEST_CASE("A stale read fails reads_consistent on exactly that read", "[stress]") {
  Builder b = healthy();
  SECTION("read-your-writes") {
    b.add(OpKind::kGet, Outcome::kAcked, "a", 2, 12, "http-0");  // http-0 wrote version 3
  }
  SECTION("monotonic reads") {
    b.add(OpKind::kGet, Outcome::kAcked, "a", 3, 13, "worker-0");
    b.add(OpKind::kGet, Outcome::kAcked, "a", 1, 11, "worker-0");
  }
  SECTION("a record that nobody deleted vanishes") {
    b.add(OpKind::kGet, Outcome::kNotFound, "b", 0, 0, "worker-0");
  }
  const auto verdicts = all_checks(b.ops, healthy_state());
  CHECK(verdicts[0].ok);
  CHECK(verdicts[1].ok);
  CHECK_FALSE(verdicts[2].ok);
  CHECK(verdicts[2].count == 1);
}

TEST_CASE("The views agree unless one of them lacks or changes a record", "[stress]") {
  const cs::FinalState s = healthy_state();
  CHECK(cs::check_views_agree(s, s).ok);
  cs::FinalState g = s;
  g[{"c", "a"}] = {3, 14};
  g.erase({"c", "b"});
  CHECK(cs::check_views_agree(g, s).count == 2);
}

TEST_CASE("A worker file keeps acknowledged ops and marks unanswered intents in doubt",
          "[stress]") {
  cs::Op put{.kind = OpKind::kPut,
             .collection = "c",
             .id = "a",
             .version = 2,
             .hash = 7,
             .actor = "worker-0",
             .actor_kind = cs::ActorKind::kWorker,
             .seq = 1};
  cs::Op second = put;
  second.seq = 2;
  second.version = 3;
  std::stringstream file;
  file << nlohmann::json{{"intent", cs::to_json(put)}}.dump() << "\n"
       << nlohmann::json{{"op", cs::to_json(put)}}.dump() << "\n"
       << nlohmann::json{{"counters", {{"unfair_writes", 2}}}}.dump() << "\n"
       << nlohmann::json{{"intent", cs::to_json(second)}}.dump() << "\n"
       << R"({"op": {"kind": "ups)";  // torn by a kill -9
  const cs::WorkerFile w = cs::parse_worker_file(file);
  REQUIRE(w.ops.size() == 2);
  CHECK(w.ops[0].outcome == Outcome::kAcked);
  CHECK(w.ops[0].version == 2);
  CHECK(w.ops[1].outcome == Outcome::kInDoubt);
  CHECK(w.ops[1].seq == 2);
  CHECK(w.unfair_writes == 2);
}

// The records model on real SQLCipher files: every operation and error, a
// Store under threads, two processes doing read-modify-writes, a listing
// while another process inserts, export and import.
#include "coordkit/apps/records.h"

#include <sqlcipher/sqlite3.h>

#include <algorithm>
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "coordkit/apps/internal/testing.h"
#include "coordkit/db/db.h"
#include "coordkit/spawn/spawn.h"

namespace db = coordkit::db;
namespace rec = coordkit::records;
namespace sp = coordkit::spawn;
using coordkit::apps::testing::kTestKeyHex;
using coordkit::apps::testing::runfile;
using coordkit::apps::testing::scratch_dir;

namespace {

db::Options options_for(const std::filesystem::path& path) {
  db::Options options;
  options.path = path;
  options.key = db::Key::raw_hex(kTestKeyHex);
  options.migrations = rec::migrations();
  return options;
}

db::Database open_fresh(const std::string& name) {
  return db::Database::open(options_for(scratch_dir(name) / "records.db"));
}

// code_of: the records::Error code `fn` throws, or nullopt if it returns.
template <class F>
std::optional<rec::ErrorCode> code_of(F&& fn, std::int64_t* current = nullptr) {
  try {
    fn();
  } catch (const rec::Error& e) {
    if (current != nullptr) *current = e.current_version();
    return e.code();
  }
  return std::nullopt;
}

sp::Child start_worker(std::vector<std::string> args) {
  sp::Command command;
  command.executable = runfile("records_test_worker");
  command.args = std::move(args);
  command.env = {{"COORDKIT_TEST_KEY_HEX", kTestKeyHex}};
  command.in = sp::Stdio::pipe();
  command.out = sp::Stdio::pipe();
  return sp::spawn(command);
}

constexpr std::chrono::milliseconds kChildTimeout{60000};

void expect_ready(sp::Child& child) {
  const std::optional<std::string> line = child.read_stdout_line(kChildTimeout);
  REQUIRE(line == std::optional<std::string>("ready"));
}

}  // namespace

TEST_CASE("The records schema is applied through user_version", "[records]") {
  db::Database database = open_fresh("schema");
  CHECK(database.user_version() == rec::kSchemaVersion);
}

TEST_CASE("create makes version 1 under a time-ordered unique id", "[records]") {
  db::Database database = open_fresh("create");
  rec::Records records(database);
  const std::int64_t before = rec::now_ms();
  const rec::Record r = records.create("notes", R"({ "text" : "hi" })");
  CHECK(r.collection == "notes");
  CHECK(r.version == 1);
  CHECK(r.body == R"({"text":"hi"})");
  CHECK(r.id.size() == 36);
  CHECK(rec::valid_id(r.id));
  CHECK(r.id[14] == '7');  // UUID version 7
  CHECK(r.created_at_ms >= before);
  CHECK(r.updated_at_ms == r.created_at_ms);
  CHECK(records.get("notes", r.id) == r);

  SECTION("ids strictly increase within a process, also in a burst") {
    std::string last = rec::new_id();
    for (int i = 0; i < 20000; ++i) {
      std::string next = rec::new_id();
      REQUIRE(next > last);
      last = std::move(next);
    }
  }
  SECTION("ids from several threads never collide") {
    std::vector<std::vector<std::string>> made(4);
    std::vector<std::thread> threads;
    for (auto& v : made) {
      threads.emplace_back([&v] {
        for (int i = 0; i < 5000; ++i) v.push_back(rec::new_id());
      });
    }
    for (auto& t : threads) t.join();
    std::set<std::string> all;
    for (auto& v : made) all.insert(v.begin(), v.end());
    CHECK(all.size() == 20000);
  }
}

TEST_CASE("get and find of a missing record", "[records]") {
  db::Database database = open_fresh("get");
  rec::Records records(database);
  CHECK(code_of([&] { records.get("notes", "nope"); }) == rec::ErrorCode::kNotFound);
  CHECK_FALSE(records.find("notes", "nope").has_value());
}

TEST_CASE("put upserts by id and honours the expected version", "[records]") {
  db::Database database = open_fresh("put");
  rec::Records records(database);
  rec::PutResult first = records.put("notes", "a", R"({"v":1})");
  CHECK(first.created);
  CHECK(first.record.version == 1);
  rec::PutResult second = records.put("notes", "a", R"({"v":2})");
  CHECK_FALSE(second.created);
  CHECK(second.record.version == 2);
  CHECK(second.record.created_at_ms == first.record.created_at_ms);
  CHECK(records.put("notes", "a", R"({"v":3})", {.if_version = 2}).record.version == 3);
  CHECK(records.get("notes", "a").body == R"({"v":3})");

  std::int64_t current = -1;
  SECTION("a stale expected version is a mismatch that reports the current one") {
    CHECK(code_of([&] { records.put("notes", "a", "{}", {.if_version = 2}); }, &current) ==
          rec::ErrorCode::kVersionMismatch);
    CHECK(current == 3);
    CHECK(records.get("notes", "a").version == 3);
  }
  SECTION("an expected version on a missing record is a mismatch with current 0") {
    CHECK(code_of([&] { records.put("notes", "b", "{}", {.if_version = 1}); }, &current) ==
          rec::ErrorCode::kVersionMismatch);
    CHECK(current == 0);
    CHECK_FALSE(records.find("notes", "b"));
  }
  SECTION("only-if-absent refuses an existing record and creates a missing one") {
    CHECK(code_of([&] { records.put("notes", "a", "{}", {.if_absent = true}); }, &current) ==
          rec::ErrorCode::kAlreadyExists);
    CHECK(current == 3);
    CHECK(records.put("notes", "b", "{}", {.if_absent = true}).created);
  }
  SECTION("if_exists (If-Match: *) needs the record, at any version") {
    CHECK(records.put("notes", "a", "{}", {.if_exists = true}).record.version == 4);
    CHECK(code_of([&] { records.put("notes", "b", "{}", {.if_exists = true}); }, &current) ==
          rec::ErrorCode::kVersionMismatch);
    CHECK(current == 0);
    CHECK_FALSE(records.find("notes", "b"));
  }
  SECTION("if_absent with another condition is an invalid argument") {
    CHECK(code_of([&] {
            records.put("notes", "a", "{}", {.if_absent = true, .if_exists = true});
          }) == rec::ErrorCode::kInvalidArgument);
  }
  SECTION("both conditions at once are an invalid argument") {
    CHECK(code_of([&] { records.put("notes", "a", "{}", {.if_version = 3, .if_absent = true}); }) ==
          rec::ErrorCode::kInvalidArgument);
  }
}

namespace {
// CompileWatch: counts, through SQLite's authorizer (which runs while a
// statement compiles, never while it runs), the compiles that write the
// records table, and how many of them happened inside a transaction, where
// a write would hold the write turn while they compile.
struct CompileWatch {
  int compiles = 0;
  int inside_a_transaction = 0;
  sqlite3* handle = nullptr;

  explicit CompileWatch(sqlite3* h) : handle(h) {
    sqlite3_set_authorizer(handle, &CompileWatch::on_compile, this);
  }
  ~CompileWatch() { sqlite3_set_authorizer(handle, nullptr, nullptr); }
  CompileWatch(const CompileWatch&) = delete;
  CompileWatch& operator=(const CompileWatch&) = delete;

  static int on_compile(void* self, int action, const char* table, const char*, const char*,
                        const char*) {
    auto* w = static_cast<CompileWatch*>(self);
    const bool write =
        action == SQLITE_INSERT || action == SQLITE_UPDATE || action == SQLITE_DELETE;
    if (write && table != nullptr && std::string_view(table) == "records") {
      ++w->compiles;
      if (sqlite3_get_autocommit(w->handle) == 0) ++w->inside_a_transaction;
    }
    return SQLITE_OK;
  }
};
}  // namespace

TEST_CASE("A Database's create, put and remove compile their statements before the write",
          "[records]") {
  // A command-line process writes through a new connection: compiling the
  // insert with its triggers inside the write would hold every other writer
  // of the file back meanwhile.
  db::Database database = open_fresh("prepared");
  CompileWatch watch(database.native_handle());
  rec::Records records(database);
  const rec::Record created = records.create("notes", R"({"v":0})");
  records.put("notes", "a", R"({"v":1})");
  records.put("notes", "a", R"({"v":2})");
  CHECK(records.remove("notes", created.id) == 1);
  CHECK(records.get("notes", "a").version == 2);
  CHECK(watch.compiles >= 3);  // the insert, the update and the delete at least
  CHECK(watch.inside_a_transaction == 0);
}

TEST_CASE("remove deletes, with an optional expected version", "[records]") {
  db::Database database = open_fresh("remove");
  rec::Records records(database);
  records.put("notes", "a", "{}");
  records.put("notes", "a", "{}");
  std::int64_t current = -1;
  CHECK(code_of([&] { records.remove("notes", "a", {.if_version = 1}); }, &current) ==
        rec::ErrorCode::kVersionMismatch);
  CHECK(current == 2);
  CHECK(records.remove("notes", "a", {.if_version = 2}) == 2);
  CHECK_FALSE(records.find("notes", "a"));
  CHECK(code_of([&] { records.remove("notes", "a"); }) == rec::ErrorCode::kNotFound);
  CHECK(code_of([&] { records.remove("notes", "a", {.if_version = 2}); }, &current) ==
        rec::ErrorCode::kVersionMismatch);
  CHECK(current == 0);
  CHECK(code_of([&] { records.remove("notes", "a", {.if_absent = true}); }) ==
        rec::ErrorCode::kInvalidArgument);
  CHECK(code_of([&] { records.remove("notes", "a", {.if_exists = true}); }, &current) ==
        rec::ErrorCode::kVersionMismatch);
  records.put("notes", "c", "{}");
  CHECK(records.remove("notes", "c", {.if_exists = true}) == 1);
}

TEST_CASE("ETags carry the version", "[records]") {
  CHECK(rec::etag(7) == "\"7\"");
  CHECK(rec::parse_etag(rec::etag(7)) == 7);
  CHECK(rec::parse_etag(rec::etag(123456789012)) == 123456789012);
  const std::string bad = GENERATE(
      std::string(""), std::string("7"), std::string("\"\""), std::string("W/\"7\""),
      std::string("\"07\""), std::string("\"0\""), std::string("\"-1\""),
      std::string("\"7\", \"8\""), std::string("*"), std::string("\"99999999999999999999\""));
  CHECK_FALSE(rec::parse_etag(bad).has_value());
}

TEST_CASE("Collection names, ids and bodies are validated", "[records]") {
  db::Database database = open_fresh("validate");
  rec::Records records(database, rec::Limits{.max_body_bytes = 64, .max_depth = 4});
  SECTION("collection names") {
    const std::string name = GENERATE(std::string(""), std::string("Notes"), std::string("a b"),
                                      std::string("a/b"), std::string(65, 'a'), std::string("é"));
    CHECK(code_of([&] { records.create(name, "{}"); }) == rec::ErrorCode::kInvalidArgument);
    CHECK(code_of([&] { records.list(name); }) == rec::ErrorCode::kInvalidArgument);
  }
  SECTION("ids") {
    const std::string id =
        GENERATE(std::string(""), std::string("."), std::string(".."), std::string("a/b"),
                 std::string("a b"), std::string(129, 'x'), std::string("a\nb"));
    CHECK(code_of([&] { records.put("notes", id, "{}"); }) == rec::ErrorCode::kInvalidArgument);
    CHECK(code_of([&] { records.get("notes", id); }) == rec::ErrorCode::kInvalidArgument);
  }
  SECTION("bodies that are not one JSON object") {
    const std::string body =
        GENERATE(std::string("[]"), std::string("1"), std::string("\"s\""), std::string("null"),
                 std::string("{"), std::string("not json"), std::string("{} {}"),
                 std::string(R"({"a":[[[[1]]]]})"));
    CHECK(code_of([&] { records.create("notes", body); }) == rec::ErrorCode::kInvalidArgument);
  }
  SECTION("a body above the size limit") {
    const std::string body = R"({"a":")" + std::string(64, 'x') + "\"}";
    CHECK(code_of([&] { records.create("notes", body); }) == rec::ErrorCode::kTooLarge);
    CHECK(code_of([&] { records.put("notes", "a", body); }) == rec::ErrorCode::kTooLarge);
  }
  SECTION("the largest accepted names and ids") {
    const std::string name(64, 'z');
    const std::string id = std::string(127, 'A') + "~";
    CHECK(records.put(name, id, R"({"a":[[1]]})").record.version == 1);
  }
  CHECK(records.stats().empty() == (records.count(std::string(64, 'z')) == 0));
}

TEST_CASE("A body parsed already makes the same Body, and fails the same way, as its text",
          "[records]") {
  const rec::Limits limits{.max_body_bytes = 64, .max_depth = 4};
  const std::string text =
      GENERATE(std::string(R"({"b":1,"a":[true,null]})"), std::string(R"( { "x" : "\u00e9" } )"),
               std::string("[]"), std::string("{"), std::string(R"({"a":[[[[1]]]]})"),
               R"({"a":")" + std::string(64, 'x') + "\"}");
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  std::string from_text, from_value;
  const auto text_code = code_of([&] { from_text = rec::Body::parse(text, limits).text(); });
  const auto value_code = code_of([&] { from_value = rec::Body::parsed(text, j, limits).text(); });
  CHECK(value_code == text_code);
  CHECK(from_value == from_text);
}

TEST_CASE("list pages through a collection in id order with an opaque cursor", "[records]") {
  db::Database database = open_fresh("list");
  rec::Records records(database);
  std::vector<std::string> ids;
  for (int i = 0; i < 23; ++i) ids.push_back(records.create("notes", "{}").id);
  records.put("other", "x", "{}");
  std::vector<std::string> seen;
  std::string cursor;
  int pages = 0;
  for (;;) {
    rec::Page page = records.list("notes", cursor, 5);
    ++pages;
    for (auto& r : page.records) seen.push_back(r.id);
    if (!page.next_cursor) break;
    cursor = *page.next_cursor;
  }
  CHECK(pages == 5);
  CHECK(seen == ids);  // server ids are time-ordered, so creation order is id order
  CHECK(records.list("notes", "", 0).records.size() == 23);  // 0: the default limit

  SECTION("a cursor of another collection, or garbage, is an invalid argument") {
    const std::string other = *records.list("notes", "", 1).next_cursor;
    CHECK(code_of([&] { records.list("other", other); }) == rec::ErrorCode::kInvalidArgument);
    CHECK(code_of([&] { records.list("notes", "!!"); }) == rec::ErrorCode::kInvalidArgument);
    CHECK(code_of([&] { records.list("notes", "cjE6"); }) == rec::ErrorCode::kInvalidArgument);
  }
  SECTION("a limit above the maximum is an invalid argument") {
    CHECK(code_of([&] { records.list("notes", "", 1001); }) == rec::ErrorCode::kInvalidArgument);
  }
}

TEST_CASE("count and stats follow every write", "[records]") {
  db::Database database = open_fresh("stats");
  rec::Records records(database);
  CHECK(records.count("notes") == 0);
  records.put("notes", "a", R"({"x":1})");    // 7 bytes
  records.put("notes", "b", R"({"x":22})");   // 8 bytes
  records.put("tasks", "a", "{}");            // 2 bytes
  records.put("notes", "a", R"({"x":333})");  // 9 bytes
  CHECK(records.count("notes") == 2);
  CHECK(records.stats() == std::vector<rec::CollectionStats>{{"notes", 2, 17}, {"tasks", 1, 2}});
  records.remove("tasks", "a");
  CHECK(records.stats() == std::vector<rec::CollectionStats>{{"notes", 2, 17}});
}

TEST_CASE("A Store serves the same model to many threads without lost updates", "[records]") {
  auto store = db::Store::open(options_for(scratch_dir("store") / "records.db"), {.readers = 2});
  rec::Records records(*store);
  for (const char* id : {"a", "b"}) records.put("counters", id, R"({"n":0})");
  constexpr int kThreads = 4, kIterations = 50;
  std::atomic<int> acked{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kIterations; ++i) {
        const char* id = (i + t) % 2 == 0 ? "a" : "b";
        for (;;) {
          const rec::Record r = records.get("counters", id);
          const int n = nlohmann::json::parse(r.body).at("n").get<int>();
          try {
            records.put("counters", id, nlohmann::json{{"n", n + 1}}.dump(),
                        {.if_version = r.version});
            ++acked;
            break;
          } catch (const rec::Error& e) {
            if (e.code() != rec::ErrorCode::kVersionMismatch) throw;
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const rec::Record a = records.get("counters", "a");
  const rec::Record b = records.get("counters", "b");
  CHECK(acked == kThreads * kIterations);
  CHECK(a.version + b.version - 2 == std::int64_t{kThreads} * kIterations);
  CHECK(nlohmann::json::parse(a.body).at("n").get<int>() == a.version - 1);
  CHECK(nlohmann::json::parse(b.body).at("n").get<int>() == b.version - 1);
}

TEST_CASE("Two processes doing read-modify-writes with expected versions lose no update",
          "[records][processes]") {
  const std::filesystem::path path = scratch_dir("rmw") / "records.db";
  db::Database database = db::Database::open(options_for(path));
  rec::Records records(database);
  const std::vector<std::string> ids = {"r1", "r2", "r3"};
  for (const auto& id : ids) records.put("counters", id, R"({"n":0})");

  constexpr int kIterations = 150;
  std::vector<sp::Child> workers;
  for (int w = 0; w < 2; ++w) {
    std::vector<std::string> args = {"rmw", path.string(), "counters", std::to_string(kIterations)};
    args.insert(args.end(), ids.begin(), ids.end());
    workers.push_back(start_worker(args));
  }
  for (auto& w : workers) expect_ready(w);
  for (auto& w : workers) w.write_stdin("go\n");  // the start barrier
  std::map<std::string, int> acks;
  int conflicts = 0;
  for (auto& w : workers) {
    const std::string out = w.communicate({}, kChildTimeout).out;
    REQUIRE(w.wait_for(kChildTimeout).value().success());
    std::istringstream lines(out);
    std::string word, id;
    int n = 0;
    while (lines >> word) {
      if (word == "ack" && lines >> id >> n) acks[id] += n;
      if (word == "conflicts" && lines >> n) conflicts += n;
    }
  }
  int total = 0;
  for (const auto& id : ids) {
    const rec::Record r = records.get("counters", id);
    INFO(id);
    CHECK(r.version == 1 + acks[id]);
    CHECK(nlohmann::json::parse(r.body).at("n").get<int>() == acks[id]);
    total += acks[id];
  }
  CHECK(total == 2 * kIterations);
  WARN("version conflicts retried by the workers: " << conflicts);
}

TEST_CASE("A listing while another process inserts skips and repeats nothing",
          "[records][processes]") {
  const std::filesystem::path path = scratch_dir("list-insert") / "records.db";
  db::Database database = db::Database::open(options_for(path));
  rec::Records records(database);
  std::set<std::string> initial;
  for (int i = 0; i < 1000; i += 3) {
    char id[16];
    std::snprintf(id, sizeof id, "k%04d", i);
    records.put("items", id, "{}");
    initial.insert(id);
  }
  for (int i = 0; i < 20; ++i) initial.insert(records.create("items", "{}").id);

  sp::Child inserter = start_worker({"insert", path.string(), "items", "7"});
  expect_ready(inserter);
  inserter.write_stdin("go\n");
  // Let the inserter get going so that the listing overlaps its writes.
  const std::int64_t start_count = records.count("items");
  while (records.count("items") < start_count + 20)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));

  const std::int64_t count_before = records.count("items");
  std::vector<std::string> seen;
  std::string cursor;
  for (;;) {
    rec::Page page = records.list("items", cursor, 4);
    for (auto& r : page.records) seen.push_back(r.id);
    if (!page.next_cursor) break;
    cursor = *page.next_cursor;
    std::this_thread::sleep_for(std::chrono::microseconds(300));
  }
  const std::int64_t count_after = records.count("items");
  inserter.write_stdin("stop\n");
  const std::string out = inserter.communicate({}, kChildTimeout).out;
  REQUIRE(inserter.wait_for(kChildTimeout).value().success());

  CHECK(count_after > count_before);  // the inserter wrote during the listing
  CHECK(std::is_sorted(seen.begin(), seen.end()));
  CHECK(std::adjacent_find(seen.begin(), seen.end()) == seen.end());  // no repeat
  const std::set<std::string> seen_set(seen.begin(), seen.end());
  for (const auto& id : initial) {
    INFO(id);
    CHECK(seen_set.count(id) == 1);  // no skip
  }
  WARN("listed " << seen.size() << " records; the inserter reported: " << out);
}

TEST_CASE("export then import reproduces every record and version", "[records]") {
  db::Database source = open_fresh("export");
  rec::Records from(source);
  from.put("notes", "a", R"({"text":"héllo \"quoted\"","n":[1,2,{"x":null}]})");
  from.put("notes", "a", R"({"text":"second"})");
  from.put("notes", "b", "{}");
  from.create("tasks", R"({"done":false})");
  std::ostringstream exported;
  CHECK(from.export_jsonl(exported) == 3);
  std::ostringstream only_tasks;
  CHECK(from.export_jsonl(only_tasks, std::string("tasks")) == 1);

  db::Database target = open_fresh("import");
  rec::Records to(target);
  std::istringstream in(exported.str());
  const rec::ImportResult result = to.import_jsonl(in);
  CHECK(result.inserted == 3);
  const auto all = [](db::Database& d) {
    return d.read([](db::Transaction& tx) { return rec::export_records(tx, std::nullopt); });
  };
  CHECK(all(target) == all(source));
  CHECK(to.get("notes", "a").version == 2);
  CHECK(to.stats() == from.stats());

  SECTION("importing the same lines again changes nothing") {
    std::istringstream again(exported.str());
    const rec::ImportResult r = to.import_jsonl(again);
    CHECK(r.unchanged == 3);
    CHECK(r.inserted + r.replaced == 0);
  }
  SECTION("an existing record at another version refuses the whole import") {
    to.put("notes", "b", R"({"changed":true})");  // now version 2
    to.remove("tasks", to.list("tasks").records.at(0).id);
    std::istringstream again(exported.str());
    std::int64_t current = -1;
    CHECK(code_of([&] { to.import_jsonl(again); }, &current) == rec::ErrorCode::kVersionMismatch);
    CHECK(current == 2);
    CHECK(to.count("tasks") == 0);  // all or nothing: the task was not brought back
    SECTION("unless asked to replace") {
      std::istringstream replace(exported.str());
      const rec::ImportResult r = to.import_jsonl(replace, rec::ImportMode::kReplace);
      CHECK(r.replaced == 1);
      CHECK(r.inserted == 1);
      CHECK(all(target) == all(source));
    }
  }
  SECTION("a stored body changed behind the model's back fails the export, typed") {
    source.write([](db::Transaction& tx) {
      tx.execute("UPDATE records SET body = 'not json' WHERE id = 'b'");
    });
    std::ostringstream out;
    CHECK(code_of([&] { from.export_jsonl(out); }) == rec::ErrorCode::kCorrupt);
  }
  SECTION("a malformed line imports nothing") {
    const std::string bad = GENERATE(
        std::string("not json"), std::string("[]"),
        std::string(
            R"({"collection":"notes","id":"z","version":0,"body":{},"created_at_ms":1,"updated_at_ms":1})"),
        std::string(
            R"({"collection":"Notes","id":"z","version":1,"body":{},"created_at_ms":1,"updated_at_ms":1})"),
        std::string(
            R"({"collection":"notes","id":"z","version":1,"body":[],"created_at_ms":1,"updated_at_ms":1})"),
        std::string(R"({"collection":"notes","id":"z","version":1,"body":{}})"),
        std::string(
            R"({"collection":"notes","id":"a","version":9,"body":{},"created_at_ms":1,"updated_at_ms":1})"));
    db::Database empty = open_fresh("import-bad");
    rec::Records fresh(empty);
    std::istringstream lines(exported.str() + bad + "\n");
    CHECK(code_of([&] { fresh.import_jsonl(lines); }) == rec::ErrorCode::kInvalidArgument);
    CHECK(fresh.stats().empty());
  }
}

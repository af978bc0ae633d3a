// coordctl's database commands, run as the real binary on real SQLCipher
// files: every command's success path, its main failure paths and exit
// codes, ASCII output, --json.
#include <algorithm>
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/cli/cli_test_support.h"

using namespace coordkit::cli_test;
namespace spawn = coordkit::spawn;
using nlohmann::json;

TEST_CASE("db init creates the database, and again reports that it exists", "[cli][db]") {
  World w("init");
  Result r = w.run(w.with_key({"db", "init", "--json"}));
  REQUIRE(r.code == 0);
  CHECK(json_line(r.out)["created"] == true);
  CHECK(json_line(r.out)["schema_version"] == 1);
  CHECK(fs::exists(w.db));
  r = w.run(w.with_key({"db", "init", "--json"}));
  CHECK(r.code == 0);
  CHECK(json_line(r.out)["created"] == false);
}

TEST_CASE("db commands without a key exit 2, with an unsafe key file 1", "[cli][db]") {
  World w("nokey");
  w.init();
  CHECK(w.run({"db", "get", "c", "x"}).code == 2);
  fs::permissions(w.key_file, fs::perms::owner_read | fs::perms::owner_write |
                                  fs::perms::group_read | fs::perms::others_read);
  const Result r = w.run(w.with_key({"db", "get", "c", "x", "--json"}));
  CHECK(r.code == 1);
  CHECK(json_line(r.out)["error"]["code"] == "key_file_unsafe");
}

TEST_CASE("db without a database path exits 2", "[cli][db]") {
  World w("nodb");
  const Result r = w.run(w.with_key({"db", "stats"}), {{"COORDKIT_DB", std::nullopt}});
  CHECK(r.code == 2);
}

TEST_CASE("db put, get, list and delete, with versions and conflicts", "[cli][db]") {
  World w("crud");
  w.init();
  Result r = w.run(w.with_key({"db", "put", "notes", "n1", R"({"text":"hello"})", "--json"}));
  REQUIRE(r.code == 0);
  CHECK(json_line(r.out)["version"] == 1);
  CHECK(json_line(r.out)["created"] == true);

  SECTION("a body from stdin") {
    r = w.run(w.with_key({"db", "put", "notes", "n1", "--json"}), {}, R"({"text":"from stdin"})");
    REQUIRE(r.code == 0);
    CHECK(json_line(r.out)["version"] == 2);
    r = w.run(w.with_key({"db", "get", "notes", "n1"}));
    CHECK(r.code == 0);
    CHECK(r.out == "{\"text\":\"from stdin\"}\n");
  }
  SECTION("--if-version: the right version writes, a stale one exits 7 and changes nothing") {
    r = w.run(w.with_key({"db", "put", "notes", "n1", R"({"text":"v2"})", "--if-version", "1"}));
    CHECK(r.code == 0);
    r = w.run(w.with_key({"db", "put", "notes", "n1", R"({"text":"lost"})", "--if-version", "1"}));
    CHECK(r.code == 7);
    r = w.run(w.with_key({"db", "get", "notes", "n1", "--json"}));
    CHECK(json_line(r.out)["version"] == 2);
    CHECK(json_line(r.out)["body"]["text"] == "v2");
    CHECK(w.run(w.with_key({"db", "put", "notes", "n1", "{}", "--if-absent"})).code == 7);
  }
  SECTION("non-ASCII bodies are printed as ASCII escapes") {
    r = w.run(w.with_key({"db", "put", "notes", "u", "{\"t\":\"caf\xC3\xA9 \xF0\x9F\x9A\x80\"}"}));
    REQUIRE(r.code == 0);
    r = w.run(w.with_key({"db", "get", "notes", "u"}));
    CHECK(r.code == 0);
    CHECK(all_ascii(r.out));
    CHECK(json::parse(r.out)["t"] == "caf\xC3\xA9 \xF0\x9F\x9A\x80");
    r = w.run(w.with_key({"db", "list", "notes"}));
    CHECK(all_ascii(r.out));
  }
  SECTION("bad input: not an object, a bad collection name, a missing record") {
    CHECK(w.run(w.with_key({"db", "put", "notes", "n2", "[1,2]"})).code == 2);
    CHECK(w.run(w.with_key({"db", "put", "notes", "n2", "{nope"})).code == 2);
    CHECK(w.run(w.with_key({"db", "put", "Bad Name", "n2", "{}"})).code == 2);
    r = w.run(w.with_key({"db", "get", "notes", "missing", "--json"}));
    CHECK(r.code == 1);
    CHECK(json_line(r.out)["error"]["code"] == "not_found");
  }
  SECTION("list pages through a collection with its cursor") {
    for (int i = 2; i <= 5; ++i) {
      REQUIRE(w.run(w.with_key({"db", "put", "notes", "n" + std::to_string(i), "{}"})).code == 0);
    }
    r = w.run(w.with_key({"db", "list", "notes", "--limit", "2", "--json"}));
    REQUIRE(r.code == 0);
    json page = json_line(r.out);
    REQUIRE(page["records"].size() == 2);
    CHECK(page["records"][0]["id"] == "n1");
    REQUIRE(page["next_cursor"].is_string());
    r = w.run(w.with_key({"db", "list", "notes", "--limit", "2", "--cursor",
                          page["next_cursor"].get<std::string>(), "--json"}));
    page = json_line(r.out);
    REQUIRE(page["records"].size() == 2);
    CHECK(page["records"][0]["id"] == "n3");
    r = w.run(w.with_key({"db", "list", "notes", "--all", "--limit", "2", "--json"}));
    CHECK(json_line(r.out)["records"].size() == 5);
    CHECK(json_line(r.out)["next_cursor"].is_null());
    r = w.run(w.with_key({"db", "list", "notes", "--limit", "0"}));
    CHECK(r.code == 2);
  }
  SECTION("delete, with --if-version") {
    CHECK(w.run(w.with_key({"db", "delete", "notes", "n1", "--if-version", "5"})).code == 7);
    r = w.run(w.with_key({"db", "delete", "notes", "n1", "--json"}));
    CHECK(r.code == 0);
    CHECK(json_line(r.out)["deleted_version"] == 1);
    CHECK(w.run(w.with_key({"db", "get", "notes", "n1"})).code == 1);
    CHECK(w.run(w.with_key({"db", "delete", "notes", "n1"})).code == 1);
  }
}

TEST_CASE("db on a missing database exits 1 and creates nothing", "[cli][db]") {
  World w("missing");
  const Result r = w.run(w.with_key({"db", "get", "c", "x", "--json"}));
  CHECK(r.code == 1);
  CHECK(json_line(r.out)["error"]["code"] == "not_initialised");
  CHECK_FALSE(fs::exists(w.db));
}

TEST_CASE("a wrong key exits 4 within a second of CPU and leaves the file untouched", "[cli][db]") {
  World w("wrongkey");
  const Env pass = {{"COORDKIT_PASSPHRASE", "right passphrase"}};
  REQUIRE(w.run({"db", "init"}, pass).code == 0);
  REQUIRE(w.run({"db", "put", "c", "a", "{}"}, pass).code == 0);
  const std::string before = read_file(w.db);
  std::vector<std::string> entries_before;
  for (const auto& e : fs::directory_iterator(w.dir)) entries_before.push_back(e.path().filename());
  std::sort(entries_before.begin(), entries_before.end());

  auto [label, args, env] = GENERATE_REF(table<std::string, std::vector<std::string>, Env>({
      {"wrong passphrase", {"db", "get", "c", "a"}, {{"COORDKIT_PASSPHRASE", "wrong"}}},
      {"wrong raw key", {"--key-file", "", "db", "put", "c", "b", "{}"}, {}},
      {"wrong passphrase, check", {"db", "check"}, {{"COORDKIT_PASSPHRASE", "wrong"}}},
  }));
  CAPTURE(label);
  if (args[0] == "--key-file") args[1] = w.other_key_file.string();
  const Result r = w.run(args, env);
  CHECK(r.code == 4);
  CHECK(r.cpu_seconds < 1.0);
  CHECK(read_file(w.db) == before);
  std::vector<std::string> entries_after;
  for (const auto& e : fs::directory_iterator(w.dir)) entries_after.push_back(e.path().filename());
  std::sort(entries_after.begin(), entries_after.end());
  CHECK(entries_after == entries_before);
}

TEST_CASE("a file that is not a database exits 4", "[cli][db]") {
  World w("notadb");
  write_file(w.db, std::string(8192, 'x'));
  CHECK(w.run(w.with_key({"db", "get", "c", "a"})).code == 4);
  CHECK(read_file(w.db) == std::string(8192, 'x'));
}

TEST_CASE("db check runs quick and full checks with the cipher check", "[cli][db]") {
  World w("check");
  w.init();
  REQUIRE(w.run(w.with_key({"db", "put", "c", "a", "{}"})).code == 0);
  for (const char* mode : {"quick", "full"}) {
    std::vector<std::string> args = w.with_key({"db", "check", "--json"});
    if (std::string(mode) == "full") args.push_back("--full");
    const Result r = w.run(args);
    CHECK(r.code == 0);
    CHECK(json_line(r.out)["ok"] == true);
    CHECK(json_line(r.out)["check"] == mode);
  }
}

TEST_CASE("db stats shows the file and its collections", "[cli][db]") {
  World w("stats");
  w.init();
  REQUIRE(w.run(w.with_key({"db", "put", "a", "1", R"({"x":1})"})).code == 0);
  REQUIRE(w.run(w.with_key({"db", "put", "b", "1", "{}"})).code == 0);
  REQUIRE(w.run(w.with_key({"db", "put", "b", "2", "{}"})).code == 0);
  Result r = w.run(w.with_key({"db", "stats", "--json"}));
  REQUIRE(r.code == 0);
  const json j = json_line(r.out);
  CHECK(j["schema_version"] == 1);
  CHECK(j["page_size"].get<int>() > 0);
  REQUIRE(j["collections"].size() == 2);
  CHECK(j["collections"][1]["collection"] == "b");
  CHECK(j["collections"][1]["records"] == 2);
  r = w.run(w.with_key({"db", "stats"}));
  CHECK(r.code == 0);
  CHECK(r.out.find("b: 2 records") != std::string::npos);
}

TEST_CASE("db backup writes an encrypted copy that opens with the key", "[cli][db]") {
  World w("backup");
  w.init();
  REQUIRE(w.run(w.with_key({"db", "put", "c", "a", R"({"v":1})"})).code == 0);
  const fs::path copy = w.dir / "copy.db";
  Result r = w.run(w.with_key({"db", "backup", copy.string()}));
  REQUIRE(r.code == 0);
  r = w.run(w.with_key({"db", "get", "c", "a"}), {{"COORDKIT_DB", copy.string()}});
  CHECK(r.code == 0);
  CHECK(r.out == "{\"v\":1}\n");
  CHECK(read_file(copy).substr(0, 16) != "SQLite format 3");
  // An existing destination is refused.
  CHECK(w.run(w.with_key({"db", "backup", copy.string()})).code == 2);
  // Another key for the copy.
  const fs::path other = w.dir / "other.db";
  REQUIRE(w.run(w.with_key(
                    {"db", "backup", other.string(), "--dest-key-file", w.other_key_file.string()}))
              .code == 0);
  CHECK(w.run({"--key-file", w.other_key_file.string(), "db", "get", "c", "a"},
              {{"COORDKIT_DB", other.string()}})
            .code == 0);
  CHECK(w.run(w.with_key({"db", "get", "c", "a"}), {{"COORDKIT_DB", other.string()}}).code == 4);
}

TEST_CASE("db rekey changes the key; the old key then exits 4", "[cli][db]") {
  World w("rekey");
  w.init();
  REQUIRE(w.run(w.with_key({"db", "put", "c", "a", R"({"v":1})"})).code == 0);
  SECTION("to a raw key file") {
    Result r = w.run(w.with_key({"db", "rekey", "--new-key-file", w.other_key_file.string()}));
    REQUIRE(r.code == 0);
    CHECK(w.run(w.with_key({"db", "get", "c", "a"})).code == 4);
    r = w.run({"--key-file", w.other_key_file.string(), "db", "get", "c", "a"});
    CHECK(r.code == 0);
    CHECK(r.out == "{\"v\":1}\n");
  }
  SECTION("to a passphrase from the environment") {
    REQUIRE(w.run(w.with_key({"db", "rekey"}), {{"COORDKIT_NEW_PASSPHRASE", "new one"}}).code == 0);
    CHECK(w.run({"db", "get", "c", "a"}, {{"COORDKIT_PASSPHRASE", "new one"}}).code == 0);
  }
  SECTION("no new key given and no terminal: usage") {
    CHECK(w.run(w.with_key({"db", "rekey"})).code == 2);
    CHECK(w.run(w.with_key({"db", "get", "c", "a"})).code == 0);
  }
}

TEST_CASE("export then import into a fresh database reproduces every record and version",
          "[cli][db]") {
  World w("export");
  w.init();
  for (int i = 0; i < 30; ++i) {
    const std::string coll = i % 3 == 0 ? "alpha" : "beta";
    REQUIRE(w.run(w.with_key({"db", "put", coll, "r" + std::to_string(i),
                              "{\"i\":" + std::to_string(i) + ",\"s\":\"\xC3\xA9\"}"}))
                .code == 0);
  }
  for (int i = 0; i < 5; ++i) {
    REQUIRE(w.run(w.with_key({"db", "put", "beta", "r1", "{\"round\":" + std::to_string(i) + "}"}))
                .code == 0);
  }
  const fs::path dump = w.dir / "all.jsonl";
  Result r = w.run(w.with_key({"db", "export", "-o", dump.string()}));
  REQUIRE(r.code == 0);
  const std::string exported = read_file(dump);
  CHECK(all_ascii(exported));
  CHECK(std::count(exported.begin(), exported.end(), '\n') == 30);
  CHECK((fs::status(dump).permissions() & fs::perms::all) ==
        (fs::perms::owner_read | fs::perms::owner_write));

  const Env fresh = {{"COORDKIT_DB", (w.dir / "fresh.db").string()}};
  REQUIRE(w.run({"--key-file", w.other_key_file.string(), "db", "init"}, fresh).code == 0);
  r = w.run({"--key-file", w.other_key_file.string(), "db", "import", "--json"}, fresh, exported);
  REQUIRE(r.code == 0);
  CHECK(json_line(r.out)["inserted"] == 30);
  r = w.run({"--key-file", w.other_key_file.string(), "db", "export"}, fresh);
  REQUIRE(r.code == 0);
  CHECK(r.out == exported);
  r = w.run({"--key-file", w.other_key_file.string(), "db", "get", "beta", "r1", "--json"}, fresh);
  CHECK(json_line(r.out)["version"] == 6);

  SECTION("importing again changes nothing; a conflicting import exits 7 and imports nothing") {
    r = w.run({"--key-file", w.other_key_file.string(), "db", "import", "--json"}, fresh, exported);
    CHECK(r.code == 0);
    CHECK(json_line(r.out)["unchanged"] == 30);
    REQUIRE(w.run(w.with_key({"db", "put", "beta", "r1", "{}"})).code == 0);
    REQUIRE(w.run(w.with_key({"db", "put", "gamma", "new", "{}"})).code == 0);
    const std::string changed = w.run(w.with_key({"db", "export"})).out;
    r = w.run({"--key-file", w.other_key_file.string(), "db", "import"}, fresh, changed);
    CHECK(r.code == 7);
    CHECK(
        w.run({"--key-file", w.other_key_file.string(), "db", "get", "gamma", "new"}, fresh).code ==
        1);
    r = w.run({"--key-file", w.other_key_file.string(), "db", "import", "--replace", "--json"},
              fresh, changed);
    CHECK(r.code == 0);
    CHECK(json_line(r.out)["replaced"] == 1);
    CHECK(json_line(r.out)["inserted"] == 1);
  }
  SECTION("a bad line imports nothing and exits 2") {
    r = w.run({"--key-file", w.other_key_file.string(), "db", "import"}, fresh,
              exported + "not json\n");
    CHECK(r.code == 2);
  }
  SECTION("export of one collection") {
    r = w.run(w.with_key({"db", "export", "--collection", "alpha"}));
    CHECK(r.code == 0);
    CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 10);
  }
}

TEST_CASE("db put in a loop from several processes at once: no error, nothing lost",
          "[cli][db][concurrency]") {
  World w("loop");
  w.init();
  constexpr int kWorkers = 4;
  constexpr int kPuts = 20;
  const fs::path barrier = w.dir / "go";
  std::vector<spawn::Child> workers;
  for (int k = 0; k < kWorkers; ++k) {
    // Each worker: wait for the barrier, then kPuts own records and kPuts
    // writes of one shared record; stop at the first failure.
    const std::string script =
        "while [ ! -e \"$BARRIER\" ]; do :; done; i=0; while [ $i -lt " + std::to_string(kPuts) +
        " ]; do i=$((i+1)); \"$CTL\" --key-file \"$KEY\" db put loop w" + std::to_string(k) +
        "-$i '{\"i\":'$i'}' >/dev/null || exit 10; \"$CTL\" --key-file \"$KEY\" db put loop shared "
        "'{\"w\":" +
        std::to_string(k) + "}' >/dev/null || exit 11; done";
    Env e = w.env;
    e["BARRIER"] = barrier.string();
    e["CTL"] = coordctl_path().string();
    e["KEY"] = w.key_file.string();
    workers.push_back(spawn::spawn({.executable = "/bin/sh", .args = {"-c", script}, .env = e}));
  }
  write_file(barrier, "");
  for (spawn::Child& c : workers) {
    const auto status = c.wait_for(std::chrono::milliseconds(180000));
    REQUIRE(status.has_value());
    CHECK(status->exit_code == 0);
  }
  const Result r = w.run(w.with_key({"db", "list", "loop", "--all", "--limit", "1000", "--json"}));
  REQUIRE(r.code == 0);
  const json page = json_line(r.out);
  CHECK(page["records"].size() == kWorkers * kPuts + 1);
  for (const json& rec : page["records"]) {
    if (rec["id"] == "shared") CHECK(rec["version"] == kWorkers * kPuts);
  }
  CHECK(w.run(w.with_key({"db", "check", "--full"})).code == 0);
}

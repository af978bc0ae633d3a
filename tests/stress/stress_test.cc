// coordkit-stress end to end: the real binary, a real gateway it spawns,
// real worker processes on a real encrypted file.
#include <sys/stat.h>

#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "coordkit/apps/records.h"
#include "coordkit/db/db.h"
#include "coordkit/spawn/spawn.h"

namespace sp = coordkit::spawn;
namespace db = coordkit::db;
using namespace std::chrono_literals;

namespace {

constexpr const char* kKeyHex = "3f1c2a9b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928170f1e2d3c";

std::filesystem::path scratch(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::filesystem::path d = std::filesystem::path(tmp ? tmp : "/tmp") / name;
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  ::chmod(d.c_str(), 0700);
  { std::ofstream(d / "key") << kKeyHex << "\n"; }
  ::chmod((d / "key").c_str(), 0600);
  return d;
}

sp::Child start_stress(const std::filesystem::path& dir, std::vector<std::string> extra) {
  std::vector<std::string> args = {"--spawn-gateway",
                                   "--gateway-binary",
                                   "apps/gateway/coordkit-gateway",
                                   "--data-dir",
                                   (dir / "data").string(),
                                   "--key-file",
                                   (dir / "key").string(),
                                   "--json",
                                   (dir / "report.json").string(),
                                   "--html",
                                   (dir / "report.html").string(),
                                   "--no-progress",
                                   "--seed",
                                   "7"};
  args.insert(args.end(), extra.begin(), extra.end());
  return sp::spawn(
      {.executable = "apps/stress/coordkit-stress",
       .args = args,
       .env = {{"COORDKIT_PASSPHRASE", std::nullopt}, {"COORDKIT_KEY_FILE", std::nullopt}},
       .out = sp::Stdio::file(dir / "stdout.log"),
       .err = sp::Stdio::file(dir / "stderr.log")});
}

nlohmann::json read_report(const std::filesystem::path& dir) {
  std::ifstream in(dir / "report.json");
  REQUIRE(in);
  return nlohmann::json::parse(in);
}

const nlohmann::json& check(const nlohmann::json& report, const std::string& name) {
  for (const auto& c : report["checks"]) {
    if (c["name"] == name) return c;
  }
  FAIL("no check " << name);
  static nlohmann::json none;
  return none;
}

db::Database open_db(const std::filesystem::path& dir) {
  db::Options o;
  o.path = dir / "data" / "gateway.db";
  o.key = db::Key::raw_hex(kKeyHex);
  o.create_if_missing = false;
  o.migrations = coordkit::records::migrations();
  return db::Database::open(std::move(o));
}

}  // namespace

TEST_CASE("A short run with chaos keeps every acknowledged write and holds every check",
          "[stress]") {
  const auto dir = scratch("chaos");
  sp::Child child =
      start_stress(dir, {"--duration", "10", "--connections", "4", "--workers", "3", "--kill-rate",
                         "1", "--checkpoint-every", "1.5", "--backup-every", "3",
                         "--graceful-restarts", "1", "--kill9-restarts", "1"});
  const auto status = child.wait_for(180s);
  REQUIRE(status);
  const nlohmann::json r = read_report(dir);
  INFO(r.dump(1).substr(0, 4000));
  CHECK(status->exit_code == 0);
  for (const auto& c : r["checks"]) {
    INFO(c.dump());
    CHECK(c["ok"] == true);
  }
  CHECK(r["ok"] == true);
  CHECK(r["kills"].get<int>() >= 5);
  CHECK(r["restarts"] == 2);
  CHECK(r["counters"]["restarts_graceful"] == 1);
  CHECK(r["counters"]["restarts_kill9"] == 1);
  CHECK(r["counters"]["checkpoints"].get<int>() >= 2);
  CHECK(r["counters"]["backups"].get<int>() >= 1);
  CHECK(r["unavailable_ms"].get<double>() > 0);
  CHECK(r["http_ops_per_s"].get<double>() > 0);
  CHECK(r["cli_ops_per_s"].get<double>() > 0);
  CHECK(r["operations"].contains("http upsert"));
  CHECK(r["operations"].contains("worker upsert"));
  CHECK(std::filesystem::file_size(dir / "report.html") > 1000);
  CHECK_FALSE(std::filesystem::exists(dir / "data" / "run" / "gateway.status"));
}

TEST_CASE("Records deleted or altered behind the tester's back are reported, and it exits 1",
          "[stress]") {
  const auto dir = scratch("tamper");
  sp::Child child = start_stress(dir, {"--duration", "10", "--connections", "3", "--workers", "2",
                                       "--kill-rate", "0.5", "--checkpoint-every", "2"});
  // After 6 s the first records are cold: no actor reads or writes them again.
  std::this_thread::sleep_for(6500ms);
  REQUIRE_FALSE(child.try_wait());
  std::string deleted, altered;
  {
    db::Database d = open_db(dir);
    d.write([&](db::Transaction& tx) {
      std::vector<std::string> ids;
      tx.query<std::string>(
          "SELECT id FROM records WHERE collection = 'stress' ORDER BY id LIMIT 2",
          [&](std::string id) { ids.push_back(std::move(id)); });
      REQUIRE(ids.size() == 2);
      deleted = ids[0];
      altered = ids[1];
      tx.execute("DELETE FROM records WHERE collection = 'stress' AND id = ?", deleted);
      tx.execute(
          "UPDATE records SET body = '{\"tampered\":true}' WHERE collection = 'stress' AND id = ?",
          altered);
    });
  }
  const auto status = child.wait_for(180s);
  REQUIRE(status);
  CHECK(status->exit_code == 1);
  const nlohmann::json r = read_report(dir);
  INFO(r["checks"].dump(1));
  CHECK(r["ok"] == false);
  for (const char* name : {"writes_kept_database", "writes_kept_gateway"}) {
    const nlohmann::json& c = check(r, name);
    CHECK(c["ok"] == false);
    CHECK(c["count"] == 2);
    std::set<std::string> named;
    for (const auto& o : c["offenders"]) {
      const std::string s = o.get<std::string>();
      named.insert(s.substr(0, s.find(':')));
    }
    CHECK(named == std::set<std::string>{"stress/" + deleted, "stress/" + altered});
  }
  CHECK(check(r, "no_lost_update")["ok"] == true);
  CHECK(check(r, "gateway_matches_database")["ok"] == true);
  CHECK(check(r, "integrity")["ok"] == true);
  CHECK(r["lost_writes"] == 2);
}

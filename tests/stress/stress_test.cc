// coordkit-stress end to end: the real binary, a real gateway it spawns,
// real worker processes on a real encrypted file; an operator's coordctl
// behind its back; its progress line on a pipe and on a terminal.
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "coordkit/apps/records.h"
#include "coordkit/db/db.h"
#include "coordkit/spawn/spawn.h"
#include "coordkit/testing/testing.h"

namespace sp = coordkit::spawn;
namespace db = coordkit::db;
namespace ckt = coordkit::testing;
using namespace std::chrono_literals;

namespace {

constexpr const char* kKeyHex = "3f1c2a9b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928170f1e2d3c";

// scratch: a fresh directory with the run's key file (0600).
std::filesystem::path scratch(const std::string& name) {
  std::filesystem::path d = ckt::scratch_dir(name);
  ::chmod(d.c_str(), 0700);
  { std::ofstream(d / "key") << kKeyHex << "\n"; }
  ::chmod((d / "key").c_str(), 0600);
  return d;
}

std::vector<std::string> stress_args(const std::filesystem::path& dir,
                                     const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"--spawn-gateway",
                                   "--gateway-binary",
                                   ckt::runfile("apps/gateway/coordkit-gateway").string(),
                                   "--data-dir",
                                   (dir / "data").string(),
                                   "--key-file",
                                   (dir / "key").string(),
                                   "--json",
                                   (dir / "report.json").string(),
                                   "--html",
                                   (dir / "report.html").string(),
                                   "--seed",
                                   "7"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// start_stress: coordkit-stress, stdout and stderr to files unless `err`
// says otherwise. Stopped and reaped when the ChildProcess goes.
ckt::ChildProcess start_stress(const std::filesystem::path& dir,
                               const std::vector<std::string>& extra,
                               std::optional<sp::Stdio> err = std::nullopt) {
  return ckt::ChildProcess(
      {.executable = ckt::runfile("apps/stress/coordkit-stress"),
       .args = stress_args(dir, extra),
       .env = {{"COORDKIT_PASSPHRASE", std::nullopt}, {"COORDKIT_KEY_FILE", std::nullopt}},
       .out = sp::Stdio::file(dir / "stdout.log"),
       .err = err ? *err : sp::Stdio::file(dir / "stderr.log")},
      std::chrono::milliseconds(20000));
}

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
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

// open_database: the run's encrypted database, opened behind the
// gateway's back.
db::Database open_database(const std::filesystem::path& dir) {
  db::Options o;
  o.path = dir / "data" / "gateway.db";
  o.key = db::Key::raw_hex(kKeyHex);
  o.create_if_missing = false;
  o.migrations = coordkit::records::migrations();
  return db::Database::open(std::move(o));
}

// report_of_unexpected_failures: waits for the run to exit 1 and returns
// its report, whose no_unexpected_failures check failed with at least one
// offender, the count the JSON summary carries.
nlohmann::json report_of_unexpected_failures(ckt::ChildProcess& child,
                                             const std::filesystem::path& dir) {
  const auto status = child.wait_for(180s);
  REQUIRE(status);
  CHECK(status->exit_code == 1);
  nlohmann::json r = read_report(dir);
  INFO(r["checks"].dump(1));
  const nlohmann::json& c = check(r, "no_unexpected_failures");
  CHECK(c["ok"] == false);
  CHECK(c["count"].get<int>() >= 1);
  REQUIRE_FALSE(c["offenders"].empty());
  CHECK(r["unexpected_failures"] == c["count"]);
  return r;
}

// offender_keys: the "collection/id" of each offender of a check.
std::set<std::string> offender_keys(const nlohmann::json& c) {
  std::set<std::string> named;
  for (const auto& o : c["offenders"]) {
    const std::string s = o.get<std::string>();
    named.insert(s.substr(0, s.find(':')));
  }
  return named;
}

// Coordctl: how one coordctl run ended.
struct Coordctl {
  int code = -1;
  std::string out;
  std::string err;
};

// coordctl: the real CLI on the run's database with its key file, as an
// operator runs it while the gateway serves.
Coordctl coordctl(const std::filesystem::path& dir, const std::vector<std::string>& args) {
  std::vector<std::string> all = {"--db", (dir / "data" / "gateway.db").string(), "--key-file",
                                  (dir / "key").string()};
  all.insert(all.end(), args.begin(), args.end());
  sp::Child child = sp::spawn({.executable = ckt::runfile("apps/cli/coordctl"),
                               .args = all,
                               .env = {{"COORDKIT_PASSPHRASE", std::nullopt},
                                       {"COORDKIT_KEY_FILE", std::nullopt},
                                       {"COORDKIT_DB", std::nullopt},
                                       {"COORDKIT_NO_PROMPT", "1"}},
                               .out = sp::Stdio::pipe(),
                               .err = sp::Stdio::pipe()});
  sp::Child::Output output = child.communicate({}, std::chrono::milliseconds(60000));
  const sp::ExitStatus status = child.wait();
  return {status.exit_code.value_or(128 + status.signal.value_or(0)), std::move(output.out),
          std::move(output.err)};
}

bool all_ascii(const std::string& text) {
  for (unsigned char c : text) {
    if (c > 0x7e || (c < 0x20 && c != '\n' && c != '\r')) return false;
  }
  return true;
}

// progress_lines: the lines of `text` that are progress lines.
std::vector<std::string> progress_lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("coordkit-stress ", 0) == 0 && line.find(" s  http ") != std::string::npos) {
      out.push_back(line);
    }
  }
  return out;
}

}  // namespace

TEST_CASE("A short run with chaos keeps every acknowledged write and holds every check",
          "[stress]") {
  const auto dir = scratch("chaos");
  ckt::ChildProcess child =
      start_stress(dir, {"--quiet", "--duration", "10", "--connections", "4", "--workers", "3",
                         "--kill-rate", "1", "--checkpoint-every", "1.5", "--backup-every", "3",
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
  // --quiet: no progress line at all.
  CHECK(progress_lines(read_text(dir / "stderr.log")).empty());
}

TEST_CASE("An operator's coordctl behind the tester's back is reported, and it exits 1",
          "[stress]") {
  const auto dir = scratch("tamper");
  ckt::ChildProcess child =
      start_stress(dir, {"--quiet", "--duration", "10", "--connections", "3", "--workers", "2",
                         "--kill-rate", "0.5", "--checkpoint-every", "2"});
  // After 6 s the first records are cold: no actor reads or writes them again.
  std::this_thread::sleep_for(6500ms);
  REQUIRE_FALSE(child.wait_for(0ms));
  // While the gateway serves, an operator lists the collection and changes
  // records the ledger holds as acknowledged, with coordctl.
  const Coordctl listed = coordctl(dir, {"db", "list", "stress", "--limit", "3"});
  INFO(listed.err);
  REQUIRE(listed.code == 0);
  std::vector<std::string> ids;
  {
    std::istringstream in(listed.out);
    for (std::string line; std::getline(in, line);) ids.push_back(line.substr(0, line.find(' ')));
  }
  REQUIRE(ids.size() == 3);
  const std::string deleted = ids[0], altered = ids[1], edited = ids[2];
  const Coordctl del = coordctl(dir, {"db", "delete", "stress", deleted});
  INFO(del.err);
  REQUIRE(del.code == 0);
  const Coordctl put = coordctl(dir, {"db", "put", "stress", edited, R"({"operator":"edit"})"});
  INFO(put.err);
  REQUIRE(put.code == 0);
  // coordctl bumps the version of every write; a body changed without a
  // version bump can only be done in the database itself.
  {
    db::Database d = open_database(dir);
    d.write([&](db::Transaction& tx) {
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
  // The delete and the silent overwrite: acknowledged writes lost or altered,
  // in both views.
  for (const char* name : {"writes_kept_database", "writes_kept_gateway"}) {
    const nlohmann::json& c = check(r, name);
    CHECK(c["ok"] == false);
    CHECK(c["count"] == 2);
    CHECK(offender_keys(c) == std::set<std::string>{"stress/" + deleted, "stress/" + altered});
  }
  // The operator's put: a version nobody acknowledged to the tester.
  const nlohmann::json& lost_update = check(r, "no_lost_update");
  CHECK(lost_update["ok"] == false);
  CHECK(offender_keys(lost_update) == std::set<std::string>{"stress/" + edited});
  CHECK(check(r, "gateway_matches_database")["ok"] == true);
  CHECK(check(r, "integrity")["ok"] == true);
  CHECK(r["lost_writes"] == 2);
}

TEST_CASE("Answers outside what a request promises are reported with their request ids",
          "[stress]") {
  const auto dir = scratch("unexpected-answers");
  ckt::ChildProcess child =
      start_stress(dir, {"--quiet", "--duration", "8", "--connections", "2", "--workers", "0"});
  // Behind the gateway's back, every stored body becomes text that is not
  // JSON (and each row's time moves, so no cached answer serves it): the
  // gateway then answers the tester's reads of them with an error status,
  // which no read promises.
  std::this_thread::sleep_for(3000ms);
  REQUIRE_FALSE(child.wait_for(0ms));
  {
    db::Database d = open_database(dir);
    d.write([&](db::Transaction& tx) {
      tx.execute(
          "UPDATE records SET body = 'not json', updated_at_ms = updated_at_ms + 1"
          " WHERE collection = 'stress'");
    });
  }
  const nlohmann::json r = report_of_unexpected_failures(child, dir);
  const nlohmann::json& c = check(r, "no_unexpected_failures");
  // "http-0 at 3.52 s: GET /v1/collections/stress/records/<id> answered 500
  // corrupt (request <16 hex digits>)"
  const std::string first = c["offenders"][0];
  CHECK(first.find("GET /v1/collections/stress/records/") != std::string::npos);
  CHECK(std::regex_search(
      first, std::regex(R"( answered [45][0-9][0-9] [a-z_]+ \(request [0-9a-f]{16}\)$)")));
}

TEST_CASE("Workers that fail on their own are reported, apart from the ones chaos kills",
          "[stress]") {
  const auto dir = scratch("failing-workers");
  ckt::ChildProcess child = start_stress(dir, {"--quiet", "--duration", "8", "--connections", "2",
                                               "--workers", "2", "--kill-rate", "2"});
  // For a while the key file holds another key: workers started then (in
  // place of the ones killed) cannot open the database and exit 1. The
  // gateway keeps the key it derived at start, and the key is back before
  // the tester reads the file at the end.
  std::this_thread::sleep_for(2500ms);
  const auto key = dir / "key";
  { std::ofstream(key, std::ios::trunc) << std::string(64, 'a') << "\n"; }
  std::this_thread::sleep_for(2000ms);
  { std::ofstream(key, std::ios::trunc) << kKeyHex << "\n"; }
  const nlohmann::json r = report_of_unexpected_failures(child, dir);
  const nlohmann::json& c = check(r, "no_unexpected_failures");
  CHECK(c["offenders"][0].get<std::string>().find("ended with exit code 1") != std::string::npos);
  // Each says why on the workers' stderr.
  const auto why = dir / "data" / "stress" / "ledgers" / "workers.stderr";
  CHECK(c["offenders"][0].get<std::string>().find(why.string()) != std::string::npos);
  CHECK(read_text(why).find("cannot open the database") != std::string::npos);
  // Nothing was lost: the workers that failed wrote nothing.
  for (const char* name :
       {"writes_kept_database", "writes_kept_gateway", "no_lost_update", "integrity"}) {
    CHECK(check(r, name)["ok"] == true);
  }
}

TEST_CASE("The progress line goes to stderr, the report to stdout", "[stress][progress]") {
  SECTION("not a terminal: a plain line every --progress-every seconds") {
    const auto dir = scratch("progress-pipe");
    ckt::ChildProcess child = start_stress(dir, {"--duration", "3.5", "--connections", "2",
                                                 "--workers", "1", "--progress-every", "1"});
    const auto status = child.wait_for(120s);
    REQUIRE(status);
    CHECK(status->exit_code == 0);
    const std::string err = read_text(dir / "stderr.log");
    const std::string out = read_text(dir / "stdout.log");
    INFO(err);
    const std::vector<std::string> lines = progress_lines(err);
    CHECK(lines.size() >= 2);
    CHECK(lines.size() <= 4);
    for (const std::string& line : lines) {
      CHECK(line.find("/3.5 s  http ") != std::string::npos);  // elapsed/total
      CHECK(line.find(" errors 0 ") != std::string::npos);
      CHECK(line.find(" kills ") != std::string::npos);
      CHECK(line.find(" restarts ") != std::string::npos);
    }
    CHECK(err.find('\r') == std::string::npos);
    CHECK(all_ascii(err));
    // stdout: the table and the summary, no progress.
    CHECK(progress_lines(out).empty());
    CHECK(out.find("ALL CHECKS HOLD") != std::string::npos);
    CHECK(out.find("summary: {") != std::string::npos);
  }
  SECTION("a terminal: one line, rewritten in place once a second") {
    const auto dir = scratch("progress-tty");
    const int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    REQUIRE(master >= 0);
    struct Close {
      int fd;
      ~Close() { ::close(fd); }
    } close_master{master};
    REQUIRE(::grantpt(master) == 0);
    REQUIRE(::unlockpt(master) == 0);
    const std::string slave = ::ptsname(master);
    ckt::ChildProcess child = start_stress(
        dir, {"--duration", "3.5", "--connections", "2", "--workers", "1"}, sp::Stdio::file(slave));
    std::string screen;
    // Drain the terminal while the run goes, so that it never blocks on it.
    const auto drain = [&] {
      char buf[4096];
      pollfd p{master, POLLIN, 0};
      while (::poll(&p, 1, 0) > 0 && (p.revents & POLLIN) != 0) {
        const ssize_t n = ::read(master, buf, sizeof buf);
        if (n <= 0) break;
        screen.append(buf, static_cast<std::size_t>(n));
      }
    };
    std::optional<sp::ExitStatus> status;
    const ckt::Deadline deadline(120s);
    while (!(status = child.wait_for(100ms)) && !deadline.expired()) drain();
    drain();
    REQUIRE(status);
    CHECK(status->exit_code == 0);
    INFO(screen);
    // Each update starts with a carriage return, and the last is ended by a
    // newline, so the shell's prompt starts on a line of its own.
    std::size_t updates = 0;
    for (std::size_t i = screen.find("\rcoordkit-stress "); i != std::string::npos;
         i = screen.find("\rcoordkit-stress ", i + 1)) {
      ++updates;
    }
    CHECK(updates >= 2);
    CHECK(screen.find("/3.5 s  http ") != std::string::npos);
    CHECK(all_ascii(screen));
    CHECK(screen.size() >= 2);
    CHECK(screen.substr(screen.size() - 2) == "\r\n");  // the terminal maps \n to \r\n
    CHECK(progress_lines(read_text(dir / "stdout.log")).empty());
  }
}

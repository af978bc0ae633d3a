// The real gateway under wrk load (PUTs of new records) while four real
// coordctl processes at a time write the same database directly, each in a
// loop of `db put`, for about five seconds: the gateway answers no 5xx, no
// coordctl call fails, every acknowledged write of either side is there
// afterwards with version 1, and the gateway's write-turn counters show
// that no write ran without the turn.
#include <atomic>
#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "coordkit/gateway/internal/testing.h"
#include "coordkit/ipc/ipc.h"
#include "coordkit/spawn/spawn.h"

namespace gwt = coordkit::gateway::testing;
namespace ipc = coordkit::ipc;
namespace sp = coordkit::spawn;
namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr int kCoordctlWriters = 4;
constexpr const char* kWrkSeconds = "5";

// Output: a finished child's exit code and stdout.
struct Output {
  int code = -1;
  std::string out;
};

// run: one child to the end (bounded; killed and reaped past `timeout`).
Output run(const fs::path& exe, const std::vector<std::string>& args,
           std::chrono::milliseconds timeout = 60000ms) {
  sp::Child child = sp::spawn({.executable = exe,
                               .args = args,
                               .env = {{"COORDKIT_PASSPHRASE", std::nullopt},
                                       {"COORDKIT_KEY_FILE", std::nullopt},
                                       {"COORDKIT_NO_PROMPT", "1"}},
                               .in = sp::Stdio::null(),
                               .out = sp::Stdio::pipe(),
                               .err = sp::Stdio::pipe()});
  sp::Child::Output o;
  try {
    o = child.communicate({}, timeout);
  } catch (const sp::Error&) {
    child.kill();  // past the timeout: ended and reaped, counted as a failure
    child.wait();
    return Output{};
  }
  return Output{child.wait().exit_code.value_or(-1), std::move(o.out)};
}

// Writers: kCoordctlWriters threads, each running `coordctl db put` one
// process after another until stopped; stop() (or the destructor, on any
// path) joins them, and every child is reaped inside run().
class Writers {
 public:
  Writers(const fs::path& coordctl, const fs::path& db, const fs::path& key) {
    for (int w = 0; w < kCoordctlWriters; ++w) {
      threads_.emplace_back([this, coordctl, db, key, w] {
        for (int n = 0; !stop_; ++n) {
          const std::string id = "w" + std::to_string(w) + "-" + std::to_string(n);
          const Output o =
              run(coordctl, {"--db", db.string(), "--key-file", key.string(), "db", "put", "loops",
                             id, R"({"n":)" + std::to_string(n) + "}"});
          std::lock_guard lock(mu_);
          if (o.code == 0) {
            acked_.insert(id);
          } else {
            failures_.push_back(o.code);
          }
        }
      });
    }
  }
  Writers(const Writers&) = delete;
  Writers& operator=(const Writers&) = delete;
  ~Writers() { stop(); }
  void stop() {
    stop_ = true;
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  std::set<std::string> acked() const {
    std::lock_guard lock(mu_);
    return acked_;
  }
  std::vector<int> failures() const {
    std::lock_guard lock(mu_);
    return failures_;
  }

 private:
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::set<std::string> acked_;
  std::vector<int> failures_;
  std::vector<std::thread> threads_;
};

// curl_body: the body of one GET with `args`; empty on failure.
std::string curl_body(const std::string& url, std::vector<std::string> args) {
  args.insert(args.begin(), {"-s", "-f", "--max-time", "30"});
  args.push_back(url);
  return run("/usr/bin/curl", args).out;
}

}  // namespace

TEST_CASE("coordctl put loops and the gateway under wrk write one database: fair, nothing lost",
          "[gateway][cli][load]") {
  const fs::path dir = gwt::scratch_dir("mixed-writers");
  const fs::path key = dir / "key";
  gwt::write_file(key, std::string(gwt::kTestKeyHex) + "\n", 0600);
  const fs::path runtime = dir / "rt";
  const fs::path db = dir / "data" / "gateway.db";
  const fs::path coordctl = gwt::runfile("apps/cli/coordctl");
  const fs::path answers = dir / "answers";
  fs::create_directories(answers);

  std::optional<sp::Child> gateway;
  gateway.emplace(sp::spawn(
      {.executable = gwt::runfile("apps/gateway/coordkit-gateway"),
       .args = {"--data-dir", (dir / "data").string(), "--runtime-dir", runtime.string(),
                "--key-file", key.string(), "--listen", "127.0.0.1:0", "--threads", "2"},
       .env = {{"COORDKIT_PASSPHRASE", std::nullopt}, {"COORDKIT_KEY_FILE", std::nullopt}},
       .in = sp::Stdio::null(),
       .out = sp::Stdio::file(dir / "stdout.log"),
       .err = sp::Stdio::file(dir / "stderr.log")}));
  // On every path the gateway is killed and reaped (sp::Child's destructor).
  struct Reap {
    std::optional<sp::Child>& child;
    ~Reap() { child.reset(); }
  } reap{gateway};

  const ipc::Client client({.app = "gateway", .runtime_dir = runtime});
  std::string address;
  for (int i = 0; i < 2000 && address.empty(); ++i) {
    const ipc::Status s = client.status();
    if (s.state == ipc::ServerState::kReady && s.record) address = s.record->address;
    if (address.empty()) {
      REQUIRE_FALSE(gateway->try_wait());
      std::this_thread::sleep_for(10ms);
    }
  }
  REQUIRE_FALSE(address.empty());
  const std::string base = "http://" + address;

  Output wrk;
  std::set<std::string> coordctl_acked;
  std::vector<int> coordctl_failures;
  {
    Writers writers(coordctl, db, key);
    wrk = run("/usr/bin/wrk",
              {"-t", "2", "-c", "16", "-d", kWrkSeconds, "--timeout", "10s", "-s",
               gwt::runfile("tests/gateway/mixed_writers_put.lua").string(), base, "--",
               answers.string()},
              60000ms);
    writers.stop();
    coordctl_acked = writers.acked();
    coordctl_failures = writers.failures();
  }
  INFO(wrk.out);
  REQUIRE(wrk.code == 0);
  CHECK(coordctl_failures.empty());
  CHECK(!coordctl_acked.empty());

  // The gateway's answers: no 5xx, every 201 remembered by id.
  std::set<std::string> gateway_acked;
  std::map<int, int> by_status;
  for (const fs::directory_entry& e : fs::directory_iterator(answers)) {
    std::ifstream in(e.path());
    int status = 0;
    std::string id;
    while (in >> status >> id) {
      ++by_status[status];
      if (status == 201) gateway_acked.insert(id);
    }
  }
  std::ostringstream statuses;
  for (const auto& [s, n] : by_status) statuses << s << ":" << n << " ";
  INFO("gateway statuses " << statuses.str() << "; coordctl puts " << coordctl_acked.size());
  for (const auto& [s, n] : by_status) CHECK(s < 500);
  CHECK(!gateway_acked.empty());

  // The write turn: zero writes ran without it.
  const std::string token = gwt::read_file(runtime / "gateway.admin-token").substr(0, 64);
  const json stats =
      json::parse(curl_body(base + "/v1/admin/stats", {"-H", "Authorization: Bearer " + token}),
                  nullptr, false);
  REQUIRE(stats.is_object());
  const json& counters = stats["counters"];
  INFO(counters.dump());
  REQUIRE(counters.contains("turn_skipped_no_slot"));
  REQUIRE(counters.contains("turn_skipped_no_gate"));
  CHECK(counters["turn_skipped_no_slot"] == 0);
  CHECK(counters["turn_skipped_no_gate"] == 0);
  // The PUTs run on the gateway's blocking threads, not on its two I/O
  // threads, so more than two at a time share a group commit (with the
  // handlers on the I/O threads a batch never held more than two).
  const json& group_commit = stats["group_commit"];
  INFO(group_commit.dump());
  CHECK(group_commit["mean_batch"].get<double>() > 2.0);

  // A graceful stop, then every acknowledged write of both sides, version 1.
  REQUIRE(gateway->terminate());
  const std::optional<sp::ExitStatus> st = gateway->wait_for(30000ms);
  REQUIRE(st);
  CHECK(st->exit_code == 0);

  const Output exported =
      run(coordctl, {"--db", db.string(), "--key-file", key.string(), "db", "export"});
  REQUIRE(exported.code == 0);
  std::map<std::string, std::map<std::string, std::int64_t>> found;  // collection -> id -> version
  std::istringstream lines(exported.out);
  for (std::string line; std::getline(lines, line);) {
    const json r = json::parse(line);
    found[r["collection"].get<std::string>()][r["id"].get<std::string>()] =
        r["version"].get<std::int64_t>();
  }
  std::size_t missing = 0;
  std::size_t wrong_version = 0;
  for (const auto& [collection, ids] : {std::pair{std::string("loops"), &coordctl_acked},
                                        std::pair{std::string("wrk"), &gateway_acked}}) {
    for (const std::string& id : *ids) {
      const auto it = found[collection].find(id);
      if (it == found[collection].end()) {
        ++missing;
      } else if (it->second != 1) {
        ++wrong_version;
      }
    }
  }
  CHECK(missing == 0);
  CHECK(wrong_version == 0);
}

// consumer_control: the control program of the consumer workspace. In a
// fresh directory it starts consumer_service detached (spawn: its own
// session, stdio to files), waits until the service reports ready (ipc),
// writes rows from four threads while the service writes its own (db: the
// same encrypted file from two processes), stops the service through the
// shutdown file (ipc::Client::stop, no signal), then checks every row of
// both writers and the database's integrity. Exits 0 when all held; prints
// what failed otherwise.
//
//   consumer_control <service binary> <empty dir>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "consumer_schema.h"
#include "coordkit/db/db.h"
#include "coordkit/ipc/ipc.h"
#include "coordkit/log/log.h"
#include "coordkit/spawn/spawn.h"

namespace ck = coordkit;
using namespace std::chrono_literals;

namespace {

constexpr int kWriters = 4;
constexpr std::int64_t kRowsPerWriter = 50;
constexpr const char* kPassphrase = "consumer passphrase";

int failures = 0;

void check(bool ok, const std::string& what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAILED", what.c_str());
  if (!ok) ++failures;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: consumer_control <service binary> <empty dir>\n");
    return 2;
  }
  const std::filesystem::path service = std::filesystem::absolute(argv[1]);
  const std::filesystem::path dir = std::filesystem::absolute(argv[2]);
  try {
    // The service keys the database from the environment, never from argv.
    ck::spawn::Child child = ck::spawn::spawn({
        .executable = service,
        .args = {dir.string()},
        .env = {{consumer::kPassphraseEnv, std::string(kPassphrase)}},
        .out = ck::spawn::Stdio::file(dir / "service.out"),
        .err = ck::spawn::Stdio::file(dir / "service.out"),
        .detached = true,
    });
    const ck::ipc::Client client(
        {.app = consumer::kApp, .runtime_dir = dir / consumer::kRuntimeDir});
    try {
      // Fails at once if the service exits before it is ready.
      client.wait_until_ready(60s, child);
    } catch (const ck::ipc::Error& e) {
      std::printf("FAILED: the service did not become ready (%s); its output:\n%s\n", e.what(),
                  read_text(dir / "service.out").c_str());
      return 1;
    }
    check(client.status().record->pid == child.pid(), "the status file names the service");

    // Four writers in this process, in parallel with the service.
    {
      auto store = ck::db::Store::open(consumer::options(dir, kPassphrase));
      std::vector<std::thread> writers;
      for (int w = 0; w < kWriters; ++w) {
        writers.emplace_back([&store, w] {
          const std::string name = "control-" + std::to_string(w);
          for (std::int64_t seq = 0; seq < kRowsPerWriter; ++seq) {
            store->write([&](ck::db::Transaction& tx) {
              tx.execute(consumer::kInsert, name, seq, consumer::payload(seq));
            });
          }
        });
      }
      for (std::thread& t : writers) t.join();
    }

    const ck::ipc::StopResult stop = client.stop({.deadline = 20s, .escalate = false});
    check(stop.outcome == ck::ipc::StopOutcome::kStopped && !stop.escalated(),
          std::string("the service stopped through the shutdown file: ") +
              std::string(ck::ipc::to_string(stop.outcome)));
    const std::optional<ck::spawn::ExitStatus> exit = child.wait_for(20s);
    check(exit && exit->success(),
          "the service exited 0: " + (exit ? exit->to_string() : std::string("still running")));

    // Every row of every writer, exactly once, with its payload.
    std::int64_t service_rows = -1;
    std::ifstream(dir / consumer::kServiceCount) >> service_rows;
    check(service_rows > 0, "the service wrote rows: " + std::to_string(service_rows));
    auto store = ck::db::Store::open(consumer::options(dir, kPassphrase));
    std::set<std::pair<std::string, std::int64_t>> seen;
    bool payloads_ok = true;
    store->read([&](ck::db::Transaction& tx) {
      seen.clear();
      tx.query<std::string, std::int64_t, std::string>(
          "SELECT writer, seq, payload FROM rows",
          [&](std::string writer, std::int64_t seq, std::string payload) {
            payloads_ok = payloads_ok && payload == consumer::payload(seq);
            seen.emplace(std::move(writer), seq);
          });
    });
    std::set<std::pair<std::string, std::int64_t>> expected;
    for (std::int64_t seq = 0; seq < service_rows; ++seq) expected.emplace("service", seq);
    for (int w = 0; w < kWriters; ++w) {
      for (std::int64_t seq = 0; seq < kRowsPerWriter; ++seq) {
        expected.emplace("control-" + std::to_string(w), seq);
      }
    }
    check(seen == expected, "every row is there once: " + std::to_string(seen.size()) + " of " +
                                std::to_string(expected.size()));
    check(payloads_ok, "every payload reads back as written");
    const ck::db::CheckResult integrity = store->integrity_check();
    check(integrity.ok, "integrity_check and cipher_integrity_check pass");

    // The service's log: the rocket arrived as ASCII, in the file too.
    const std::string log_text = read_text(dir / consumer::kServiceLog);
    check(log_text.find("service ready \\u{1F680}") != std::string::npos,
          "the service logged its non-ASCII line as ASCII");
    bool ascii = true;
    for (const char c : log_text) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
    check(ascii, "the service log is ASCII");
  } catch (const std::exception& e) {
    std::printf("FAILED: %s\n", e.what());
    return 1;
  }
  std::printf("%s\n", failures == 0 ? "consumer_control: all checks passed"
                                    : "consumer_control: some checks FAILED");
  return failures == 0 ? 0 : 1;
}

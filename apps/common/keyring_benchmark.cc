// keyring_benchmark: what `coordctl unlock` buys. Each run is a fresh
// process (this binary again) that resolves the key, opens the database and
// reads one row, as a coordctl command does:
//   passphrase  Key::passphrase: SQLCipher 4's KDF in every process
//   keyring     key_for_database: the derived key from the kernel keyring
// Prints the medians over the runs of the whole process (spawn to exit), of
// getting the key inside it (OpenSSL's first use included) and of opening
// the database and reading a row, then one JSON line. Run with
//   bazel run -c opt //apps/common:keyring_benchmark [-- RUNS]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "coordkit/apps/key_source.h"
#include "coordkit/apps/keyring.h"
#include "coordkit/db/db.h"
#include "coordkit/spawn/spawn.h"

namespace db = coordkit::db;
namespace keys = coordkit::keys;
namespace sp = coordkit::spawn;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kPassphrase = "benchmark passphrase";

db::Options options_for(const std::string& path, db::Key key) {
  db::Options options;
  options.path = path;
  options.key = std::move(key);
  options.create_if_missing = false;
  options.migrations = {{1, "CREATE TABLE t(x INTEGER); INSERT INTO t VALUES (1);", nullptr}};
  return options;
}

// child: one coordctl-like run; prints the microseconds spent getting the
// key, then those spent opening the database and reading a row.
int child(const std::string& mode, const std::string& path) {
  const auto start = Clock::now();
  const keys::KeyMaterial material = keys::load_key_material();
  db::Key key;
  if (mode == "keyring") {
    keys::ResolvedKey resolved = keys::key_for_database(path, material);
    if (!resolved.from_keyring) return 3;
    key = std::move(resolved.key);
  } else {
    key = material.to_key();
  }
  const auto keyed = Clock::now();
  db::Database database = db::Database::open(options_for(path, std::move(key)));
  database.read(
      [](db::Transaction& tx) { return tx.query_value<std::int64_t>("SELECT x FROM t"); });
  const auto us = [](Clock::duration d) {
    return static_cast<long long>(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
  };
  std::printf("%lld %lld\n", us(keyed - start), us(Clock::now() - keyed));
  return 0;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

int run(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--child") return child(argv[2], argv[3]);
  const int runs = argc > 1 ? std::max(1, std::atoi(argv[1])) : 20;
  if (!keys::keyring_available()) {
    std::fprintf(stderr, "keyring_benchmark: no kernel keyring here\n");
    return 1;
  }
  const char* tmp = std::getenv("TMPDIR");
  const std::filesystem::path dir = std::filesystem::path(tmp != nullptr ? tmp : "/tmp") /
                                    ("coordkit-keyring-benchmark-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "bench.db").string();
  {
    db::Options options = options_for(path, db::Key::passphrase(kPassphrase));
    options.create_if_missing = true;
    db::Database::open(std::move(options));
  }
  const keys::Salt salt = keys::read_salt(path);
  keys::keyring_store(salt, keys::derive_key(kPassphrase, salt), std::chrono::seconds(120));

  std::printf("%-12s %12s %8s %14s\n", "mode", "process_ms", "key_ms", "open_read_ms");
  std::string json = "{";
  for (const char* mode : {"passphrase", "keyring"}) {
    std::vector<double> process_ms, key_ms, open_ms;
    for (int i = 0; i < runs; ++i) {
      sp::Command command;
      command.executable = "/proc/self/exe";
      command.args = {"--child", mode, path};
      command.env = {{keys::kPassphraseEnv, kPassphrase}, {keys::kKeyFileEnv, std::nullopt}};
      command.out = sp::Stdio::pipe();
      const auto start = Clock::now();
      sp::Child c = sp::spawn(command);
      const std::string out = c.read_stdout_all();
      const bool ok = c.wait().success();
      process_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
      if (!ok) {
        std::fprintf(stderr, "keyring_benchmark: a %s run failed\n", mode);
        keys::keyring_revoke(salt);
        return 1;
      }
      long long key_us = 0, open_us = 0;
      if (std::sscanf(out.c_str(), "%lld %lld", &key_us, &open_us) != 2) return 1;
      key_ms.push_back(static_cast<double>(key_us) / 1000.0);
      open_ms.push_back(static_cast<double>(open_us) / 1000.0);
    }
    std::printf("%-12s %12.2f %8.2f %14.2f\n", mode, median(process_ms), median(key_ms),
                median(open_ms));
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "%s\"%s_process_ms\":%.2f,\"%s_key_ms\":%.2f,\"%s_open_read_ms\":%.2f",
                  json.size() > 1 ? "," : "", mode, median(process_ms), mode, median(key_ms), mode,
                  median(open_ms));
    json += buf;
  }
  keys::keyring_revoke(salt);
  std::filesystem::remove_all(dir);
  std::printf("%s,\"runs\":%d}\n", json.c_str(), runs);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "keyring_benchmark: %s\n", e.what());
    return 1;
  }
}

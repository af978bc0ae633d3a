// records_test_worker: a second process on the test's database. The key
// comes from COORDKIT_TEST_KEY_HEX (never argv). Each mode prints "ready"
// once the database is open, waits for a line "go" on stdin (the start
// barrier), works, and prints its results on stdout.
//
//   rmw DB COLLECTION ITERATIONS ID...   read-modify-write {"n": n + 1} with
//       the expected version, retrying on version_mismatch; prints
//       "ack ID COUNT" per id and "conflicts N"
//   insert DB COLLECTION SEED            until stdin says "stop" (or closes):
//       alternately create() and put(if_absent) of ids spread over the
//       test's id range; prints "inserted N"
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "coordkit/apps/records.h"
#include "coordkit/db/db.h"

namespace db = coordkit::db;
namespace rec = coordkit::records;

namespace {

db::Database open_db(const char* path) {
  const char* hex = std::getenv("COORDKIT_TEST_KEY_HEX");
  if (hex == nullptr) {
    std::fprintf(stderr, "COORDKIT_TEST_KEY_HEX is not set\n");
    std::exit(2);
  }
  db::Options options;
  options.path = path;
  options.key = db::Key::raw_hex(hex);
  options.create_if_missing = false;
  options.migrations = rec::migrations();
  return db::Database::open(std::move(options));
}

void barrier() {
  std::cout << "ready" << std::endl;
  std::string line;
  if (!std::getline(std::cin, line) || line != "go") std::exit(3);
}

int rmw(int argc, char** argv) {
  db::Database database = open_db(argv[2]);
  rec::Records records(database);
  const std::string collection = argv[3];
  const int iterations = std::atoi(argv[4]);
  std::vector<std::string> ids(argv + 5, argv + argc);
  std::map<std::string, int> acks;
  int conflicts = 0;
  barrier();
  for (int i = 0; i < iterations; ++i) {
    const std::string& id = ids[static_cast<std::size_t>(i) % ids.size()];
    for (;;) {
      const rec::Record r = records.get(collection, id);
      const int n = nlohmann::json::parse(r.body).at("n").get<int>();
      try {
        records.put(collection, id, nlohmann::json{{"n", n + 1}}.dump(), {.if_version = r.version});
        ++acks[id];
        break;
      } catch (const rec::Error& e) {
        if (e.code() != rec::ErrorCode::kVersionMismatch) throw;
        ++conflicts;
      }
    }
  }
  for (const auto& [id, count] : acks) std::cout << "ack " << id << ' ' << count << '\n';
  std::cout << "conflicts " << conflicts << std::endl;
  return 0;
}

int insert(char** argv) {
  db::Database database = open_db(argv[2]);
  rec::Records records(database);
  const std::string collection = argv[3];
  std::mt19937 rng(static_cast<unsigned>(std::atoi(argv[4])));
  barrier();
  std::atomic<bool> stop{false};
  std::thread reader([&stop] {
    std::string line;
    while (std::getline(std::cin, line) && line != "stop") {
    }
    stop = true;
  });
  int inserted = 0;
  while (!stop) {
    if (inserted % 2 == 0) {
      records.create(collection, R"({"by":"worker"})");
    } else {
      // k0000 .. k0999 with a suffix: lands between the test's own ids.
      char id[32];
      std::snprintf(id, sizeof id, "k%04u-w%u", static_cast<unsigned>(rng() % 1000),
                    static_cast<unsigned>(rng()));
      try {
        records.put(collection, id, R"({"by":"worker"})", {.if_absent = true});
      } catch (const rec::Error& e) {
        if (e.code() != rec::ErrorCode::kAlreadyExists) throw;
      }
    }
    ++inserted;
  }
  reader.join();
  std::cout << "inserted " << inserted << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "rmw" && argc >= 6) return rmw(argc, argv);
    if (mode == "insert" && argc == 5) return insert(argv);
    std::fprintf(stderr, "usage: records_test_worker rmw|insert ...\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "records_test_worker: %s\n", e.what());
    return 1;
  }
}

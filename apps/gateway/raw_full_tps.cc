// raw_full_tps: the baseline of the gateway benchmark's put_full_vs_raw:
// raw SQLCipher, one connection, WAL, synchronous=FULL, one INSERT per
// transaction, for `seconds` seconds on a fresh file at `path`. Prints the
// committed transactions per second.
//
//   raw_full_tps PATH SECONDS
#include <sqlcipher/sqlite3.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: raw_full_tps PATH SECONDS\n");
    return 2;
  }
  const std::string path = argv[1];
  const double seconds = std::atof(argv[2]);
  std::remove(path.c_str());
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) return 1;
  const char* setup =
      "PRAGMA key = \"x'00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff'\";"
      "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
      "CREATE TABLE records (id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;";
  if (sqlite3_exec(db, setup, nullptr, nullptr, nullptr) != SQLITE_OK) {
    std::fprintf(stderr, "raw_full_tps: %s\n", sqlite3_errmsg(db));
    return 1;
  }
  sqlite3_stmt* insert = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO records VALUES (?, '{\"n\":1}')", -1, &insert, nullptr);
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  long n = 0;
  while (std::chrono::steady_clock::now() < end) {
    const std::string id = "r" + std::to_string(n);
    sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    sqlite3_bind_text(insert, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(insert) != SQLITE_DONE) return 1;
    sqlite3_reset(insert);
    if (sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) return 1;
    ++n;
  }
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  sqlite3_finalize(insert);
  sqlite3_close(db);
  std::printf("%.1f\n", static_cast<double>(n) / took);
  return 0;
}

// Scenarios 7 and 8 of tests/db/README.md, and the damaged inputs:
// files that a key cannot read, and connections whose salt no longer
// matches the file.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <string>
#include <vector>

#include "tests/db/scenario.h"

namespace coordkit::dbtest {
namespace {

// kWrongRawKey: 64 hex digits that are nobody's key.
constexpr const char* kWrongRawKey =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

// overwrite_in_place: dst gets src's bytes through open(O_TRUNC) + write, so
// it keeps its inode, as `cp backup.db live.db` does. Returns dst's inode.
ino_t overwrite_in_place(const fs::path& src, const fs::path& dst) {
  const std::string bytes = read_text(src);
  const int fd = ::open(dst.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  REQUIRE(fd >= 0);
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    REQUIRE(n > 0);
    done += static_cast<std::size_t>(n);
  }
  ::fsync(fd);
  struct stat st {};
  ::fstat(fd, &st);
  ::close(fd);
  return st.st_ino;
}

ino_t inode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_ino;
}

std::string salt_of(const fs::path& p) { return read_text(p).substr(0, 16); }

// make_good_database: 300 rows of 1000 bytes (about 80 pages), checkpointed,
// no -wal left: a complete file to damage.
void make_good_database(Scenario& s) {
  Worker w = s.worker("filler", {"insert", "--count", "300", "--payload-bytes", "1000"});
  REQUIRE(w.finish(s.deadline()).exit_code() == 0);
  Worker c = s.worker("truncate", {"maint", "--op", "checkpoint-truncate", "--count", "1"});
  REQUIRE(c.finish(s.deadline()).exit_code() == 0);
  REQUIRE(file_bytes(fs::path(s.db().string() + "-wal")) == 0);
}

struct Damage {
  const char* name;
  const char* expected;  // ErrorCode name
};

// Scenario 8 and the damaged inputs.
TEST_CASE(
    "Wrong key, plaintext, text, empty and truncated files fail fast with their typed error, "
    "without a retry storm, and stay byte-for-byte unchanged",
    "[db][scenario8]") {
  const Damage d =
      GENERATE(Damage{"wrong key", "wrong_key_or_not_a_database"},
               Damage{"plaintext SQLite database", "plaintext_database"},
               Damage{"text file", "wrong_key_or_not_a_database"},
               Damage{"empty file", "wrong_key_or_not_a_database"},
               Damage{"database truncated at 100 bytes", "wrong_key_or_not_a_database"},
               Damage{"database truncated at half", "wrong_key_or_not_a_database"});
  CAPTURE(d.name);
  Scenario s("damaged", seconds(60));
  const fs::path target = s.file("target.db");
  const std::string name = d.name;
  std::map<std::string, std::optional<std::string>> pass_env;
  if (name == "wrong key") {
    make_good_database(s);
    fs::copy_file(s.db(), target);
    pass_env["DB_WORKER_PASSPHRASE"] = "not the passphrase";
  } else if (name == "plaintext SQLite database") {
    auto c = RawConnection::open(target);
    c.exec(std::string(kSchemaV1) + "INSERT INTO items(worker, seq) VALUES('plain', 0);");
  } else if (name == "text file") {
    std::ofstream(target) << std::string(100, 'x') << "\nthis is a text file, not a database\n";
  } else if (name == "empty file") {
    touch(target);
  } else {
    make_good_database(s);
    fs::copy_file(s.db(), target);
    const auto size = fs::file_size(target);
    REQUIRE(size >= std::uintmax_t{16} * 4096);
    fs::resize_file(target, name == "database truncated at half" ? size / 2 : 100);
  }
  const std::string before = sha256_file(target);
  REQUIRE_FALSE(before.empty());

  // The same open with a passphrase (the KDF runs) and with a raw key (no
  // KDF: what remains is the library's own work, retries included).
  const std::map<std::string, std::optional<std::string>> raw_env = {
      {"DB_WORKER_RAW_KEY", kWrongRawKey}};
  Worker pass = s.worker("pass", {"open"}, nullptr, pass_env, target);
  const WorkerResult& p = pass.finish(s.deadline());
  Worker raw = s.worker("raw", {"open"}, nullptr, raw_env, target);
  const WorkerResult& r = raw.finish(s.deadline());

  for (const WorkerResult* w : {&p, &r}) {
    INFO(w->describe());
    CHECK(w->exit_code() == 3);
    CHECK(w->report.value("open_error", "") == d.expected);
    // No retry storm: a handful of reads (observed 9 to 15), not a loop.
    CHECK(w->report.value("open_read_calls", 1000000) < 64);
    // Libraries never print (SQLCipher's own error log included).
    CHECK(w->stderr_text.empty());
  }
  // Fast: without the KDF the typed error comes in well under a second even
  // on a loaded machine. With a passphrase the KDF dominates (about 250 ms of
  // CPU, several times that under ASan's interceptors): the failing open may
  // cost at most what a successful passphrase open of a good file costs in
  // this same build, twice (the open and its one reconnection), and never
  // more than a second of CPU where one KDF is cheaper than half a second.
  Scenario good_s("damaged_baseline", seconds(60));
  Worker good = good_s.worker("good", {"open"});
  const WorkerResult& g = good.finish(s.deadline());
  REQUIRE(g.exit_code() == 0);
  const double kdf_cpu_ms = g.report.value("open_cpu_ms", 0.0);
  CHECK(r.report.value("open_ms", 1e9) < 1000.0);
  CHECK(p.report.value("open_cpu_ms", 1e9) < std::max(1000.0, 2.0 * kdf_cpu_ms));
  WARN(name << ": " << d.expected << " in " << p.report.value("open_ms", -1.0)
            << " ms with a passphrase (" << p.report.value("open_cpu_ms", -1.0)
            << " ms CPU; a good open: " << kdf_cpu_ms << " ms CPU), "
            << r.report.value("open_ms", -1.0) << " ms with a raw key");

  CHECK(sha256_file(target) == before);
  // Nothing was written for the file either: no WAL content beside it (a
  // -shm index may appear: it describes an empty WAL).
  CHECK(file_bytes(fs::path(target.string() + "-wal")) == 0);
}

// Scenario 7, first access.
TEST_CASE(
    "A connection that read the salt before the file was written stays broken on bare retries "
    "and heals by reconnecting",
    "[db][scenario7]") {
  Scenario s("salt_first_access", seconds(60));

  SECTION("the mechanism, with plain SQLCipher in two processes") {
    // The probe keys the missing file and reads the salt through SQLite
    // (SQLCipher invents a random one for an empty file); then another
    // process creates the database with its own salt.
    Barrier barrier(s, "created");
    Worker probe = s.worker(
        "probe",
        {"probe", "--client", "naive", "--salt-first", "--count", "3", "--reconnect-probe"},
        &barrier);
    REQUIRE(barrier.wait_ready(1, s.deadline()));
    REQUIRE(file_bytes(s.db()) == 0);
    Worker creator =
        s.worker("creator", {"insert", "--client", "naive", "--naive-schema", "--count", "5"});
    REQUIRE(creator.finish(s.deadline()).exit_code() == 0);
    barrier.release();
    const WorkerResult& r = probe.finish(s.deadline());
    INFO(r.describe());
    CHECK(r.exit_code() == 0);
    CHECK(r.report["bare_retries"] ==
          nlohmann::json::array({"SQLITE_NOTADB", "SQLITE_NOTADB", "SQLITE_NOTADB"}));
    CHECK(r.report.value("after_reconnect", "") == "ok:5");
  }

  SECTION("the library refuses the empty file, keeps no bad salt, and opens once it is written") {
    touch(s.db());
    Barrier barrier(s, "created");
    Worker probe = s.worker("probe", {"probe", "--count", "1", "--reconnect-probe"}, &barrier);
    REQUIRE(barrier.wait_ready(1, s.deadline()));
    // A zero-byte file was not made by the library: refused, left alone.
    CHECK(file_bytes(s.db()) == 0);
    Worker creator =
        s.worker("creator", {"insert", "--client", "naive", "--naive-schema", "--count", "5"});
    REQUIRE(creator.finish(s.deadline()).exit_code() == 0);
    barrier.release();
    const WorkerResult& r = probe.finish(s.deadline());
    INFO(r.describe());
    CHECK(r.exit_code() == 0);
    CHECK(r.report.value("open", "") == "wrong_key_or_not_a_database");
    CHECK(r.report.value("after_reconnect", "") == "ok:5");
    CHECK(r.stderr_text.empty());
  }
}

// Scenario 7, restore.
TEST_CASE(
    "After a backup is restored underneath open connections, bare retries keep failing and "
    "reconnect-then-retry heals",
    "[db][scenario7]") {
  Scenario s("salt_restore", seconds(90));
  Worker pre = s.worker("pre", {"insert", "--count", "20"});
  REQUIRE(pre.finish(s.deadline()).exit_code() == 0);
  const fs::path backup = s.file("backup.db");
  Worker b =
      s.worker("backup", {"maint", "--op", "backup", "--arg", backup.string(), "--count", "1"});
  REQUIRE(b.finish(s.deadline()).exit_code() == 0);
  // A backup is a new file with its own salt: restoring it changes the salt
  // under every connection that cached the old one.
  REQUIRE(salt_of(backup) != salt_of(s.db()));
  Worker post = s.worker("post", {"insert", "--count", "10"});
  REQUIRE(post.finish(s.deadline()).exit_code() == 0);

  // Three long-lived connections, each opened and used before the restore:
  // the library (reconnect-then-retry), the library with max_reconnects = 0
  // (bare retries only), and plain SQLCipher (bare retries only). After the
  // barrier each reads 3 times, then reconnects and reads once more.
  Barrier barrier(s, "restored");
  std::vector<Worker> probes;
  probes.push_back(s.worker("library", {"probe", "--count", "3", "--reconnect-probe"}, &barrier));
  probes.push_back(s.worker("library_no_reconnect",
                            {"probe", "--count", "3", "--reconnect-probe", "--max-reconnects", "0"},
                            &barrier));
  probes.push_back(s.worker(
      "naive", {"probe", "--client", "naive", "--count", "3", "--reconnect-probe"}, &barrier));
  REQUIRE(barrier.wait_ready(probes.size(), s.deadline()));

  // The restore, as an operator does it: checkpoint so the WAL is empty,
  // then copy the backup over the live file in place; the service goes on
  // writing (which is what makes the other connections read the file again).
  Worker ckpt = s.worker("ckpt", {"maint", "--op", "checkpoint-truncate", "--count", "1"});
  REQUIRE(ckpt.finish(s.deadline()).exit_code() == 0);
  const ino_t inode = inode_of(s.db());
  CHECK(overwrite_in_place(backup, s.db()) == inode);
  Worker after = s.worker("after", {"insert", "--count", "5"});
  check_clean(after.finish(s.deadline()));
  barrier.release();

  const WorkerResult& lib = probes[0].finish(s.deadline());
  const WorkerResult& bare = probes[1].finish(s.deadline());
  const WorkerResult& naive = probes[2].finish(s.deadline());
  const std::string rows = "ok:25";  // 20 from the backup, 5 written after the restore
  for (const WorkerResult* p : {&lib, &bare, &naive}) {
    INFO(p->describe());
    CHECK(p->exit_code() == 0);
  }
  {
    INFO(lib.describe());
    CHECK(lib.report.value("before", "") == "ok:30");
    CHECK(lib.report["bare_retries"] == nlohmann::json::array({rows, rows, rows}));
    CHECK(lib.counter("reconnects") >= 1);
    CHECK(lib.counter("surfaced_errors") == 0);
  }
  {
    INFO(bare.describe());
    CHECK(bare.report.value("before", "") == "ok:30");
    for (const auto& attempt : bare.report["bare_retries"]) CHECK(attempt != rows);
    CHECK(bare.report.value("after_reconnect", "") == rows);
  }
  {
    INFO(naive.describe());
    CHECK(naive.report.value("before", "") == "ok:30");
    CHECK(naive.report["bare_retries"] ==
          nlohmann::json::array({"SQLITE_NOTADB", "SQLITE_NOTADB", "SQLITE_NOTADB"}));
    CHECK(naive.report.value("after_reconnect", "") == rows);
  }
  WARN("scenario 7 (restore): library "
       << lib.report["bare_retries"].dump() << " with " << lib.counter("reconnects")
       << " reconnects; library without "
       << "reconnects " << bare.report["bare_retries"].dump() << "; naive "
       << naive.report["bare_retries"].dump() << "; all three after reconnecting: " << rows);

  const DbCheck db = verify_database(s.db());
  check_database(db);
  CHECK(db.rows_of("pre") == 20);
  CHECK(db.rows_of("after") == 5);
  CHECK(db.rows_of("post") == 0);  // written after the backup: a restore drops them
}

}  // namespace
}  // namespace coordkit::dbtest

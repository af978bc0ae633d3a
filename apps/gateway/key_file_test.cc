// The gateway's key file across a rekey: the file holds the new key after
// it, and every state a crash can leave on disk (key_file.h's three steps)
// opens the database at the next start, with the data intact.
#include "coordkit/gateway/key_file.h"

#include <sys/stat.h>

#include <catch2/catch_test_macros.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "coordkit/apps/key_source.h"
#include "coordkit/apps/records.h"
#include "coordkit/db/db.h"
#include "coordkit/gateway/internal/testing.h"
#include "coordkit/gateway/service.h"

namespace gw = coordkit::gateway;
namespace db = coordkit::db;
namespace keys = coordkit::keys;
namespace records = coordkit::records;
using gw::testing::in;
using std::chrono::milliseconds;

namespace {

const char* const kNewPassphrase = "a new passphrase";

// World: a database made with kTestKeyHex, its key file, one record.
struct World {
  std::filesystem::path dir;
  std::filesystem::path key_file;
  std::filesystem::path database;
  std::string id;

  explicit World(const std::string& name)
      : dir(gw::testing::scratch_dir(name)), key_file(dir / "gw.key"), database(dir / "gw.db") {
    gw::testing::write_file(key_file, std::string(gw::testing::kTestKeyHex) + "\n", 0600);
    auto s = start();
    id = s->create("notes", R"({"a":1})", in(milliseconds(5000))).id;
    s->close();
  }

  // open: Service::open with `key`, as the gateway's start-up does.
  std::unique_ptr<gw::Service> open(db::Key key) const {
    return gw::Service::open({.database = database,
                              .data_dir = dir,
                              .key = std::move(key),
                              .key_file = key_file,
                              .readers = 1});
  }
  // start: the gateway's start-up: the key file, then open_recovering.
  std::unique_ptr<gw::Service> start(gw::KeyFileRecovery* what = nullptr) const {
    gw::KeyFileRecovery ignored{};
    return gw::open_recovering(
        keys::read_key_file(key_file), [this](db::Key k) { return open(std::move(k)); },
        what != nullptr ? what : &ignored);
  }
  // intact: the record written at the start is there.
  bool intact(gw::Service& s) const {
    return s.get("notes", id, in(milliseconds(5000))).body == R"({"a":1})";
  }
  bool staged_exists() const { return std::filesystem::exists(gw::staged_key_file(key_file)); }
};

// rekey_directly: the database rekeyed to `hex`, through libs/db alone (the
// second step, without the gateway's key-file steps around it).
void rekey_directly(const World& w, const char* hex) {
  db::Options o;
  o.path = w.database;
  o.key = db::Key::raw_hex(gw::testing::kTestKeyHex);
  o.create_if_missing = false;
  o.migrations = records::migrations();
  db::Database d = db::Database::open(std::move(o));
  d.rekey(db::Key::raw_hex(hex));
}

}  // namespace

TEST_CASE("A rekey through the Service leaves the new key in the key file", "[gateway][key_file]") {
  World w("kf-rekey");
  SECTION("a raw key") {
    auto s = w.start();
    const gw::RekeyResult r = s->rekey(db::Key::raw_hex(gw::testing::kOtherKeyHex),
                                       gw::testing::kOtherKeyHex, in(milliseconds(5000)));
    CHECK(r.key_file_updated);
    CHECK(r.key_file == w.key_file);
    CHECK(w.intact(*s));
    s->close();
    CHECK(gw::testing::read_file(w.key_file) == std::string(gw::testing::kOtherKeyHex) + "\n");
  }
  SECTION("a passphrase") {
    auto s = w.start();
    CHECK(s->rekey(db::Key::passphrase(kNewPassphrase), kNewPassphrase, in(milliseconds(20000)))
              .key_file_updated);
    s->close();
    CHECK(gw::testing::read_file(w.key_file) == std::string(kNewPassphrase) + "\n");
  }
  struct stat st {};
  REQUIRE(::stat(w.key_file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK_FALSE(w.staged_exists());
  gw::KeyFileRecovery what{};
  auto again = w.start(&what);
  CHECK(what == gw::KeyFileRecovery::kNone);
  CHECK(w.intact(*again));
  again->close();
}

TEST_CASE("A passphrase a key file would read back as another key is refused, nothing changed",
          "[gateway][key_file]") {
  World w("kf-ambiguous");
  auto s = w.start();
  const std::string hex_looking = gw::testing::kOtherKeyHex;  // read back as a raw key
  try {
    s->rekey(db::Key::passphrase(hex_looking), hex_looking, in(milliseconds(20000)));
    FAIL("a 64-hex-digit passphrase was kept in a key file");
  } catch (const gw::Error& e) {
    CHECK(e.code() == gw::ErrorCode::kInvalidArgument);
  }
  CHECK(w.intact(*s));
  s->close();
  CHECK_FALSE(w.staged_exists());
  CHECK(gw::testing::read_file(w.key_file) == std::string(gw::testing::kTestKeyHex) + "\n");
}

TEST_CASE("Every state a crash during a rekey leaves opens the database at the next start",
          "[gateway][key_file]") {
  World w("kf-crash");
  SECTION("died while staging: a partial temp file beside the key file") {
    gw::testing::write_file(gw::staged_key_file(w.key_file).string() + ".tmp", "ffee", 0600);
    gw::KeyFileRecovery what{};
    auto s = w.start(&what);
    CHECK(what == gw::KeyFileRecovery::kNone);
    CHECK(w.intact(*s));
    s->close();
  }
  SECTION("died after staging, before the database was rekeyed") {
    gw::stage_key(w.key_file, gw::testing::kOtherKeyHex);
    gw::KeyFileRecovery what{};
    auto s = w.start(&what);
    CHECK(what == gw::KeyFileRecovery::kDiscardedStaged);
    CHECK(w.intact(*s));
    s->close();
    CHECK_FALSE(w.staged_exists());
    CHECK(gw::testing::read_file(w.key_file) == std::string(gw::testing::kTestKeyHex) + "\n");
  }
  SECTION("died after the rekey committed, before the staged key replaced the key file") {
    gw::stage_key(w.key_file, gw::testing::kOtherKeyHex);
    rekey_directly(w, gw::testing::kOtherKeyHex);
    gw::KeyFileRecovery what{};
    auto s = w.start(&what);
    CHECK(what == gw::KeyFileRecovery::kAdoptedStaged);
    CHECK(w.intact(*s));
    s->close();
    CHECK_FALSE(w.staged_exists());
    CHECK(gw::testing::read_file(w.key_file) == std::string(gw::testing::kOtherKeyHex) + "\n");
  }
  // And the start after that one finds nothing to settle.
  gw::KeyFileRecovery what{};
  auto s = w.start(&what);
  CHECK(what == gw::KeyFileRecovery::kNone);
  CHECK(w.intact(*s));
  s->close();
}

TEST_CASE("A wrong key file with no staged key that opens the database stays a wrong key",
          "[gateway][key_file]") {
  World w("kf-wrong");
  rekey_directly(w, gw::testing::kOtherKeyHex);  // a rekey elsewhere: the key file is stale
  SECTION("nothing staged") {}
  SECTION("a staged key that does not open it either") {
    gw::stage_key(w.key_file, "yet another passphrase");
  }
  try {
    w.start();
    FAIL("a wrong key opened the database");
  } catch (const db::Error& e) {
    CHECK(e.code() == db::ErrorCode::kWrongKeyOrNotADatabase);
  }
  CHECK(gw::testing::read_file(w.key_file) == std::string(gw::testing::kTestKeyHex) + "\n");
}

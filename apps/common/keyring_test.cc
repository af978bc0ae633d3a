// The kernel-keyring cache of derived keys: the derived key opens the file a
// passphrase made; store, find, expiry, revoke, the salt binding; and, in a
// child whose seccomp filter denies the keyring calls, a distinct
// kKeyringUnavailable and a working fallback to the passphrase; and, in a
// child that became another uid, no way to find, read or revoke the key.
#include "coordkit/apps/keyring.h"

#include <keyutils.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "coordkit/apps/internal/ids.h"
#include "coordkit/apps/internal/testing.h"
#include "coordkit/apps/key_source.h"
#include "coordkit/db/db.h"
#include "coordkit/spawn/spawn.h"

namespace db = coordkit::db;
namespace keys = coordkit::keys;
namespace sp = coordkit::spawn;
using coordkit::apps::testing::runfile;
using coordkit::apps::testing::scratch_dir;

namespace {

constexpr const char* kPassphrase = "keyring test passphrase";

// make_db: a database created with a passphrase and one table, closed again
// (so reading its salt cannot drop a connection's locks).
std::filesystem::path make_db(const std::string& name) {
  auto path = scratch_dir(name) / "app.db";  // not const: returned by move
  db::Options options;
  options.path = path;
  options.key = db::Key::passphrase(kPassphrase);
  options.migrations = {{1, "CREATE TABLE t(x INTEGER); INSERT INTO t VALUES (42);", nullptr}};
  db::Database::open(std::move(options));
  return path;
}

std::optional<std::int64_t> read_with(const std::filesystem::path& path, db::Key key) {
  db::Options options;
  options.path = path;
  options.key = std::move(key);
  options.create_if_missing = false;
  options.migrations = {{1, "", nullptr}};
  db::Database database = db::Database::open(std::move(options));
  return database.read(
      [](db::Transaction& tx) { return tx.query_value<std::int64_t>("SELECT x FROM t"); });
}

// require_keyring: skips the test, saying why, when this process has no
// kernel keyring (a sandbox or container that denies keyctl).
void require_keyring() {
  if (keyctl_get_keyring_ID(KEY_SPEC_USER_KEYRING, 1) < 0) {
    const int err = errno;
    SKIP("no kernel user keyring here: keyctl said errno " << err << " (" << std::strerror(err)
                                                           << ")");
  }
}

// unique_salt: a salt no other test (or engineer on this machine) uses.
keys::Salt unique_salt() {
  keys::Salt salt{};
  coordkit::records::internal::random_bytes(salt.data(), static_cast<int>(salt.size()));
  return salt;
}

struct Revoker {
  keys::Salt salt;
  ~Revoker() {
    try {
      keys::keyring_revoke(salt);
    } catch (...) {
    }
  }
};

}  // namespace

TEST_CASE("The derived key opens a database made with the passphrase", "[keys][keyring]") {
  const auto path = make_db("derive");
  const keys::Salt salt = keys::read_salt(path);
  const keys::DerivedKey key = keys::derive_key(kPassphrase, salt);
  CHECK(read_with(path, key.to_key()) == 42);
  try {
    read_with(path, keys::derive_key("another passphrase", salt).to_key());
    FAIL("a key derived from another passphrase opened the database");
  } catch (const db::Error& e) {
    CHECK(e.code() == db::ErrorCode::kWrongKeyOrNotADatabase);
  }
  SECTION("a missing or short file has no salt") {
    const auto dir = scratch_dir("no-salt");
    try {
      keys::read_salt(dir / "none.db");
      FAIL("read a salt from nothing");
    } catch (const keys::Error& e) {
      CHECK(e.code() == keys::ErrorCode::kNoDatabase);
    }
  }
}

TEST_CASE("A stored key is found for its salt only", "[keys][keyring]") {
  require_keyring();
  const keys::Salt salt = unique_salt();
  Revoker revoker{salt};
  const keys::DerivedKey key = keys::derive_key("pw", salt);
  CHECK_FALSE(keys::keyring_find(salt).has_value());
  keys::keyring_store(salt, key, std::chrono::seconds(60));
  CHECK(keys::keyring_find(salt) == key);
  CHECK_FALSE(keys::keyring_find(unique_salt()).has_value());
  CHECK(keys::keyring_description(salt).size() == 20 + 32);

  SECTION("storing again replaces it") {
    const keys::DerivedKey other = keys::derive_key("pw2", salt);
    keys::keyring_store(salt, other, std::chrono::seconds(60));
    CHECK(keys::keyring_find(salt) == other);
  }
  SECTION("revoke removes it at once") {
    CHECK(keys::keyring_revoke(salt));
    CHECK_FALSE(keys::keyring_find(salt).has_value());
    CHECK_FALSE(keys::keyring_revoke(salt));
  }
}

TEST_CASE("A stored key expires after its ttl", "[keys][keyring]") {
  require_keyring();
  const keys::Salt salt = unique_salt();
  Revoker revoker{salt};
  // The kernel counts whole seconds (a 1 s ttl may end a moment later), so
  // 2 s leaves the first check at least a second.
  keys::keyring_store(salt, keys::DerivedKey(), std::chrono::seconds(2));
  CHECK(keys::keyring_find(salt).has_value());
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (keys::keyring_find(salt) && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK_FALSE(keys::keyring_find(salt).has_value());
}

TEST_CASE("key_for_database uses the keyring for a passphrase and this file's salt",
          "[keys][keyring]") {
  require_keyring();
  const auto path = make_db("resolve");
  const keys::Salt salt = keys::read_salt(path);
  Revoker revoker{salt};
  const auto material = keys::KeyMaterial::passphrase(kPassphrase);

  keys::ResolvedKey before = keys::key_for_database(path, material);
  CHECK_FALSE(before.from_keyring);
  CHECK_FALSE(before.keyring_problem.has_value());
  CHECK(before.key.kind() == db::Key::Kind::kPassphrase);

  keys::keyring_store(salt, keys::derive_key(kPassphrase, salt), std::chrono::seconds(60));
  keys::ResolvedKey after = keys::key_for_database(path, material);
  CHECK(after.from_keyring);
  CHECK(after.key.kind() == db::Key::Kind::kRaw);
  CHECK(read_with(path, std::move(after.key)) == 42);

  SECTION("a raw key never asks the keyring") {
    const auto dir = scratch_dir("resolve-raw");
    std::ofstream(dir / "k") << coordkit::apps::testing::kTestKeyHex;
    ::chmod((dir / "k").c_str(), 0600);
    const auto raw = keys::read_key_file(dir / "k");
    CHECK_FALSE(keys::key_for_database(path, raw).from_keyring);
  }
  SECTION("another database with the same passphrase does not match") {
    const auto other = make_db("resolve-other");
    CHECK_FALSE(keys::key_for_database(other, material).from_keyring);
  }
}

TEST_CASE("Without a keyring the calls say so and the passphrase still opens",
          "[keys][keyring][processes]") {
  const auto path = make_db("unavailable");
  const int err = GENERATE(EPERM, ENOSYS);
  sp::Command command;
  command.executable = runfile("keyring_test_worker");
  command.args = {std::to_string(err), path.string()};
  command.env = {{keys::kPassphraseEnv, kPassphrase}, {keys::kKeyFileEnv, std::nullopt}};
  command.out = sp::Stdio::pipe();
  sp::Child child = sp::spawn(command);
  const std::string out = child.read_stdout_all(std::chrono::milliseconds(60000));
  REQUIRE(child.wait_for(std::chrono::milliseconds(60000)).value().success());
  if (out.rfind("no-seccomp", 0) == 0) SKIP("no seccomp filter on this platform");
  const std::string e = std::to_string(err);
  INFO(out);
  CHECK(out.find("store keyring_unavailable " + e + "\n") != std::string::npos);
  CHECK(out.find("find keyring_unavailable " + e + "\n") != std::string::npos);
  CHECK(out.find("available 0\n") != std::string::npos);
  CHECK(out.find("resolve 0 keyring_unavailable\n") != std::string::npos);
  CHECK(out.find("open ok\n") != std::string::npos);
}

TEST_CASE("Another uid never reads the key kept for this user", "[keys][keyring][processes]") {
  require_keyring();
  // A second uid needs root: setuid() to another user takes CAP_SETUID. An
  // unprivileged user namespace is no stand-in: it maps only this user's own
  // uid, and the kernel checks key permissions against that same uid, so a
  // "second user" there would be this user again.
  if (::geteuid() != 0) {
    SKIP(
        "not run: switching to a second uid needs root (CAP_SETUID), and a user namespace "
        "would map back to this same uid; this test runs as uid "
        << ::geteuid());
  }
  const keys::Salt salt = unique_salt();
  Revoker revoker{salt};
  const keys::DerivedKey key = keys::derive_key("pw", salt);
  keys::keyring_store(salt, key, std::chrono::seconds(60));
  std::string hex = keys::keyring_description(salt);
  hex = hex.substr(hex.rfind(':') + 1);

  // inherit: the other uid still holds a session keyring that links ours
  // (a daemon that dropped privileges); login: it has its own session.
  const std::string session = GENERATE(as<std::string>{}, "inherit", "login");
  INFO("session keyring: " << session);
  sp::Command command;
  command.executable = runfile("keyring_test_worker");
  command.args = {"as-uid", "65534", session, hex};
  command.out = sp::Stdio::pipe();
  sp::Child child = sp::spawn(command);
  const std::string out = child.read_stdout_all(std::chrono::milliseconds(60000));
  REQUIRE(child.wait_for(std::chrono::milliseconds(60000)).value().success());
  INFO(out);
  if (out.rfind("cannot-switch", 0) == 0) {
    // Root without CAP_SETUID, or uid 65534 not mapped (a container's
    // namespace): the machine does not allow a second uid.
    SKIP("not run: this machine refused setuid(65534): " << out);
  }
  CHECK(out.find("uid 65534 65534\n") != std::string::npos);
  // Its lookup by salt searches its own user keyring, where nothing is kept.
  CHECK(out.find("find none\n") != std::string::npos);
  // Reading our key by its serial is refused by the kernel.
  CHECK(out.find("read keyring_unavailable " + std::to_string(EACCES) + "\n") != std::string::npos);
  CHECK(out.find("revoke 0\n") != std::string::npos);
  // And our key is still ours, unchanged.
  CHECK(keys::keyring_find(salt) == key);
}

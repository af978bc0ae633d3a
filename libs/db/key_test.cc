// Key: owned, zeroed, fingerprinted; SQLCipher 4's KDF as the stock
// `sqlcipher` shell applies it.
#include "coordkit/db/key.h"

#include <array>
#include <catch2/catch_test_macros.hpp>
#include <cstdint>
#include <string>

#include "coordkit/db/database.h"
#include "coordkit/db/internal/key_cache.h"
#include "coordkit/db/internal/testing.h"
#include "coordkit/testing/scratch_dir.h"

namespace db = coordkit::db;
using coordkit::db::testing::run_sqlcipher_shell;
using coordkit::testing::scratch_dir;

TEST_CASE("Keys are deep copies with equal fingerprints for equal material", "[db][key]") {
  const db::Key a = db::Key::passphrase("secret");
  db::Key b = a;
  CHECK(b.fingerprint() == a.fingerprint());
  CHECK(db::Key::passphrase("other").fingerprint() != a.fingerprint());
  // A raw key and a passphrase with the same bytes are different keys.
  std::array<std::uint8_t, 32> bytes{};
  CHECK(db::Key::raw(bytes).fingerprint() !=
        db::Key::passphrase(std::string(32, '\0')).fingerprint());
  db::Key moved = std::move(b);
  CHECK(b.empty());  // NOLINT(bugprone-use-after-move): documented state
  CHECK(moved.kind() == db::Key::Kind::kPassphrase);
  CHECK_FALSE(db::Key().fingerprint() == a.fingerprint());
}

TEST_CASE("The KDF is SQLCipher 4's: PBKDF2-HMAC-SHA512, 256000 iterations", "[db][key]") {
  // Reference value computed independently (python3 hashlib.pbkdf2_hmac).
  coordkit::db::internal::Salt salt{};
  for (std::size_t i = 0; i < salt.size(); ++i) salt[i] = static_cast<std::uint8_t>(i);
  const std::string pass = "password";
  const auto k = coordkit::db::internal::pbkdf2_sqlcipher4(
      {reinterpret_cast<const std::uint8_t*>(pass.data()), pass.size()}, salt);
  char hex[65] = {};
  coordkit::db::internal::hex_lower(k.span(), hex);
  CHECK(std::string(hex) == "f1dbedd27b9bf994e77a761b2036013a9afffee39393117a94360af8902e1f7e");
}

TEST_CASE("The stock sqlcipher shell opens a library-made database with the passphrase",
          "[db][key][interop]") {
  const auto dir = scratch_dir("shell");
  db::Options o;
  o.path = dir / "lib.db";
  o.key = db::Key::passphrase("shell pass");
  o.migrations = {{1, "CREATE TABLE t(v TEXT);", {}}};
  {
    auto d = db::Database::open(o);
    d.write([](db::Transaction& tx) { tx.execute("INSERT INTO t VALUES ('hello from lib')"); });
  }
  const auto out = run_sqlcipher_shell(
      o.path,
      "PRAGMA key = 'shell pass';\nSELECT v FROM t;\nINSERT INTO t VALUES ('hello from shell');\n");
  if (!out) SKIP("/usr/bin/sqlcipher is not installed (tools/setup installs it)");
  CHECK(out->find("hello from lib") != std::string::npos);
  auto d = db::Database::open(o);
  CHECK(d.read([](db::Transaction& tx) {
    return tx.query_value<std::int64_t>("SELECT count(*) FROM t").value_or(0);
  }) == 2);
}

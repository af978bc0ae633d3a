// The library's SQLCipher crypto provider: in place for every connection the
// library opens, the same bytes as the stock provider, and files that the
// stock `sqlcipher` shell reads and writes with it in both directions.
#include "coordkit/db/internal/crypto_provider.h"

#include <array>
#include <catch2/catch_test_macros.hpp>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "coordkit/db/database.h"
#include "coordkit/db/internal/testing.h"
#include "coordkit/testing/scratch_dir.h"

namespace db = coordkit::db;
using coordkit::db::internal::FastCrypto;
using coordkit::db::internal::FastCryptoState;
using coordkit::db::testing::run_sqlcipher_shell;
using coordkit::db::testing::sqlcipher_shell_installed;
using coordkit::testing::scratch_dir;

namespace {

db::Options options_for(const std::filesystem::path& path) {
  db::Options o;
  o.path = path;
  o.key = db::Key::passphrase("provider test");
  o.migrations = {{1, "CREATE TABLE t(id INTEGER PRIMARY KEY, body BLOB);", {}}};
  return o;
}

}  // namespace

TEST_CASE("The library's crypto provider is in place for every connection it opens",
          "[db][crypto]") {
  const auto dir = scratch_dir("provider_in_place");
  {
    auto d = db::Database::open(options_for(dir / "a.db"));
    REQUIRE(FastCrypto::state() == FastCryptoState::kInstalled);
    CHECK(FastCrypto::in_place());
  }
  // The process's last library connection closed: SQLCipher would drop a
  // registered provider then, and the next open would run on the stock one.
  CHECK(FastCrypto::in_place());
  auto d = db::Database::open(options_for(dir / "a.db"));
  CHECK(FastCrypto::in_place());
  d.write([](db::Transaction& tx) { tx.execute("INSERT INTO t(body) VALUES (randomblob(3000))"); });
  CHECK(d.read([](db::Transaction& tx) { return tx.query_value<int>("SELECT count(*) FROM t"); }) ==
        1);
}

TEST_CASE("The provider's HMAC and cipher give the stock provider's bytes", "[db][crypto]") {
  FastCrypto::install();
  REQUIRE(FastCrypto::state() == FastCryptoState::kInstalled);
  const auto& stock = FastCrypto::stock();
  void* ctx = nullptr;
  REQUIRE(stock.ctx_init(&ctx) == SQLITE_OK);
  std::mt19937 rng(42);
  auto fill = [&](std::vector<unsigned char>& v) {
    for (auto& b : v) b = static_cast<unsigned char>(rng());
  };
  for (int round = 0; round < 50; ++round) {
    const int size = 16 * (1 + static_cast<int>(rng() % 4096));  // up to 64 KiB pages
    std::vector<unsigned char> in(static_cast<std::size_t>(size));
    std::vector<unsigned char> key(32);
    std::vector<unsigned char> iv(16);
    std::vector<unsigned char> in2(4);
    fill(in);
    fill(key);
    fill(iv);
    fill(in2);
    for (int alg = FastCrypto::kHmacSha1; alg <= FastCrypto::kHmacSha512; ++alg) {
      std::array<unsigned char, 64> a{};
      std::array<unsigned char, 64> b{};
      REQUIRE(stock.hmac(ctx, alg, key.data(), 32, in.data(), size, in2.data(), 4, a.data()) ==
              SQLITE_OK);
      REQUIRE(FastCrypto::hmac(ctx, alg, key.data(), 32, in.data(), size, in2.data(), 4,
                               b.data()) == SQLITE_OK);
      CHECK(a == b);
      REQUIRE(stock.hmac(ctx, alg, key.data(), 32, in.data(), size, nullptr, 0, a.data()) ==
              SQLITE_OK);
      REQUIRE(FastCrypto::hmac(ctx, alg, key.data(), 32, in.data(), size, nullptr, 0, b.data()) ==
              SQLITE_OK);
      CHECK(a == b);
    }
    for (int mode : {FastCrypto::kEncrypt, FastCrypto::kDecrypt}) {
      std::vector<unsigned char> a(in.size());
      std::vector<unsigned char> b(in.size());
      REQUIRE(stock.cipher(ctx, mode, key.data(), 32, iv.data(), in.data(), size, a.data()) ==
              SQLITE_OK);
      REQUIRE(FastCrypto::cipher(ctx, mode, key.data(), 32, iv.data(), in.data(), size, b.data()) ==
              SQLITE_OK);
      CHECK(a == b);
    }
  }
  stock.ctx_free(&ctx);
  // What SQLCipher never passes is refused, not computed on.
  std::array<unsigned char, 64> out{};
  std::array<unsigned char, 32> key{};
  std::array<unsigned char, 48> in{};
  CHECK(FastCrypto::hmac(nullptr, 3, key.data(), 32, in.data(), 48, nullptr, 0, out.data()) ==
        SQLITE_ERROR);
  CHECK(FastCrypto::hmac(nullptr, FastCrypto::kHmacSha512, key.data(), 32, nullptr, 0, nullptr, 0,
                         out.data()) == SQLITE_ERROR);
  CHECK(FastCrypto::cipher(nullptr, FastCrypto::kEncrypt, key.data(), 16, in.data(), in.data(), 48,
                           out.data()) == SQLITE_ERROR);
  CHECK(FastCrypto::cipher(nullptr, FastCrypto::kEncrypt, key.data(), 32, in.data(), in.data(), 40,
                           out.data()) == SQLITE_ERROR);
}

TEST_CASE("Files written with the provider and with the stock sqlcipher shell read both ways",
          "[db][crypto][interop]") {
  if (!sqlcipher_shell_installed()) SKIP("no /usr/bin/sqlcipher (tools/setup installs it)");
  const auto dir = scratch_dir("provider_interop");

  SECTION("the shell reads and checks what the library wrote") {
    const auto path = dir / "lib.db";
    {
      auto d = db::Database::open(options_for(path));
      REQUIRE(FastCrypto::in_place());
      d.write([](db::Transaction& tx) {
        for (int i = 0; i < 200; ++i) tx.execute("INSERT INTO t(body) VALUES (randomblob(500))");
      });
    }
    const auto out = run_sqlcipher_shell(path,
                                         "PRAGMA key='provider test';\n"
                                         "SELECT 'rows=' || count(*) FROM t;\n"
                                         "PRAGMA cipher_integrity_check;\n"
                                         "PRAGMA integrity_check;\n");
    REQUIRE(out.has_value());
    INFO(*out);
    // PRAGMA key says ok; cipher_integrity_check prints nothing when clean.
    CHECK(*out == "ok\nrows=200\nok\n");
  }

  SECTION("the library reads and extends what the shell wrote") {
    const auto path = dir / "shell.db";
    const auto created =
        run_sqlcipher_shell(path,
                            "PRAGMA key='provider test';\n"
                            "CREATE TABLE t(id INTEGER PRIMARY KEY, body BLOB);\n"
                            "PRAGMA user_version=1;\n"
                            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n "
                            "WHERE i < 300) INSERT INTO t(body) SELECT randomblob(400) "
                            "FROM n;\n");
    REQUIRE(created.has_value());
    INFO(*created);
    REQUIRE(*created == "ok\n");  // PRAGMA key
    {
      auto d = db::Database::open(options_for(path));
      REQUIRE(FastCrypto::in_place());
      CHECK(d.read([](db::Transaction& tx) {
        return tx.query_value<int>("SELECT count(*) FROM t");
      }) == 300);
      d.write(
          [](db::Transaction& tx) { tx.execute("INSERT INTO t(body) VALUES (randomblob(500))"); });
      CHECK(d.integrity_check().ok);
    }
    const auto out = run_sqlcipher_shell(path,
                                         "PRAGMA key='provider test';\n"
                                         "SELECT 'rows=' || count(*) FROM t;\n"
                                         "PRAGMA cipher_integrity_check;\n");
    REQUIRE(out.has_value());
    INFO(*out);
    CHECK(*out == "ok\nrows=301\n");
  }
}

// Key files and the environment: each refusal has its own code, the
// precedence is flag > COORDKIT_KEY_FILE > COORDKIT_PASSPHRASE, and the
// material reaches db::Key unchanged (compared by the Key's fingerprint).
#include "coordkit/apps/key_source.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "coordkit/apps/internal/testing.h"
#include "coordkit/db/key.h"

namespace db = coordkit::db;
namespace keys = coordkit::keys;
using coordkit::apps::testing::kTestKeyHex;
using coordkit::apps::testing::scratch_dir;

namespace {

std::filesystem::path write_key_file(const std::filesystem::path& path, const std::string& content,
                                     mode_t mode = 0600) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
  }
  REQUIRE(::chmod(path.c_str(), mode) == 0);
  return path;
}

// code_of: the keys::Error code `fn` throws, or nullopt; checks on the way
// that the message never carries `secret`.
template <class F>
std::optional<keys::ErrorCode> code_of(F&& fn, const std::string& secret = "") {
  try {
    fn();
  } catch (const keys::Error& e) {
    if (!secret.empty()) CHECK(std::string(e.what()).find(secret) == std::string::npos);
    return e.code();
  }
  return std::nullopt;
}

// EnvGuard: sets (or unsets, for nullopt) a variable for one test and
// restores it.
class EnvGuard {
 public:
  EnvGuard(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      ::setenv(name, value->c_str(), 1);
    else
      ::unsetenv(name);
  }
  EnvGuard(const EnvGuard&) = delete;
  EnvGuard& operator=(const EnvGuard&) = delete;
  ~EnvGuard() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

constexpr const char* kSecret = "hunter2 correct horse";

}  // namespace

TEST_CASE("A 0600 key file holds a raw key in hex or a passphrase", "[keys]") {
  const auto dir = scratch_dir("key-file");
  SECTION("64 hex digits are a raw key, in either case, newline or not") {
    const std::string content = GENERATE(std::string(kTestKeyHex), std::string(kTestKeyHex) + "\n",
                                         std::string(kTestKeyHex) + "\r\n");
    const auto m = keys::read_key_file(write_key_file(dir / "k", content));
    CHECK(m.kind == keys::KeyMaterial::Kind::kRawKey);
    CHECK(m.secret.size() == 32);
    CHECK(m.to_key().fingerprint() == db::Key::raw_hex(kTestKeyHex).fingerprint());
    std::string upper = kTestKeyHex;
    for (char& c : upper) c = static_cast<char>(std::toupper(c));
    CHECK(keys::read_key_file(write_key_file(dir / "u", upper)).to_key().fingerprint() ==
          db::Key::raw_hex(kTestKeyHex).fingerprint());
  }
  SECTION("anything else is a passphrase; one trailing newline is not part of it") {
    auto m = keys::read_key_file(write_key_file(dir / "p", std::string(kSecret) + "\n"));
    CHECK(m.kind == keys::KeyMaterial::Kind::kPassphrase);
    CHECK(m.to_key().fingerprint() == db::Key::passphrase(kSecret).fingerprint());
    CHECK(m.file == dir / "p");
    m = keys::read_key_file(write_key_file(dir / "p2", "two\n\n"));
    CHECK(m.secret.view() == "two\n");
    // 63 hex digits: not a raw key.
    m = keys::read_key_file(write_key_file(dir / "p3", std::string(kTestKeyHex).substr(1)));
    CHECK(m.kind == keys::KeyMaterial::Kind::kPassphrase);
  }
  SECTION("0400 is fine too") {
    CHECK(keys::read_key_file(write_key_file(dir / "r", kSecret, 0400)).kind ==
          keys::KeyMaterial::Kind::kPassphrase);
  }
}

TEST_CASE("Unsafe key files are refused without showing their content", "[keys]") {
  const auto dir = scratch_dir("key-unsafe");
  SECTION("group or other permission bits") {
    const mode_t mode = GENERATE(mode_t{0644}, mode_t{0640}, mode_t{0604}, mode_t{0620},
                                 mode_t{0602}, mode_t{0610});
    const auto path = write_key_file(dir / "k", kSecret, mode);
    CHECK(code_of([&] { keys::read_key_file(path); }, kSecret) == keys::ErrorCode::kKeyFileUnsafe);
  }
  SECTION("a symlink, even to a safe file") {
    const auto target = write_key_file(dir / "target", kSecret);
    std::filesystem::create_symlink(target, dir / "link");
    CHECK(code_of([&] { keys::read_key_file(dir / "link"); }, kSecret) ==
          keys::ErrorCode::kKeyFileUnsafe);
  }
  SECTION("a directory or a FIFO (which must not block the open)") {
    std::filesystem::create_directory(dir / "d");
    ::chmod((dir / "d").c_str(), 0700);
    CHECK(code_of([&] { keys::read_key_file(dir / "d"); }) == keys::ErrorCode::kKeyFileUnsafe);
    REQUIRE(::mkfifo((dir / "fifo").c_str(), 0600) == 0);
    CHECK(code_of([&] { keys::read_key_file(dir / "fifo"); }) == keys::ErrorCode::kKeyFileUnsafe);
  }
  SECTION("a file owned by another user") {
    const auto path = write_key_file(dir / "theirs", kSecret);
    const uid_t other = ::geteuid() == 0 ? 65534 : 0;
    if (::chown(path.c_str(), other, static_cast<gid_t>(-1)) != 0) {
      SKIP("cannot give a file to uid " << other << " here (errno " << errno
                                        << "): not root, or a sandbox that maps one uid");
    }
    CHECK(code_of([&] { keys::read_key_file(path); }, kSecret) == keys::ErrorCode::kKeyFileUnsafe);
  }
}

TEST_CASE("Missing and bad key files have their own codes", "[keys]") {
  const auto dir = scratch_dir("key-bad");
  CHECK(code_of([&] { keys::read_key_file(dir / "none"); }) == keys::ErrorCode::kKeyFileMissing);
  CHECK(code_of([&] { keys::read_key_file(dir / "no-dir" / "k"); }) ==
        keys::ErrorCode::kKeyFileMissing);
  const std::string content = GENERATE(std::string(""), std::string("\n"), std::string("\r\n"),
                                       std::string(keys::kMaxKeyFileBytes + 1, 'x'));
  const auto path = write_key_file(dir / "k", content);
  CHECK(code_of([&] { keys::read_key_file(path); }) == keys::ErrorCode::kBadKeyFile);
}

TEST_CASE("--key-file beats COORDKIT_KEY_FILE beats COORDKIT_PASSPHRASE", "[keys]") {
  const auto dir = scratch_dir("key-env");
  const auto flag_file = write_key_file(dir / "flag", "from-flag");
  const auto env_file = write_key_file(dir / "env", "from-env-file");
  const keys::KeySourceOptions with_flag{.key_file = flag_file};
  const keys::KeySourceOptions without_flag{};

  SECTION("all three set") {
    EnvGuard f(keys::kKeyFileEnv, env_file.string());
    EnvGuard p(keys::kPassphraseEnv, "from-env");
    auto m = keys::load_key_material(with_flag);
    CHECK(m.secret.view() == "from-flag");
    CHECK(m.origin == keys::Origin::kKeyFileFlag);
    m = keys::load_key_material(without_flag);
    CHECK(m.secret.view() == "from-env-file");
    CHECK(m.origin == keys::Origin::kKeyFileEnv);
    CHECK(m.file == env_file);
  }
  SECTION("only the passphrase variable") {
    EnvGuard f(keys::kKeyFileEnv, std::nullopt);
    EnvGuard p(keys::kPassphraseEnv, "from-env");
    const auto m = keys::load_key_material(without_flag);
    CHECK(m.origin == keys::Origin::kPassphraseEnv);
    CHECK(m.file.empty());
    CHECK(keys::load_key(without_flag).fingerprint() ==
          db::Key::passphrase("from-env").fingerprint());
  }
  SECTION("an unsafe file named by the environment is refused, not skipped") {
    const auto open_file = write_key_file(dir / "open", "x", 0644);
    EnvGuard f(keys::kKeyFileEnv, open_file.string());
    EnvGuard p(keys::kPassphraseEnv, "from-env");
    CHECK(code_of([&] { keys::load_key_material(without_flag); }) ==
          keys::ErrorCode::kKeyFileUnsafe);
  }
  SECTION("nothing, or only empty variables") {
    EnvGuard f(keys::kKeyFileEnv,
               GENERATE(std::optional<std::string>(), std::optional<std::string>("")));
    EnvGuard p(keys::kPassphraseEnv,
               GENERATE(std::optional<std::string>(), std::optional<std::string>("")));
    CHECK(code_of([&] { keys::load_key_material(without_flag); }) == keys::ErrorCode::kNoKey);
    CHECK(code_of([&] { keys::KeyMaterial::passphrase(""); }) == keys::ErrorCode::kNoKey);
  }
}

TEST_CASE("keys::Error is a coordkit::Error of library keys", "[keys]") {
  for (keys::ErrorCode code : keys::kAllErrorCodes) {
    const keys::Error e(code, "m");
    const coordkit::Error& base = e;
    CHECK(base.library() == "keys");
    CHECK(base.code_name() == keys::code_name(code));
    CHECK(base.code_name() != "unknown");
  }
}

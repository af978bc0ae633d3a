// keyring_test_worker: runs the keyring calls in a process that is not the
// test's: either under a seccomp filter that makes add_key, keyctl and
// request_key fail with a given errno, as a container's default profile does,
// or as another uid. The passphrase comes from COORDKIT_PASSPHRASE (never
// argv).
//
//   keyring_test_worker ERRNO DB   prints "store <code>", "find <code>",
//       "resolve <from_keyring> <problem code>" and "open ok" (or "open <what>")
//
//   keyring_test_worker as-uid UID SESSION SALT_HEX   started as root, where
//       the test kept a key for SALT_HEX in root's user keyring: looks the
//       key's serial up, then becomes UID (setgroups, setgid, setuid) and
//       tries to reach that key: prints "uid <uid>", "find none|found",
//       "read <code> <errno>" (or "read ok", the bytes it read),
//       "revoke <0|1>". SESSION says which session keyring the other uid has:
//       "inherit" keeps a session keyring that links root's user keyring (what
//       pam_keyinit sets up, and what a daemon that drops privileges keeps);
//       "login" joins a fresh one as UID, like that user's own login. Prints
//       "cannot-switch <errno>" and exits 0 when setuid is refused.
#include <grp.h>
#include <keyutils.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>

#include "coordkit/apps/key_source.h"
#include "coordkit/apps/keyring.h"
#include "coordkit/db/db.h"

namespace keys = coordkit::keys;

namespace {

bool deny_keyring_syscalls(int err) {
#if defined(__x86_64__)
  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_add_key, 3, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_keyctl, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_request_key, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_RET | BPF_K,
               SECCOMP_RET_ERRNO | (static_cast<unsigned>(err) & SECCOMP_RET_DATA)),
  };
  struct sock_fprog prog = {static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
  return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
#else
  (void)err;
  return false;
#endif
}

keys::Salt salt_from_hex(const std::string& hex) {
  keys::Salt salt{};
  for (std::size_t i = 0; i < salt.size() && 2 * i + 1 < hex.size(); ++i) {
    salt[i] = static_cast<std::uint8_t>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
  }
  return salt;
}

int as_other_uid(const std::string& uid_text, const std::string& session, const std::string& hex) {
  const keys::Salt salt = salt_from_hex(hex);
  const std::string description = keys::keyring_description(salt);
  const long id = keyctl_search(KEY_SPEC_USER_KEYRING, "user", description.c_str(), 0);
  if (id < 0) {
    std::cout << "no-key " << errno << std::endl;
    return 1;
  }
  if (session == "inherit") {
    // A session keyring of root's that links root's user keyring.
    if (keyctl_join_session_keyring(nullptr) < 0 ||
        keyctl_link(KEY_SPEC_USER_KEYRING, KEY_SPEC_SESSION_KEYRING) < 0) {
      std::cout << "no-session " << errno << std::endl;
      return 1;
    }
  }
  const auto uid = static_cast<uid_t>(std::stoul(uid_text));
  if (::setgroups(0, nullptr) != 0 || ::setgid(static_cast<gid_t>(uid)) != 0 ||
      ::setuid(uid) != 0) {
    std::cout << "cannot-switch " << errno << std::endl;
    return 0;
  }
  if (session == "login" && keyctl_join_session_keyring(nullptr) < 0) {
    std::cout << "no-session " << errno << std::endl;
    return 1;
  }
  std::cout << "uid " << ::getuid() << ' ' << ::geteuid() << '\n';
  try {
    std::cout << "find " << (keys::keyring_find(salt) ? "found" : "none") << '\n';
  } catch (const keys::Error& e) {
    std::cout << "find " << e.code_name() << ' ' << e.os_error() << '\n';
  }
  try {
    std::cout << "read "
              << (keys::internal::read_key(static_cast<key_serial_t>(id)) ? "ok" : "none") << '\n';
  } catch (const keys::Error& e) {
    std::cout << "read " << e.code_name() << ' ' << e.os_error() << '\n';
  }
  try {
    std::cout << "revoke " << keys::keyring_revoke(salt) << '\n';
  } catch (const keys::Error& e) {
    std::cout << "revoke " << e.code_name() << ' ' << e.os_error() << '\n';
  }
  std::cout << std::flush;
  return 0;
}

int run(int argc, char** argv) {
  if (argc == 5 && std::string(argv[1]) == "as-uid") return as_other_uid(argv[2], argv[3], argv[4]);
  if (argc != 3) return 2;
  if (!deny_keyring_syscalls(std::atoi(argv[1]))) {
    std::cout << "no-seccomp" << std::endl;
    return 0;
  }
  const std::string db_path = argv[2];
  const keys::KeyMaterial material = keys::load_key_material();
  const keys::Salt salt = keys::read_salt(db_path);
  try {
    keys::keyring_store(salt, keys::DerivedKey(), std::chrono::seconds(60));
    std::cout << "store ok\n";
  } catch (const keys::Error& e) {
    std::cout << "store " << e.code_name() << ' ' << e.os_error() << '\n';
  }
  try {
    keys::keyring_find(salt);
    std::cout << "find ok\n";
  } catch (const keys::Error& e) {
    std::cout << "find " << e.code_name() << ' ' << e.os_error() << '\n';
  }
  std::cout << "available " << keys::keyring_available() << '\n';
  keys::ResolvedKey resolved = keys::key_for_database(db_path, material);
  std::cout << "resolve " << resolved.from_keyring << ' '
            << (resolved.keyring_problem ? resolved.keyring_problem->code_name() : "none") << '\n';
  try {
    coordkit::db::Options options;
    options.path = db_path;
    options.key = std::move(resolved.key);
    options.create_if_missing = false;
    options.migrations = {{1, "", nullptr}};  // the test made schema version 1
    auto database = coordkit::db::Database::open(std::move(options));
    std::cout << "open ok" << std::endl;
  } catch (const std::exception& e) {
    std::cout << "open " << e.what() << std::endl;
  }
  return 0;
}

}  // namespace

// main: run(), with an error outside the calls it reports (reading the key
// material or the salt) printed and exit code 1.
int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "keyring_test_worker: " << e.what() << '\n';
    return 1;
  }
}

// keyring_test_worker: runs the keyring calls in a process whose seccomp
// filter makes add_key, keyctl and request_key fail with a given errno, as a
// container's default profile does. The passphrase comes from
// COORDKIT_PASSPHRASE (never argv).
//
//   keyring_test_worker ERRNO DB   prints "store <code>", "find <code>",
//       "resolve <from_keyring> <problem code>" and "open ok" (or "open <what>")
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

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

int run(int argc, char** argv) {
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

// Internal, tests only: scratch directories, key files and the gateway's
// runfiles.
#ifndef COORDKIT_APPS_GATEWAY_INTERNAL_TESTING_H_
#define COORDKIT_APPS_GATEWAY_INTERNAL_TESTING_H_

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "coordkit/testing/runfiles.h"
#include "coordkit/testing/scratch_dir.h"

namespace coordkit::gateway::testing {

// scratch_dir: a fresh directory under TEST_TMPDIR (//testing's), made 0700
// whatever the umask, since the gateway refuses a runtime directory that
// others can open.
inline std::filesystem::path scratch_dir(const std::string& name) {
  std::filesystem::path dir = ::coordkit::testing::scratch_dir(name);
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all);
  return dir;
}

// kTestKeyHex / kOtherKeyHex: raw keys of the tests' databases (test values).
inline constexpr const char* kTestKeyHex =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
inline constexpr const char* kOtherKeyHex =
    "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

// write_file: `text` into `path` with `mode`.
inline void write_file(const std::filesystem::path& path, const std::string& text,
                       mode_t mode = 0600) {
  ::unlink(path.c_str());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) throw std::runtime_error("cannot create " + path.string());
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::fchmod(fd, mode);
  ::close(fd);
  if (!ok) throw std::runtime_error("cannot write " + path.string());
}

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// runfile: a file of this repository from the test's runfiles.
inline std::filesystem::path runfile(const std::string& repo_path) {
  return ::coordkit::testing::runfile(repo_path);
}

inline std::chrono::steady_clock::time_point in(std::chrono::milliseconds ms) {
  return std::chrono::steady_clock::now() + ms;
}

}  // namespace coordkit::gateway::testing

#endif  // COORDKIT_APPS_GATEWAY_INTERNAL_TESTING_H_

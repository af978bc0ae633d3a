// Scenario 14 of tests/db/README.md: the disk fills up under a writer.
//
// Needs a small file system of its own: a tmpfs mounted under TEST_TMPDIR for
// the test's duration (unmounted by a RAII guard, also when the test fails).
// Mounting needs root and no sandbox, so the target is tagged local and
// no-sandbox; where it cannot mount, the test SKIPs and says why.

#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <catch2/catch_test_macros.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include "tests/db/scenario.h"

namespace coordkit::dbtest {
namespace {

// TmpfsMount: a fresh tmpfs of `bytes` at `dir` while alive.
class TmpfsMount {
 public:
  TmpfsMount(const fs::path& dir, std::size_t bytes) : dir_(dir) {
    fs::create_directories(dir_);
    if (::geteuid() != 0) {
      why_not_ = "not running as root (euid " + std::to_string(::geteuid()) + ")";
      return;
    }
    const std::string data = "size=" + std::to_string(bytes) + ",mode=0700";
    if (::mount("coordkit-disk-full", dir_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, data.c_str()) !=
        0) {
      why_not_ = std::string("mount -t tmpfs failed: ") + std::strerror(errno) +
                 " (a sandbox or a container without CAP_SYS_ADMIN)";
      return;
    }
    mounted_ = true;
  }
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;
  ~TmpfsMount() {
    if (!mounted_) return;
    if (::umount2(dir_.c_str(), 0) != 0) ::umount2(dir_.c_str(), MNT_DETACH);
  }

  bool mounted() const { return mounted_; }
  const std::string& why_not() const { return why_not_; }
  std::int64_t free_bytes() const {
    struct statvfs v {};
    if (::statvfs(dir_.c_str(), &v) != 0) return -1;
    return static_cast<std::int64_t>(v.f_bavail) * static_cast<std::int64_t>(v.f_frsize);
  }

 private:
  fs::path dir_;
  bool mounted_ = false;
  std::string why_not_;
};

// Scenario 14.
TEST_CASE("A full disk surfaces as kFull, corrupts nothing, and work resumes once space is freed",
          "[db][scenario14]") {
  Scenario s("disk_full", seconds(90));
  TmpfsMount tmpfs(s.dir() / "tmpfs", std::size_t{8} * 1024 * 1024);
  if (!tmpfs.mounted()) SKIP("scenario 14 needs its own small tmpfs: " << tmpfs.why_not());
  const fs::path db = s.dir() / "tmpfs" / "full.db";

  Worker init = s.worker("init", {"insert", "--count", "10"}, nullptr, {}, db);
  check_clean(init.finish(s.deadline()));

  // Leave about 600 KiB: a few hundred transactions, then ENOSPC.
  const fs::path filler = s.dir() / "tmpfs" / "filler";
  {
    const std::int64_t fill = tmpfs.free_bytes() - std::int64_t{600} * 1024;
    REQUIRE(fill > 0);
    std::ofstream out(filler, std::ios::binary);
    const std::string block(std::size_t{64} * 1024, 'f');
    for (std::int64_t left = fill; left > 0; left -= static_cast<std::int64_t>(block.size())) {
      out.write(block.data(), static_cast<std::streamsize>(std::min<std::int64_t>(
                                  left, static_cast<std::int64_t>(block.size()))));
    }
  }
  CAPTURE(tmpfs.free_bytes());

  // The writer stops at its first surfaced error; it must be kFull.
  Worker writer = s.worker("writer",
                           {"insert", "--rows-per-tx", "10", "--payload-bytes", "1000", "--count",
                            "100000", "--stop-on-error"},
                           nullptr, {}, db);
  const WorkerResult& w = writer.finish(s.deadline());
  {
    INFO(w.describe());
    CHECK(w.exit_code() == 1);
    CHECK(w.ops() > 0);
    CHECK(w.errors() == nlohmann::json{{"full", 1}});
    // kFull is permanent: surfaced at once, not retried until a deadline.
    CHECK(w.counter("retries_same") == 0);
    CHECK(w.counter("reconnects") == 0);
  }

  // Reading still works on the full disk, and the file is intact.
  Worker reader = s.worker("reader_when_full", {"open"}, nullptr, {}, db);
  const WorkerResult& r = reader.finish(s.deadline());
  check_clean(r);
  const DbCheck full = verify_database(db);
  check_database(full);
  check_nothing_lost(full, s.ack_logs());
  check_rows_match_acks(full, check_acks(full, s.ack_logs()), {"writer"});

  // Free the space: the same kind of writer goes on as if nothing happened.
  fs::remove(filler);
  Worker again = s.worker(
      "writer_after", {"insert", "--rows-per-tx", "10", "--payload-bytes", "1000", "--count", "50"},
      nullptr, {}, db);
  check_clean(again.finish(s.deadline()));
  const DbCheck after = verify_database(db);
  check_database(after);
  const AckCheck acks = check_nothing_lost(after, s.ack_logs());
  check_rows_match_acks(after, acks, {"init", "writer", "writer_after"});
  CHECK(after.rows_of("writer_after") == 500);
  WARN("scenario 14: " << w.ops() << " transactions before kFull; " << after.row_count
                       << " rows intact after freeing space");
}

}  // namespace
}  // namespace coordkit::dbtest

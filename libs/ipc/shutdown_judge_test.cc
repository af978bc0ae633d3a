// The rules for which shutdown files a server honours, checked on the pure
// judgement alone: no server, no watcher thread, no files.
#include "coordkit/ipc/internal/shutdown_judge.h"

#include <sys/stat.h>

#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <chrono>
#include <optional>
#include <string>

namespace ipc = coordkit::ipc;
namespace internal = coordkit::ipc::internal;
using namespace std::chrono_literals;

namespace {

constexpr uid_t kUid = 1000;
const std::string kToken = "0123456789abcdef0123456789abcdef";

std::string request(const std::string& token, const std::string& mode = "graceful",
                    const std::string& extra = "") {
  return R"({"token":")" + token + R"(","mode":")" + mode + "\"" + extra + "}";
}

struct Row {
  const char* name;
  mode_t mode;
  uid_t owner;
  nlink_t links;
  bool truncated;
  std::string content;
  std::optional<ipc::RejectReason> rejected;  // nullopt: honoured
};

}  // namespace

TEST_CASE(
    "A shutdown file is honoured only if it is ours, regular, single, small, whole and ours by "
    "token",
    "[ipc][shutdown]") {
  const Row row = GENERATE(
      Row{"a valid graceful request", S_IFREG | 0600, kUid, 1, false, request(kToken),
          std::nullopt},
      Row{"a valid fast request with a deadline", S_IFREG | 0600, kUid, 1, false,
          request(kToken, "fast", R"(,"deadline_ms":2500)"), std::nullopt},
      Row{"a valid request with a wider mode", S_IFREG | 0644, kUid, 1, false, request(kToken),
          std::nullopt},
      Row{"a symlink", S_IFLNK | 0777, kUid, 1, false, request(kToken),
          ipc::RejectReason::kSymlink},
      Row{"a directory", S_IFDIR | 0700, kUid, 1, false, "", ipc::RejectReason::kNotRegularFile},
      Row{"a fifo", S_IFIFO | 0600, kUid, 1, false, "", ipc::RejectReason::kNotRegularFile},
      Row{"a socket", S_IFSOCK | 0600, kUid, 1, false, "", ipc::RejectReason::kNotRegularFile},
      Row{"a character device", S_IFCHR | 0600, kUid, 1, false, "",
          ipc::RejectReason::kNotRegularFile},
      Row{"someone else's file", S_IFREG | 0600, kUid + 1, 1, false, request(kToken),
          ipc::RejectReason::kNotOwned},
      Row{"root's file for a user server", S_IFREG | 0600, 0, 1, false, request(kToken),
          ipc::RejectReason::kNotOwned},
      Row{"a hard link", S_IFREG | 0600, kUid, 2, false, request(kToken),
          ipc::RejectReason::kHardLinked},
      Row{"a file with no name left", S_IFREG | 0600, kUid, 0, false, request(kToken),
          ipc::RejectReason::kHardLinked},
      Row{"a file too large", S_IFREG | 0600, kUid, 1, true, request(kToken),
          ipc::RejectReason::kTooLarge},
      Row{"an empty file", S_IFREG | 0600, kUid, 1, false, "", ipc::RejectReason::kMalformed},
      Row{"not JSON", S_IFREG | 0600, kUid, 1, false, "stop!", ipc::RejectReason::kMalformed},
      Row{"half a request", S_IFREG | 0600, kUid, 1, false, request(kToken).substr(0, 20),
          ipc::RejectReason::kMalformed},
      Row{"an unknown mode", S_IFREG | 0600, kUid, 1, false, request(kToken, "now"),
          ipc::RejectReason::kMalformed},
      Row{"a negative deadline", S_IFREG | 0600, kUid, 1, false,
          request(kToken, "fast", R"(,"deadline_ms":-1)"), ipc::RejectReason::kMalformed},
      Row{"no token", S_IFREG | 0600, kUid, 1, false, R"({"mode":"fast"})",
          ipc::RejectReason::kMalformed},
      Row{"another instance's token", S_IFREG | 0600, kUid, 1, false,
          request("00000000000000000000000000000000"), ipc::RejectReason::kWrongToken},
      Row{"an empty token", S_IFREG | 0600, kUid, 1, false, request(""),
          ipc::RejectReason::kWrongToken},
      Row{"a token one digit short", S_IFREG | 0600, kUid, 1, false, request(kToken.substr(1)),
          ipc::RejectReason::kWrongToken},
      // The first rule broken names the reason: type before owner before
      // links before size before content.
      Row{"someone else's symlink", S_IFLNK | 0777, kUid + 1, 2, true, "",
          ipc::RejectReason::kSymlink},
      Row{"someone else's hard link", S_IFREG | 0600, kUid + 1, 2, false, request(kToken),
          ipc::RejectReason::kNotOwned},
      Row{"a hard link too large", S_IFREG | 0600, kUid, 2, true, "",
          ipc::RejectReason::kHardLinked},
      Row{"a garbage file too large", S_IFREG | 0600, kUid, 1, true, "stop!",
          ipc::RejectReason::kTooLarge});
  CAPTURE(row.name);
  const internal::ShutdownVerdict verdict = internal::judge_shutdown_file(
      {row.mode, row.owner, row.links, row.truncated, row.content}, kUid, kToken);
  CHECK(verdict.rejected == row.rejected);
  CHECK(verdict.accepted.has_value() == !row.rejected.has_value());
  if (verdict.accepted) {
    CHECK(verdict.accepted->token == kToken);
    CHECK(verdict.why.empty());
  } else {
    CHECK_FALSE(verdict.why.empty());
  }
}

TEST_CASE("An honoured shutdown file carries its mode and deadline", "[ipc][shutdown]") {
  const auto fast = internal::judge_shutdown_file(
      {S_IFREG | 0600, kUid, 1, false, request(kToken, "fast", R"(,"deadline_ms":2500)")}, kUid,
      kToken);
  REQUIRE(fast.accepted.has_value());
  CHECK(fast.accepted->mode == ipc::ShutdownMode::kFast);
  CHECK(fast.accepted->deadline == 2500ms);
  const auto graceful = internal::judge_shutdown_file(
      {S_IFREG | 0600, kUid, 1, false, request(kToken)}, kUid, kToken);
  REQUIRE(graceful.accepted.has_value());
  CHECK(graceful.accepted->mode == ipc::ShutdownMode::kGraceful);
  CHECK(graceful.accepted->deadline == 0ms);
}

TEST_CASE("An entry's type alone refuses symlinks and special files before anything is opened",
          "[ipc][shutdown]") {
  CHECK(internal::judge_shutdown_entry(S_IFLNK | 0777)->rejected == ipc::RejectReason::kSymlink);
  CHECK(internal::judge_shutdown_entry(S_IFDIR | 0700)->rejected ==
        ipc::RejectReason::kNotRegularFile);
  CHECK(internal::judge_shutdown_entry(S_IFIFO | 0600)->rejected ==
        ipc::RejectReason::kNotRegularFile);
  CHECK_FALSE(internal::judge_shutdown_entry(S_IFREG | 0600).has_value());
}

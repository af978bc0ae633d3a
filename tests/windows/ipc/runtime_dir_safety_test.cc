// coordkit::ipc on Windows, run under Wine: a runtime directory that is a
// reparse point, or owned by another user's SID, is refused.
//
// Wine 8 creates no reparse point through the Windows API
// (CreateSymbolicLinkW returns TRUE and creates nothing,
// FSCTL_SET_REPARSE_POINT fails with ERROR_NOT_SUPPORTED), and every file
// a Windows process creates there belongs to its user. So the ctest fixture
// (CMakeLists.txt) makes both on the Unix side: a symlink, which Wine
// reports as FILE_ATTRIBUTE_REPARSE_POINT, and a directory chown'ed to
// another uid, which Wine reports with another owner SID. Each case first
// shows, through the Windows API, that the entry really is what it is
// meant to be (a false pass on an ordinary directory is impossible), then
// checks the refusal. The fixture's directory is COORDKIT_TEST_FIXTURE_DIR.
#include <windows.h>
// (windows.h first)
#include <aclapi.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/check.h"
#include "coordkit/ipc/internal/windows.h"
#include "coordkit/ipc/ipc.h"

namespace {

namespace fs = std::filesystem;
namespace ipc = coordkit::ipc;

fs::path fixture() {
  const char* dir = std::getenv("COORDKIT_TEST_FIXTURE_DIR");
  return dir != nullptr ? fs::path(dir) : fs::path();
}

DWORD attributes(const fs::path& p) { return ::GetFileAttributesW(p.wstring().c_str()); }

bool owned_by_this_user(const fs::path& p) {
  PSID owner = nullptr;
  PSECURITY_DESCRIPTOR sd = nullptr;
  if (::GetNamedSecurityInfoW(p.wstring().c_str(), SE_FILE_OBJECT, OWNER_SECURITY_INFORMATION,
                              &owner, nullptr, nullptr, nullptr, &sd) != ERROR_SUCCESS) {
    return false;
  }
  const bool ours =
      ::EqualSid(owner, const_cast<BYTE*>(ipc::internal::user_sids().user.data())) != 0;
  ::LocalFree(sd);
  return ours;
}

COORDKIT_TEST("a runtime dir that is a reparse point is refused, also as a component") {
  const fs::path base = fixture();
  REQUIRE(!base.empty());
  const fs::path link = base / "link";
  const DWORD attrs = attributes(link);
  REQUIRE(attrs != INVALID_FILE_ATTRIBUTES);
  REQUIRE((attrs & FILE_ATTRIBUTE_REPARSE_POINT) != 0);
  // The link itself as the runtime dir (a flag or COORDKIT_RUNTIME_DIR).
  CHECK_THROWS_CODE(ipc::ensure_runtime_dir(ipc::resolve_runtime_dir("app", link)), ipc::Error,
                    ipc::ErrorCode::kRuntimeDirIsSymlink);
  CHECK_THROWS_CODE(ipc::check_runtime_dir(ipc::resolve_runtime_dir("app", link)), ipc::Error,
                    ipc::ErrorCode::kRuntimeDirIsSymlink);
  // %LOCALAPPDATA%\coordkit is ours to police: a link there is refused too.
  const std::string saved = std::getenv("LOCALAPPDATA") ? std::getenv("LOCALAPPDATA") : "";
  ::_putenv_s("COORDKIT_RUNTIME_DIR", "");
  ::_putenv_s("LOCALAPPDATA", (base / "local").string().c_str());
  const fs::path coordkit_link = base / "local" / "coordkit";
  REQUIRE((attributes(coordkit_link) & FILE_ATTRIBUTE_REPARSE_POINT) != 0);
  CHECK_THROWS_CODE(ipc::Server({.app = "app", .handle_signals = false}), ipc::Error,
                    ipc::ErrorCode::kRuntimeDirIsSymlink);
  ::_putenv_s("LOCALAPPDATA", saved.c_str());
  // The same directory reached through its real name is fine.
  ipc::ensure_runtime_dir(ipc::resolve_runtime_dir("app", base / "target"));
  CHECK(ipc::check_runtime_dir(ipc::resolve_runtime_dir("app", base / "target")));
}

COORDKIT_TEST("a runtime dir owned by another user is refused") {
  const fs::path base = fixture();
  REQUIRE(!base.empty());
  const fs::path foreign = base / "foreign";
  REQUIRE((attributes(foreign) & FILE_ATTRIBUTE_DIRECTORY) != 0);
  REQUIRE(!owned_by_this_user(foreign));
  // The control: the fixture's own directory reads as ours.
  REQUIRE(owned_by_this_user(base / "target"));
  CHECK_THROWS_CODE(ipc::ensure_runtime_dir(ipc::resolve_runtime_dir("app", foreign)), ipc::Error,
                    ipc::ErrorCode::kRuntimeDirNotOwned);
  CHECK_THROWS_CODE(ipc::Client({.app = "app", .runtime_dir = foreign}).status(), ipc::Error,
                    ipc::ErrorCode::kRuntimeDirNotOwned);
  CHECK_THROWS_CODE(ipc::Server({.app = "app", .runtime_dir = foreign, .handle_signals = false}),
                    ipc::Error, ipc::ErrorCode::kRuntimeDirNotOwned);
}

}  // namespace

int main() { return coordkit::windows_test::run_all(); }

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
//
// A directory whose DACL lets others in is made through the Windows API
// (CreateDirectoryW with a security descriptor). Wine keeps no DACL: it
// turns the one given at creation into a Unix mode and reports a DACL made
// from that mode (SYSTEM, the owner's bits, Everyone for the "other" bits;
// the group bits never show, and SetSecurityInfo later changes nothing).
// So each case first reads the DACL back and requires that it grants what
// the case is about; an entry Wine drops (BUILTIN\Users) is then asserted
// as dropped under Wine, so the difference stays visible.
#include <windows.h>
// (windows.h first)
#include <aclapi.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/check.h"
#include "common/win.h"
#include "coordkit/ipc/internal/windows.h"
#include "coordkit/ipc/ipc.h"

namespace {

namespace fs = std::filesystem;
namespace ipc = coordkit::ipc;
namespace wt = coordkit::windows_test;

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

// make_dir: creates `p` with the DACL `sddl` ("U" stands for this user's
// SID), as a user or a tool could.
void make_dir(const fs::path& p, std::wstring sddl) {
  const std::wstring user = ipc::internal::user_sids().user_string;
  for (std::size_t at = sddl.find(L";U)"); at != std::wstring::npos; at = sddl.find(L";U)", at)) {
    sddl.replace(at + 1, 1, user);
    at += user.size();
  }
  PSECURITY_DESCRIPTOR sd = nullptr;
  REQUIRE(::ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl.c_str(), SDDL_REVISION_1, &sd,
                                                                 nullptr));
  SECURITY_ATTRIBUTES sa{sizeof sa, sd, FALSE};
  const BOOL made = ::CreateDirectoryW(p.wstring().c_str(), &sa);
  ::LocalFree(sd);
  REQUIRE(made);
}

// granted: the access the DACL of `p` allows the well-known SID `type`
// (0: none).
ACCESS_MASK granted(const fs::path& p, WELL_KNOWN_SID_TYPE type) {
  BYTE sid[SECURITY_MAX_SID_SIZE];
  DWORD size = sizeof sid;
  if (!::CreateWellKnownSid(type, nullptr, sid, &size)) return 0;
  PACL dacl = nullptr;
  PSECURITY_DESCRIPTOR sd = nullptr;
  if (::GetNamedSecurityInfoW(p.wstring().c_str(), SE_FILE_OBJECT, DACL_SECURITY_INFORMATION,
                              nullptr, nullptr, &dacl, nullptr, &sd) != ERROR_SUCCESS) {
    return 0;
  }
  ACCESS_MASK mask = 0;
  for (DWORD i = 0; dacl != nullptr && i < dacl->AceCount; ++i) {
    void* ace = nullptr;
    if (!::GetAce(dacl, i, &ace)) continue;
    auto* allowed = static_cast<ACCESS_ALLOWED_ACE*>(ace);
    if (allowed->Header.AceType == ACCESS_ALLOWED_ACE_TYPE &&
        ::EqualSid(reinterpret_cast<PSID>(&allowed->SidStart), sid)) {
      mask |= allowed->Mask;
    }
  }
  ::LocalFree(sd);
  return mask;
}

void refused_too_open(const fs::path& dir) {
  CHECK_THROWS_CODE(ipc::ensure_runtime_dir(ipc::resolve_runtime_dir("app", dir)), ipc::Error,
                    ipc::ErrorCode::kRuntimeDirTooOpen);
  CHECK_THROWS_CODE(ipc::check_runtime_dir(ipc::resolve_runtime_dir("app", dir)), ipc::Error,
                    ipc::ErrorCode::kRuntimeDirTooOpen);
  CHECK_THROWS_CODE(ipc::Client({.app = "app", .runtime_dir = dir}).status(), ipc::Error,
                    ipc::ErrorCode::kRuntimeDirTooOpen);
  CHECK_THROWS_CODE(ipc::Server({.app = "app", .runtime_dir = dir, .handle_signals = false}),
                    ipc::Error, ipc::ErrorCode::kRuntimeDirTooOpen);
}

COORDKIT_TEST("a runtime dir whose DACL lets others in is refused as too open") {
  wt::ScratchDir scratch;
  const fs::path base = scratch.path();

  // The control: the same check accepts a directory only this user may use.
  const fs::path mine = base / "mine";
  make_dir(mine, L"D:P(A;OICI;FA;;;U)");
  REQUIRE_EQ(granted(mine, WinWorldSid), ACCESS_MASK{0});
  CHECK(ipc::check_runtime_dir(ipc::resolve_runtime_dir("app", mine)));
  {
    ipc::Server server({.app = "app", .runtime_dir = mine, .handle_signals = false});
    CHECK(server.phase() == ipc::Phase::kStarting);
  }

  // Everyone may read it (POSIX: 0704): refused, no file created in it.
  const fs::path readable = base / "readable";
  make_dir(readable, L"D:P(A;OICI;FA;;;U)(A;OICI;FR;;;WD)");
  REQUIRE((granted(readable, WinWorldSid) & FILE_LIST_DIRECTORY) != 0);
  refused_too_open(readable);
  CHECK(fs::is_empty(readable));

  // BUILTIN\Users may read it (POSIX: group access).
  const fs::path users = base / "users";
  make_dir(users, L"D:P(A;OICI;FA;;;U)(A;OICI;FR;;;BU)");
  if (granted(users, WinBuiltinUsersSid) != 0) {
    refused_too_open(users);
  } else {
    // Wine: the group's entry became group bits of the Unix mode, which
    // its DACL never shows; the directory reads as private and is taken.
    CHECK(wt::running_under_wine());
    CHECK(ipc::check_runtime_dir(ipc::resolve_runtime_dir("app", users)));
  }
}

COORDKIT_TEST("a component above the runtime dir may be readable by others, not writable") {
  wt::ScratchDir scratch;
  const fs::path base = scratch.path();
  const std::string saved = std::getenv("LOCALAPPDATA") ? std::getenv("LOCALAPPDATA") : "";
  ::_putenv_s("COORDKIT_RUNTIME_DIR", "");

  // %LOCALAPPDATA%\coordkit readable by everyone (POSIX: 0755): fine.
  make_dir(base / "readable", L"D:P(A;OICI;FA;;;U)");
  make_dir(base / "readable" / "coordkit", L"D:P(A;OICI;FA;;;U)(A;OICI;FRFX;;;WD)");
  REQUIRE((granted(base / "readable" / "coordkit", WinWorldSid) & FILE_LIST_DIRECTORY) != 0);
  REQUIRE((granted(base / "readable" / "coordkit", WinWorldSid) & FILE_ADD_FILE) == 0);
  ::_putenv_s("LOCALAPPDATA", (base / "readable").string().c_str());
  {
    ipc::Server server({.app = "app", .handle_signals = false});
    CHECK(server.runtime_dir() == base / "readable" / "coordkit" / "app");
  }

  // Writable by everyone (POSIX: 0777): refused before anything is created
  // below it. Wine applies the umask to a directory made through the
  // Windows API (Everyone never gets write there), so the fixture makes
  // this one on the Unix side, mode 0777, which Wine reports as an
  // Everyone entry with write access.
  const fs::path writable = fixture() / "writable";
  REQUIRE(!fixture().empty());
  wt::note("Everyone may 0x" + [&] {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%lx",
                  static_cast<unsigned long>(granted(writable / "coordkit", WinWorldSid)));
    return std::string(buf);
  }() + " in writable\\coordkit");
  REQUIRE((granted(writable / "coordkit", WinWorldSid) & FILE_ADD_FILE) != 0);
  REQUIRE_EQ(granted(writable, WinWorldSid), ACCESS_MASK{0});
  ::_putenv_s("LOCALAPPDATA", writable.string().c_str());
  CHECK_THROWS_CODE(ipc::Server({.app = "app", .handle_signals = false}), ipc::Error,
                    ipc::ErrorCode::kRuntimeDirTooOpen);
  CHECK(!fs::exists(writable / "coordkit" / "app"));
  ::_putenv_s("LOCALAPPDATA", saved.c_str());
}

}  // namespace

int main() { return coordkit::windows_test::run_all(); }

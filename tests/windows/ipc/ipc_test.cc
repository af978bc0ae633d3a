// coordkit::ipc on Windows, run under Wine: the runtime directory, the
// instance lock, the status file, the shutdown file and the console control
// events, each through the real Win32 calls, with real processes
// (ipc_helper) on the other side.
//
// Guards against a false pass, case by case:
// - "seen through ReadDirectoryChangesW" runs with a 60 s poll and a 10 s
//   bound, so only the change notification can have delivered the request;
//   the poll-only case turns the notification off and still stops.
// - The status-file race counts replacements seen (both contents must turn
//   up) and reads made while the writer ran, so a writer that finished
//   before the reader started proves nothing and fails.
// - A console control event is sent only after the test has shown that it
//   has a console (CONOUT$ opens); a helper that does not handle the events
//   must die of them (STATUS_CONTROL_C_EXIT), so the graceful exit of the
//   handling helper is the handler's doing.
// - Escalation: a forged status naming a live process with the wrong
//   creation time must leave that process running; the same status with
//   the right creation time must stop it, so the check is what decides.
// Asio's headers first: they need winsock2.h before windows.h, which the
// library's headers include.
// clang-format off
#include <boost/asio/io_context.hpp>
#include <boost/asio/windows/object_handle.hpp>
// clang-format on

#include "coordkit/ipc/ipc.h"

#include <windows.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "common/check.h"
#include "common/console.h"
#include "common/win.h"
#include "coordkit/ipc/internal/names.h"
#include "coordkit/ipc/internal/windows.h"
#include "coordkit/ipc/internal/windows_lock.h"

namespace {

namespace fs = std::filesystem;
namespace ipc = coordkit::ipc;
namespace wt = coordkit::windows_test;
using namespace std::chrono_literals;

constexpr const char* kApp = "winipc";

// Proc: a helper started with CreateProcessW, its stdout and stderr
// appended to `log`; terminated and reaped on destruction if still running.
class Proc {
 public:
  Proc(const std::wstring& args, const std::wstring& log, DWORD flags = CREATE_NO_WINDOW) {
    SECURITY_ATTRIBUTES inherit{sizeof(SECURITY_ATTRIBUTES), nullptr, TRUE};
    HANDLE out = ::CreateFileW(log.c_str(), FILE_APPEND_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE,
                               &inherit, OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, nullptr);
    STARTUPINFOW si{};
    si.cb = sizeof si;
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = nullptr;
    si.hStdOutput = out;
    si.hStdError = out;
    std::wstring command = L"\"" + wt::helper(L"ipc_helper.exe") + L"\" " + args;
    PROCESS_INFORMATION pi{};
    const BOOL ok = ::CreateProcessW(nullptr, command.data(), nullptr, nullptr, TRUE, flags,
                                     nullptr, nullptr, &si, &pi);
    const DWORD err = ::GetLastError();
    ::CloseHandle(out);
    if (!ok) throw std::runtime_error("CreateProcessW failed, error " + std::to_string(err));
    ::CloseHandle(pi.hThread);
    process_ = pi.hProcess;
    pid_ = pi.dwProcessId;
  }
  Proc(const Proc&) = delete;
  Proc& operator=(const Proc&) = delete;
  ~Proc() {
    if (::WaitForSingleObject(process_, 0) != WAIT_OBJECT_0) {
      ::TerminateProcess(process_, 99);
      ::WaitForSingleObject(process_, INFINITE);
    }
    ::CloseHandle(process_);
  }
  DWORD pid() const { return pid_; }
  HANDLE handle() const { return process_; }
  // wait: the exit code once it exits within `timeout`, else nullopt.
  std::optional<DWORD> wait(std::chrono::milliseconds timeout) {
    if (::WaitForSingleObject(process_, static_cast<DWORD>(timeout.count())) != WAIT_OBJECT_0) {
      return std::nullopt;
    }
    DWORD code = 0;
    ::GetExitCodeProcess(process_, &code);
    return code;
  }
  bool running() { return ::WaitForSingleObject(process_, 0) == WAIT_TIMEOUT; }

 private:
  HANDLE process_ = nullptr;
  DWORD pid_ = 0;
};

// eventually: polls `pred` until it holds or `timeout` passes.
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 20s) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(10ms);
  }
}

std::wstring quoted(const fs::path& p) { return L"\"" + p.wstring() + L"\""; }

// serve_args: the helper's "serve" command line for runtime dir `dir`.
std::wstring serve_args(const fs::path& dir, const fs::path& result,
                        const std::wstring& flags = L"") {
  return L"serve " + quoted(dir) + L" " + quoted(result) + (flags.empty() ? L"" : L" " + flags);
}

ipc::Client client_for(const fs::path& dir) {
  return ipc::Client({.app = kApp, .runtime_dir = dir});
}

bool ready(const fs::path& dir) {
  const ipc::Status s = client_for(dir).status();
  return s.state == ipc::ServerState::kReady && s.verified;
}

std::string log_of(const fs::path& log) { return wt::read_file(log.wstring()); }

// ctrl_routine: the routine a console runs in a process to deliver an event
// (kernel32!CtrlRoutine); a thread started there in another process
// delivers the event through that process's own handler chain.
LPTHREAD_START_ROUTINE ctrl_routine() {
  return reinterpret_cast<LPTHREAD_START_ROUTINE>(
      ::GetProcAddress(::GetModuleHandleW(L"kernel32.dll"), "CtrlRoutine"));
}

bool deliver_ctrl(HANDLE process, DWORD event) {
  LPTHREAD_START_ROUTINE routine = ctrl_routine();
  if (routine == nullptr) return false;
  HANDLE thread =
      ::CreateRemoteThread(process, nullptr, 0, routine,
                           reinterpret_cast<void*>(static_cast<DWORD_PTR>(event)), 0, nullptr);
  if (thread == nullptr) return false;
  ::CloseHandle(thread);
  return true;
}

void set_env(const char* name, const std::string& value) { ::_putenv_s(name, value.c_str()); }

// ---------------------------------------------------------------------------

COORDKIT_TEST("the runtime dir is the flag, then COORDKIT_RUNTIME_DIR, then %LOCALAPPDATA%") {
  wt::ScratchDir scratch;
  const fs::path base = scratch.path();
  const std::string saved_local = std::getenv("LOCALAPPDATA") ? std::getenv("LOCALAPPDATA") : "";
  set_env("COORDKIT_RUNTIME_DIR", "");
  set_env("LOCALAPPDATA", (base / "local").string());

  const ipc::RuntimeDirLocation state = ipc::resolve_runtime_dir(kApp);
  CHECK(state.source == ipc::RuntimeDirSource::kStateDir);
  CHECK(state.path == base / "local" / "coordkit" / kApp);
  CHECK(state.trusted_base == base / "local");

  set_env("COORDKIT_RUNTIME_DIR", (base / "env").string());
  const ipc::RuntimeDirLocation env = ipc::resolve_runtime_dir(kApp);
  CHECK(env.source == ipc::RuntimeDirSource::kEnvironment);
  CHECK(env.path == base / "env");

  const ipc::RuntimeDirLocation flag = ipc::resolve_runtime_dir(kApp, base / "flag");
  CHECK(flag.source == ipc::RuntimeDirSource::kExplicit);
  CHECK(flag.path == base / "flag");
  set_env("COORDKIT_RUNTIME_DIR", "");

  // Created with every missing component, and private: its DACL grants
  // access to this user (and at most SYSTEM) alone. (Wine keeps no DACL of
  // its own: it reports one made from the Unix mode, SYSTEM and the owner,
  // not protected; Windows reports the one entry we set.)
  ipc::ensure_runtime_dir(state);
  REQUIRE(ipc::check_runtime_dir(state));
  PACL dacl = nullptr;
  PSID owner = nullptr;
  PSECURITY_DESCRIPTOR sd = nullptr;
  const DWORD rc = ::GetNamedSecurityInfoW(state.path.wstring().c_str(), SE_FILE_OBJECT,
                                           DACL_SECURITY_INFORMATION | OWNER_SECURITY_INFORMATION,
                                           &owner, nullptr, &dacl, nullptr, &sd);
  REQUIRE_EQ(rc, static_cast<DWORD>(ERROR_SUCCESS));
  const auto& sids = ipc::internal::user_sids();
  CHECK(owner != nullptr && ::EqualSid(owner, const_cast<BYTE*>(sids.user.data())));
  REQUIRE(dacl != nullptr);
  REQUIRE(dacl->AceCount >= 1);
  bool user_allowed = false;
  PSID system = nullptr;
  REQUIRE(::ConvertStringSidToSidW(L"S-1-5-18", &system));
  for (DWORD i = 0; i < dacl->AceCount; ++i) {
    void* ace = nullptr;
    REQUIRE(::GetAce(dacl, i, &ace));
    auto* allowed = static_cast<ACCESS_ALLOWED_ACE*>(ace);
    if (allowed->Header.AceType != ACCESS_ALLOWED_ACE_TYPE) continue;
    PSID who = reinterpret_cast<PSID>(&allowed->SidStart);
    const bool is_user = ::EqualSid(who, const_cast<BYTE*>(sids.user.data())) != 0;
    user_allowed = user_allowed || is_user;
    CHECK((is_user || ::EqualSid(who, system)));
  }
  CHECK(user_allowed);
  ::LocalFree(system);
  ::LocalFree(sd);

  // A missing directory is not created by a check.
  CHECK(!ipc::check_runtime_dir(ipc::resolve_runtime_dir(kApp, base / "missing")));
  CHECK(!fs::exists(base / "missing"));
  // A file where the directory should be.
  wt::write_file((base / "file").wstring(), "x");
  CHECK_THROWS_CODE(ipc::ensure_runtime_dir(ipc::resolve_runtime_dir(kApp, base / "file")),
                    ipc::Error, ipc::ErrorCode::kRuntimeDirNotDirectory);
  set_env("LOCALAPPDATA", saved_local);
}

COORDKIT_TEST("a second server is refused; the lock is free once the holder is killed") {
  wt::ScratchDir scratch;
  const fs::path dir = fs::path(scratch.path()) / "rt";
  const fs::path log = fs::path(scratch.path()) / "helper.log";
  Proc holder(serve_args(dir, fs::path(scratch.path()) / "result"), log.wstring());
  REQUIRE(eventually([&] { return ready(dir); }));

  CHECK_THROWS_CODE(ipc::Server({.app = kApp, .runtime_dir = dir, .handle_signals = false}),
                    ipc::Error, ipc::ErrorCode::kAlreadyRunning);
  // A second helper process is refused the same way (exit code 3).
  Proc second(serve_args(dir, fs::path(scratch.path()) / "result2"), log.wstring());
  CHECK(second.wait(30s) == std::optional<DWORD>(3));
  // The refused attempts left the holder's files alone.
  const ipc::Status before = client_for(dir).status();
  CHECK(before.state == ipc::ServerState::kReady);
  REQUIRE(before.record.has_value());
  CHECK_EQ(before.record->pid, static_cast<std::int64_t>(holder.pid()));

  REQUIRE(::TerminateProcess(holder.handle(), 9));
  REQUIRE(holder.wait(10s).has_value());
  // Killed: no status cleanup ran, so the file stays, but nobody holds the
  // lock: the client calls it stale and a new server starts.
  CHECK(eventually([&] { return client_for(dir).status().state == ipc::ServerState::kStale; }));
  std::optional<ipc::Server> next;
  CHECK(eventually([&] {
    try {
      next.emplace(ipc::ServerOptions{.app = kApp, .runtime_dir = dir, .handle_signals = false});
      return true;
    } catch (const ipc::Error& e) {
      if (e.code() != ipc::ErrorCode::kAlreadyRunning) throw;
      return false;
    }
  }));
  REQUIRE(next.has_value());
  const ipc::Status mine = client_for(dir).status();
  CHECK(mine.state == ipc::ServerState::kStarting);
  CHECK(mine.verified);
  REQUIRE(mine.record.has_value());
  CHECK_EQ(mine.record->pid, static_cast<std::int64_t>(::GetCurrentProcessId()));
}

COORDKIT_TEST("the status file is never torn or missing while another process replaces it") {
  wt::ScratchDir scratch;
  const fs::path dir = fs::path(scratch.path()) / "rt";
  const fs::path log = fs::path(scratch.path()) / "helper.log";
  const fs::path status = dir / ipc::internal::status_file_name(kApp);
  // The first version exists before the race starts.
  {
    Proc first(L"replace-status " + quoted(dir) + L" 1", log.wstring());
    REQUIRE(first.wait(30s) == std::optional<DWORD>(0));
  }
  Proc writer(L"replace-status " + quoted(dir) + L" 3000", log.wstring());
  int reads = 0, bad = 0, missing = 0, ready_seen = 0, starting_seen = 0;
  std::string last_version;
  int versions_seen = 0;
  while (writer.running()) {
    std::optional<ipc::internal::SmallFile> file;
    try {
      file = ipc::internal::read_small_file(status, ipc::kMaxStatusFileSize);
    } catch (const ipc::Error& e) {
      wt::note(std::string("read failed: ") + e.what());
      ++bad;
      continue;
    }
    ++reads;
    if (!file) {
      ++missing;
      continue;
    }
    const std::optional<ipc::StatusRecord> record = ipc::parse_status(file->content);
    if (!record) {
      ++bad;
      continue;
    }
    if (record->state_word == "ready") ++ready_seen;
    if (record->state_word == "starting") ++starting_seen;
    if (record->version != last_version) {
      ++versions_seen;
      last_version = record->version;
    }
  }
  CHECK(writer.wait(0ms) == std::optional<DWORD>(0));
  wt::note("reads " + std::to_string(reads) + ", versions seen " + std::to_string(versions_seen));
  CHECK_EQ(missing, 0);
  CHECK_EQ(bad, 0);
  // The race really happened: many reads while the writer ran, and the
  // reader saw the content change under it more than once.
  CHECK(reads >= 50);
  CHECK(versions_seen >= 3);
  CHECK(ready_seen > 0);
  CHECK(starting_seen > 0);
  if (!log_of(log).empty()) wt::note("helper log: " + log_of(log));
}

COORDKIT_TEST("a shutdown file stops a server; seen through ReadDirectoryChangesW") {
  wt::ScratchDir scratch;
  const fs::path dir = fs::path(scratch.path()) / "rt";
  std::optional<ipc::ShutdownRequest> seen;
  // A 60 s poll: within the 10 s bound only the notification can deliver.
  ipc::Server server(
      {.app = kApp, .runtime_dir = dir, .poll_interval = 60s, .handle_signals = false});
  REQUIRE(server.using_inotify());
  server.set_ready();
  const auto start = std::chrono::steady_clock::now();
  client_for(dir).request_shutdown(ipc::ShutdownMode::kFast, 1234ms);
  seen = server.wait_for_shutdown(10s);
  REQUIRE(seen.has_value());
  wt::note("seen after " +
           std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - start)
                              .count()) +
           " ms");
  CHECK(seen->source == ipc::ShutdownSource::kFile);
  CHECK(seen->mode == ipc::ShutdownMode::kFast);
  CHECK(seen->deadline == 1234ms);
  // Acknowledged: draining published, the request removed.
  CHECK(client_for(dir).status().state == ipc::ServerState::kDraining);
  CHECK(eventually([&] { return !fs::exists(dir / ipc::internal::shutdown_file_name(kApp)); }));
}

COORDKIT_TEST("with the notification off, the poll alone stops a helper server") {
  wt::ScratchDir scratch;
  const fs::path dir = fs::path(scratch.path()) / "rt";
  const fs::path result = fs::path(scratch.path()) / "result";
  const fs::path log = fs::path(scratch.path()) / "helper.log";
  Proc server(serve_args(dir, result, L"poll-only"), log.wstring());
  REQUIRE(eventually([&] { return ready(dir); }));
  const ipc::StopResult r = client_for(dir).stop({.deadline = 20s});
  CHECK(r.outcome == ipc::StopOutcome::kStopped);
  CHECK(r.request_written);
  CHECK(server.wait(10s) == std::optional<DWORD>(0));
  CHECK_EQ(wt::read_file(result.wstring()), std::string("source=file mode=graceful\n"));
  CHECK(client_for(dir).status().state == ipc::ServerState::kStopped);
  if (!log_of(log).empty()) wt::note("helper log: " + log_of(log));
}

COORDKIT_TEST("foreign, stale and malformed shutdown files are refused and removed") {
  wt::ScratchDir scratch;
  const fs::path dir = fs::path(scratch.path()) / "rt";
  const fs::path request = dir / ipc::internal::shutdown_file_name(kApp);
  ipc::ensure_runtime_dir(ipc::resolve_runtime_dir(kApp, dir));
  // A valid-looking request from an earlier run (another token) before start.
  wt::write_file(request.wstring(), ipc::format_shutdown_file({.token = std::string(32, 'f')}));

  std::mutex mutex;
  std::vector<ipc::RejectReason> rejected;
  auto rejections = [&] {
    std::lock_guard<std::mutex> guard(mutex);
    return rejected;
  };
  ipc::Server server({.app = kApp,
                      .runtime_dir = dir,
                      .poll_interval = 100ms,
                      .handle_signals = false,
                      .on_event = [&](const ipc::Event& e) {
                        if (e.kind != ipc::EventKind::kShutdownFileRejected || !e.reason) return;
                        std::lock_guard<std::mutex> guard(mutex);
                        rejected.push_back(*e.reason);
                      }});
  // The stale file was judged at start-up, before the constructor returned.
  REQUIRE_EQ(rejections().size(), std::size_t{1});
  CHECK(rejections()[0] == ipc::RejectReason::kWrongToken);
  CHECK(!fs::exists(request));
  CHECK(!server.shutdown_request().has_value());

  auto expect_rejected = [&](ipc::RejectReason reason, const char* what) {
    const bool got = eventually([&] {
      const auto r = rejections();
      return !r.empty() && r.back() == reason;
    });
    if (!got) wt::note(std::string("not rejected as expected: ") + what);
    CHECK(got);
    CHECK(eventually([&] { return !fs::exists(request); }));
    CHECK(!server.shutdown_request().has_value());
  };
  wt::write_file(request.wstring(), "{\"token\":");  // never completed
  expect_rejected(ipc::RejectReason::kMalformed, "malformed");
  fs::create_directory(request);
  expect_rejected(ipc::RejectReason::kNotRegularFile, "directory");
  // The right token, but a second name for the file (CreateHardLinkW).
  const fs::path other = fs::path(scratch.path()) / "other-name";
  wt::write_file(other.wstring(), ipc::format_shutdown_file({.token = server.instance_token()}));
  REQUIRE(::CreateHardLinkW(request.wstring().c_str(), other.wstring().c_str(), nullptr));
  expect_rejected(ipc::RejectReason::kHardLinked, "hard link");
  CHECK(fs::exists(other));  // only the name in the runtime dir goes

  // And the real thing still works after all that.
  client_for(dir).request_shutdown(ipc::ShutdownMode::kGraceful, 0ms);
  const std::optional<ipc::ShutdownRequest> seen = server.wait_for_shutdown(10s);
  REQUIRE(seen.has_value());
  CHECK(seen->source == ipc::ShutdownSource::kFile);
}

COORDKIT_TEST("Ctrl+C enters the graceful path; without the handler it kills") {
  REQUIRE(wt::own_console());  // the positive control: this check sees a console
  wt::ScratchDir scratch;
  const fs::path log = fs::path(scratch.path()) / "helper.log";
  const fs::path dir_a = fs::path(scratch.path()) / "a";
  const fs::path dir_b = fs::path(scratch.path()) / "b";
  // Both share this console (no CREATE_NO_WINDOW, no new process group).
  Proc handled(serve_args(dir_a, fs::path(scratch.path()) / "result-a"), log.wstring(), 0);
  Proc unhandled(serve_args(dir_b, fs::path(scratch.path()) / "result-b", L"no-signals"),
                 log.wstring(), 0);
  REQUIRE(eventually([&] { return ready(dir_a) && ready(dir_b); }));
  // Ctrl+C goes to every process of the console: this one ignores it.
  REQUIRE(::SetConsoleCtrlHandler(nullptr, TRUE));
  REQUIRE(::GenerateConsoleCtrlEvent(CTRL_C_EVENT, 0));
  CHECK(handled.wait(20s) == std::optional<DWORD>(0));
  CHECK_EQ(wt::read_file((fs::path(scratch.path()) / "result-a").wstring()),
           std::string("source=signal mode=graceful\n"));
  // Killed by the event: it exits long before its 60 s wait ends, and
  // without a result. (Windows reports STATUS_CONTROL_C_EXIT; Wine 8's
  // default handler exits with 0.)
  const std::optional<DWORD> code = unhandled.wait(20s);
  REQUIRE(code.has_value());
  CHECK((*code == STATUS_CONTROL_C_EXIT || *code == 0));
  CHECK(!fs::exists(fs::path(scratch.path()) / "result-b"));
  ::SetConsoleCtrlHandler(nullptr, FALSE);
  if (!log_of(log).empty()) wt::note("helper log: " + log_of(log));
}

COORDKIT_TEST("Ctrl+Break from GenerateConsoleCtrlEvent to the server's own process group") {
  REQUIRE(wt::own_console());
  wt::ScratchDir scratch;
  const fs::path log = fs::path(scratch.path()) / "helper.log";
  const fs::path dir = fs::path(scratch.path()) / "rt";
  const fs::path result = fs::path(scratch.path()) / "result";
  // This console, a process group of its own (Ctrl+C is off there, Break is not).
  Proc server(serve_args(dir, result), log.wstring(), CREATE_NEW_PROCESS_GROUP);
  REQUIRE(eventually([&] { return ready(dir); }));
  if (::GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, server.pid())) {
    CHECK(server.wait(20s) == std::optional<DWORD>(0));
    CHECK_EQ(wt::read_file(result.wstring()), std::string("source=signal mode=graceful\n"));
  } else {
    // Wine 8 sends no Ctrl+Break at all: the call fails with
    // ERROR_INVALID_HANDLE (the next case delivers Break as the console
    // does). Then nothing may have reached the server: it still serves and
    // stops through its file.
    const DWORD err = ::GetLastError();
    wt::note("GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT) failed, error " + std::to_string(err));
    CHECK_EQ(err, static_cast<DWORD>(ERROR_INVALID_HANDLE));
    CHECK(server.running());
    CHECK(ready(dir));
    CHECK(client_for(dir).stop({.deadline = 20s}).outcome == ipc::StopOutcome::kStopped);
    CHECK(server.wait(20s) == std::optional<DWORD>(0));
    CHECK_EQ(wt::read_file(result.wstring()), std::string("source=file mode=graceful\n"));
  }
}

COORDKIT_TEST("Ctrl+Break and console close enter the graceful path") {
  wt::ScratchDir scratch;
  const fs::path log = fs::path(scratch.path()) / "helper.log";
  struct Case {
    DWORD event;
    const wchar_t* name;
  };
  for (const Case c : {Case{CTRL_BREAK_EVENT, L"break"}, Case{CTRL_CLOSE_EVENT, L"close"}}) {
    const fs::path dir = fs::path(scratch.path()) / c.name;
    const fs::path result = fs::path(scratch.path()) / (std::wstring(c.name) + L"-result");
    // CREATE_NO_WINDOW: a console of its own, no window (what a background
    // server gets). Not CREATE_NEW_PROCESS_GROUP: Wine 8 then delivers no
    // event at all, not even Ctrl+Break.
    Proc server(serve_args(dir, result), log.wstring(), CREATE_NO_WINDOW);
    REQUIRE(eventually([&] { return ready(dir); }));
    // Windows sends Ctrl+Break to a process group of a shared console with
    // GenerateConsoleCtrlEvent; Wine 8 refuses that (ERROR_INVALID_HANDLE),
    // and no API sends a close. The event goes the way the console itself
    // delivers one: a thread at kernel32!CtrlRoutine in the target, which
    // runs the target's handler chain.
    REQUIRE(deliver_ctrl(server.handle(), c.event));
    CHECK(server.wait(20s) == std::optional<DWORD>(0));
    CHECK_EQ(wt::read_file(result.wstring()), std::string("source=signal mode=graceful\n"));
  }
  // Without the handler the same delivery ends the process at once.
  const fs::path dir = fs::path(scratch.path()) / "unhandled";
  Proc unhandled(serve_args(dir, fs::path(scratch.path()) / "unhandled-result", L"no-signals"),
                 log.wstring(), CREATE_NO_WINDOW);
  REQUIRE(eventually([&] { return ready(dir); }));
  REQUIRE(deliver_ctrl(unhandled.handle(), CTRL_BREAK_EVENT));
  CHECK(unhandled.wait(20s).has_value());
  CHECK(!fs::exists(fs::path(scratch.path()) / "unhandled-result"));
  if (!log_of(log).empty()) wt::note("helper log: " + log_of(log));
}

// lost_server: a server in this process with a fast poll, ready.
ipc::ServerOptions lost_options(const fs::path& dir) {
  return {.app = kApp, .runtime_dir = dir, .poll_interval = 100ms, .handle_signals = false};
}

// second_server_starts: whether another Server can take the lock now (it
// is destroyed at once).
bool second_server_starts(const fs::path& dir) {
  try {
    ipc::Server second(lost_options(dir));
    return true;
  } catch (const ipc::Error& e) {
    if (e.code() != ipc::ErrorCode::kAlreadyRunning) throw;
    return false;
  }
}

// Guards against a false pass: every "signalled" check is preceded by the
// same wait timing out on the same handle, and the Asio wait is shown not
// to complete before the request is written.
COORDKIT_TEST("shutdown_handle_dup: a handle of the caller's own, waitable, never settable") {
  wt::ScratchDir scratch;
  const fs::path dir = fs::path(scratch.path()) / "rt";
  std::optional<ipc::Server> server(std::in_place, lost_options(dir));
  const HANDLE own = reinterpret_cast<HANDLE>(server->shutdown_native_handle());
  ipc::UniqueHandle dup = server->shutdown_handle_dup();
  REQUIRE(dup.valid());
  CHECK(dup.get() != own);
  CHECK_EQ(::WaitForSingleObject(dup.get(), 0), static_cast<DWORD>(WAIT_TIMEOUT));
  // Wait-only: a holder can neither fake nor hide a shutdown.
  CHECK(!::SetEvent(dup.get()));
  CHECK_EQ(::GetLastError(), static_cast<DWORD>(ERROR_ACCESS_DENIED));
  CHECK(!::ResetEvent(dup.get()));
  DWORD flags = 0;
  REQUIRE(::GetHandleInformation(dup.get(), &flags));
  CHECK((flags & HANDLE_FLAG_INHERIT) == 0);
  // Closing a duplicate leaves the Server's own handle alone.
  server->shutdown_handle_dup().reset();
  CHECK_EQ(::WaitForSingleObject(own, 0), static_cast<DWORD>(WAIT_TIMEOUT));

  // An io_context waits on it through windows::object_handle, which owns
  // (and closes) the duplicate it is given.
  boost::asio::io_context io;
  boost::asio::windows::object_handle waiter(io, server->shutdown_handle_dup().release());
  bool woke = false;
  waiter.async_wait([&](boost::system::error_code ec) { woke = !ec; });
  io.run_for(300ms);
  CHECK(!woke);
  client_for(dir).request_shutdown(ipc::ShutdownMode::kGraceful, 0ms);
  io.restart();
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (!woke && std::chrono::steady_clock::now() < until) io.run_for(50ms);
  CHECK(woke);
  CHECK(server->shutdown_request().has_value());
  // Manual reset: it stays signalled, for every holder.
  CHECK_EQ(::WaitForSingleObject(dup.get(), 0), static_cast<DWORD>(WAIT_OBJECT_0));
  CHECK_EQ(::WaitForSingleObject(dup.get(), 0), static_cast<DWORD>(WAIT_OBJECT_0));

  // A Server destroyed without any request still wakes its waiters, and the
  // caller's handle stays valid after it.
  wt::ScratchDir other;
  std::optional<ipc::Server> quiet(std::in_place, lost_options(fs::path(other.path()) / "rt"));
  ipc::UniqueHandle left = quiet->shutdown_handle_dup();
  CHECK_EQ(::WaitForSingleObject(left.get(), 0), static_cast<DWORD>(WAIT_TIMEOUT));
  quiet.reset();
  CHECK_EQ(::WaitForSingleObject(left.get(), 0), static_cast<DWORD>(WAIT_OBJECT_0));
}

// As on Linux: once the lock file's name no longer names the file the
// server holds locked, a second server can start beside it, so the first
// one stops (kRuntimeDirLost) instead of going on sure it is alone.
//
// Guards against a false pass: before the change a second server is
// refused and the server has no request; after it, a client's probe finds
// no lock held on the name (the change really broke the exclusion) and a
// new server starts, so the stop is the check's doing.
COORDKIT_TEST("a lock file renamed away or replaced under a running server stops it") {
  for (const bool replace : {false, true}) {
    wt::note(replace ? "replaced" : "renamed away");
    wt::ScratchDir scratch;
    const fs::path dir = fs::path(scratch.path()) / "rt";
    const fs::path lock = dir / ipc::internal::lock_file_name(kApp);
    const fs::path status = dir / ipc::internal::status_file_name(kApp);
    std::optional<ipc::Server> server(std::in_place, lost_options(dir));
    server->set_ready();
    CHECK(!second_server_starts(dir));
    CHECK(!server->wait_for_shutdown(500ms).has_value());

    REQUIRE(::MoveFileExW(lock.wstring().c_str(), (dir / "moved.lock").wstring().c_str(), 0));
    if (replace) wt::write_file(lock.wstring(), "");
    const std::optional<ipc::ShutdownRequest> seen = server->wait_for_shutdown(10s);
    REQUIRE(seen.has_value());
    CHECK(seen->source == ipc::ShutdownSource::kRuntimeDirLost);
    CHECK(seen->mode == ipc::ShutdownMode::kGraceful);
    // No lock excludes anyone now: a client calls the server gone.
    CHECK(client_for(dir).status().state == ipc::ServerState::kStale);
    server.reset();
    // Lost: the status file is left alone (it may be the next server's).
    CHECK(fs::exists(status));
    CHECK(second_server_starts(dir));
  }
}

// DeleteFileW on the held lock file (it shares delete). Windows then either
// removes the name at once (POSIX semantics, the default for DeleteFileW
// since Windows 10 1903) or leaves it delete-pending, unopenable: either
// way the name no longer opens as the held file and the server stops, as on
// Linux. Wine defers the whole deletion to the last close: the name still
// opens as the very same file (same volume and index; even
// FileStandardInfo.DeletePending reads 0 on the held handle), so the lock
// still excludes and nothing is lost yet.
//
// The test branches on what the name does after the delete, not on
// running_under_wine(), and checks in each branch that there are never two
// servers each sure it is alone: either the server stops, or a second one
// is refused. Under Wine the deferred branch is required (so the branch
// taken is known), and the name must be gone once the server has closed
// its handle.
COORDKIT_TEST("a lock file deleted under a running server: it stops, or the lock still excludes") {
  wt::ScratchDir scratch;
  const fs::path dir = fs::path(scratch.path()) / "rt";
  const fs::path lock = dir / ipc::internal::lock_file_name(kApp);
  std::optional<ipc::Server> server(std::in_place, lost_options(dir));
  server->set_ready();
  const std::optional<ipc::internal::FileKey> before = ipc::internal::key_of(lock);
  REQUIRE(before.has_value());
  REQUIRE(::DeleteFileW(lock.wstring().c_str()));
  const std::optional<ipc::internal::FileKey> after = ipc::internal::key_of(lock);
  if (after == before) {
    wt::note("the deleted lock file still opens as the same file (deletion deferred)");
    CHECK(wt::running_under_wine());
    CHECK(!server->wait_for_shutdown(1s).has_value());
    CHECK(!second_server_starts(dir));
    server.reset();
    CHECK(!fs::exists(lock));
    CHECK(second_server_starts(dir));
  } else {
    wt::note("the deleted lock file's name is gone or unopenable");
    CHECK(!wt::running_under_wine());
    const std::optional<ipc::ShutdownRequest> seen = server->wait_for_shutdown(10s);
    REQUIRE(seen.has_value());
    CHECK(seen->source == ipc::ShutdownSource::kRuntimeDirLost);
  }
}

// The runtime dir renamed away (and a new one made at its path) under a
// running server. Wine renames it (a Unix rename): the path no longer names
// the held directory and the server stops, as on Linux. Windows refuses to
// rename a directory while a file inside it is open (the lock file is):
// the server then goes on and still excludes others. The branch follows
// what MoveFileExW did; under Wine the rename must have happened.
COORDKIT_TEST("a runtime dir renamed or replaced under a running server stops it") {
  wt::ScratchDir scratch;
  const fs::path dir = fs::path(scratch.path()) / "rt";
  const fs::path moved = fs::path(scratch.path()) / "rt-moved";
  std::optional<ipc::Server> server(std::in_place, lost_options(dir));
  server->set_ready();
  CHECK(!server->wait_for_shutdown(500ms).has_value());
  if (::MoveFileExW(dir.wstring().c_str(), moved.wstring().c_str(), 0)) {
    ipc::ensure_runtime_dir(ipc::resolve_runtime_dir(kApp, dir));  // a new one at the path
    const std::optional<ipc::ShutdownRequest> seen = server->wait_for_shutdown(10s);
    REQUIRE(seen.has_value());
    CHECK(seen->source == ipc::ShutdownSource::kRuntimeDirLost);
    // The files stayed with the held directory; the new one is empty and
    // takes a new server.
    CHECK(fs::exists(moved / ipc::internal::status_file_name(kApp)));
    CHECK(second_server_starts(dir));
  } else {
    const DWORD err = ::GetLastError();
    wt::note("renaming the runtime dir failed, error " + std::to_string(err));
    CHECK(!wt::running_under_wine());
    CHECK((err == ERROR_ACCESS_DENIED || err == ERROR_SHARING_VIOLATION));
    CHECK(!server->wait_for_shutdown(1s).has_value());
    CHECK(!second_server_starts(dir));
  }
}

COORDKIT_TEST("stop escalates against the verified server only, never a reused PID") {
  wt::ScratchDir scratch;
  const fs::path log = fs::path(scratch.path()) / "helper.log";
  {
    // A server that ignores the request: stopped by TerminateProcess.
    const fs::path dir = fs::path(scratch.path()) / "deaf";
    Proc deaf(serve_args(dir, fs::path(scratch.path()) / "deaf-result", L"deaf no-signals"),
              log.wstring());
    REQUIRE(eventually([&] { return ready(dir); }));
    const ipc::StopResult r = client_for(dir).stop({.deadline = 500ms});
    CHECK(r.outcome == ipc::StopOutcome::kTerminated);
    CHECK(r.request_written);
    CHECK(deaf.wait(10s) == std::optional<DWORD>(143));
  }
  // A forged status: the lock is held (by this test) and the status names
  // a live process, but not with its creation time: a PID reused by
  // someone else. It is never verified and never terminated.
  const fs::path dir = fs::path(scratch.path()) / "forged";
  Proc victim(L"sleep 60000", log.wstring());
  ipc::internal::WinDir wdir = ipc::internal::open_runtime_dir(dir, {}, /*create=*/true);
  std::optional<ipc::internal::InstanceLock> lock =
      ipc::internal::InstanceLock::try_acquire(wdir, ipc::internal::lock_file_name(kApp));
  REQUIRE(lock.has_value());
  std::optional<ipc::internal::VerifiedProcess> handle;
  HANDLE query = ::OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, victim.pid());
  REQUIRE(query != nullptr);
  const std::uint64_t created = ipc::internal::creation_time(query);
  ::CloseHandle(query);
  REQUIRE(created != 0);
  auto publish = [&](std::uint64_t start_time) {
    ipc::StatusRecord record;
    record.app = kApp;
    record.pid = victim.pid();
    record.start_time = start_time;
    record.token = std::string(32, 'b');
    record.set_phase(ipc::Phase::kReady);
    const std::string name = ipc::internal::status_file_name(kApp);
    ipc::internal::write_file_atomically(wdir, name, name + ".tmp", ipc::format_status(record));
  };
  publish(created + 1);
  ipc::Status s = client_for(dir).status();
  CHECK(s.state == ipc::ServerState::kStarting);
  CHECK(!s.verified);
  ipc::StopResult r =
      client_for(dir).stop({.deadline = 300ms, .terminate_grace = 300ms, .kill_wait = 300ms});
  CHECK(r.outcome == ipc::StopOutcome::kTimedOut);
  CHECK(!r.escalated());
  CHECK(victim.running());
  // The same status with the right creation time is verified: stop acts.
  publish(created);
  s = client_for(dir).status();
  CHECK(s.state == ipc::ServerState::kReady);
  CHECK(s.verified);
  r = client_for(dir).stop({.deadline = 300ms, .terminate_grace = 300ms, .kill_wait = 300ms});
  CHECK(victim.wait(10s) == std::optional<DWORD>(143));
  // (The lock is this test's, so the client still sees a holder: timed out,
  // but the verified process was the one terminated.)
  CHECK(r.outcome == ipc::StopOutcome::kTimedOut);
}

}  // namespace

int main() { return coordkit::windows_test::run_all(); }

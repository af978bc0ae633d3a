// spawn_child: the child the spawn tests start, built twice: as a console
// program (spawn_child.exe) and for the GUI subsystem (spawn_child_gui.exe,
// -mwindows). Runs its arguments as a list of actions, in order:
//   report <file> [env:<name>...]  writes what it sees (below) to <file>
//   leak <file> <handle>           writes leaked=1 to <file> if <handle> is
//                                  an open handle to a file named marker.txt
//   print <text> / eprint <text>   <text> and a newline to stdout / stderr
//   echo                           copies stdin to stdout until EOF
//   flood <bytes>                  <bytes> to stdout and to stderr, interleaved
//   sleep <ms>                     sleeps
//   exit <code>                    exits with <code>
//   ctrl-c <file>                  writes group=<0|1> (the new-process-group
//                                  flag of its process parameters: Ctrl+C
//                                  disabled), group_id=<n> and pid=<n> to
//                                  <file>; then, if it has a console, sends
//                                  Ctrl+C to every process of that console
//                                  (GenerateConsoleCtrlEvent(CTRL_C_EVENT,
//                                  0)), sleeps 1 s, and adds survived=1
//   outlive <file>                 starts itself detached (coordkit::spawn)
//                                  as "wait-parent <pid> <file>", releases it
//                                  and exits 0; that grandchild waits for this
//                                  process to end, then writes outlived=1
// The report: window=<0|1> (GetConsoleWindow), attached=<0|1> (a console is
// attached: GetConsoleOutputCP is not 0), stdin=/stdout=/stderr=<null|
// console|disk|pipe|char|other>, cwd=, env.<name>=<value or (unset)>.
#include <windows.h>
// (windows.h first)
#include <winternl.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/win.h"
#include "coordkit/spawn/spawn.h"

namespace wt = coordkit::windows_test;

namespace {

void write_handle(HANDLE h, const std::string& text) {
  DWORD n = 0;
  if (h != nullptr && h != INVALID_HANDLE_VALUE) {
    ::WriteFile(h, text.data(), static_cast<DWORD>(text.size()), &n, nullptr);
  }
}

std::string kind(DWORD which) {
  const HANDLE h = ::GetStdHandle(which);
  if (h == nullptr || h == INVALID_HANDLE_VALUE) return "null";
  DWORD mode = 0;
  if (::GetConsoleMode(h, &mode)) return "console";
  switch (::GetFileType(h)) {
    case FILE_TYPE_DISK:
      return "disk";
    case FILE_TYPE_PIPE:
      return "pipe";
    case FILE_TYPE_CHAR:
      return "char";
    default:
      return "other";
  }
}

void write_report(const std::wstring& path, const std::string& text) {
  const std::wstring tmp = path + L".tmp";
  wt::write_file(tmp, text);
  ::MoveFileExW(tmp.c_str(), path.c_str(), MOVEFILE_REPLACE_EXISTING);
}

std::string report(const std::vector<std::string>& names) {
  std::string out;
  out += "window=" + std::string(::GetConsoleWindow() != nullptr ? "1" : "0") + "\n";
  out += "attached=" + std::string(::GetConsoleOutputCP() != 0 ? "1" : "0") + "\n";
  out += "stdin=" + kind(STD_INPUT_HANDLE) + "\n";
  out += "stdout=" + kind(STD_OUTPUT_HANDLE) + "\n";
  out += "stderr=" + kind(STD_ERROR_HANDLE) + "\n";
  wchar_t cwd[MAX_PATH * 4];
  const DWORD n = ::GetCurrentDirectoryW(MAX_PATH * 4, cwd);
  out += "cwd=" + wt::narrow(std::wstring_view(cwd, n)) + "\n";
  for (const std::string& name : names) {
    wchar_t value[32768];
    const DWORD len = ::GetEnvironmentVariableW(wt::widen(name).c_str(), value, 32768);
    out += "env." + name + "=" +
           (len == 0 && ::GetLastError() == ERROR_ENVVAR_NOT_FOUND
                ? std::string("(unset)")
                : wt::narrow(std::wstring_view(value, len))) +
           "\n";
  }
  return out;
}

// ProcessParametersHead: the start of RTL_USER_PROCESS_PARAMETERS, which
// mingw's winternl.h leaves opaque. ConsoleFlags bit 0 is what
// CREATE_NEW_PROCESS_GROUP sets ("the new process has CTRL+C disabled");
// ProcessGroupId sits at 0x408 on x64 when Length covers it.
struct ProcessParametersHead {
  ULONG maximum_length, length, flags, debug_flags;
  HANDLE console_handle;
  ULONG console_flags;
};
constexpr std::size_t kProcessGroupIdOffset = 0x408;

std::string group_report() {
  // The PEB through NtQueryInformationProcess (ntdll, looked up: mingw
  // links no ntdll import library by default).
  using Query = NTSTATUS(NTAPI*)(HANDLE, PROCESSINFOCLASS, PVOID, ULONG, PULONG);
  const auto query = reinterpret_cast<Query>(
      ::GetProcAddress(::GetModuleHandleW(L"ntdll.dll"), "NtQueryInformationProcess"));
  PROCESS_BASIC_INFORMATION basic{};
  if (query == nullptr ||
      query(::GetCurrentProcess(), ProcessBasicInformation, &basic, sizeof basic, nullptr) != 0) {
    return "group=unknown\n";
  }
  const PEB* peb = basic.PebBaseAddress;
  const auto* raw = reinterpret_cast<const unsigned char*>(peb->ProcessParameters);
  const auto* head = reinterpret_cast<const ProcessParametersHead*>(raw);
  ULONG group_id = 0;
  if (head->length >= kProcessGroupIdOffset + sizeof(ULONG)) {
    std::memcpy(&group_id, raw + kProcessGroupIdOffset, sizeof group_id);
  }
  return "group=" + std::to_string(head->console_flags & 1) +
         "\ngroup_id=" + std::to_string(group_id) +
         "\npid=" + std::to_string(::GetCurrentProcessId()) + "\n";
}

bool leaked(HANDLE h) {
  wchar_t path[MAX_PATH * 4];
  const DWORD n = ::GetFinalPathNameByHandleW(h, path, MAX_PATH * 4, FILE_NAME_NORMALIZED);
  if (n == 0 || n >= MAX_PATH * 4) return false;
  return std::wstring_view(path, n).ends_with(L"marker.txt");
}

}  // namespace

int wmain(int argc, wchar_t** argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.push_back(wt::narrow(argv[i]));
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& action = args[i];
    auto next = [&]() -> std::string { return i + 1 < args.size() ? args[++i] : std::string(); };
    if (action == "report") {
      const std::wstring file = wt::widen(next());
      std::vector<std::string> names;
      while (i + 1 < args.size() && args[i + 1].rfind("env:", 0) == 0)
        names.push_back(args[++i].substr(4));
      write_report(file, report(names));
    } else if (action == "leak") {
      const std::wstring file = wt::widen(next());
      const auto value = static_cast<std::uintptr_t>(std::strtoull(next().c_str(), nullptr, 10));
      write_report(file, std::string("leaked=") +
                             (leaked(reinterpret_cast<HANDLE>(value)) ? "1" : "0") + "\n");
    } else if (action == "ctrl-c") {
      const std::wstring file = wt::widen(next());
      std::string text = group_report();
      write_report(file, text);
      if (::GetConsoleOutputCP() != 0) {
        // No handler of ours: Ctrl+C, where it is enabled, ends this
        // process at once (the default handler).
        if (!::GenerateConsoleCtrlEvent(CTRL_C_EVENT, 0)) return 6;
        ::Sleep(1000);
        write_report(file, text + "survived=1\n");
      }
    } else if (action == "print") {
      write_handle(::GetStdHandle(STD_OUTPUT_HANDLE), next() + "\n");
    } else if (action == "eprint") {
      write_handle(::GetStdHandle(STD_ERROR_HANDLE), next() + "\n");
    } else if (action == "echo") {
      char buf[4096];
      DWORD n = 0;
      while (::ReadFile(::GetStdHandle(STD_INPUT_HANDLE), buf, sizeof buf, &n, nullptr) && n > 0) {
        write_handle(::GetStdHandle(STD_OUTPUT_HANDLE), std::string(buf, n));
      }
    } else if (action == "flood") {
      const std::size_t total = std::strtoull(next().c_str(), nullptr, 10);
      const std::string chunk(8192, 'x');
      for (std::size_t done = 0; done < total; done += chunk.size()) {
        const std::size_t n = std::min(chunk.size(), total - done);
        write_handle(::GetStdHandle(STD_OUTPUT_HANDLE), chunk.substr(0, n));
        write_handle(::GetStdHandle(STD_ERROR_HANDLE), chunk.substr(0, n));
      }
    } else if (action == "sleep") {
      ::Sleep(static_cast<DWORD>(std::strtoul(next().c_str(), nullptr, 10)));
    } else if (action == "exit") {
      return std::atoi(next().c_str());
    } else if (action == "outlive") {
      const std::string file = next();
      coordkit::spawn::Child grandchild = coordkit::spawn::spawn({
          .executable = std::filesystem::path(wt::helper(L"spawn_child.exe")),
          .args = {"wait-parent", std::to_string(::GetCurrentProcessId()), file},
          .detached = true,
      });
      write_handle(::GetStdHandle(STD_OUTPUT_HANDLE), std::to_string(grandchild.pid()) + "\n");
      grandchild.release();
      return 0;
    } else if (action == "wait-parent") {
      const DWORD parent = static_cast<DWORD>(std::strtoul(next().c_str(), nullptr, 10));
      const std::wstring file = wt::widen(next());
      if (HANDLE h = ::OpenProcess(SYNCHRONIZE, FALSE, parent)) {
        const DWORD r = ::WaitForSingleObject(h, 30000);
        ::CloseHandle(h);
        if (r != WAIT_OBJECT_0) return 4;
      }
      ::Sleep(200);
      write_report(file, "outlived=1\n");
      return 0;
    } else {
      return 99;
    }
  }
  return 0;
}

// Test support for the Windows suite: UTF-8/UTF-16 conversion, the paths of
// helper programs built beside the test, scratch directories, and a child
// started with plain CreateProcessW (independent of coordkit::spawn, so a
// spawn test can compare against it). Windows only; every call is a real
// Win32 call, run under Wine by ctest.
//
// Example:
//
//   coordkit::windows_test::ScratchDir dir;
//   std::wstring out = dir.path() + L"\\out.txt";
//   DWORD code = coordkit::windows_test::run_raw(
//       L"\"" + coordkit::windows_test::helper(L"argv_echo.exe") + L"\" a b", out);

#ifndef COORDKIT_TESTS_WINDOWS_COMMON_WIN_H_
#define COORDKIT_TESTS_WINDOWS_COMMON_WIN_H_

#include <windows.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace coordkit::windows_test {

// widen / narrow: UTF-8 <-> UTF-16, strict (invalid input throws).
inline std::wstring widen(std::string_view utf8) {
  if (utf8.empty()) return {};
  const int n = ::MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, utf8.data(),
                                      static_cast<int>(utf8.size()), nullptr, 0);
  if (n <= 0) throw std::runtime_error("widen: invalid UTF-8");
  std::wstring out(static_cast<std::size_t>(n), L'\0');
  ::MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, utf8.data(), static_cast<int>(utf8.size()),
                        out.data(), n);
  return out;
}

inline std::string narrow(std::wstring_view utf16) {
  if (utf16.empty()) return {};
  const int n = ::WideCharToMultiByte(CP_UTF8, WC_ERR_INVALID_CHARS, utf16.data(),
                                      static_cast<int>(utf16.size()), nullptr, 0, nullptr, nullptr);
  if (n <= 0) throw std::runtime_error("narrow: invalid UTF-16");
  std::string out(static_cast<std::size_t>(n), '\0');
  ::WideCharToMultiByte(CP_UTF8, WC_ERR_INVALID_CHARS, utf16.data(), static_cast<int>(utf16.size()),
                        out.data(), n, nullptr, nullptr);
  return out;
}

// hex: every byte as two lower-case hex digits (a byte-exact, printable form).
inline std::string hex(std::string_view bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

// running_under_wine: true under Wine (ntdll exports wine_get_version), so
// a test can name a documented Wine difference instead of hiding it.
inline bool running_under_wine() {
  const HMODULE ntdll = ::GetModuleHandleW(L"ntdll.dll");
  return ntdll != nullptr && ::GetProcAddress(ntdll, "wine_get_version") != nullptr;
}

// parse_report: the key=value lines of a helper's report, by key (a line
// without '=' is skipped; a repeated key keeps its last value).
inline std::map<std::string, std::string> parse_report(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const std::size_t eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

// exe_dir: the directory of this executable (where the suite's helpers are).
inline std::wstring exe_dir() {
  std::wstring path(32768, L'\0');
  const DWORD n = ::GetModuleFileNameW(nullptr, path.data(), static_cast<DWORD>(path.size()));
  if (n == 0) throw std::runtime_error("GetModuleFileNameW failed");
  path.resize(n);
  return path.substr(0, path.find_last_of(L"\\/"));
}

// helper: the full path of a helper program built beside this test.
inline std::wstring helper(std::wstring_view name) {
  return exe_dir() + L"\\" + std::wstring(name);
}

// ScratchDir: a fresh directory under %TEMP%, removed with its contents on
// destruction. Not thread-safe.
class ScratchDir {
 public:
  ScratchDir() {
    static std::atomic<int> counter{0};
    wchar_t temp[MAX_PATH + 1];
    const DWORD n = ::GetTempPathW(MAX_PATH + 1, temp);
    if (n == 0) throw std::runtime_error("GetTempPathW failed");
    path_ = std::wstring(temp, n) + L"coordkit-test-" + std::to_wstring(::GetCurrentProcessId()) +
            L"-" + std::to_wstring(counter++);
    std::filesystem::remove_all(path_);
    if (!::CreateDirectoryW(path_.c_str(), nullptr)) {
      throw std::runtime_error("CreateDirectoryW failed");
    }
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }

  const std::wstring& path() const { return path_; }
  std::wstring file(std::wstring_view name) const { return path_ + L"\\" + std::wstring(name); }

 private:
  std::wstring path_;
};

// read_file: the whole file as bytes ("" when it does not exist).
inline std::string read_file(const std::wstring& path) {
  std::ifstream in(std::filesystem::path(path), std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// write_file: replaces the file's contents with `bytes`.
inline void write_file(const std::wstring& path, std::string_view bytes) {
  std::ofstream out(std::filesystem::path(path), std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// kNoExit: what run_raw returns when the child had to be killed.
inline constexpr DWORD kNoExit = 0xFFFFFFFF;

// run_raw: starts `command_line` with CreateProcessW (the first token names
// the program), stdout and stderr appended to the file `out` (created if
// missing), stdin from NUL, and `flags` as creation flags; waits up to
// `timeout_ms` and returns the exit code, or kNoExit after killing a child
// that did not exit in time. An empty `out` passes no handles at all (the
// child gets whatever its subsystem and `flags` give it: the parent's
// console, a new one, or none). Throws when CreateProcessW fails.
inline DWORD run_raw(std::wstring command_line, const std::wstring& out, DWORD flags = 0,
                     DWORD timeout_ms = 60000) {
  SECURITY_ATTRIBUTES inherit{sizeof(SECURITY_ATTRIBUTES), nullptr, TRUE};
  HANDLE file = INVALID_HANDLE_VALUE;
  HANDLE null = INVALID_HANDLE_VALUE;
  STARTUPINFOW si{};
  si.cb = sizeof(si);
  if (!out.empty()) {
    file = ::CreateFileW(out.c_str(), FILE_APPEND_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE,
                         &inherit, OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, nullptr);
    if (file == INVALID_HANDLE_VALUE) {
      throw std::runtime_error("run_raw: cannot open the output file");
    }
    null = ::CreateFileW(L"NUL", GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, &inherit,
                         OPEN_EXISTING, 0, nullptr);
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = null;
    si.hStdOutput = file;
    si.hStdError = file;
  }
  PROCESS_INFORMATION pi{};
  const BOOL ok = ::CreateProcessW(nullptr, command_line.data(), nullptr, nullptr,
                                   out.empty() ? FALSE : TRUE, flags, nullptr, nullptr, &si, &pi);
  const DWORD error = ::GetLastError();
  if (file != INVALID_HANDLE_VALUE) ::CloseHandle(file);
  if (null != INVALID_HANDLE_VALUE) ::CloseHandle(null);
  if (!ok)
    throw std::runtime_error("run_raw: CreateProcessW failed, error " + std::to_string(error));
  ::CloseHandle(pi.hThread);
  DWORD code = kNoExit;
  if (::WaitForSingleObject(pi.hProcess, timeout_ms) == WAIT_OBJECT_0) {
    ::GetExitCodeProcess(pi.hProcess, &code);
  } else {
    ::TerminateProcess(pi.hProcess, kNoExit);
    ::WaitForSingleObject(pi.hProcess, INFINITE);
  }
  ::CloseHandle(pi.hProcess);
  return code;
}

}  // namespace coordkit::windows_test

#endif  // COORDKIT_TESTS_WINDOWS_COMMON_WIN_H_

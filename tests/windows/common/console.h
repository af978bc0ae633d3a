// Console support for the Windows suite: whether this process has a
// console, giving it one, and putting its standard handles back afterwards.
// Shared by the console, subsystem, ipc and demo tests.
//
// Under ctest (and Wine without a terminal) a test starts without any
// console, so every check of "no console" or "no window" must first show,
// with the same calls, that a console is seen where there is one:
// fresh_console() gives the process a real one and says whether it is.
//
// Example:
//
//   const coordkit::windows_test::StdHandles saved;  // restored at scope end
//   REQUIRE(coordkit::windows_test::fresh_console());
//   REQUIRE(coordkit::windows_test::has_console());

#ifndef COORDKIT_TESTS_WINDOWS_COMMON_CONSOLE_H_
#define COORDKIT_TESTS_WINDOWS_COMMON_CONSOLE_H_

#include <windows.h>

namespace coordkit::windows_test {

// has_console: whether this process can open its console's screen buffer
// (CONOUT$). The check that works under Wine as on Windows: Wine's
// GetConsoleWindow() is NULL even with a console unless a display driver
// (here the null driver) runs.
inline bool has_console() {
  HANDLE h = ::CreateFileW(L"CONOUT$", GENERIC_READ | GENERIC_WRITE,
                           FILE_SHARE_READ | FILE_SHARE_WRITE, nullptr, OPEN_EXISTING, 0, nullptr);
  if (h == INVALID_HANDLE_VALUE) return false;
  ::CloseHandle(h);
  return true;
}

// own_console: keeps this process's console, or gives it one of its own
// (as Windows gives a console program started from Explorer). True when it
// then has one.
inline bool own_console() {
  if (has_console()) return true;
  ::FreeConsole();
  return ::AllocConsole() && has_console();
}

// fresh_console: drops any console and allocates a new one; true when it is
// real: it has a window (GetConsoleWindow) and standard error is a console
// handle (GetConsoleMode succeeds on it).
inline bool fresh_console() {
  ::FreeConsole();
  if (!::AllocConsole() || ::GetConsoleWindow() == nullptr) return false;
  DWORD mode = 0;
  return ::GetConsoleMode(::GetStdHandle(STD_ERROR_HANDLE), &mode) != 0;
}

// StdHandles: saves this process's standard handles; on destruction drops
// any console and restores them, so a console case leaves the test's
// output where ctest reads it. Not copyable.
class StdHandles {
 public:
  StdHandles()
      : in_(::GetStdHandle(STD_INPUT_HANDLE)),
        out_(::GetStdHandle(STD_OUTPUT_HANDLE)),
        err_(::GetStdHandle(STD_ERROR_HANDLE)) {}
  StdHandles(const StdHandles&) = delete;
  StdHandles& operator=(const StdHandles&) = delete;
  ~StdHandles() {
    ::FreeConsole();
    ::SetStdHandle(STD_INPUT_HANDLE, in_);
    ::SetStdHandle(STD_OUTPUT_HANDLE, out_);
    ::SetStdHandle(STD_ERROR_HANDLE, err_);
  }

 private:
  HANDLE in_, out_, err_;
};

}  // namespace coordkit::windows_test

#endif  // COORDKIT_TESTS_WINDOWS_COMMON_CONSOLE_H_

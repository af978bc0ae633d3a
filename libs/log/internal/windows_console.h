// Writing log lines to a Windows standard handle without dying. Not API.
// Windows only (console_sink.h includes it under _WIN32).
//
// A handle that is a console (GetConsoleMode succeeds) gets WriteConsoleW:
// the line, already pure ASCII, is widened byte for byte, so the console
// shows exactly those characters whatever its code page (1252, 437, 850,
// 65001) and no code page conversion can fail or mangle a multi-byte
// sequence. Any other handle (a file, a pipe, NUL) gets plain WriteFile of
// the same bytes, which every ANSI and OEM code page reads alike. WriteFile
// on a console handle is never used; WriteConsoleW fails on a redirected
// handle (the reason for the GetConsoleMode test).

#ifndef COORDKIT_LOG_INTERNAL_WINDOWS_CONSOLE_H_
#define COORDKIT_LOG_INTERNAL_WINDOWS_CONSOLE_H_

#include <windows.h>

#include <cstddef>
#include <iterator>

namespace coordkit::log::internal {

// write_handle_line: writes data[0, n) (ASCII) to `handle`; returns 0 or the
// GetLastError() value of the call that failed (ERROR_INVALID_HANDLE for a
// null or invalid handle: no console at all, a GUI-subsystem process).
inline int write_handle_line(HANDLE handle, const char* data, std::size_t n) noexcept {
  if (handle == nullptr || handle == INVALID_HANDLE_VALUE) return ERROR_INVALID_HANDLE;
  DWORD mode = 0;
  if (::GetConsoleMode(handle, &mode)) {
    // A real console: UTF-16, in chunks of a stack buffer (no allocation).
    wchar_t wide[1024];
    while (n > 0) {
      const std::size_t chunk = n < std::size(wide) ? n : std::size(wide);
      for (std::size_t i = 0; i < chunk; ++i) {
        wide[i] = static_cast<wchar_t>(static_cast<unsigned char>(data[i]));
      }
      const wchar_t* p = wide;
      std::size_t left = chunk;
      while (left > 0) {
        DWORD written = 0;
        if (!::WriteConsoleW(handle, p, static_cast<DWORD>(left), &written, nullptr)) {
          return static_cast<int>(::GetLastError());
        }
        if (written == 0) return ERROR_WRITE_FAULT;
        p += written;
        left -= written;
      }
      data += chunk;
      n -= chunk;
    }
    return 0;
  }
  while (n > 0) {
    const DWORD want = n > 0x40000000 ? 0x40000000 : static_cast<DWORD>(n);
    DWORD written = 0;
    if (!::WriteFile(handle, data, want, &written, nullptr)) {
      return static_cast<int>(::GetLastError());
    }
    if (written == 0) return ERROR_WRITE_FAULT;
    data += written;
    n -= written;
  }
  return 0;
}

}  // namespace coordkit::log::internal

#endif  // COORDKIT_LOG_INTERNAL_WINDOWS_CONSOLE_H_

// log_lines: a helper for the console test, built twice: as a console
// program (log_lines.exe) and for the GUI subsystem (log_lines_gui.exe,
// -mwindows, started without any console or standard handle). Writes the
// lines of lines.h through a default ConsoleSink (standard error), text then
// JSON, then writes a report to the file named by argv[1]:
//   stderr=<null|handle> console=<0|1> cp=<output code page> written=N failed=M error=E
#include <windows.h>

#include <cstdio>
#include <string>

#include "coordkit/log/console_sink.h"
#include "log/lines.h"

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  namespace lg = coordkit::log;
  const HANDLE err = ::GetStdHandle(STD_ERROR_HANDLE);
  DWORD mode = 0;
  const bool console =
      err != nullptr && err != INVALID_HANDLE_VALUE && ::GetConsoleMode(err, &mode);
  lg::ConsoleSink text({.format = lg::Format::kText});
  lg::ConsoleSink json({.format = lg::Format::kJson});
  coordkit::windows_test::write_lines(text);
  coordkit::windows_test::write_lines(json);
  const lg::SinkStats a = text.stats();
  const lg::SinkStats b = json.stats();
  char report[256];
  const int n = std::snprintf(
      report, sizeof report, "stderr=%s console=%d cp=%u written=%llu failed=%llu error=%d\n",
      err == nullptr ? "null" : "handle", console ? 1 : 0, ::GetConsoleOutputCP(),
      static_cast<unsigned long long>(a.lines_written + b.lines_written),
      static_cast<unsigned long long>(a.failed_writes + b.failed_writes),
      a.last_os_error != 0 ? a.last_os_error : b.last_os_error);
  const HANDLE file = ::CreateFileA(argv[1], GENERIC_WRITE, FILE_SHARE_READ, nullptr, CREATE_ALWAYS,
                                    FILE_ATTRIBUTE_NORMAL, nullptr);
  if (file == INVALID_HANDLE_VALUE) return 3;
  DWORD written = 0;
  ::WriteFile(file, report, static_cast<DWORD>(n), &written, nullptr);
  ::CloseHandle(file);
  return 0;
}

// ConsoleSink on Windows, under Wine: the lines of lines.h come out as the
// very bytes the Linux build writes (log_lines.linux, made at build time by
// linux_lines.cc) on a redirected file, a pipe and a real console, under
// code pages 1252, 437, 850 and 65001; no console, an invalid handle and a
// pipe without reader are survived and counted.
//
// Guards against a false pass: the console cases first require that the
// console is real (AllocConsole gave a window, GetConsoleMode succeeds on
// CONOUT$) and that each code page took effect (GetConsoleOutputCP, also as
// the child reports it); they read the characters back from the screen
// buffer (ReadConsoleOutputCharacterW), and a control case shows that the
// same console does show raw UTF-8 differently under 437 and 65001, so
// identical ASCII output is a result, not an accident of the emulator.
#include "coordkit/log/console_sink.h"

#include <windows.h>

#include <sstream>
#include <string>
#include <vector>

#include "common/check.h"
#include "common/console.h"
#include "common/win.h"
#include "log/lines.h"

namespace lg = coordkit::log;
namespace wt = coordkit::windows_test;

namespace {

constexpr unsigned kCodePages[] = {1252, 437, 850, 65001};

std::string linux_bytes() {
  const std::string golden = wt::read_file(wt::helper(L"log_lines.linux"));
  REQUIRE(!golden.empty());
  return golden;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

// write_both: text then JSON lines through two sinks on `handle`.
lg::SinkStats write_both(HANDLE handle) {
  lg::ConsoleSink text({.handle = handle, .format = lg::Format::kText});
  lg::ConsoleSink json({.handle = handle, .format = lg::Format::kJson});
  wt::write_lines(text);
  wt::write_lines(json);
  lg::SinkStats a = text.stats();
  const lg::SinkStats b = json.stats();
  a.lines_written += b.lines_written;
  a.failed_writes += b.failed_writes;
  a.lines_dropped += b.lines_dropped;
  if (a.last_os_error == 0) a.last_os_error = b.last_os_error;
  return a;
}

// Console: a fresh console of this process, its screen buffer wide enough
// for every line; REQUIREs that it is real.
class Console {
 public:
  Console() {
    REQUIRE(wt::fresh_console());
    out_ = ::CreateFileW(L"CONOUT$", GENERIC_READ | GENERIC_WRITE,
                         FILE_SHARE_READ | FILE_SHARE_WRITE, nullptr, OPEN_EXISTING, 0, nullptr);
    REQUIRE(out_ != INVALID_HANDLE_VALUE);
    DWORD mode = 0;
    REQUIRE(::GetConsoleMode(out_, &mode));
    REQUIRE(::SetConsoleScreenBufferSize(out_, COORD{kWidth, kHeight}));
  }
  ~Console() { ::CloseHandle(out_); }

  HANDLE out() const { return out_; }

  void code_page(unsigned cp) {
    REQUIRE(::SetConsoleOutputCP(cp));
    REQUIRE(::SetConsoleCP(cp));
    REQUIRE_EQ(::GetConsoleOutputCP(), cp);
  }

  void clear() {
    DWORD n = 0;
    REQUIRE(::FillConsoleOutputCharacterW(out_, L' ', DWORD{kWidth} * kHeight, COORD{0, 0}, &n));
    REQUIRE(::SetConsoleCursorPosition(out_, COORD{0, 0}));
  }

  // rows: the first `count` rows of the screen, trailing blanks removed, as
  // UTF-8.
  std::vector<std::string> rows(int count) const {
    std::vector<std::string> out;
    for (int y = 0; y < count; ++y) {
      std::wstring row(kWidth, L'\0');
      DWORD n = 0;
      ::ReadConsoleOutputCharacterW(out_, row.data(), kWidth, COORD{0, static_cast<SHORT>(y)}, &n);
      row.resize(n);
      while (!row.empty() && (row.back() == L' ' || row.back() == L'\0')) row.pop_back();
      out.push_back(wt::narrow(row));
    }
    return out;
  }

 private:
  static constexpr SHORT kWidth = 400;
  static constexpr SHORT kHeight = 100;
  HANDLE out_ = INVALID_HANDLE_VALUE;
};

std::string report_of(const std::wstring& path) {
  std::string report = wt::read_file(path);
  while (!report.empty() && (report.back() == '\n' || report.back() == '\r')) report.pop_back();
  return report;
}

}  // namespace

COORDKIT_TEST("a redirected file gets, with WriteFile, the bytes the Linux build writes") {
  const std::string golden = linux_bytes();
  wt::ScratchDir dir;
  const std::wstring path = dir.file(L"lines.log");
  const HANDLE file = ::CreateFileW(path.c_str(), GENERIC_WRITE, FILE_SHARE_READ, nullptr,
                                    CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, nullptr);
  REQUIRE(file != INVALID_HANDLE_VALUE);
  DWORD mode = 0;
  CHECK(!::GetConsoleMode(file, &mode));  // not a console: the WriteFile path
  const lg::SinkStats stats = write_both(file);
  ::CloseHandle(file);
  CHECK_EQ(stats.lines_written, 2 * wt::kLineCount);
  CHECK_EQ(stats.failed_writes, std::uint64_t{0});
  CHECK_EQ(wt::hex(wt::read_file(path)), wt::hex(golden));
}

COORDKIT_TEST("a pipe gets the same bytes") {
  const std::string golden = linux_bytes();
  HANDLE read_end = nullptr;
  HANDLE write_end = nullptr;
  REQUIRE(::CreatePipe(&read_end, &write_end, nullptr, 1 << 16));
  const lg::SinkStats stats = write_both(write_end);
  ::CloseHandle(write_end);
  std::string got;
  char buf[4096];
  DWORD n = 0;
  while (::ReadFile(read_end, buf, sizeof buf, &n, nullptr) && n > 0) got.append(buf, n);
  ::CloseHandle(read_end);
  CHECK_EQ(stats.lines_written, 2 * wt::kLineCount);
  CHECK_EQ(wt::hex(got), wt::hex(golden));
}

COORDKIT_TEST("no console, an invalid handle and a pipe without reader are survived and counted") {
  const wt::StdHandles saved;
  ::FreeConsole();
  ::SetStdHandle(STD_ERROR_HANDLE, nullptr);
  REQUIRE(::GetStdHandle(STD_ERROR_HANDLE) == nullptr);
  lg::ConsoleSink none;  // standard error: there is none
  wt::write_lines(none);
  CHECK_EQ(none.stats().failed_writes, std::uint64_t{wt::kLineCount});
  CHECK_EQ(none.stats().lines_dropped, std::uint64_t{wt::kLineCount});
  CHECK_EQ(none.stats().last_os_error, ERROR_INVALID_HANDLE);

  lg::ConsoleSink invalid({.handle = INVALID_HANDLE_VALUE});
  wt::write_lines(invalid);
  CHECK_EQ(invalid.stats().failed_writes, std::uint64_t{wt::kLineCount});
  CHECK_EQ(invalid.stats().last_os_error, ERROR_INVALID_HANDLE);

  HANDLE read_end = nullptr;
  HANDLE write_end = nullptr;
  REQUIRE(::CreatePipe(&read_end, &write_end, nullptr, 0));
  ::CloseHandle(read_end);
  lg::ConsoleSink broken({.handle = write_end});
  wt::write_lines(broken);
  ::CloseHandle(write_end);
  CHECK_EQ(broken.stats().failed_writes, std::uint64_t{wt::kLineCount});
  CHECK_EQ(broken.stats().lines_written, std::uint64_t{0});
  CHECK_EQ(broken.stats().last_os_error, ERROR_NO_DATA);
}

COORDKIT_TEST(
    "under code pages 1252, 437, 850 and 65001 a child's redirected stderr holds the Linux bytes") {
  const std::string golden = linux_bytes();
  const wt::StdHandles saved;
  Console console;
  for (unsigned cp : kCodePages) {
    wt::note("code page " + std::to_string(cp));
    console.code_page(cp);
    wt::ScratchDir dir;
    const std::wstring out = dir.file(L"stderr.log");
    const std::wstring report = dir.file(L"report.txt");
    // The child shares this console (so its code page) but its stderr is
    // the file: the WriteFile path under each console code page.
    CHECK_EQ(wt::run_raw(L"\"" + wt::helper(L"log_lines.exe") + L"\" \"" + report + L"\"", out),
             DWORD{0});
    CHECK_EQ(report_of(report),
             "stderr=handle console=0 cp=" + std::to_string(cp) + " written=12 failed=0 error=0");
    CHECK_EQ(wt::hex(wt::read_file(out)), wt::hex(golden));
  }
}

COORDKIT_TEST("on a real console the screen shows the Linux lines under every code page") {
  const std::vector<std::string> golden = split_lines(linux_bytes());
  REQUIRE_EQ(golden.size(), 2 * wt::kLineCount);
  const wt::StdHandles saved;
  Console console;
  for (unsigned cp : kCodePages) {
    wt::note("code page " + std::to_string(cp));
    console.code_page(cp);
    console.clear();
    wt::ScratchDir dir;
    const std::wstring report = dir.file(L"report.txt");
    // No handles passed: the child's stderr is this console.
    CHECK_EQ(wt::run_raw(L"\"" + wt::helper(L"log_lines.exe") + L"\" \"" + report + L"\"", L""),
             DWORD{0});
    CHECK_EQ(report_of(report),
             "stderr=handle console=1 cp=" + std::to_string(cp) + " written=12 failed=0 error=0");
    const std::vector<std::string> screen = console.rows(static_cast<int>(golden.size()));
    for (std::size_t i = 0; i < golden.size(); ++i) CHECK_EQ(screen[i], golden[i]);

    // And a sink of this process on CONOUT$ (WriteConsoleW) does the same.
    console.clear();
    const lg::SinkStats stats = write_both(console.out());
    CHECK_EQ(stats.lines_written, 2 * wt::kLineCount);
    const std::vector<std::string> again = console.rows(static_cast<int>(golden.size()));
    for (std::size_t i = 0; i < golden.size(); ++i) CHECK_EQ(again[i], golden[i]);
  }
}

COORDKIT_TEST("control: this console does show raw UTF-8 differently under 437 and 65001") {
  const wt::StdHandles saved;
  Console console;
  const char raw[] = "caf\xc3\xa9";
  std::vector<std::string> seen;
  for (unsigned cp : {437u, 65001u}) {
    console.code_page(cp);
    console.clear();
    DWORD n = 0;
    REQUIRE(::WriteConsoleA(console.out(), raw, 5, &n, nullptr));
    seen.push_back(console.rows(1)[0]);
  }
  CHECK(seen[0] != seen[1]);
  CHECK_EQ(seen[1], std::string("caf\xc3\xa9"));
  CHECK_EQ(seen[0], std::string("caf\xe2\x94\x9c\xe2\x8c\x90"));  // 437: U+251C U+2310
}

COORDKIT_TEST("a GUI-subsystem process without any standard handle logs without failing") {
  const wt::StdHandles saved;
  // A parent without console and without standard handles (as Explorer
  // starts programs): the child has nothing to inherit. Wine, like Windows,
  // would otherwise copy this process's standard handles into the child.
  ::FreeConsole();
  ::SetStdHandle(STD_INPUT_HANDLE, nullptr);
  ::SetStdHandle(STD_OUTPUT_HANDLE, nullptr);
  ::SetStdHandle(STD_ERROR_HANDLE, nullptr);
  wt::ScratchDir dir;
  const std::wstring report = dir.file(L"report.txt");
  CHECK_EQ(wt::run_raw(L"\"" + wt::helper(L"log_lines_gui.exe") + L"\" \"" + report + L"\"", L""),
           DWORD{0});
  const std::string got = report_of(report);
  CHECK(got.rfind("stderr=null console=0 ", 0) == 0);
  CHECK(got.find(" written=0 failed=12 error=" + std::to_string(ERROR_INVALID_HANDLE)) !=
        std::string::npos);
  wt::note(got);
}

int main() { return coordkit::windows_test::run_all(); }

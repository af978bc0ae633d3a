// Windows argument quoting, end to end: a command line built by
// windows_command_line() starts a real child with CreateProcessW, and the
// child's C runtime (wmain's argv) and CommandLineToArgvW must both give
// back exactly the arguments we meant, byte for byte.
#include "coordkit/spawn/internal/windows_command_line.h"

#include <windows.h>

#include <sstream>
#include <string>
#include <vector>

#include "common/check.h"
#include "common/win.h"

namespace internal = coordkit::spawn::internal;
namespace wt = coordkit::windows_test;

namespace {

struct Echoed {
  std::vector<std::string> crt;
  std::vector<std::string> w32;
  bool ended = false;
};

Echoed parse(const std::string& text) {
  Echoed echoed;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("crt ", 0) == 0) echoed.crt.push_back(line.substr(4));
    if (line.rfind("w32 ", 0) == 0) echoed.w32.push_back(line.substr(4));
    if (line == "end") echoed.ended = true;
  }
  return echoed;
}

void round_trip(const std::vector<std::string>& args) {
  wt::ScratchDir dir;
  std::vector<std::wstring> wide;
  for (const std::string& arg : args) wide.push_back(wt::widen(arg));
  const std::wstring line =
      internal::windows_command_line<wchar_t>(wt::helper(L"argv_echo.exe"), wide);
  const std::wstring out = dir.file(L"out.txt");
  CHECK_EQ(wt::run_raw(line, out), DWORD{0});
  const Echoed echoed = parse(wt::read_file(out));
  REQUIRE(echoed.ended);
  CHECK_EQ(echoed.crt.size(), args.size());
  CHECK_EQ(echoed.w32.size(), args.size());
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string want = wt::hex(args[i]);
    CHECK_EQ(i < echoed.crt.size() ? echoed.crt[i] : "(missing)", want);
    CHECK_EQ(i < echoed.w32.size() ? echoed.w32[i] : "(missing)", want);
  }
}

}  // namespace

COORDKIT_TEST("plain arguments pass unquoted and come back as they were") {
  round_trip({"alpha", "beta", "--flag=value", "C:\\dir\\file.txt"});
}

COORDKIT_TEST("spaces, tabs, newlines and empty arguments come back verbatim") {
  round_trip({"", "a b", "  leading", "trailing  ", "tab\there", "new\nline", "v\vtab", ""});
}

COORDKIT_TEST("quotes and backslashes in every position come back verbatim") {
  round_trip({"\"", "a\"b", "\\", "\\\\", "a\\", "a\\\\", "\\\"", "a\\\"b", "a\\\\\"b",
              "\"quoted\"", "dir\\with space\\", "\\\\server\\share\\", "x\\\\\\\"y"});
}

COORDKIT_TEST("non-ASCII arguments survive the UTF-16 command line") {
  round_trip({"\xc3\xbc\x62\x65r", "\xf0\x9f\x9a\x80 rocket", "\xe2\x82\xac 5"});
}

// The control: the same child does split a naively joined line, so the
// cases above pass only because the quoting is right.
COORDKIT_TEST("the echo helper really parses: a naive line splits 'a b' in two") {
  wt::ScratchDir dir;
  const std::wstring out = dir.file(L"out.txt");
  CHECK_EQ(wt::run_raw(L"\"" + wt::helper(L"argv_echo.exe") + L"\" a b \"c\\\"d\"", out), DWORD{0});
  const Echoed echoed = parse(wt::read_file(out));
  REQUIRE(echoed.ended);
  REQUIRE_EQ(echoed.w32.size(), std::size_t{3});
  CHECK_EQ(echoed.w32[0], wt::hex("a"));
  CHECK_EQ(echoed.w32[1], wt::hex("b"));
  CHECK_EQ(echoed.w32[2], wt::hex("c\"d"));
  CHECK(echoed.crt == echoed.w32);
}

COORDKIT_TEST("a program name with a quote is refused before anything starts") {
  CHECK_THROWS_CODE(internal::windows_command_line<wchar_t>(L"bad\"name.exe", {}),
                    coordkit::spawn::Error, coordkit::spawn::ErrorCode::kInvalidArgument);
}

int main() { return coordkit::windows_test::run_all(); }

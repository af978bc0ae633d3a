// argv_echo: a helper for the spawn tests. Prints each argument after
// argv[0] twice, as the C runtime's wmain() received it ("crt <hex>") and
// as CommandLineToArgvW parses GetCommandLineW() ("w32 <hex>"), each as
// the hex of its UTF-8 bytes, so the test compares bytes, not a rendering.
// windows.h first: shellapi.h needs its types.
// clang-format off
#include <windows.h>
#include <shellapi.h>
// clang-format on

#include <string>

#include "common/win.h"

namespace wt = coordkit::windows_test;

namespace {

void print(const std::string& line) {
  const HANDLE out = ::GetStdHandle(STD_OUTPUT_HANDLE);
  DWORD written = 0;
  const std::string text = line + "\n";
  ::WriteFile(out, text.data(), static_cast<DWORD>(text.size()), &written, nullptr);
}

}  // namespace

int wmain(int argc, wchar_t** argv) {
  for (int i = 1; i < argc; ++i) print("crt " + wt::hex(wt::narrow(argv[i])));
  int n = 0;
  wchar_t** parsed = ::CommandLineToArgvW(::GetCommandLineW(), &n);
  if (parsed == nullptr) return 2;
  for (int i = 1; i < n; ++i) print("w32 " + wt::hex(wt::narrow(parsed[i])));
  ::LocalFree(parsed);
  print("end");
  return 0;
}

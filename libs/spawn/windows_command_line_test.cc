// The Windows command-line quoting (a pure function, tested on every
// platform): each argument must come back verbatim from CommandLineToArgvW.
#include "coordkit/spawn/internal/windows_command_line.h"

#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <string>
#include <vector>

namespace internal = coordkit::spawn::internal;

namespace {

// parse_like_windows: the argv[1..] parsing rules of CommandLineToArgvW /
// the MS C runtime (2008+), for a round trip: 2n backslashes + '"' -> n
// backslashes and a quote toggle; 2n+1 backslashes + '"' -> n and a
// literal '"'; other backslashes are literal; "" inside quotes is a
// literal '"'.
std::vector<std::string> parse_like_windows(const std::string& args) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < args.size()) {
    while (i < args.size() && (args[i] == ' ' || args[i] == '\t')) ++i;
    if (i >= args.size()) break;
    std::string arg;
    bool quoted = false;
    for (; i < args.size(); ++i) {
      char c = args[i];
      if (!quoted && (c == ' ' || c == '\t')) break;
      if (c == '\\') {
        std::size_t n = 0;
        while (i < args.size() && args[i] == '\\') ++n, ++i;
        if (i < args.size() && args[i] == '"') {
          arg.append(n / 2, '\\');
          if (n % 2 == 1) {
            arg.push_back('"');
          } else {
            quoted = !quoted;
          }
        } else {
          arg.append(n, '\\');
          --i;
        }
      } else if (c == '"') {
        if (quoted && i + 1 < args.size() && args[i + 1] == '"') {
          arg.push_back('"');
          ++i;
        } else {
          quoted = !quoted;
        }
      } else {
        arg.push_back(c);
      }
    }
    out.push_back(arg);
  }
  return out;
}

}  // namespace

TEST_CASE("Windows quoting leaves simple arguments alone and quotes the rest exactly",
          "[windows]") {
  auto [arg, quoted] = GENERATE(table<std::string, std::string>({
      {"plain", "plain"},
      {"C:\\path\\file.txt", "C:\\path\\file.txt"},
      {"", "\"\""},
      {"two words", "\"two words\""},
      {"tab\there", "\"tab\there\""},
      {"say \"hi\"", "\"say \\\"hi\\\"\""},
      {"\"", "\"\\\"\""},
      {"trailing\\", "trailing\\"},
      {"trailing space\\", "\"trailing space\\\\\""},
      {"a\\\"b", "\"a\\\\\\\"b\""},
      {"a\\\\b c", "\"a\\\\b c\""},
  }));
  std::string line;
  internal::append_windows_argument(std::string_view(arg), line);
  CHECK(line == quoted);
}

TEST_CASE("a Windows command line round-trips every argument verbatim", "[windows]") {
  const std::vector<std::string> args = {"plain",      "",
                                         "two words",  "\"",
                                         "\\\"",       "\\\\\"",
                                         "a\\\\\\b",   "end\\\\",
                                         "sp ace\\\\", "\"quoted\"",
                                         "'single'",   "\t",
                                         "a\"b\"c",    "\xc3\xa9t\xc3\xa9 utf8"};
  std::string line =
      internal::windows_command_line(std::string_view("C:\\Program Files\\x.exe"), args);
  REQUIRE(line.rfind("\"C:\\Program Files\\x.exe\" ", 0) == 0);
  CHECK(parse_like_windows(line.substr(line.find("\" ") + 2)) == args);

  std::wstring wide =
      internal::windows_command_line(std::wstring_view(L"x.exe"), {std::wstring(L"a b")});
  CHECK(wide == L"\"x.exe\" \"a b\"");
  CHECK_THROWS_AS(internal::windows_command_line(std::string_view("bad\"name"), {}),
                  coordkit::spawn::Error);
}

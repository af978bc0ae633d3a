// Internal: building a Windows command line from an argv, so that
// CommandLineToArgvW and the Microsoft C runtime hand the child exactly the
// arguments we meant. Pure string code, compiled and unit-tested on every
// platform; the Windows spawn layer converts the result to UTF-16.
//
// The rules (Microsoft's "Parsing C++ command-line arguments"; D. Colascione,
// "Everyone quotes command line arguments the wrong way"): an argument
// without space, tab, newline, vertical tab or '"' (and not empty) passes
// as is; otherwise it is wrapped in quotes, every '"' is preceded by a
// backslash, and backslashes are doubled where they precede a '"' or the
// closing quote (elsewhere they are literal). argv[0] follows simpler rules:
// it is always quoted and may not contain '"'.
#ifndef COORDKIT_SPAWN_INTERNAL_WINDOWS_COMMAND_LINE_H_
#define COORDKIT_SPAWN_INTERNAL_WINDOWS_COMMAND_LINE_H_

#include <string>
#include <string_view>
#include <vector>

#include "coordkit/spawn/error.h"

namespace coordkit::spawn::internal {

// append_windows_argument: appends one argument (argv[1..]) to `line`,
// quoted only when needed. Works for char (UTF-8) and wchar_t (UTF-16)
// alike: every character the rules look at is ASCII.
template <class Char>
void append_windows_argument(std::basic_string_view<Char> arg, std::basic_string<Char>& line) {
  constexpr Char kQuote = static_cast<Char>('"');
  constexpr Char kBackslash = static_cast<Char>('\\');
  const Char special[] = {' ', '\t', '\n', '\v', '"', 0};
  if (!arg.empty() && arg.find_first_of(special) == std::basic_string_view<Char>::npos) {
    line.append(arg);
    return;
  }
  line.push_back(kQuote);
  for (auto it = arg.begin();; ++it) {
    std::size_t backslashes = 0;
    while (it != arg.end() && *it == kBackslash) {
      ++it;
      ++backslashes;
    }
    if (it == arg.end()) {
      // Double them: the closing quote follows.
      line.append(backslashes * 2, kBackslash);
      break;
    }
    if (*it == kQuote) {
      line.append(backslashes * 2 + 1, kBackslash);
      line.push_back(kQuote);
    } else {
      line.append(backslashes, kBackslash);
      line.push_back(*it);
    }
  }
  line.push_back(kQuote);
}

// windows_command_line: the full command line for CreateProcessW's
// lpCommandLine: the program, always quoted, then the arguments. Throws
// Error{kInvalidArgument} if the program contains '"' (no quoting can
// express that in argv[0]) or any string contains NUL.
template <class Char>
std::basic_string<Char> windows_command_line(std::basic_string_view<Char> program,
                                             const std::vector<std::basic_string<Char>>& args) {
  constexpr Char kQuote = static_cast<Char>('"');
  if (program.empty() || program.find(kQuote) != std::basic_string_view<Char>::npos ||
      program.find(Char(0)) != std::basic_string_view<Char>::npos) {
    throw Error(ErrorCode::kInvalidArgument,
                "program name cannot be quoted for a Windows command line");
  }
  std::basic_string<Char> line;
  line.push_back(kQuote);
  line.append(program);
  line.push_back(kQuote);
  for (const std::basic_string<Char>& arg : args) {
    if (arg.find(Char(0)) != std::basic_string<Char>::npos) {
      throw Error(ErrorCode::kInvalidArgument, "NUL in an argument");
    }
    line.push_back(static_cast<Char>(' '));
    append_windows_argument(std::basic_string_view<Char>(arg), line);
  }
  return line;
}

}  // namespace coordkit::spawn::internal

#endif  // COORDKIT_SPAWN_INTERNAL_WINDOWS_COMMAND_LINE_H_

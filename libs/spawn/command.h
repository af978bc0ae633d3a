// coordkit/spawn/command.h: what to run, described as plain data.
//
// A `Command` names an executable, its arguments, environment overrides, a
// working directory, where each standard stream goes and whether the child
// is detached. It is an aggregate, so designated initializers read well.
// Nothing here touches the OS; `coordkit::spawn::spawn()` (spawn.h) runs it.
//
// Example:
//   coordkit::spawn::Command command{
//       .executable = "/usr/bin/printenv",
//       .args = {"LANG"},
//       .env = {{"LANG", "C"}, {"LC_ALL", std::nullopt}},
//       .out = coordkit::spawn::Stdio::file("/tmp/env.log"),
//       .detached = true,
//   };
#ifndef COORDKIT_SPAWN_COMMAND_H_
#define COORDKIT_SPAWN_COMMAND_H_

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace coordkit::spawn {

// Stdio: how one of the child's standard streams is set up.
// A small value type; copying it copies the description, not any handle.
class Stdio {
 public:
  enum class Kind {
    kInherit,  // the child shares the parent's stream
    kNull,     // the null device (/dev/null, NUL)
    kFile,     // a file; see file()
    kPipe,     // a pipe whose other end the parent's Child owns
  };

  // inherit: the child gets the parent's stream as it is.
  static Stdio inherit() { return Stdio(Kind::kInherit, {}); }
  // null: the child reads EOF / its writes are discarded.
  static Stdio null() { return Stdio(Kind::kNull, {}); }
  // file: for stdout/stderr the file is opened for appending, created 0600
  // if missing (O_WRONLY|O_APPEND|O_CREAT), so two runs append and lines
  // from concurrent writers never overwrite each other. For stdin it is
  // opened read-only and must exist. Opened by spawn() in the parent, so a
  // bad path is reported by spawn() (kNotFound, kPermissionDenied).
  static Stdio file(std::filesystem::path path) { return Stdio(Kind::kFile, std::move(path)); }
  // pipe: the parent keeps the other end inside the Child (write_stdin,
  // read_stdout_all, communicate, ...).
  static Stdio pipe() { return Stdio(Kind::kPipe, {}); }

  Kind kind() const noexcept { return kind_; }
  // path: the file for Kind::kFile, empty otherwise.
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  Stdio(Kind kind, std::filesystem::path path) : kind_(kind), path_(std::move(path)) {}

  Kind kind_;
  std::filesystem::path path_;
};

// Command: everything spawn() needs. Plain data, no invariants until spawn()
// validates it (and throws Error{kInvalidArgument} when it is malformed).
// Every member has an explicit default initializer so that designated
// initializers naming only some members stay free of GCC 12's
// -Wmissing-field-initializers (part of -Wextra).
struct Command {
  // executable: an absolute path, or a path relative to the *parent's*
  // current directory (resolved before `cwd` applies, so `cwd` never changes
  // which program runs). With search_path and no '/' in it, the name is
  // looked up in the PATH of the child's environment (the override in `env`
  // if there is one, else the parent's), the way Python's subprocess does.
  std::filesystem::path executable{};
  // args: argv[1..], passed verbatim (spaces, quotes, empty strings). argv[0]
  // is `executable` as given. An argument containing NUL is rejected.
  std::vector<std::string> args{};
  bool search_path = false;
  // env: overrides applied to a copy of the parent's environment; a nullopt
  // value removes the variable. Names must be non-empty and contain no '='.
  std::map<std::string, std::optional<std::string>> env{};
  // cwd: the child's working directory; the parent's when unset. Checked by
  // spawn(): a missing directory is Error{kNotFound}.
  std::optional<std::filesystem::path> cwd{};
  // in, out, err: the child's stdin, stdout and stderr. (`stdin` & co. are
  // macros in <cstdio>, hence the short names.)
  Stdio in = Stdio::null();
  Stdio out = Stdio::inherit();
  Stdio err = Stdio::inherit();
  // detached: the child starts a new session (POSIX setsid: no controlling
  // terminal, its own process group, so it survives its parent and the
  // terminal closing; Windows: no console). Pair it with Stdio::null() or
  // Stdio::file() streams so that nothing ties it to the parent's terminal,
  // and release() the Child if it should outlive the Child object.
  bool detached = false;
  // windows_detached_process: Windows only, with `detached`: DETACHED_PROCESS
  // instead of CREATE_NO_WINDOW, so a console program gets no console at all
  // rather than one without a window (then a console program it starts in
  // turn opens a window of its own). Ignored elsewhere.
  bool windows_detached_process = false;
};

}  // namespace coordkit::spawn

#endif  // COORDKIT_SPAWN_COMMAND_H_

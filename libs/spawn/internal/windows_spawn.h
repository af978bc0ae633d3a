// Internal (Windows): starting a child with CreateProcessW; the same
// spawn_child() as posix_spawn.h.
//
//   - The child inherits exactly its three stdio handles and nothing else:
//     bInheritHandles is TRUE but PROC_THREAD_ATTRIBUTE_HANDLE_LIST names
//     only those (so a handle another thread made inheritable, or a pipe of
//     a concurrent spawn, never leaks into this child).
//   - Detached: CREATE_NEW_PROCESS_GROUP plus CREATE_NO_WINDOW (a console
//     program gets a console without a window, so its own console children
//     share it instead of opening windows) or, with
//     Command::windows_detached_process, DETACHED_PROCESS (no console at
//     all). A GUI-subsystem program never gets a console either way. The
//     child breaks away from the parent's job when the job allows it, so it
//     outlives the parent.
//   - The command line is built by windows_command_line.h, the program path
//     is resolved here (never by CreateProcessW's own search, which looks in
//     the current directory first), and the environment block is the
//     parent's with the overrides applied (names compared without case, as
//     Windows does), sorted.
#ifndef COORDKIT_SPAWN_INTERNAL_WINDOWS_SPAWN_H_
#define COORDKIT_SPAWN_INTERNAL_WINDOWS_SPAWN_H_

#include <windows.h>

#include <algorithm>
#include <cwctype>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "coordkit/spawn/command.h"
#include "coordkit/spawn/error.h"
#include "coordkit/spawn/internal/native_handle.h"
#include "coordkit/spawn/internal/types.h"
#include "coordkit/spawn/internal/windows_command_line.h"
#include "coordkit/spawn/internal/windows_pipes.h"
#include "coordkit/spawn/internal/windows_process.h"

namespace coordkit::spawn::internal {

struct SpawnedChild {
  ChildState state;
  ChildPipes pipes;
};

// utf16: UTF-8 to UTF-16; kInvalidArgument for invalid UTF-8 or a NUL.
inline std::wstring utf16(std::string_view text, const char* what) {
  if (text.find('\0') != std::string_view::npos) {
    throw Error(ErrorCode::kInvalidArgument, std::string("NUL in ") + what);
  }
  if (text.empty()) return {};
  const int n = ::MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, text.data(),
                                      static_cast<int>(text.size()), nullptr, 0);
  if (n <= 0) throw Error(ErrorCode::kInvalidArgument, std::string("invalid UTF-8 in ") + what);
  std::wstring out(static_cast<std::size_t>(n), L'\0');
  ::MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, text.data(), static_cast<int>(text.size()),
                        out.data(), n);
  return out;
}

inline std::wstring upper(std::wstring_view s) {
  std::wstring out(s);
  for (wchar_t& c : out) c = static_cast<wchar_t>(std::towupper(c));
  return out;
}

// child_environment: the parent's environment with `overrides`, as a sorted
// CREATE_UNICODE_ENVIRONMENT block; also returns the child's PATH.
inline std::wstring child_environment(
    const std::map<std::string, std::optional<std::string>>& overrides, std::wstring& path) {
  std::map<std::wstring, std::wstring> vars;  // key: upper-case name
  if (wchar_t* block = ::GetEnvironmentStringsW()) {
    for (const wchar_t* p = block; *p != L'\0'; p += std::wcslen(p) + 1) {
      std::wstring_view entry(p);
      // "=C:=C:\dir" entries (per-drive directories) start with '='.
      const std::size_t eq = entry.find(L'=', 1);
      if (eq == std::wstring_view::npos) continue;
      vars[upper(entry.substr(0, eq))] = std::wstring(entry);
    }
    ::FreeEnvironmentStringsW(block);
  }
  for (const auto& [name, value] : overrides) {
    if (name.empty() || name.find('=') != std::string::npos) {
      throw Error(ErrorCode::kInvalidArgument, "an environment name is empty or contains '='");
    }
    const std::wstring wide = utf16(name, "an environment name");
    if (value) {
      vars[upper(wide)] = wide + L"=" + utf16(*value, "an environment value");
    } else {
      vars.erase(upper(wide));
    }
  }
  std::wstring out;
  for (const auto& [key, entry] : vars) {
    if (key == L"PATH") path = entry.substr(entry.find(L'=') + 1);
    out += entry;
    out.push_back(L'\0');
  }
  if (out.empty()) out.push_back(L'\0');
  out.push_back(L'\0');
  return out;
}

inline bool is_file(const std::filesystem::path& p) {
  const DWORD attributes = ::GetFileAttributesW(p.c_str());
  return attributes != INVALID_FILE_ATTRIBUTES && (attributes & FILE_ATTRIBUTE_DIRECTORY) == 0;
}

// resolve_program: the absolute path of the program to start.
inline std::filesystem::path resolve_program(const Command& command, const std::wstring& path) {
  const std::filesystem::path& exe = command.executable;
  if (exe.empty()) throw Error(ErrorCode::kInvalidArgument, "empty executable");
  const std::wstring name = exe.native();
  const bool bare = name.find_first_of(L"\\/:") == std::wstring::npos;
  if (command.search_path && bare) {
    std::wstring_view rest(path);
    while (!rest.empty()) {
      const std::size_t semi = rest.find(L';');
      const std::wstring_view dir = rest.substr(0, semi);
      rest = semi == std::wstring_view::npos ? std::wstring_view() : rest.substr(semi + 1);
      if (dir.empty()) continue;
      const std::filesystem::path base = std::filesystem::path(std::wstring(dir)) / exe;
      if (is_file(base)) return base;
      if (!exe.has_extension()) {
        for (const wchar_t* ext : {L".exe", L".com"}) {
          std::filesystem::path with = base;
          with += ext;
          if (is_file(with)) return with;
        }
      }
    }
    throw Error(ErrorCode::kNotFound, "executable not found in PATH",
                static_cast<int>(ERROR_FILE_NOT_FOUND));
  }
  std::error_code ec;
  std::filesystem::path absolute = std::filesystem::absolute(exe, ec);
  if (ec) throw Error(ErrorCode::kInvalidArgument, "executable path cannot be made absolute");
  if (!is_file(absolute)) {
    std::filesystem::path with = absolute;
    with += L".exe";
    if (absolute.has_extension() || !is_file(with)) {
      throw Error(ErrorCode::kNotFound, "executable not found",
                  static_cast<int>(ERROR_FILE_NOT_FOUND));
    }
    absolute = with;
  }
  return absolute;
}

// StdioHandles: the child's three handles (inheritable, owned here until
// CreateProcessW has run) and the parent's pipe ends.
struct StdioHandles {
  NativeHandle child[3];
  NativeHandle parent[3];
};

inline NativeHandle open_stdio(const Stdio& stdio, int index, NativeHandle& parent_end) {
  SECURITY_ATTRIBUTES inherit{sizeof(SECURITY_ATTRIBUTES), nullptr, TRUE};
  const bool input = index == 0;
  switch (stdio.kind()) {
    case Stdio::Kind::kInherit: {
      const HANDLE own = ::GetStdHandle(index == 0   ? STD_INPUT_HANDLE
                                        : index == 1 ? STD_OUTPUT_HANDLE
                                                     : STD_ERROR_HANDLE);
      if (own == nullptr || own == INVALID_HANDLE_VALUE) return {};  // none to give
      HANDLE copy = nullptr;
      if (!::DuplicateHandle(::GetCurrentProcess(), own, ::GetCurrentProcess(), &copy, 0, TRUE,
                             DUPLICATE_SAME_ACCESS)) {
        return {};  // not a handle this process can pass on: the child gets none
      }
      return NativeHandle(copy);
    }
    case Stdio::Kind::kNull: {
      HANDLE h =
          ::CreateFileW(L"NUL", input ? GENERIC_READ : (GENERIC_WRITE | FILE_READ_ATTRIBUTES),
                        FILE_SHARE_READ | FILE_SHARE_WRITE, &inherit, OPEN_EXISTING, 0, nullptr);
      if (h == INVALID_HANDLE_VALUE) throw windows_error(::GetLastError(), "CreateFileW(NUL)");
      return NativeHandle(h);
    }
    case Stdio::Kind::kFile: {
      // Appending writers (FILE_APPEND_DATA without FILE_WRITE_DATA): every
      // write lands at the end, so concurrent writers never overwrite.
      HANDLE h = ::CreateFileW(
          stdio.path().c_str(),
          input ? GENERIC_READ : (FILE_APPEND_DATA | FILE_READ_ATTRIBUTES | SYNCHRONIZE),
          FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, &inherit,
          input ? OPEN_EXISTING : OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, nullptr);
      if (h == INVALID_HANDLE_VALUE) {
        throw windows_error(::GetLastError(), "cannot open a stdio file");
      }
      return NativeHandle(h);
    }
    case Stdio::Kind::kPipe: {
      PipePair pair = make_pipe(input);
      parent_end = std::move(pair.parent);
      return std::move(pair.child);
    }
  }
  return {};
}

// AttributeList: a PROC_THREAD_ATTRIBUTE_LIST with one handle list.
class AttributeList {
 public:
  explicit AttributeList(std::vector<HANDLE> handles) : handles_(std::move(handles)) {
    SIZE_T size = 0;
    ::InitializeProcThreadAttributeList(nullptr, 1, 0, &size);
    storage_ = std::make_unique<unsigned char[]>(size);
    list_ = reinterpret_cast<LPPROC_THREAD_ATTRIBUTE_LIST>(storage_.get());
    if (!::InitializeProcThreadAttributeList(list_, 1, 0, &size)) {
      list_ = nullptr;
      throw windows_error(::GetLastError(), "InitializeProcThreadAttributeList");
    }
    if (!handles_.empty() &&
        !::UpdateProcThreadAttribute(list_, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, handles_.data(),
                                     handles_.size() * sizeof(HANDLE), nullptr, nullptr)) {
      throw windows_error(::GetLastError(), "UpdateProcThreadAttribute(handle list)");
    }
  }
  AttributeList(const AttributeList&) = delete;
  AttributeList& operator=(const AttributeList&) = delete;
  ~AttributeList() {
    if (list_ != nullptr) ::DeleteProcThreadAttributeList(list_);
  }
  LPPROC_THREAD_ATTRIBUTE_LIST get() const { return list_; }
  bool empty() const { return handles_.empty(); }

 private:
  std::vector<HANDLE> handles_;
  std::unique_ptr<unsigned char[]> storage_;
  LPPROC_THREAD_ATTRIBUTE_LIST list_ = nullptr;
};

// creation_flags: what `command` asks of CreateProcessW (see the top).
inline DWORD creation_flags(const Command& command) {
  DWORD flags = CREATE_UNICODE_ENVIRONMENT | EXTENDED_STARTUPINFO_PRESENT;
  if (command.detached) {
    flags |= CREATE_NEW_PROCESS_GROUP |
             (command.windows_detached_process ? DETACHED_PROCESS : CREATE_NO_WINDOW);
  }
  return flags;
}

inline SpawnedChild spawn_child(const Command& command) {
  std::wstring path;
  std::wstring environment = child_environment(command.env, path);
  const std::filesystem::path program = resolve_program(command, path);
  std::vector<std::wstring> args;
  args.reserve(command.args.size());
  for (const std::string& arg : command.args) args.push_back(utf16(arg, "an argument"));
  std::wstring line = windows_command_line<wchar_t>(command.executable.native(), args);

  std::optional<std::wstring> cwd;
  if (command.cwd) {
    const DWORD attributes = ::GetFileAttributesW(command.cwd->c_str());
    if (attributes == INVALID_FILE_ATTRIBUTES || (attributes & FILE_ATTRIBUTE_DIRECTORY) == 0) {
      throw Error(ErrorCode::kNotFound, "working directory not found",
                  static_cast<int>(ERROR_DIRECTORY));
    }
    cwd = std::filesystem::absolute(*command.cwd).native();
  }

  StdioHandles stdio;
  const Stdio* streams[3] = {&command.in, &command.out, &command.err};
  std::vector<HANDLE> inherited;
  for (int i = 0; i < 3; ++i) {
    stdio.child[i] = open_stdio(*streams[i], i, stdio.parent[i]);
    if (stdio.child[i]) inherited.push_back(stdio.child[i].get());
  }
  const AttributeList attributes(inherited);

  STARTUPINFOEXW info{};
  info.StartupInfo.cb = sizeof(info);
  info.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
  info.StartupInfo.hStdInput = stdio.child[0].get();
  info.StartupInfo.hStdOutput = stdio.child[1].get();
  info.StartupInfo.hStdError = stdio.child[2].get();
  info.lpAttributeList = attributes.get();

  DWORD flags = creation_flags(command);
  PROCESS_INFORMATION pi{};
  auto create = [&](DWORD f) {
    return ::CreateProcessW(program.c_str(), line.data(), nullptr, nullptr,
                            attributes.empty() ? FALSE : TRUE, f, environment.data(),
                            cwd ? cwd->c_str() : nullptr, &info.StartupInfo, &pi);
  };
  BOOL ok = FALSE;
  if (command.detached) {
    // Out of the parent's job if the job lets us (a job that kills its
    // processes on close would otherwise take the detached child along).
    ok = create(flags | CREATE_BREAKAWAY_FROM_JOB);
    if (!ok && ::GetLastError() == ERROR_ACCESS_DENIED) ok = create(flags);
  } else {
    ok = create(flags);
  }
  if (!ok) throw windows_error(::GetLastError(), "CreateProcessW");
  ::CloseHandle(pi.hThread);

  SpawnedChild spawned;
  spawned.state.pid = static_cast<std::int64_t>(pi.dwProcessId);
  spawned.state.process.reset(pi.hProcess);
  spawned.state.start_time = creation_time(pi.hProcess);
  // The child's ends close here (StdioHandles), so EOF on a pipe means the
  // child closed its end.
  spawned.pipes = ChildPipes(std::move(stdio.parent[0]), std::move(stdio.parent[1]),
                             std::move(stdio.parent[2]));
  return spawned;
}

}  // namespace coordkit::spawn::internal

#endif  // COORDKIT_SPAWN_INTERNAL_WINDOWS_SPAWN_H_

// coordkit/cli/log_tail.h: the last lines of a log file, for `gateway logs`
// and for a `gateway start` that failed.
//
// Example:
//   for (const std::string& line : coordkit::cli::tail_lines("gateway.log", 20)) ctx.out(line);
#ifndef COORDKIT_APPS_CLI_LOG_TAIL_H_
#define COORDKIT_APPS_CLI_LOG_TAIL_H_

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <string>
#include <vector>

namespace coordkit::cli {

// kTailWindowBytes: how far back from the end tail_lines() reads.
inline constexpr std::int64_t kTailWindowBytes = 1 << 20;

// log_size: the size of `path`, or -1 when it cannot be stat'ed.
inline std::int64_t log_size(const std::filesystem::path& path) noexcept {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<std::int64_t>(st.st_size);
}

// tail_lines: up to `count` last lines of `path` at or after byte `from`
// (without their '\n'), within the last kTailWindowBytes. Empty when the
// file is missing or unreadable. Never throws but std::bad_alloc.
inline std::vector<std::string> tail_lines(const std::filesystem::path& path, std::size_t count,
                                           std::int64_t from = 0) {
  std::vector<std::string> out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return out;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return out;
  }
  std::int64_t start = static_cast<std::int64_t>(st.st_size) - kTailWindowBytes;
  if (start < from) start = from;
  if (start < 0) start = 0;
  std::string text;
  char buf[65536];
  std::int64_t at = start;
  for (;;) {
    const ssize_t n = ::pread(fd, buf, sizeof buf, static_cast<off_t>(at));
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    at += n;
  }
  ::close(fd);
  std::deque<std::string> lines;
  std::size_t pos = 0;
  // A window that starts mid-file starts mid-line: drop that partial line.
  if (start > from && start > 0) {
    const std::size_t nl = text.find('\n');
    pos = nl == std::string::npos ? text.size() : nl + 1;
  }
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    lines.emplace_back(text, pos, nl - pos);
    if (lines.size() > count) lines.pop_front();
    pos = nl + 1;
  }
  out.assign(lines.begin(), lines.end());
  return out;
}

}  // namespace coordkit::cli

#endif  // COORDKIT_APPS_CLI_LOG_TAIL_H_

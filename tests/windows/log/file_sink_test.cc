// FileSink on Windows, under Wine: CreateFileW (append, sharing read, write
// and delete), WriteFile and MoveFileExW. The lines of lines.h come out as
// the very bytes the Linux build writes (log_lines.linux); the file rotates
// by size as on Linux, never splitting a line; a reader that follows the
// file does not stop rotation; a file renamed away or replaced by another
// program is noticed and `path` reopened; threads never interleave lines.
//
// Guards against a false pass: the rotation cases count the files and the
// lines in each (every line written is found exactly once, in order, in a
// contiguous suffix), so a sink that never rotated or lost lines fails; the
// reader cases first show the reader's handle open on the live file, and
// the case of a reader without FILE_SHARE_DELETE shows the rename really
// refused (MoveFileExW fails the same way for the test itself) before it
// checks that no line was lost.
#include "coordkit/log/file_sink.h"

#include <windows.h>

#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/check.h"
#include "common/win.h"
#include "log/lines.h"

namespace lg = coordkit::log;
namespace wt = coordkit::windows_test;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> lines_of(const std::wstring& path) {
  std::vector<std::string> lines;
  std::istringstream in(wt::read_file(path));
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

// numbered: the message of line `i`, padded so every line is equally long.
std::string numbered(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "line %05d", i);
  return buf;
}

void write_numbered(lg::Sink& sink, int from, int to) {
  const auto time = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::microseconds(1767225600123456)));
  for (int i = from; i < to; ++i) {
    const std::string message = numbered(i);
    sink.write({time, lg::Level::kInfo, "test", message, {}});
  }
}

// message_of: the "line NNNNN" part of a text line ("" when absent).
std::string message_of(const std::string& line) {
  const std::size_t at = line.find("line ");
  return at == std::string::npos ? std::string() : line.substr(at, 10);
}

std::string utf8(const std::wstring& path) { return wt::narrow(path); }

// HeldFile: a handle of "another program" on `path`.
class HeldFile {
 public:
  HeldFile(const std::wstring& path, DWORD share)
      : h_(::CreateFileW(path.c_str(), GENERIC_READ, share, nullptr, OPEN_EXISTING,
                         FILE_ATTRIBUTE_NORMAL, nullptr)) {}
  HeldFile(const HeldFile&) = delete;
  HeldFile& operator=(const HeldFile&) = delete;
  ~HeldFile() { close(); }
  bool valid() const { return h_ != INVALID_HANDLE_VALUE; }
  void close() {
    if (valid()) ::CloseHandle(h_);
    h_ = INVALID_HANDLE_VALUE;
  }
  std::string read_all() const {
    std::string out;
    char buf[4096];
    DWORD n = 0;
    ::SetFilePointer(h_, 0, nullptr, FILE_BEGIN);
    while (::ReadFile(h_, buf, sizeof buf, &n, nullptr) && n > 0) out.append(buf, n);
    return out;
  }

 private:
  HANDLE h_;
};

}  // namespace

COORDKIT_TEST("a log file gets the bytes the Linux build writes, appended across sinks") {
  const std::string golden = wt::read_file(wt::helper(L"log_lines.linux"));
  REQUIRE(!golden.empty());
  wt::ScratchDir dir;
  const std::wstring path = dir.file(L"app.log");
  {
    lg::FileSink text({.path = utf8(path), .format = lg::Format::kText});
    wt::write_lines(text);
    text.flush();
    CHECK_EQ(text.stats().lines_written, std::uint64_t{wt::kLineCount});
  }
  {
    // A second sink on the same file appends after the first one's lines.
    lg::FileSink json({.path = utf8(path), .format = lg::Format::kJson, .buffer_bytes = 0});
    wt::write_lines(json);
    CHECK_EQ(json.stats().lines_written, std::uint64_t{wt::kLineCount});
    CHECK_EQ(json.stats().failed_writes, std::uint64_t{0});
  }
  CHECK_EQ(wt::hex(wt::read_file(path)), wt::hex(golden));
}

COORDKIT_TEST("a log file rotates by size into path.1 ... path.(N-1), never splitting a line") {
  wt::ScratchDir dir;
  const std::wstring path = dir.file(L"app.log");
  constexpr int kLines = 200;
  std::size_t line_bytes = 0;
  {
    lg::FileSink sink({.path = utf8(path), .max_bytes = 1000, .max_files = 3, .buffer_bytes = 0});
    write_numbered(sink, 0, 1);
    line_bytes = wt::read_file(path).size();
    REQUIRE(line_bytes > 10);
    write_numbered(sink, 1, kLines);
    CHECK_EQ(sink.stats().lines_written, std::uint64_t{kLines});
    CHECK_EQ(sink.stats().failed_writes, std::uint64_t{0});
  }
  // At most three files, none larger than max_bytes, only whole lines.
  CHECK(!fs::exists(dir.file(L"app.log.3")));
  std::vector<std::string> all;
  for (const wchar_t* name : {L"app.log.2", L"app.log.1", L"app.log"}) {
    const std::string content = wt::read_file(dir.file(name));
    CHECK(!content.empty());
    CHECK(content.size() <= 1000);
    CHECK_EQ(content.size() % line_bytes, std::size_t{0});
    for (const std::string& line : lines_of(dir.file(name))) all.push_back(message_of(line));
  }
  // Together: the newest lines, in order, each exactly once, ending with
  // the last one; full files hold 1000 / line_bytes lines each.
  const std::size_t per_file = 1000 / line_bytes;
  REQUIRE(all.size() > 2 * per_file);
  REQUIRE(all.size() <= 3 * per_file);
  const int first = kLines - static_cast<int>(all.size());
  for (std::size_t i = 0; i < all.size(); ++i) {
    CHECK_EQ(all[i], numbered(first + static_cast<int>(i)));
  }
}

COORDKIT_TEST("a reader following the file (sharing delete) does not stop rotation") {
  wt::ScratchDir dir;
  const std::wstring path = dir.file(L"app.log");
  lg::FileSink sink({.path = utf8(path), .max_bytes = 400, .max_files = 2, .buffer_bytes = 0});
  write_numbered(sink, 0, 1);
  HeldFile reader(path, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE);
  REQUIRE(reader.valid());
  const std::string first = reader.read_all();
  REQUIRE(!first.empty());
  write_numbered(sink, 1, 40);
  // Rotated while the reader held it: the reader's file is now app.log.1
  // (or, after more rotations, gone from the directory), and app.log is a
  // fresh file with the newest line.
  CHECK(fs::exists(dir.file(L"app.log.1")));
  CHECK(wt::read_file(path).size() <= 400);
  CHECK_EQ(message_of(lines_of(path).back()), numbered(39));
  CHECK(reader.read_all().rfind(first, 0) == 0);  // still its own file
  CHECK_EQ(sink.stats().failed_writes, std::uint64_t{0});
  // The files retired while the reader held one are gone once it closes.
  reader.close();
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    ++files;
    CHECK(entry.path().extension() != ".deleted");
  }
  CHECK_EQ(files, 2);
}

COORDKIT_TEST("a reader that does not share delete holds rotation back; no line is lost") {
  wt::ScratchDir dir;
  const std::wstring path = dir.file(L"app.log");
  lg::FileSink sink({.path = utf8(path), .max_bytes = 400, .max_files = 2, .buffer_bytes = 0});
  write_numbered(sink, 0, 1);
  HeldFile reader(path, FILE_SHARE_READ | FILE_SHARE_WRITE);
  REQUIRE(reader.valid());
  // The control: such a reader really does refuse a rename of the file.
  const std::wstring probe = dir.file(L"probe.log");
  CHECK(!::MoveFileExW(path.c_str(), probe.c_str(), 0));
  CHECK(!fs::exists(probe));
  write_numbered(sink, 1, 40);
  CHECK(!fs::exists(dir.file(L"app.log.1")));
  std::vector<std::string> lines = lines_of(path);
  REQUIRE_EQ(lines.size(), std::size_t{40});  // grown past max_bytes: nothing dropped
  for (int i = 0; i < 40; ++i) CHECK_EQ(message_of(lines[i]), numbered(i));
  CHECK_EQ(sink.stats().failed_writes, std::uint64_t{0});
  // Once the reader is gone, the next line rotates.
  reader.close();
  write_numbered(sink, 40, 41);
  CHECK_EQ(lines_of(dir.file(L"app.log.1")).size(), std::size_t{40});
  CHECK_EQ(lines_of(path).size(), std::size_t{1});
}

COORDKIT_TEST("a log file renamed away or replaced by another program: path is reopened") {
  wt::ScratchDir dir;
  const std::wstring path = dir.file(L"app.log");
  lg::FileSink sink({.path = utf8(path), .buffer_bytes = 0});
  write_numbered(sink, 0, 3);
  // Renamed away, as an external logrotate does.
  REQUIRE(::MoveFileExW(path.c_str(), dir.file(L"app.log.old").c_str(), 0));
  CHECK(!fs::exists(path));
  write_numbered(sink, 3, 5);
  CHECK_EQ(lines_of(dir.file(L"app.log.old")).size(), std::size_t{3});
  std::vector<std::string> now = lines_of(path);
  REQUIRE_EQ(now.size(), std::size_t{2});
  CHECK_EQ(message_of(now[0]), numbered(3));
  // Replaced by another file: the next lines go to that one.
  REQUIRE(::MoveFileExW(path.c_str(), dir.file(L"app.log.older").c_str(), 0));
  wt::write_file(path, "someone else\n");
  write_numbered(sink, 5, 6);
  now = lines_of(path);
  REQUIRE_EQ(now.size(), std::size_t{2});
  CHECK_EQ(now[0], std::string("someone else"));
  CHECK_EQ(message_of(now[1]), numbered(5));
  CHECK_EQ(lines_of(dir.file(L"app.log.older")).size(), std::size_t{2});
  CHECK_EQ(sink.stats().failed_writes, std::uint64_t{0});
  CHECK_EQ(sink.stats().lines_written, std::uint64_t{6});
}

COORDKIT_TEST("threads writing through one rotating sink never interleave or lose lines") {
  wt::ScratchDir dir;
  const std::wstring path = dir.file(L"app.log");
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  {
    lg::FileSink sink({.path = utf8(path), .max_bytes = 20000, .max_files = 100});
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] { write_numbered(sink, t * kPerThread, (t + 1) * kPerThread); });
    }
    for (std::thread& thread : threads) thread.join();
  }
  std::vector<int> seen(kThreads * kPerThread, 0);
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    ++files;
    CHECK(fs::file_size(entry.path()) <= 20000);
    for (const std::string& line : lines_of(entry.path().wstring())) {
      const std::string message = message_of(line);
      REQUIRE(message.size() == 10);
      ++seen[std::stoi(message.substr(5))];
    }
  }
  CHECK(files > 1);  // it did rotate
  int once = 0;
  for (int count : seen) once += count == 1 ? 1 : 0;
  CHECK_EQ(once, kThreads * kPerThread);
}

COORDKIT_TEST("a log file that cannot be opened is an open_failed error with the Windows error") {
  wt::ScratchDir dir;
  try {
    lg::FileSink sink({.path = utf8(dir.file(L"missing\\app.log"))});
    CHECK(false);
  } catch (const lg::Error& e) {
    CHECK(e.code() == lg::ErrorCode::kOpenFailed);
    CHECK_EQ(e.os_error(), static_cast<int>(ERROR_PATH_NOT_FOUND));
  }
  try {
    lg::FileSink sink({.path = utf8(dir.path()) + "\\bad\xff.log"});
    CHECK(false);
  } catch (const lg::Error& e) {
    CHECK(e.code() == lg::ErrorCode::kOpenFailed);
    CHECK_EQ(e.os_error(), static_cast<int>(ERROR_NO_UNICODE_TRANSLATION));
  }
}

int main() { return coordkit::windows_test::run_all(); }

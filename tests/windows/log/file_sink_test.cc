// FileSink on Windows, under Wine: CreateFileW (append, sharing read, write
// and delete), WriteFile and MoveFileExW. The lines of lines.h come out as
// the very bytes the Linux build writes (log_lines.linux); the file rotates
// by size as on Linux, never splitting a line; a reader that follows the
// file does not stop rotation; a file renamed away or replaced by another
// program is noticed and `path` reopened; threads never interleave lines.
// The Linux file_sink_test's cases that apply run here too: max_files = 1,
// an over-long line, a file already at the limit, error-level write-through,
// flush_interval, exit() and TerminateProcess after an error line, a full
// disk (ERROR_DISK_FULL counted, never thrown), bad options and unopenable
// paths. Left to Linux: the 0600 mode (Windows: the
// directory's inherited DACL), a removed and remade directory (Windows keeps
// a directory with an open file in it), and a read-only file (Wine run as
// root, as this suite is, opens it for writing where Windows refuses).
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

std::chrono::system_clock::time_point fixed_time() {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::microseconds(1767225600123456)));
}

void write_numbered(lg::Sink& sink, int from, int to) {
  for (int i = from; i < to; ++i) {
    const std::string message = numbered(i);
    sink.write({fixed_time(), lg::Level::kInfo, "test", message, {}});
  }
}

void write_one(lg::Sink& sink, lg::Level level, std::string_view message) {
  sink.write({fixed_time(), level, "test", message, {}});
}

// quiet: options for `path` without the background flusher, so what
// reaches the file is up to the test (as the Linux tests' quiet_options).
lg::FileSinkOptions quiet(const std::wstring& path) {
  lg::FileSinkOptions o;
  o.path = wt::narrow(path);
  o.flush_interval = std::chrono::milliseconds(0);
  return o;
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

COORDKIT_TEST("with max_files = 1, rotation starts the file afresh") {
  wt::ScratchDir dir;
  const std::wstring path = dir.file(L"app.log");
  {
    lg::FileSinkOptions o = quiet(path);
    o.max_bytes = 500;
    o.max_files = 1;
    lg::FileSink sink(std::move(o));
    write_numbered(sink, 0, 100);
    sink.flush();
    CHECK_EQ(sink.stats().lines_written, std::uint64_t{100});
  }
  CHECK(!fs::exists(dir.file(L"app.log.1")));
  const std::vector<std::string> lines = lines_of(path);
  REQUIRE(!lines.empty());
  CHECK(lines.size() < 100);  // it did start afresh
  CHECK_EQ(message_of(lines.back()), numbered(99));
  CHECK(wt::read_file(path).size() <= 500);
}

COORDKIT_TEST("a line longer than max_bytes gets a file of its own") {
  wt::ScratchDir dir;
  const std::wstring path = dir.file(L"app.log");
  {
    lg::FileSinkOptions o = quiet(path);
    o.max_bytes = 200;
    o.max_files = 4;
    lg::FileSink sink(std::move(o));
    write_one(sink, lg::Level::kInfo, "short 0");
    write_one(sink, lg::Level::kInfo, std::string(500, 'x'));
    write_one(sink, lg::Level::kInfo, "short 2");
  }
  CHECK(wt::read_file(dir.file(L"app.log.2")).find("short 0") != std::string::npos);
  CHECK_EQ(lines_of(dir.file(L"app.log.1")).size(), std::size_t{1});
  CHECK(wt::read_file(dir.file(L"app.log.1")).size() > 500);
  CHECK(wt::read_file(path).find("short 2") != std::string::npos);
  CHECK_EQ(lines_of(path).size(), std::size_t{1});
}

COORDKIT_TEST("an existing file already at the limit is rotated before the first line") {
  wt::ScratchDir dir;
  const std::wstring path = dir.file(L"app.log");
  {
    lg::FileSink sink(quiet(path));
    write_one(sink, lg::Level::kInfo, std::string(300, 'o'));
  }
  lg::FileSinkOptions o = quiet(path);
  o.max_bytes = 300;
  {
    lg::FileSink sink(std::move(o));
    write_one(sink, lg::Level::kInfo, "fresh");
  }
  CHECK(wt::read_file(dir.file(L"app.log.1")).find("ooo") != std::string::npos);
  CHECK_EQ(lines_of(path).size(), std::size_t{1});
}

COORDKIT_TEST("an error-level record is written through at once") {
  wt::ScratchDir dir;
  const std::wstring path = dir.file(L"app.log");
  lg::FileSinkOptions o = quiet(path);
  o.buffer_bytes = 1 << 20;
  lg::FileSink sink(std::move(o));
  write_one(sink, lg::Level::kInfo, "buffered");
  write_one(sink, lg::Level::kWarn, "buffered too");
  REQUIRE(wt::read_file(path).empty());  // the control: the sink buffers
  write_one(sink, lg::Level::kError, "failed");
  const std::vector<std::string> lines = lines_of(path);
  REQUIRE_EQ(lines.size(), std::size_t{3});
  CHECK(lines[2].find("ERROR test: failed") != std::string::npos);
}

COORDKIT_TEST("buffered lines reach the file within flush_interval") {
  wt::ScratchDir dir;
  const std::wstring path = dir.file(L"app.log");
  lg::FileSink sink({.path = utf8(path), .flush_interval = std::chrono::milliseconds(20)});
  write_one(sink, lg::Level::kInfo, "quiet server's last words");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (wt::read_file(path).empty() && std::chrono::steady_clock::now() < deadline) {
    ::Sleep(5);
  }
  CHECK_EQ(lines_of(path).size(), std::size_t{1});
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

// The process ends: std::exit() flushes what a live sink buffered (its
// atexit handler); an error-level line is on disk before a TerminateProcess
// right after it. The control: the same buffered line, the process killed
// without the error line, never reaches the file, so buffering is real.
COORDKIT_TEST("buffered lines are flushed on exit(); an error line survives TerminateProcess") {
  wt::ScratchDir dir;
  const std::wstring child = L"\"" + wt::helper(L"file_sink_child.exe") + L"\" ";
  const std::wstring out = dir.file(L"child.out");
  const std::wstring exited = dir.file(L"exit.log");
  CHECK_EQ(wt::run_raw(child + L"exit \"" + exited + L"\"", out), DWORD{0});
  std::vector<std::string> lines = lines_of(exited);
  REQUIRE_EQ(lines.size(), std::size_t{1});
  CHECK(lines[0].find("buffered line") != std::string::npos);

  const std::wstring killed = dir.file(L"kill.log");
  CHECK_EQ(wt::run_raw(child + L"kill \"" + killed + L"\"", out), DWORD{9});
  CHECK(wt::read_file(killed).empty());  // the control

  const std::wstring error_killed = dir.file(L"error-kill.log");
  CHECK_EQ(wt::run_raw(child + L"error-kill \"" + error_killed + L"\"", out), DWORD{9});
  lines = lines_of(error_killed);
  REQUIRE_EQ(lines.size(), std::size_t{2});
  CHECK(lines[0].find("buffered line") != std::string::npos);
  CHECK(lines[1].find("ERROR child: last words") != std::string::npos);
  if (!wt::read_file(out).empty()) wt::note("child output: " + wt::read_file(out));
}

// A full disk: the test's fixture (CMakeLists.txt) mounts a small tmpfs on
// the Unix side and fills it, since Wine's CreateFileW refuses a character
// device such as /dev/full (ERROR_INVALID_PARAMETER), which the Linux test
// uses. The control shows the volume really full as Windows reports it, and
// the same lines written to a scratch directory.
COORDKIT_TEST("a full disk is counted, never thrown") {
  const char* full = std::getenv("COORDKIT_TEST_FULL_DIR");
  REQUIRE(full != nullptr);
  const std::wstring full_dir = wt::widen(full);
  ULARGE_INTEGER free_bytes{};
  REQUIRE(::GetDiskFreeSpaceExW((full_dir + L"\\").c_str(), &free_bytes, nullptr, nullptr));
  CHECK_EQ(free_bytes.QuadPart, 0ULL);
  for (const std::size_t buffer : {std::size_t{0}, std::size_t{4096}}) {
    wt::ScratchDir dir;
    for (const std::wstring& path : {full_dir + L"\\app.log", dir.file(L"app.log")}) {
      const bool on_full = path.rfind(full_dir, 0) == 0;
      lg::FileSinkOptions o = quiet(path);
      o.buffer_bytes = buffer;
      lg::FileSink sink(std::move(o));
      for (int i = 0; i < 3; ++i) write_one(sink, lg::Level::kInfo, "no room");
      sink.flush();
      const lg::SinkStats stats = sink.stats();
      wt::note((on_full ? "full disk" : "control") + std::string(", buffer ") +
               std::to_string(buffer));
      CHECK_EQ(stats.lines_written, std::uint64_t{on_full ? 0u : 3u});
      CHECK_EQ(stats.lines_dropped, std::uint64_t{on_full ? 3u : 0u});
      CHECK_EQ(stats.failed_writes >= 1, on_full);
      CHECK_EQ(stats.last_os_error, on_full ? static_cast<int>(ERROR_DISK_FULL) : 0);
    }
    ::DeleteFileW((full_dir + L"\\app.log").c_str());
  }
}

COORDKIT_TEST("bad options are invalid_argument; a directory as the path is access denied") {
  wt::ScratchDir dir;
  CHECK_THROWS_CODE(lg::FileSink({.path = ""}), lg::Error, lg::ErrorCode::kInvalidArgument);
  CHECK_THROWS_CODE(lg::FileSink({.path = utf8(dir.file(L"a.log")), .max_files = 0}), lg::Error,
                    lg::ErrorCode::kInvalidArgument);
  // Windows refuses to open a directory for writing (Linux: EISDIR).
  try {
    lg::FileSink sink({.path = utf8(dir.path())});
    CHECK(false);
  } catch (const lg::Error& e) {
    CHECK(e.code() == lg::ErrorCode::kOpenFailed);
    CHECK_EQ(e.os_error(), static_cast<int>(ERROR_ACCESS_DENIED));
  }
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

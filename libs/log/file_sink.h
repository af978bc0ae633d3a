// coordkit/log/file_sink.h: a log file with size-based rotation.
//
// A FileSink appends text lines or JSON lines (format.h) to one file,
// through to_ascii(), so the file is pure ASCII. Before a line would push the
// file past max_bytes it rotates: app.log.(N-2) -> app.log.(N-1), ...,
// app.log -> app.log.1, and a fresh app.log, so at most max_files files
// exist and a line is never split across two of them. If the file is removed
// or replaced underneath (by hand or by an external logrotate), the next
// write reopens `path`.
//
// Lines are buffered (64 KiB by default) and written with one write() per
// buffer. They reach the file:
//   - when the buffer is full: the background thread (below) writes it while lines
//     go on into a second buffer, so the logging thread does not wait for
//     the disk (it writes itself only when both buffers are full);
//   - at once for a record at flush_level or above (Level::kError by default),
//     together with everything before it;
//   - within flush_interval (1 s by default) from a background thread, so a
//     quiet server's last lines do not wait for the next one;
//   - on flush(), on destruction, and at exit(): every live FileSink is
//     flushed by an atexit handler (not on _exit(), abort() or a crash).
// buffer_bytes = 0 writes each line at once: one write() and one stat() (the
// removed-file check) per line, several times slower, but a crash then loses
// nothing.
//
// Rotation never renames onto an existing file: the oldest file is unlinked
// while held open, and its descriptor is closed by the background thread
// (freeing a file of megabytes takes milliseconds, which a logging thread
// should not wait for; renaming onto an existing file would also make ext4
// start writing the renamed file out at once).
//
// Windows: the same, on CreateFileW (FILE_APPEND_DATA, sharing read, write
// and delete, not inheritable), WriteFile and MoveFileExW; a removed or
// replaced file is noticed by opening the name and comparing volume serial
// and file index. A reader that follows the file (sharing delete) does not
// hold rotation back: the oldest file is renamed aside and deleted, gone
// once the reader closes it. A reader that opens the file without
// FILE_SHARE_DELETE keeps it from being renamed: rotation then waits for a
// later line, and the live file grows meanwhile. Error numbers in stats() are GetLastError()
// values there.
//
// One process writes a given file: two processes rotating the same file
// would lose lines. Start children with posix_spawn or fork+exec (as
// coordkit::spawn does); a child that fork()s and keeps running would
// inherit the unflushed buffer and write those lines a second time. A failed write (disk full, I/O
// error, the directory gone) drops the lines it carried, is counted in stats(), and is retried with
// the next lines; the sink never throws after construction.
//
// Example:
//
//   #include "coordkit/log/log.h"
//
//   auto file = std::make_shared<coordkit::log::FileSink>(coordkit::log::FileSinkOptions{
//       .path = "/var/log/gateway/gateway.log",
//       .format = coordkit::log::Format::kJson,
//       .max_bytes = 10'000'000,
//       .max_files = 5,
//   });
//   coordkit::log::Logger log("gateway", {file});
//   log.error("database unreadable", {{"code", 26}});  // written at once

#ifndef COORDKIT_LOG_FILE_SINK_H_
#define COORDKIT_LOG_FILE_SINK_H_

#ifdef _WIN32
#include <windows.h>
#else
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif
#include <sys/types.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#ifndef _WIN32
#include "coordkit/base/file_id.h"
#include "coordkit/base/unique_fd.h"
#endif
#include "coordkit/log/error.h"
#include "coordkit/log/format.h"
#include "coordkit/log/internal/exit_flush.h"
#ifndef _WIN32
#include "coordkit/log/internal/fd_io.h"
#endif
#include "coordkit/log/internal/line_format.h"
#include "coordkit/log/record.h"
#include "coordkit/log/sink.h"
#include "coordkit/log/to_ascii.h"

namespace coordkit::log {

#ifdef _WIN32
namespace internal {

// WinFileKey: a file by volume serial number and file index.
struct WinFileKey {
  DWORD volume = 0;
  std::uint64_t index = 0;
  friend bool operator==(const WinFileKey&, const WinFileKey&) = default;
};

// WinFileFacts: the key and size of the file behind `h`; false on failure.
inline bool win_file_facts(HANDLE h, WinFileKey& key, std::uint64_t& size) noexcept {
  BY_HANDLE_FILE_INFORMATION info{};
  if (!::GetFileInformationByHandle(h, &info)) return false;
  key = {info.dwVolumeSerialNumber,
         (static_cast<std::uint64_t>(info.nFileIndexHigh) << 32) | info.nFileIndexLow};
  size = (static_cast<std::uint64_t>(info.nFileSizeHigh) << 32) | info.nFileSizeLow;
  return true;
}

// win_utf16: a UTF-8 path as UTF-16; false for invalid UTF-8.
inline bool win_utf16(const std::string& utf8, std::wstring& out) {
  out.clear();
  if (utf8.empty()) return true;
  const int n = ::MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, utf8.data(),
                                      static_cast<int>(utf8.size()), nullptr, 0);
  if (n <= 0) return false;
  out.resize(static_cast<std::size_t>(n));
  ::MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, utf8.data(), static_cast<int>(utf8.size()),
                        out.data(), n);
  return true;
}

// win_write_all: WriteFile until data[0, n) is written; 0 or the
// GetLastError() value; `written` receives the bytes written either way.
inline int win_write_all(HANDLE h, const char* data, std::size_t n, std::size_t* written) noexcept {
  *written = 0;
  while (n > 0) {
    const DWORD want = n > 0x40000000 ? 0x40000000 : static_cast<DWORD>(n);
    DWORD done = 0;
    if (!::WriteFile(h, data, want, &done, nullptr)) return static_cast<int>(::GetLastError());
    if (done == 0) return ERROR_WRITE_FAULT;
    data += done;
    n -= done;
    *written += done;
  }
  return 0;
}

}  // namespace internal
#endif

// FileSinkOptions: everything a FileSink needs; only `path` is required.
struct FileSinkOptions {
  // The live log file. Its directory must exist.
  std::string path;
  // Text lines for people, or JSON lines for programs.
  Format format = Format::kText;
  // Rotate before a line would make the file larger than this; 0 never
  // rotates. A single line longer than max_bytes gets a file of its own.
  std::uint64_t max_bytes = std::uint64_t{16} << 20;  // 16 MiB
  // Files kept, the live one included: path, path.1 ... path.(max_files-1).
  // At least 1 (then rotation starts the file afresh).
  int max_files = 5;
  // Bytes buffered before a write(); 0 writes every line at once.
  std::size_t buffer_bytes = std::size_t{64} << 10;  // 64 KiB
  // Records at this level or above are written through at once, with all
  // lines buffered before them.
  Level flush_level = Level::kError;
  // A background thread writes buffered lines out this often; 0 disables it
  // (then lines wait for a full buffer, flush_level, flush() or exit).
  // Ignored when buffer_bytes is 0.
  std::chrono::milliseconds flush_interval{1000};
  // Permissions of a newly created file (before the umask): owner-only by
  // default, since logs of a service can say more than its users should see.
  // Windows: ignored; a new file gets its directory's inheritable DACL.
  mode_t file_mode = 0600;
};

// FileSink: see the top of this file.
//
// Thread-safety: write(), flush() and reopen() may be called from any number
// of threads; lines are appended whole and never interleave. Construction
// throws Error(kInvalidArgument) for an empty path or max_files < 1 and
// Error(kOpenFailed) (with the errno) if the file cannot be opened; after
// that, nothing throws. The descriptor is close-on-exec.
class FileSink final : public Sink {
 public:
  explicit FileSink(FileSinkOptions options) : options_(std::move(options)) {
    if (options_.path.empty()) {
      throw Error(ErrorCode::kInvalidArgument, "FileSinkOptions::path is empty");
    }
    if (options_.max_files < 1) {
      throw Error(ErrorCode::kInvalidArgument, "FileSinkOptions::max_files must be at least 1");
    }
    for (int i = 1; i < options_.max_files; ++i) {
      rotated_paths_.push_back(options_.path + "." + std::to_string(i));
    }
    if (options_.buffer_bytes > 0) {
      buffer_ = std::make_unique_for_overwrite<char[]>(options_.buffer_bytes);
      spare_ = std::make_unique_for_overwrite<char[]>(options_.buffer_bytes);
    }
#ifdef _WIN32
    bool utf8 = internal::win_utf16(options_.path, wide_path_);
    for (const std::string& rotated : rotated_paths_) {
      wide_rotated_.emplace_back();
      utf8 = utf8 && internal::win_utf16(rotated, wide_rotated_.back());
    }
    if (!utf8) {
      throw Error(ErrorCode::kOpenFailed, "log file path is not UTF-8: " + to_ascii(options_.path),
                  ERROR_NO_UNICODE_TRANSLATION);
    }
#endif
    if (const int error = open_locked(); error != 0) {
      throw Error(ErrorCode::kOpenFailed, "cannot open log file " + to_ascii(options_.path), error);
    }
    known_bytes_ = file_bytes_;
    try {
      internal::ExitFlushList::instance().add(this);
      if (background_) flusher_ = std::thread([this] { run_flusher(); });
    } catch (...) {
      internal::ExitFlushList::instance().remove(this);
      throw;
    }
  }

  // ~FileSink: stops the flusher thread, writes what is buffered, closes.
  ~FileSink() override {
    internal::ExitFlushList::instance().remove(this);
    {
      const std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    if (flusher_.joinable()) flusher_.join();
    std::unique_lock lock(mutex_);
    write_out(lock, true);
#ifndef _WIN32
    retired_.reset();
#endif
    lock.unlock();
    const std::lock_guard io(io_mutex_);
    close_locked();
  }

  void write(const Record& record) noexcept override {
    internal::LineBuffer& line = internal::thread_line_buffer();
    try {
      internal::format_record(record, options_.format, line);
    } catch (...) {  // std::bad_alloc
      count_failed_write(1, ENOMEM);
      return;
    }
    std::unique_lock lock(mutex_);
    append_locked(lock, line.data(), line.size());
    if (record.level >= options_.flush_level) write_out(lock, true);
  }

  void flush() noexcept override {
    std::unique_lock lock(mutex_);
    write_out(lock, true);
  }

  // reopen: writes what is buffered, then closes and reopens `path` (for a
  // program that rotates its logs by other means and signals the server).
  // Not needed after removal or replacement: writes detect that themselves.
  // An open failure is counted at the next write.
  void reopen() noexcept {
    std::unique_lock lock(mutex_);
    const std::unique_lock io = lock_io(lock);
    drain_locked(lock, true);
    lock.unlock();
    close_locked();
    open_locked();
    const std::uint64_t bytes = file_bytes_;
    lock.lock();
    known_bytes_ = bytes;
  }

  // path: the live log file.
  const std::string& path() const noexcept { return options_.path; }

 private:
  // Two locks: mutex_ guards the buffers and is held only to copy a line in
  // or to swap buffers; io_mutex_ guards the file and is held across
  // write(), stat() and rotation. A thread that needs both takes io_mutex_
  // first (lock_io). Buffers are written in the order they were filled, by
  // whoever holds io_mutex_, so lines are never reordered.

  // lock_io: takes io_mutex_ for a caller that holds mutex_ through `lock`
  // (released meanwhile, held again on return).
  std::unique_lock<std::mutex> lock_io(std::unique_lock<std::mutex>& lock) noexcept {
    lock.unlock();
    std::unique_lock io(io_mutex_);
    lock.lock();
    return io;
  }

  // write_out: writes the buffer handed to the background thread and, if
  // `everything`, the one being filled. Needs mutex_ (through `lock`).
  void write_out(std::unique_lock<std::mutex>& lock, bool everything) noexcept {
    const std::unique_lock io = lock_io(lock);
    drain_locked(lock, everything);
  }

  // drain_locked: write_out with both locks held; mutex_ is released during
  // each write(). Returns with nothing handed off and, if `everything`,
  // nothing buffered (lines that arrive meanwhile are written too).
  void drain_locked(std::unique_lock<std::mutex>& lock, bool everything) noexcept {
    for (;;) {
      std::unique_ptr<char[]> chunk;
      std::size_t bytes = 0;
      std::uint64_t lines = 0;
      if (handed_off_) {
        chunk = std::move(handed_off_);
        bytes = handed_off_bytes_;
        lines = handed_off_lines_;
      } else if (everything && buffered_ > 0) {
        // With io_mutex_ held and nothing handed off, spare_ is free.
        chunk = std::exchange(buffer_, std::move(spare_));
        bytes = std::exchange(buffered_, 0);
        lines = std::exchange(buffered_lines_, 0);
        unwritten_ += bytes;
      } else {
        return;
      }
      lock.unlock();
      write_chunk_locked(chunk.get(), bytes, lines);
      const std::uint64_t file_bytes = file_bytes_;
      lock.lock();
      spare_ = std::move(chunk);
      unwritten_ -= bytes;
      known_bytes_ = file_bytes;
    }
  }

  // append_locked: adds one formatted line, rotating first if it would not
  // fit in the current file. Needs mutex_ (through `lock`). Whenever mutex_
  // was let go, other threads may have added lines, so the sizes are looked
  // at afresh.
  void append_locked(std::unique_lock<std::mutex>& lock, const char* data, std::size_t n) noexcept {
    // A rotation that could not move the file (a reader holding it without
    // delete sharing, on Windows; a rename refused) leaves it over the
    // limit: the line then goes into it, rather than trying again forever.
    bool rotation_failed = false;
    for (;;) {
      const std::uint64_t planned = known_bytes_ + unwritten_ + buffered_;
      const bool over = !rotation_failed && options_.max_bytes != 0 && planned != 0 &&
                        planned + n > options_.max_bytes;
      if (!over && n <= options_.buffer_bytes) {
        if (n > options_.buffer_bytes - buffered_ && background_ && !handed_off_ && spare_) {
          handed_off_ = std::exchange(buffer_, std::move(spare_));
          handed_off_bytes_ = std::exchange(buffered_, 0);
          handed_off_lines_ = std::exchange(buffered_lines_, 0);
          unwritten_ += handed_off_bytes_;
          wake_.notify_one();
        }
        if (n <= options_.buffer_bytes - buffered_) {
          std::memcpy(buffer_.get() + buffered_, data, n);
          buffered_ += n;
          ++buffered_lines_;
          return;
        }
      }
      // With the file to ourselves and everything before this line written
      // (known_bytes_ is then the file as it is now, and nothing is
      // buffered): rotate, write a line too long for the buffer, or wait for
      // the disk when both buffers are full.
      const std::unique_lock io = lock_io(lock);
      drain_locked(lock, true);
      if (!rotation_failed && options_.max_bytes != 0 && known_bytes_ != 0 &&
          known_bytes_ + n > options_.max_bytes) {
        lock.unlock();
#ifdef _WIN32
        rotate_locked();
#else
        coordkit::UniqueFd oldest = rotate_locked();
#endif
        const std::uint64_t bytes = file_bytes_;
        lock.lock();
        known_bytes_ = bytes;
        rotation_failed = bytes != 0 && bytes + n > options_.max_bytes;
#ifndef _WIN32
        if (background_) {
          // A descriptor still waiting is closed here; rotations are
          // rarely that close together.
          std::swap(retired_, oldest);
          wake_.notify_one();
        }
#endif
        continue;
      }
      if (n > options_.buffer_bytes) {
        unwritten_ += n;  // counted by lines that others add meanwhile
        lock.unlock();
        write_chunk_locked(data, n, 1);
        const std::uint64_t bytes = file_bytes_;
        lock.lock();
        unwritten_ -= n;
        known_bytes_ = bytes;
        return;
      }
      std::memcpy(buffer_.get(), data, n);  // drained: the buffer is empty
      buffered_ = n;
      buffered_lines_ = 1;
      return;
    }
  }

  // write_chunk_locked: writes whole lines to the file, reopening it first
  // if it went away; counts the outcome. Needs io_mutex_.
  void write_chunk_locked(const char* data, std::size_t n, std::uint64_t lines) noexcept {
    int error = ensure_open_locked();
    if (error == 0 && partial_line_) {
      // A write failed mid-line earlier; end that fragment so this chunk
      // starts on a line of its own.
      std::size_t one = 0;
      error = write_locked("\n", 1, &one);
      if (error == 0) {
        partial_line_ = false;
        ++file_bytes_;
      }
    }
    if (error == 0) {
      std::size_t written = 0;
      error = write_locked(data, n, &written);
      file_bytes_ += written;
      if (error != 0 && written != 0 && data[written - 1] != '\n') partial_line_ = true;
    }
    if (error == 0) {
      count_lines_written(lines);
    } else {
      count_failed_write(lines, error);
    }
  }

#ifdef _WIN32
  // ensure_open_locked: makes file_ refer to the file now at `path`:
  // reopens (creating it) if it was closed, or if the name is gone or names
  // another file (compared by volume serial and file index). One open of
  // the name (attributes only, sharing everything) per buffer written.
  // Returns 0 or a GetLastError() value.
  int ensure_open_locked() noexcept {
    if (file_ != INVALID_HANDLE_VALUE) {
      const HANDLE probe =
          ::CreateFileW(wide_path_.c_str(), FILE_READ_ATTRIBUTES,
                        FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr,
                        OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS, nullptr);
      if (probe != INVALID_HANDLE_VALUE) {
        internal::WinFileKey key;
        std::uint64_t size = 0;
        const bool known = internal::win_file_facts(probe, key, size);
        ::CloseHandle(probe);
        if (!known) return 0;  // cannot tell: keep writing where we are
        if (key == key_) {
          file_bytes_ = size;  // also catches a truncation by another program
          return 0;
        }
      } else {
        const DWORD err = ::GetLastError();
        // A name deleted while we hold the file (delete pending, without
        // POSIX semantics) cannot be opened and stays so while our handle
        // lives: closing it frees the name, and the reopen makes a new
        // file. Anything else: keep writing where we are.
        FILE_STANDARD_INFO info{};
        const bool pending =
            ::GetFileInformationByHandleEx(file_, FileStandardInfo, &info, sizeof info) &&
            info.DeletePending;
        if (!pending && err != ERROR_FILE_NOT_FOUND && err != ERROR_PATH_NOT_FOUND) return 0;
      }
      close_locked();
    }
    return open_locked();
  }

  // open_locked: FILE_APPEND_DATA (every write lands at the end), sharing
  // read, write and delete: a reader may follow the file, and the file may
  // be renamed or deleted while open (rotation by us or by another
  // program). Not inheritable (the analog of close-on-exec).
  int open_locked() noexcept {
    const HANDLE h = ::CreateFileW(wide_path_.c_str(), FILE_APPEND_DATA | FILE_READ_ATTRIBUTES,
                                   FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr,
                                   OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, nullptr);
    if (h == INVALID_HANDLE_VALUE) return static_cast<int>(::GetLastError());
    internal::WinFileKey key;
    std::uint64_t size = 0;
    if (!internal::win_file_facts(h, key, size)) {
      const DWORD err = ::GetLastError();
      ::CloseHandle(h);
      return static_cast<int>(err);
    }
    file_ = h;
    key_ = key;
    file_bytes_ = size;
    partial_line_ = false;
    return 0;
  }

  void close_locked() noexcept {
    if (file_ != INVALID_HANDLE_VALUE) ::CloseHandle(file_);
    file_ = INVALID_HANDLE_VALUE;
  }

  int write_locked(const char* data, std::size_t n, std::size_t* written) noexcept {
    return internal::win_write_all(file_, data, n, written);
  }

  // retire_locked: removes `path` even while a reader holds it open
  // (sharing delete): first renamed to a name of its own, then deleted.
  // DeleteFileW alone would leave the name taken until the reader closes
  // (delete pending), and a rename over it fails while it is open.
  void retire_locked(const std::wstring& path) noexcept {
    const std::wstring aside = path + L"." + std::to_wstring(::GetCurrentProcessId()) + L"-" +
                               std::to_wstring(++retired_) + L".deleted";
    if (::MoveFileExW(path.c_str(), aside.c_str(), 0)) {
      ::DeleteFileW(aside.c_str());
    } else if (::GetLastError() != ERROR_FILE_NOT_FOUND) {
      ::DeleteFileW(path.c_str());
    }
  }

  // rotate_locked: as on POSIX: the oldest file retired, then
  // path.(N-2) -> path.(N-1), ..., path -> path.1 with MoveFileExW, each to
  // a name that is free by then. A rename fails while another program has
  // the file open without FILE_SHARE_DELETE: the files then stay where they
  // are and the live file keeps growing, no line is lost.
  void rotate_locked() noexcept {
    close_locked();
    if (wide_rotated_.empty()) {
      retire_locked(wide_path_);
    } else {
      retire_locked(wide_rotated_.back());
      for (std::size_t i = wide_rotated_.size() - 1; i > 0; --i) {
        ::MoveFileExW(wide_rotated_[i - 1].c_str(), wide_rotated_[i].c_str(), 0);
      }
      ::MoveFileExW(wide_path_.c_str(), wide_rotated_[0].c_str(), 0);
    }
    open_locked();  // a failure is counted by the next write
  }
#else
  // ensure_open_locked: makes fd_ refer to the file now at `path`: reopens
  // (creating it) if it was closed, removed or replaced by another file.
  // One stat() per buffer written. Returns 0 or an errno.
  int ensure_open_locked() noexcept {
    if (fd_) {
      struct stat st {};
      if (::stat(options_.path.c_str(), &st) == 0) {
        if (coordkit::file_id(st) == id_) {
          // Also catches a truncation by `logrotate copytruncate`.
          if (S_ISREG(st.st_mode)) file_bytes_ = static_cast<std::uint64_t>(st.st_size);
          return 0;
        }
      } else if (errno != ENOENT) {
        return 0;  // cannot tell (EACCES, ...): keep writing where we are
      }
      close_locked();
    }
    return open_locked();
  }

  int open_locked() noexcept {
    coordkit::UniqueFd fd(::open(options_.path.c_str(),
                                 O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY,
                                 options_.file_mode));
    if (!fd) return errno;
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return errno;
    fd_ = std::move(fd);
    id_ = coordkit::file_id(st);
    file_bytes_ = S_ISREG(st.st_mode) ? static_cast<std::uint64_t>(st.st_size) : 0;
    partial_line_ = false;
    return 0;
  }

  void close_locked() noexcept { fd_.reset(); }

  int write_locked(const char* data, std::size_t n, std::size_t* written) noexcept {
    return internal::write_all(fd_.get(), data, n, written);
  }

  // rotate_locked: the oldest file unlinked, then path.(N-2) -> path.(N-1),
  // ..., path -> path.1, each onto a name that is free by then, then a new
  // path. Rename failures leave files where they are (the live file then
  // keeps growing) rather than losing lines. Returns the unlinked file, held
  // open (or nothing): closing it frees its pages, which is the slow part.
  coordkit::UniqueFd rotate_locked() noexcept {
    coordkit::UniqueFd oldest;
    if (rotated_paths_.empty()) {
      ::unlink(options_.path.c_str());
      oldest = std::move(fd_);
    } else {
      close_locked();
      const std::string& last = rotated_paths_.back();
      oldest.reset(::open(last.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
      ::unlink(last.c_str());
      for (std::size_t i = rotated_paths_.size() - 1; i > 0; --i) {
        ::rename(rotated_paths_[i - 1].c_str(), rotated_paths_[i].c_str());
      }
      ::rename(options_.path.c_str(), rotated_paths_[0].c_str());
    }
    open_locked();  // a failure is counted by the next write
    return oldest;
  }

#endif

  // run_flusher: the background thread. Writes a buffer handed off as soon
  // as it is, everything buffered every flush_interval, and closes a file
  // that rotation unlinked; none of it under mutex_.
  void run_flusher() noexcept {
    using Steady = std::chrono::steady_clock;
    std::unique_lock lock(mutex_);
    Steady::time_point next = Steady::now() + options_.flush_interval;
    while (!stop_) {
      const Steady::time_point now = Steady::now();
      const bool due = now >= next;
#ifdef _WIN32
      const bool retired = false;
#else
      const bool retired = static_cast<bool>(retired_);
#endif
      if (!due && !handed_off_ && !retired) {
        wake_.wait_until(lock, next);
        continue;
      }
      if (due) next = now + options_.flush_interval;
      write_out(lock, due);
#ifndef _WIN32
      coordkit::UniqueFd oldest = std::move(retired_);
      lock.unlock();
      oldest.reset();
      lock.lock();
#endif
    }
  }

  const FileSinkOptions options_;
  std::vector<std::string> rotated_paths_;  // path.1 ... path.(max_files-1)

#ifdef _WIN32
  std::wstring wide_path_;                  // options_.path as UTF-16
  std::vector<std::wstring> wide_rotated_;  // rotated_paths_ as UTF-16
#endif

  // Whether a background thread runs (buffering and a flush_interval).
  const bool background_ = options_.buffer_bytes > 0 && options_.flush_interval.count() > 0;

  std::mutex io_mutex_;  // guards the file: everything up to partial_line_
#ifdef _WIN32
  HANDLE file_ = INVALID_HANDLE_VALUE;
  internal::WinFileKey key_;   // of the file file_ has open
  std::uint64_t retired_ = 0;  // files retired, for unique names
#else
  coordkit::UniqueFd fd_;
  coordkit::FileId id_;  // of the file fd_ has open
#endif
  std::uint64_t file_bytes_ = 0;  // size of the live file as last known
  bool partial_line_ = false;     // the file ends in a fragment of a failed write

  std::mutex mutex_;                    // guards everything below
  std::unique_ptr<char[]> buffer_;      // being filled
  std::size_t buffered_ = 0;            // bytes in buffer_
  std::uint64_t buffered_lines_ = 0;    // lines in buffer_
  std::unique_ptr<char[]> handed_off_;  // full, for the background thread to write
  std::size_t handed_off_bytes_ = 0;
  std::uint64_t handed_off_lines_ = 0;
  std::unique_ptr<char[]> spare_;  // free (null while handed off or being written)
  std::uint64_t unwritten_ = 0;    // bytes handed off or being written
  std::uint64_t known_bytes_ = 0;  // file_bytes_ as of the last write
#ifndef _WIN32
  coordkit::UniqueFd retired_;  // unlinked by rotation, for the background thread to close
#endif
  bool stop_ = false;
  std::condition_variable wake_;
  std::thread flusher_;
};

}  // namespace coordkit::log

#endif  // COORDKIT_LOG_FILE_SINK_H_

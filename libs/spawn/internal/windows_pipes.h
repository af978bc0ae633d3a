// Internal (Windows): the parent's ends of a child's stdio pipes, serviced
// together with overlapped I/O so that no order of reads and writes can
// deadlock; the same class as posix_pipes.h.
//
// Anonymous pipes (CreatePipe) cannot do overlapped I/O, so each pipe is a
// uniquely named pipe (\\.\pipe\coordkit-spawn-<pid>-<n>) whose server end,
// opened FILE_FLAG_OVERLAPPED and never inherited, stays here; the child's
// end is opened with CreateFileW, inheritable, and handed over by the handle
// list (windows_spawn.h). Reads and writes in flight live in a heap object,
// so a moved ChildPipes keeps their OVERLAPPED and buffers in place.
#ifndef COORDKIT_SPAWN_INTERNAL_WINDOWS_PIPES_H_
#define COORDKIT_SPAWN_INTERNAL_WINDOWS_PIPES_H_

#include <windows.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "coordkit/spawn/error.h"
#include "coordkit/spawn/internal/native_handle.h"
#include "coordkit/spawn/internal/windows_process.h"

namespace coordkit::spawn::internal {

// PipePair: the parent's overlapped end and the child's inheritable end.
struct PipePair {
  NativeHandle parent;
  NativeHandle child;
};

// make_pipe: a pipe for the child's stdin (`child_reads`) or stdout/stderr.
inline PipePair make_pipe(bool child_reads) {
  static std::atomic<unsigned> counter{0};
  const std::wstring name = L"\\\\.\\pipe\\coordkit-spawn-" +
                            std::to_wstring(::GetCurrentProcessId()) + L"-" +
                            std::to_wstring(counter++) + L"-" + std::to_wstring(::GetTickCount64());
  const DWORD access = (child_reads ? PIPE_ACCESS_OUTBOUND : PIPE_ACCESS_INBOUND) |
                       FILE_FLAG_OVERLAPPED | FILE_FLAG_FIRST_PIPE_INSTANCE;
  HANDLE server = ::CreateNamedPipeW(
      name.c_str(), access,
      PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS, 1, 65536, 65536,
      0, nullptr);
  if (server == INVALID_HANDLE_VALUE) throw windows_error(::GetLastError(), "CreateNamedPipeW");
  PipePair pair;
  pair.parent.reset(server);
  SECURITY_ATTRIBUTES inherit{sizeof(SECURITY_ATTRIBUTES), nullptr, TRUE};
  HANDLE client = ::CreateFileW(
      name.c_str(),
      child_reads ? (GENERIC_READ | FILE_WRITE_ATTRIBUTES) : (GENERIC_WRITE | FILE_READ_ATTRIBUTES),
      0, &inherit, OPEN_EXISTING, 0, nullptr);
  if (client == INVALID_HANDLE_VALUE) throw windows_error(::GetLastError(), "CreateFileW(pipe)");
  pair.child.reset(client);
  return pair;
}

// ChildPipes: owns the parent's ends and what has been read but not yet
// handed out. Move-only; not thread-safe.
class ChildPipes {
 public:
  enum class Stream { kOut, kErr };

  ChildPipes() = default;
  ChildPipes(NativeHandle in, NativeHandle out, NativeHandle err)
      : state_(std::make_unique<State>()) {
    state_->in.handle = std::move(in);
    state_->out.handle = std::move(out);
    state_->err.handle = std::move(err);
    state_->in_is_pipe = state_->in.handle.valid();
    state_->out_is_pipe = state_->out.handle.valid();
    state_->err_is_pipe = state_->err.handle.valid();
  }
  ChildPipes(ChildPipes&&) noexcept = default;
  ChildPipes& operator=(ChildPipes&& other) noexcept {
    if (this != &other) {
      close_all();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  ~ChildPipes() { close_all(); }

  void write_in(std::string_view data, std::optional<std::chrono::milliseconds> timeout) {
    require_in();
    state_->to_write.assign(data);
    state_->written = 0;
    pump([] { return true; }, deadline_after(timeout));
  }

  void close_in() noexcept {
    if (state_) close_end(state_->in);
  }

  std::string read_all(Stream stream, std::optional<std::chrono::milliseconds> timeout) {
    End& end = require_out(stream);
    pump([&end] { return !end.handle.valid(); }, deadline_after(timeout));
    return std::exchange(end.data, {});
  }

  std::optional<std::string> read_line(Stream stream,
                                       std::optional<std::chrono::milliseconds> timeout) {
    End& end = require_out(stream);
    pump([&end] { return !end.handle.valid() || end.data.find('\n') != std::string::npos; },
         deadline_after(timeout));
    const std::size_t newline = end.data.find('\n');
    if (newline != std::string::npos) {
      std::string line = end.data.substr(0, newline);
      end.data.erase(0, newline + 1);
      return line;
    }
    if (end.data.empty()) return std::nullopt;
    return std::exchange(end.data, {});
  }

  void communicate(std::string_view input, std::optional<std::chrono::milliseconds> timeout,
                   std::string& out, std::string& err) {
    if (!state_) return;
    if (!input.empty()) require_in();
    const Deadline deadline = deadline_after(timeout);
    if (state_->in.handle.valid()) {
      state_->to_write.assign(input);
      state_->written = 0;
      pump([] { return true; }, deadline);
      close_in();
    }
    pump([this] { return !state_->out.handle.valid() && !state_->err.handle.valid(); }, deadline);
    out = std::exchange(state_->out.data, {});
    err = std::exchange(state_->err.data, {});
  }

 private:
  // End: one pipe end and its one overlapped operation.
  struct End {
    NativeHandle handle;
    NativeHandle event;
    OVERLAPPED overlapped{};
    bool pending = false;
    char buffer[65536];
    std::string data;  // read, not yet handed out
  };
  struct State {
    End in, out, err;
    std::string to_write;
    std::size_t written = 0;
    bool in_is_pipe = false, out_is_pipe = false, err_is_pipe = false;
  };

  void require_in() {
    if (!state_ || !state_->in.handle.valid()) {
      throw Error(ErrorCode::kInvalidArgument, state_ && state_->in_is_pipe
                                                   ? "the child's stdin was already closed"
                                                   : "the child's stdin is not a pipe");
    }
  }

  End& require_out(Stream stream) {
    const bool is_pipe =
        state_ && (stream == Stream::kOut ? state_->out_is_pipe : state_->err_is_pipe);
    if (!is_pipe) {
      throw Error(ErrorCode::kInvalidArgument, stream == Stream::kOut
                                                   ? "the child's stdout is not a pipe"
                                                   : "the child's stderr is not a pipe");
    }
    return stream == Stream::kOut ? state_->out : state_->err;
  }

  // close_end: cancels an operation in flight (waiting for the cancel to
  // land, so the kernel no longer writes into `end`), then closes.
  static void close_end(End& end) noexcept {
    if (end.pending && end.handle) {
      ::CancelIoEx(end.handle.get(), &end.overlapped);
      DWORD n = 0;
      ::GetOverlappedResult(end.handle.get(), &end.overlapped, &n, TRUE);
      end.pending = false;
    }
    end.handle.reset();
  }

  void close_all() noexcept {
    if (!state_) return;
    close_end(state_->in);
    close_end(state_->out);
    close_end(state_->err);
  }

  static void prepare(End& end) {
    if (!end.event) {
      HANDLE event = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
      if (event == nullptr) throw windows_error(::GetLastError(), "CreateEventW");
      end.event.reset(event);
    }
    end.overlapped = OVERLAPPED{};
    end.overlapped.hEvent = end.event.get();
  }

  // finished_read: a read of `n` bytes completed (ok) or failed with
  // `error`. EOF (the child's end closed: ERROR_BROKEN_PIPE) and read
  // errors close our end; a zero-byte read (a zero-byte write) does not.
  static void finished_read(End& end, bool ok, DWORD n, DWORD error) {
    end.pending = false;
    if (n > 0 && (ok || error == ERROR_MORE_DATA)) {
      end.data.append(end.buffer, n);
    } else if (!ok) {
      end.handle.reset();
    }
  }

  // start_read: issues reads on `end` until one is in flight or it closes.
  static void start_read(End& end) {
    while (end.handle && !end.pending) {
      prepare(end);
      DWORD n = 0;
      if (::ReadFile(end.handle.get(), end.buffer, sizeof end.buffer, &n, &end.overlapped)) {
        finished_read(end, true, n, 0);
        continue;
      }
      const DWORD error = ::GetLastError();
      if (error == ERROR_IO_PENDING) {
        end.pending = true;
        return;
      }
      finished_read(end, false, n, error);
    }
  }

  // start_write: issues a write of what is left, unless one is in flight.
  void start_write() {
    End& in = state_->in;
    while (in.handle && !in.pending && state_->written < state_->to_write.size()) {
      prepare(in);
      const std::size_t left = state_->to_write.size() - state_->written;
      const DWORD chunk = left > 65536 ? 65536 : static_cast<DWORD>(left);
      DWORD n = 0;
      if (::WriteFile(in.handle.get(), state_->to_write.data() + state_->written, chunk, &n,
                      &in.overlapped)) {
        state_->written += n;
        continue;
      }
      const DWORD error = ::GetLastError();
      if (error == ERROR_IO_PENDING) {
        in.pending = true;
        return;
      }
      fail_write(error);
    }
  }

  [[noreturn]] void fail_write(DWORD error) {
    close_end(state_->in);
    state_->to_write.clear();
    state_->written = 0;
    // A reader that went away: ERROR_NO_DATA (EPIPE on POSIX).
    throw Error(ErrorCode::kSystem, "writing the child's stdin", static_cast<int>(error));
  }

  bool writing() const { return state_->written < state_->to_write.size(); }

  // pump: services stdin (while there is something to write), stdout and
  // stderr until nothing is left to write and done() holds, or until
  // nothing is left open.
  template <class Done>
  void pump(Done done, const Deadline& deadline) {
    if (!state_) return;
    for (;;) {
      if (writing()) start_write();
      start_read(state_->out);
      start_read(state_->err);
      if (!writing() && done()) return;
      HANDLE events[3];
      End* ends[3];
      DWORD count = 0;
      for (End* end : {&state_->in, &state_->out, &state_->err}) {
        if (end->pending) {
          events[count] = end->event.get();
          ends[count++] = end;
        }
      }
      if (count == 0) {
        if (writing()) fail_write(ERROR_NO_DATA);
        return;  // everything is closed: nothing more can come
      }
      const DWORD r = ::WaitForMultipleObjects(count, events, FALSE, wait_ms(deadline));
      if (r == WAIT_TIMEOUT)
        throw Error(ErrorCode::kTimedOut, "timed out servicing the child's pipes");
      if (r >= WAIT_OBJECT_0 + count) {
        throw windows_error(::GetLastError(), "WaitForMultipleObjects(child pipes)");
      }
      End& end = *ends[r - WAIT_OBJECT_0];
      DWORD n = 0;
      const bool ok = ::GetOverlappedResult(end.handle.get(), &end.overlapped, &n, FALSE);
      const DWORD error = ok ? 0 : ::GetLastError();
      if (&end == &state_->in) {
        end.pending = false;
        if (!ok) fail_write(error);
        state_->written += n;
      } else {
        finished_read(end, ok, n, error);
      }
    }
  }

  std::unique_ptr<State> state_;
};

}  // namespace coordkit::spawn::internal

#endif  // COORDKIT_SPAWN_INTERNAL_WINDOWS_PIPES_H_

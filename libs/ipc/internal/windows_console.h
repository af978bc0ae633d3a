// Internal (Windows): Ctrl+C, Ctrl+Break and console close into the shutdown
// path, the counterpart of signals.h.
//
// SetConsoleCtrlHandler registers a routine that the system calls on a new
// thread of the process when its console delivers CTRL_C_EVENT,
// CTRL_BREAK_EVENT or CTRL_CLOSE_EVENT. The routine only counts the event
// and sets an event object the watcher waits on. For a close, Windows ends
// the process once the routine returns (or after about 5 s): the routine
// then waits, up to kCloseGrace, for the Server to finish (its destructor
// signals it), so a closed console drains like a Ctrl+C instead of cutting
// the server off.
//
// A process without a console never receives these events; registering the
// routine is harmless there. A process started with CREATE_NEW_PROCESS_GROUP
// has Ctrl+C turned off by its creator (Ctrl+Break still arrives); this
// library leaves that choice alone.
#ifndef COORDKIT_IPC_INTERNAL_WINDOWS_CONSOLE_H_
#define COORDKIT_IPC_INTERNAL_WINDOWS_CONSOLE_H_

#include <atomic>
#include <chrono>

#include "coordkit/ipc/error.h"
#include "coordkit/ipc/internal/windows.h"

namespace coordkit::ipc::internal {

// kCloseGrace: how long a console close waits for the drain (Windows allows
// about 5 s before it ends the process anyway).
inline constexpr std::chrono::milliseconds kCloseGrace{4500};

struct ConsoleEvents {
  HANDLE arrived = nullptr;   // auto-reset: set when an event was counted
  HANDLE finished = nullptr;  // manual-reset: set when the Server is done
};

// The event objects live for the whole process (never closed): a handler
// thread may still be running when a Server goes away.
inline const ConsoleEvents& console_events() {
  static const ConsoleEvents events = [] {
    ConsoleEvents out;
    out.arrived = ::CreateEventW(nullptr, FALSE, FALSE, nullptr);
    out.finished = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
    if (out.arrived == nullptr || out.finished == nullptr) throw_win32("CreateEventW");
    return out;
  }();
  return events;
}

inline std::atomic<int> g_console_pending{0};
inline std::atomic<bool> g_console_owner{false};
inline std::atomic<bool> g_console_active{false};

inline BOOL WINAPI coordkit_ipc_console_handler(DWORD event) {
  if (event != CTRL_C_EVENT && event != CTRL_BREAK_EVENT && event != CTRL_CLOSE_EVENT) {
    return FALSE;  // logoff/shutdown: the default handling
  }
  if (!g_console_active.load()) return FALSE;
  const ConsoleEvents& events = console_events();
  g_console_pending.fetch_add(1);
  ::SetEvent(events.arrived);
  if (event == CTRL_CLOSE_EVENT) {
    ::WaitForSingleObject(events.finished, static_cast<DWORD>(kCloseGrace.count()));
  }
  return TRUE;
}

// ConsoleCatcher: while alive, Ctrl+C, Ctrl+Break and console close are
// counted and signalled through arrived_event() instead of ending the
// process. One per process at a time.
class ConsoleCatcher {
 public:
  // ConsoleCatcher: throws Error{kInvalidArgument} if another is alive,
  // Error{kSystem} if SetConsoleCtrlHandler fails.
  ConsoleCatcher() {
    bool expected = false;
    if (!g_console_owner.compare_exchange_strong(expected, true)) {
      throw Error(ErrorCode::kInvalidArgument,
                  "another coordkit::ipc::Server in this process already handles console events");
    }
    try {
      const ConsoleEvents& events = console_events();
      ::ResetEvent(events.finished);
      drain();
      g_console_active.store(true);
      if (!::SetConsoleCtrlHandler(&coordkit_ipc_console_handler, TRUE)) {
        throw_win32("SetConsoleCtrlHandler");
      }
    } catch (...) {
      g_console_active.store(false);
      g_console_owner.store(false);
      throw;
    }
  }
  ConsoleCatcher(const ConsoleCatcher&) = delete;
  ConsoleCatcher& operator=(const ConsoleCatcher&) = delete;
  ~ConsoleCatcher() {
    ::SetConsoleCtrlHandler(&coordkit_ipc_console_handler, FALSE);
    g_console_active.store(false);
    finished();
    g_console_owner.store(false);
  }

  HANDLE arrived_event() const { return console_events().arrived; }

  // drain: how many events arrived since the last drain. Never blocks.
  int drain() { return g_console_pending.exchange(0); }

  // finished: lets a waiting close handler return (the drain is done).
  void finished() { ::SetEvent(console_events().finished); }
};

}  // namespace coordkit::ipc::internal

#endif  // COORDKIT_IPC_INTERNAL_WINDOWS_CONSOLE_H_

// ExitFlushList: flushes buffered sinks when the process exits. Not API.
//
// A FileSink registers itself while it lives. The first registration installs
// one std::atexit handler, which flushes every registered sink, so lines
// buffered in a sink that is never destroyed (held by a leaked pointer, or a
// local of main() when std::exit() is called from deeper down) still reach
// the file on exit() or a return from main(). _exit(), abort() and fatal
// signals skip atexit handlers: those lose what is buffered (use
// FileSinkOptions::flush_level and flush_interval to bound that).

#ifndef COORDKIT_LOG_INTERNAL_EXIT_FLUSH_H_
#define COORDKIT_LOG_INTERNAL_EXIT_FLUSH_H_

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <vector>

#include "coordkit/log/sink.h"

namespace coordkit::log::internal {

class ExitFlushList {
 public:
  // instance: the one list. Deliberately never destroyed, so it is still
  // usable from the atexit handler and from static destructors that run
  // after it (a reachable heap object, not a leak).
  static ExitFlushList& instance() {
    static ExitFlushList* const list = new ExitFlushList();
    return *list;
  }

  // add: `sink` is flushed at exit until remove()d. Throws std::bad_alloc.
  void add(Sink* sink) {
    const std::lock_guard lock(mutex_);
    sinks_.push_back(sink);
  }

  // remove: call first thing in the sink's destructor; waits for an exit
  // flush in progress, so the sink is never flushed while being destroyed.
  void remove(Sink* sink) noexcept {
    const std::lock_guard lock(mutex_);
    sinks_.erase(std::remove(sinks_.begin(), sinks_.end(), sink), sinks_.end());
  }

  void flush_all() noexcept {
    const std::lock_guard lock(mutex_);
    for (Sink* sink : sinks_) sink->flush();
  }

 private:
  ExitFlushList() {
    std::atexit([] { instance().flush_all(); });
  }

  std::mutex mutex_;
  std::vector<Sink*> sinks_;
};

}  // namespace coordkit::log::internal

#endif  // COORDKIT_LOG_INTERNAL_EXIT_FLUSH_H_

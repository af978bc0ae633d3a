// coordkit/http/internal/blocking_pool.h: the server's pool of threads for
// blocking handlers (Route::blocking): a fixed number of threads and a
// bounded queue, so a burst of slow requests is refused (the server
// answers 503) instead of queued without bound.
#ifndef COORDKIT_HTTP_INTERNAL_BLOCKING_POOL_H_
#define COORDKIT_HTTP_INTERNAL_BLOCKING_POOL_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace coordkit::http::internal {

// BlockingPool: `threads` threads taking tasks in submission order. A task
// is called with `run` true on a pool thread, or, if stop() found it still
// queued, with `run` false on the thread calling stop() (so its owner can
// let go of what it holds). Tasks must not throw.
//
// Thread-safety: try_submit() from any thread; start() and stop() from one
// controlling thread.
class BlockingPool {
 public:
  using Task = std::function<void(bool run)>;

  // BlockingPool: at most `threads` tasks run at once and `max_queue` more
  // wait for a thread.
  BlockingPool(int threads, std::size_t max_queue) : threads_(threads), max_queue_(max_queue) {}
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;
  ~BlockingPool() { stop(); }

  // start: starts the threads. Throws std::system_error when one cannot
  // be made (the ones made are stopped again).
  void start() {
    {
      std::lock_guard lock(mu_);
      stopping_ = false;
    }
    try {
      for (int i = 0; i < threads_; ++i) workers_.emplace_back([this] { work(); });
    } catch (...) {
      stop();
      throw;
    }
    std::lock_guard lock(mu_);
    started_ = true;
  }

  // try_submit: queues `task`; false (and `task` untouched) when
  // `threads + max_queue` tasks are already running or waiting, or the
  // pool is not started.
  bool try_submit(Task& task) {
    {
      std::lock_guard lock(mu_);
      if (stopping_ || !started_ ||
          queue_.size() + running_ >= static_cast<std::size_t>(threads_) + max_queue_) {
        return false;
      }
      queue_.push_back(std::move(task));
    }
    cv_.notify_one();
    return true;
  }

  // stop: lets the running tasks finish, joins the threads, then calls
  // every task still queued with `run` false. Idempotent.
  void stop() {
    std::vector<std::thread> workers;
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      started_ = false;
    }
    workers.swap(workers_);
    cv_.notify_all();
    for (auto& t : workers) t.join();
    std::deque<Task> left;
    {
      std::lock_guard lock(mu_);
      left.swap(queue_);
    }
    for (auto& task : left) task(false);
  }

  // queued / running: tasks waiting for a thread, and running now.
  std::size_t queued() const {
    std::lock_guard lock(mu_);
    return queue_.size();
  }
  std::size_t running() const {
    std::lock_guard lock(mu_);
    return running_;
  }

 private:
  void work() {
    std::unique_lock lock(mu_);
    while (true) {
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      Task task = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
      lock.unlock();
      task(true);
      task = nullptr;  // what it holds goes before the count says it is done
      lock.lock();
      --running_;
    }
  }

  const int threads_;
  const std::size_t max_queue_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> queue_;            // guarded by mu_
  std::size_t running_ = 0;           // guarded by mu_
  bool stopping_ = false;             // guarded by mu_
  bool started_ = false;              // guarded by mu_
  std::vector<std::thread> workers_;  // the controlling thread's
};

}  // namespace coordkit::http::internal

#endif  // COORDKIT_HTTP_INTERNAL_BLOCKING_POOL_H_

#include "worker_pool.h"

#include <malloc.h>

#include <algorithm>

namespace kedge::store::etcd {

WorkerPool::WorkerPool(int min_threads, int max_threads, std::chrono::milliseconds trim_after)
    : max_threads_(std::max(1, max_threads)), trim_after_(trim_after) {
  std::lock_guard lock(mu_);
  for (int i = 0; i < std::clamp(min_threads, 1, max_threads_); ++i) spawn_locked();
}

WorkerPool::~WorkerPool() { stop(); }

void WorkerPool::spawn_locked() { threads_.emplace_back([this] { loop(); }); }

void WorkerPool::post(std::function<void()> work) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    queue_.push_back(std::move(work));
    // Every thread is busy (blocked in the store): add one rather than queue
    // behind them, so concurrent writes reach the same group commit.
    if (idle_ < static_cast<int>(queue_.size()) && static_cast<int>(threads_.size()) < max_threads_) {
      spawn_locked();
    }
  }
  cv_.notify_one();
}

void WorkerPool::stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (auto& t : threads) {
    if (t.joinable()) t.join();
  }
}

std::uint64_t WorkerPool::trims() const {
  std::lock_guard lock(mu_);
  return trims_;
}

void WorkerPool::loop() {
  bool after_work = false;  // this pass follows a work item
  while (true) {
    std::function<void()> work;
    {
      std::unique_lock lock(mu_);
      if (after_work) ++done_;
      ++idle_;
      const auto has_work = [this] { return stopping_ || !queue_.empty(); };
      // The last thread to go idle after new work waits (bounded) to trim;
      // every other wait, and this one after trimming, has no timeout.
      if (!trim_waiter_ && done_ != trimmed_at_ && idle_ == static_cast<int>(threads_.size())) {
        trim_waiter_ = true;
        const bool woken = cv_.wait_for(lock, trim_after_, has_work);
        trim_waiter_ = false;
        if (!woken && idle_ == static_cast<int>(threads_.size())) {
          trimmed_at_ = done_;
          ++trims_;
          lock.unlock();
          ::malloc_trim(0);
          lock.lock();
        }
      }
      cv_.wait(lock, has_work);
      --idle_;
      if (queue_.empty()) return;  // stopping and drained
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    work();
    after_work = true;
  }
}

}  // namespace kedge::store::etcd

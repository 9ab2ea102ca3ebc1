#include "worker_pool.h"

#include <algorithm>

namespace kedge::store::etcd {

WorkerPool::WorkerPool(int min_threads, int max_threads) : max_threads_(std::max(1, max_threads)) {
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

void WorkerPool::loop() {
  while (true) {
    std::function<void()> work;
    {
      std::unique_lock lock(mu_);
      ++idle_;
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      --idle_;
      if (queue_.empty()) return;  // stopping and drained
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    work();
  }
}

}  // namespace kedge::store::etcd

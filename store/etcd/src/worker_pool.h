// A fixed set of threads that run blocking work (Store calls) for the gRPC
// reactors, which must never block.
//
// Thread-safety: post() from any thread. stop() (also run by the destructor)
// runs what is queued, then joins; posts after stop() are dropped.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace kedge::store::etcd {

class WorkerPool {
 public:
  explicit WorkerPool(int threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void post(std::function<void()> work);
  void stop();

 private:
  void loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::vector<std::thread> threads_;         // constant after construction until stop()
};

}  // namespace kedge::store::etcd

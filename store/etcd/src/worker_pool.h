// Threads that run blocking work (Store calls) for the gRPC reactors, which
// must never block. The pool starts small and adds a thread whenever work
// arrives and no thread is idle, up to `max_threads`: an idle store keeps a
// few threads, while 256 concurrent writers get up to 256 blocked callers, so
// one group commit can carry all of them. Threads are not retired.
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
  WorkerPool(int min_threads, int max_threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void post(std::function<void()> work);
  void stop();

 private:
  void loop();
  void spawn_locked();

  const int max_threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  int idle_ = 0;                             // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::vector<std::thread> threads_;         // guarded by mu_
};

}  // namespace kedge::store::etcd

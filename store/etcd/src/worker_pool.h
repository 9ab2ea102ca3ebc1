// Threads that run blocking work (Store calls) for the gRPC reactors, which
// must never block. The pool starts small and adds a thread whenever work
// arrives and no thread is idle, up to `max_threads`: an idle store keeps a
// few threads, while 256 concurrent writers get up to 256 blocked callers, so
// one group commit can carry all of them. Threads are not retired.
//
// Memory: once every thread has been idle for `trim_after` following some
// work, one of them calls malloc_trim(0). A burst (hundreds of clients, a
// 10k-key Range) leaves tens of MB free inside glibc's per-thread arenas that
// glibc would otherwise keep for good; trimming hands them back to the
// kernel. It runs once per quiet spell, never under load, and an idle pool
// sleeps without a timeout (no polling).
//
// Thread-safety: post() from any thread. stop() (also run by the destructor)
// runs what is queued, then joins; posts after stop() are dropped.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace kedge::store::etcd {

class WorkerPool {
 public:
  WorkerPool(int min_threads, int max_threads,
             std::chrono::milliseconds trim_after = std::chrono::seconds(1));
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void post(std::function<void()> work);
  void stop();

  // malloc_trim calls so far (tests).
  std::uint64_t trims() const;

 private:
  void loop();
  void spawn_locked();

  const int max_threads_;
  const std::chrono::milliseconds trim_after_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  int idle_ = 0;                             // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::uint64_t done_ = 0;                   // work items finished; guarded by mu_
  std::uint64_t trimmed_at_ = 0;             // done_ at the last trim; guarded by mu_
  bool trim_waiter_ = false;                 // a thread waits to trim; guarded by mu_
  std::vector<std::thread> threads_;         // guarded by mu_
  std::uint64_t trims_ = 0;                  // guarded by mu_
};

}  // namespace kedge::store::etcd

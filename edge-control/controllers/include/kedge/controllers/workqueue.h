// Rate-limited work queue, with the semantics of client-go's workqueue that
// every Kubernetes controller relies on:
//  - a key added several times before a worker takes it is processed once;
//  - a key is never processed by two workers at once: added while being
//    processed, it is queued again when the worker calls done();
//  - failures back off per key (5 ms doubling to 1000 s) and overall through
//    a token bucket (10 qps, burst 100): add_rate_limited() waits for the
//    larger of the two, like client-go's DefaultControllerRateLimiter.
//
// Thread-safety: every method may be called from any thread. get() blocks on
// a condition variable (no polling: an idle queue costs no CPU); delayed keys
// wake the sleeper exactly when the earliest is due.
// Time comes from an injected Clock so tests can drive backoff by hand.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

namespace kedge::controllers {

using Duration = std::chrono::steady_clock::duration;
using TimePoint = std::chrono::steady_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
  // The process-wide steady clock.
  static Clock& real();
};

// Per-key exponential backoff: base * 2^(failures so far), capped at max.
// Thread-safety: externally synchronized (the queue holds its lock).
class ItemExponentialBackoff {
 public:
  ItemExponentialBackoff(Duration base, Duration max) : base_(base), max_(max) {}
  // The delay for this failure of `key`; counts the failure.
  Duration when(const std::string& key);
  void forget(const std::string& key) { failures_.erase(key); }
  int failures(const std::string& key) const;

 private:
  Duration base_, max_;
  std::map<std::string, int> failures_;
};

// Token bucket: `qps` tokens per second, at most `burst` saved up. reserve()
// takes a token that may only exist in the future and says how long to wait.
// Thread-safety: externally synchronized.
class TokenBucket {
 public:
  TokenBucket(double qps, int burst, TimePoint now) : qps_(qps), burst_(burst), tokens_(burst), last_(now) {}
  Duration reserve(TimePoint now);

 private:
  double qps_;
  int burst_;
  double tokens_;
  TimePoint last_;
};

struct WorkQueueOptions {
  Clock* clock = nullptr;  // nullptr: Clock::real(); borrowed, must outlive the queue
  Duration base_delay = std::chrono::milliseconds(5);
  Duration max_delay = std::chrono::seconds(1000);
  double qps = 10;
  int burst = 100;
};

class WorkQueue {
 public:
  explicit WorkQueue(WorkQueueOptions options = {});
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  void add(const std::string& key);
  // Adds `key` once `delay` has passed (at once if delay <= 0). A key waiting
  // keeps its earliest due time.
  void add_after(const std::string& key, Duration delay);
  // add_after with the rate limiters' delay; counts a failure of `key`.
  void add_rate_limited(const std::string& key);
  // Clears `key`'s failure count (call after a successful sync).
  void forget(const std::string& key);
  int num_requeues(const std::string& key) const;

  // Blocks until a key is ready or the queue shuts down (nullopt). The caller
  // owns the key until it calls done(key).
  std::optional<std::string> get();
  // Non-blocking get() (tests with a fake clock, drains).
  std::optional<std::string> try_get();
  void done(const std::string& key);

  // Wakes every get(); keys still queued are dropped.
  void shut_down();
  bool shutting_down() const;
  // Ready keys (not counting delayed or in-process ones).
  std::size_t size() const;
  std::size_t delayed() const;
  // Wakes sleepers so they re-read the clock (tests advancing a fake clock).
  void poke();

 private:
  void add_locked(const std::string& key);
  void promote_due_locked();
  std::optional<std::string> pop_locked();

  Clock& clock_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;           // guarded by mu_
  std::set<std::string> dirty_;             // guarded by mu_: queued or to requeue
  std::set<std::string> processing_;        // guarded by mu_
  std::multimap<TimePoint, std::string> waiting_;   // guarded by mu_
  std::map<std::string, TimePoint> waiting_due_;    // guarded by mu_
  ItemExponentialBackoff backoff_;          // guarded by mu_
  TokenBucket bucket_;                      // guarded by mu_
  bool shutting_down_ = false;              // guarded by mu_
};

}  // namespace kedge::controllers

#include "kedge/controllers/workqueue.h"

#include <algorithm>
#include <cmath>

namespace kedge::controllers {

namespace {
class RealClock final : public Clock {
 public:
  TimePoint now() const override { return std::chrono::steady_clock::now(); }
};
}  // namespace

Clock& Clock::real() {
  static RealClock clock;
  return clock;
}

Duration ItemExponentialBackoff::when(const std::string& key) {
  int exp = failures_[key]++;
  // 2^exp overflows quickly; past 2^40 every sane max is reached anyway.
  if (exp > 40) return max_;
  double delay = static_cast<double>(base_.count()) * std::pow(2.0, exp);
  if (delay >= static_cast<double>(max_.count())) return max_;
  return Duration(static_cast<Duration::rep>(delay));
}

int ItemExponentialBackoff::failures(const std::string& key) const {
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

Duration TokenBucket::reserve(TimePoint now) {
  if (now > last_) {
    double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(static_cast<double>(burst_), tokens_ + elapsed * qps_);
    last_ = now;
  }
  tokens_ -= 1;
  if (tokens_ >= 0) return Duration::zero();
  // The token we just took becomes available after -tokens_/qps seconds.
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(-tokens_ / qps_));
}

WorkQueue::WorkQueue(WorkQueueOptions options)
    : clock_(options.clock ? *options.clock : Clock::real()),
      backoff_(options.base_delay, options.max_delay),
      bucket_(options.qps, options.burst, clock_.now()) {}

void WorkQueue::add(const std::string& key) {
  std::lock_guard lock(mu_);
  add_locked(key);
}

void WorkQueue::add_locked(const std::string& key) {
  if (shutting_down_) return;
  if (!dirty_.insert(key).second) return;  // already queued (or to be requeued)
  if (processing_.count(key)) return;      // done() requeues it
  queue_.push_back(key);
  cv_.notify_one();
}

void WorkQueue::add_after(const std::string& key, Duration delay) {
  std::lock_guard lock(mu_);
  if (shutting_down_) return;
  if (delay <= Duration::zero()) {
    add_locked(key);
    return;
  }
  TimePoint due = clock_.now() + delay;
  auto it = waiting_due_.find(key);
  if (it != waiting_due_.end()) {
    if (it->second <= due) return;  // already due sooner
    auto range = waiting_.equal_range(it->second);
    for (auto w = range.first; w != range.second; ++w) {
      if (w->second == key) {
        waiting_.erase(w);
        break;
      }
    }
  }
  waiting_due_[key] = due;
  bool earliest = waiting_.empty() || due < waiting_.begin()->first;
  waiting_.emplace(due, key);
  // A sleeper may be waiting for a later deadline: let it recompute.
  if (earliest) cv_.notify_all();
}

void WorkQueue::add_rate_limited(const std::string& key) {
  Duration delay;
  {
    std::lock_guard lock(mu_);
    delay = std::max(backoff_.when(key), bucket_.reserve(clock_.now()));
  }
  add_after(key, delay);
}

void WorkQueue::forget(const std::string& key) {
  std::lock_guard lock(mu_);
  backoff_.forget(key);
}

int WorkQueue::num_requeues(const std::string& key) const {
  std::lock_guard lock(mu_);
  return backoff_.failures(key);
}

void WorkQueue::promote_due_locked() {
  TimePoint now = clock_.now();
  while (!waiting_.empty() && waiting_.begin()->first <= now) {
    std::string key = waiting_.begin()->second;
    waiting_.erase(waiting_.begin());
    waiting_due_.erase(key);
    add_locked(key);
  }
}

std::optional<std::string> WorkQueue::pop_locked() {
  if (queue_.empty()) return std::nullopt;
  std::string key = std::move(queue_.front());
  queue_.pop_front();
  dirty_.erase(key);
  processing_.insert(key);
  return key;
}

std::optional<std::string> WorkQueue::get() {
  std::unique_lock lock(mu_);
  for (;;) {
    if (shutting_down_) return std::nullopt;
    promote_due_locked();
    if (auto key = pop_locked()) return key;
    if (waiting_.empty()) {
      cv_.wait(lock);
    } else {
      // wait_for on the real clock for the injected clock's remaining time.
      cv_.wait_for(lock, waiting_.begin()->first - clock_.now());
    }
  }
}

std::optional<std::string> WorkQueue::try_get() {
  std::lock_guard lock(mu_);
  if (shutting_down_) return std::nullopt;
  promote_due_locked();
  return pop_locked();
}

void WorkQueue::done(const std::string& key) {
  std::lock_guard lock(mu_);
  processing_.erase(key);
  if (dirty_.count(key) && !shutting_down_) {
    queue_.push_back(key);
    cv_.notify_one();
  }
}

void WorkQueue::shut_down() {
  std::lock_guard lock(mu_);
  shutting_down_ = true;
  queue_.clear();
  waiting_.clear();
  waiting_due_.clear();
  cv_.notify_all();
}

bool WorkQueue::shutting_down() const {
  std::lock_guard lock(mu_);
  return shutting_down_;
}

std::size_t WorkQueue::size() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

std::size_t WorkQueue::delayed() const {
  std::lock_guard lock(mu_);
  return waiting_.size();
}

void WorkQueue::poke() {
  std::lock_guard lock(mu_);
  cv_.notify_all();
}

}  // namespace kedge::controllers

#include "pod_workers.h"

#include "kedge/base/log.h"

namespace kedge::agent::detail {

using Clock = std::chrono::steady_clock;

void PodWorkers::start() {
  for (int i = 0; i < threads_; ++i) pool_.emplace_back([this] { run(); });
}

void PodWorkers::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : pool_) t.join();
  pool_.clear();
}

void PodWorkers::enqueue_locked(const std::string& uid, Worker& w) {
  if (w.running) {
    w.again = true;
    return;
  }
  if (w.queued) return;
  w.queued = true;
  ready_.push_back(uid);
  wake_.notify_one();
}

void PodWorkers::update(const std::string& uid, client::Object pod) {
  std::lock_guard lock(mu_);
  auto& w = workers_[uid];
  if (w.deleted) return;  // a late event for a pod already gone
  w.pod = std::move(pod);
  enqueue_locked(uid, w);
}

void PodWorkers::remove(const std::string& uid) {
  std::lock_guard lock(mu_);
  auto it = workers_.find(uid);
  if (it == workers_.end()) return;
  it->second.deleted = true;
  enqueue_locked(uid, it->second);
}

void PodWorkers::poke(const std::string& uid) {
  std::lock_guard lock(mu_);
  auto it = workers_.find(uid);
  if (it != workers_.end()) enqueue_locked(uid, it->second);
}

void PodWorkers::poke_all() {
  std::lock_guard lock(mu_);
  for (auto& [uid, w] : workers_) enqueue_locked(uid, w);
}

std::set<std::string> PodWorkers::known_uids() const {
  std::lock_guard lock(mu_);
  std::set<std::string> out;
  for (const auto& [uid, w] : workers_) out.insert(uid);
  return out;
}

std::size_t PodWorkers::size() const {
  std::lock_guard lock(mu_);
  return workers_.size();
}

void PodWorkers::run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    // Fire due timers.
    const auto now = Clock::now();
    while (!timers_.empty() && timers_.begin()->first <= now) {
      const std::string uid = timers_.begin()->second;
      const auto at = timers_.begin()->first;
      timers_.erase(timers_.begin());
      auto it = workers_.find(uid);
      if (it != workers_.end() && it->second.timer == at) {
        it->second.timer.reset();
        enqueue_locked(uid, it->second);
      }
    }
    if (ready_.empty()) {
      if (timers_.empty()) {
        wake_.wait(lock);
      } else {
        wake_.wait_until(lock, timers_.begin()->first);
      }
      continue;
    }
    const std::string uid = ready_.front();
    ready_.pop_front();
    auto it = workers_.find(uid);
    if (it == workers_.end()) continue;
    Worker& w = it->second;
    w.queued = false;
    w.running = true;
    w.again = false;
    SyncRequest request{.uid = uid, .pod = w.pod, .deleted = w.deleted, .phase = w.phase, .state = w.state};
    lock.unlock();
    SyncResult result;
    result = sync_(request);
    lock.lock();
    it = workers_.find(uid);
    if (it == workers_.end()) continue;
    Worker& after = it->second;
    after.running = false;
    after.phase = result.phase;
    if (result.forget && !after.again) {
      workers_.erase(it);
      continue;
    }
    if (after.again) {
      enqueue_locked(uid, after);
    } else if (result.requeue_at && (!after.timer || *after.timer > *result.requeue_at || *after.timer <= Clock::now())) {
      after.timer = *result.requeue_at;
      timers_.emplace(*result.requeue_at, uid);
      wake_.notify_one();
    }
  }
}

}  // namespace kedge::agent::detail

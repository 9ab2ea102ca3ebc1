#include "kedge/scheduler/queue.h"

#include <algorithm>

namespace kedge::scheduler {

namespace {

// Which plugins' rejections an event may resolve (upstream's EventsToRegister,
// coarsened to whole events).
bool may_help(ClusterEvent event, Plugin plugin) {
  switch (event) {
    case ClusterEvent::kNodeAdded: return true;
    case ClusterEvent::kNodeUpdated: return plugin != Plugin::kNodeName && plugin != Plugin::kNodePorts;
    case ClusterEvent::kNodeDeleted: return plugin == Plugin::kPodTopologySpread;
    case ClusterEvent::kAssignedPodAdded:
      return plugin == Plugin::kPodTopologySpread || plugin == Plugin::kInterPodAffinity;
    case ClusterEvent::kAssignedPodDeleted:
      return plugin == Plugin::kNodeResourcesFit || plugin == Plugin::kNodePorts ||
             plugin == Plugin::kPodTopologySpread || plugin == Plugin::kInterPodAffinity;
    case ClusterEvent::kNamespaceChanged: return plugin == Plugin::kInterPodAffinity;
  }
  return true;
}

}  // namespace

SchedulingQueue::SchedulingQueue(QueueOptions options) : options_(std::move(options)) {
  if (!options_.now) options_.now = [] { return std::chrono::steady_clock::now(); };
}

std::chrono::milliseconds SchedulingQueue::backoff_for(int attempts) const {
  auto d = options_.initial_backoff;
  for (int i = 1; i < attempts; ++i) {
    d *= 2;
    if (d >= options_.max_backoff) return options_.max_backoff;
  }
  return std::min(d, options_.max_backoff);
}

SteadyTime SchedulingQueue::backoff_expiry(const QueuedPod& qp) const {
  return qp.timestamp + backoff_for(qp.attempts);
}

void SchedulingQueue::unlink(Entry& e) {
  switch (e.where) {
    case Where::kActive: active_.erase(e.active_key); break;
    case Where::kBackoff: backoff_.erase(e.backoff_key); break;
    case Where::kUnschedulable:
      unschedulable_.erase(e.qp.pod->key());
      parked_.erase({e.parked_since, e.qp.pod->key()});
      break;
    case Where::kInFlight: break;
  }
}

void SchedulingQueue::to_active(Entry& e) {
  unlink(e);
  e.where = Where::kActive;
  e.active_key = ActiveKey{-static_cast<std::int64_t>(e.qp.pod->priority), e.qp.timestamp, e.seq};
  active_.emplace(e.active_key, e.qp.pod->key());
}

void SchedulingQueue::to_backoff(Entry& e) {
  unlink(e);
  e.where = Where::kBackoff;
  e.backoff_key = BackoffKey{backoff_expiry(e.qp), e.seq};
  backoff_.emplace(e.backoff_key, e.qp.pod->key());
}

void SchedulingQueue::to_backoff_or_active(Entry& e) {
  if (e.qp.attempts > 0 && backoff_expiry(e.qp) > now()) {
    to_backoff(e);
  } else {
    to_active(e);
  }
}

void SchedulingQueue::add(std::shared_ptr<const PodInfo> pod) {
  std::string key = pod->key();
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    Entry e;
    e.seq = ++seq_;
    e.qp.pod = std::move(pod);
    e.qp.added = e.qp.timestamp = now();
    e.where = Where::kInFlight;  // not linked yet
    auto& ref = entries_.emplace(key, std::move(e)).first->second;
    to_active(ref);
    return;
  }
  Entry& e = it->second;
  e.qp.pod = std::move(pod);
  switch (e.where) {
    case Where::kActive: to_active(e); break;  // priority may have changed
    case Where::kBackoff: break;
    case Where::kUnschedulable: to_backoff_or_active(e); break;
    case Where::kInFlight: break;  // used when it comes back
  }
}

void SchedulingQueue::remove(std::string_view key) {
  auto it = entries_.find(std::string(key));
  if (it == entries_.end()) return;
  unlink(it->second);
  entries_.erase(it);
}

void SchedulingQueue::flush(SteadyTime t) {
  while (!backoff_.empty() && backoff_.begin()->first.first <= t) {
    Entry& e = entries_.at(backoff_.begin()->second);
    to_active(e);
  }
  while (!parked_.empty() && t - parked_.begin()->first >= options_.max_unschedulable) {
    to_backoff_or_active(entries_.at(parked_.begin()->second));
  }
}

std::optional<QueuedPod> SchedulingQueue::pop() {
  flush(now());
  if (active_.empty()) return std::nullopt;
  Entry& e = entries_.at(active_.begin()->second);
  unlink(e);
  e.where = Where::kInFlight;
  ++e.qp.attempts;
  e.qp.cycle = ++cycle_;
  return e.qp;
}

void SchedulingQueue::done(std::string_view key) { remove(key); }

void SchedulingQueue::add_unschedulable(QueuedPod qp, const ScheduleResult& result) {
  auto it = entries_.find(qp.pod->key());
  if (it == entries_.end() || it->second.where != Where::kInFlight) return;  // deleted meanwhile
  Entry& e = it->second;
  e.qp.rejected_by = result.rejected_by;
  e.qp.timestamp = now();
  e.qp.attempts = std::max(e.qp.attempts, qp.attempts);
  if (move_request_cycle_ >= e.qp.cycle) {
    // Something changed while the pod was being scheduled: retry after backoff.
    to_backoff(e);
    return;
  }
  e.where = Where::kUnschedulable;
  e.parked_since = e.qp.timestamp;
  unschedulable_.emplace(qp.pod->key(), e.parked_since);
  parked_.emplace(e.parked_since, qp.pod->key());
}

void SchedulingQueue::add_backoff(QueuedPod qp) {
  auto it = entries_.find(qp.pod->key());
  if (it == entries_.end() || it->second.where != Where::kInFlight) return;
  Entry& e = it->second;
  e.qp.timestamp = now();
  e.qp.attempts = std::max(e.qp.attempts, qp.attempts);
  to_backoff(e);
}

void SchedulingQueue::on_event(ClusterEvent event) {
  move_request_cycle_ = cycle_;
  std::vector<std::string> moved;
  for (const auto& [key, since] : unschedulable_) {
    const Entry& e = entries_.at(key);
    const auto& by = e.qp.rejected_by;
    bool helps = by.empty() || std::any_of(by.begin(), by.end(), [&](Plugin p) { return may_help(event, p); });
    if (helps) moved.push_back(key);
  }
  for (const auto& key : moved) to_backoff_or_active(entries_.at(key));
}

std::optional<SteadyTime> SchedulingQueue::next_wakeup() const {
  if (!active_.empty()) return now();
  std::optional<SteadyTime> t;
  if (!backoff_.empty()) t = backoff_.begin()->first.first;
  if (!parked_.empty()) {
    SteadyTime due = parked_.begin()->first + options_.max_unschedulable;
    if (!t || due < *t) t = due;
  }
  return t;
}

bool SchedulingQueue::contains(std::string_view key) const { return entries_.contains(std::string(key)); }

}  // namespace kedge::scheduler

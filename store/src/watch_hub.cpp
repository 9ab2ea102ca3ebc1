#include "watch_hub.h"

#include <algorithm>
#include <atomic>
#include <optional>

#include "errors.h"

namespace kedge::store {
namespace {

// Revisions read from history per replay step: small enough that live
// delivery to other watches is never held up for long.
constexpr Revision kReplayWindow = 256;

bool wants(const WatchRequest& request, const Event& event) {
  if (event.type == Event::Type::kPut && request.filter_noput) return false;
  if (event.type == Event::Type::kDelete && request.filter_nodelete) return false;
  return mvcc::in_range(event.kv.key, request.key, request.range_end);
}

}  // namespace

struct WatchHub::State {
  WatchRequest request;
  WatchObserver* observer = nullptr;
  // All below guarded by the hub's mu_.
  Revision next_rev = 0;
  bool synced = false;
  std::vector<Event> pending;
  bool progress = false;
  bool queued = false;
  bool in_list = true;
  std::optional<std::pair<Status, Revision>> cancel;
  bool cancel_sent = false;
  // Set (under mu_) when the Watch is destroyed; read under deliver_mu.
  std::atomic<bool> removed{false};
  // Held while an observer runs, so ~Watch can wait for a callback in flight.
  std::mutex deliver_mu;

  void append(const std::vector<mvcc::RevisionEvents>& revisions) {
    for (const auto& rev : revisions) {
      if (rev.revision < next_rev) continue;
      for (const Event& event : rev.events) {
        if (!wants(request, event)) continue;
        pending.push_back(event);
        if (!request.prev_kv) pending.back().prev_kv.reset();
      }
    }
  }
};

class HubWatch final : public Watch {
 public:
  HubWatch(WatchHub& hub, std::shared_ptr<WatchHub::State> state) : hub_(hub), state_(std::move(state)) {}
  ~HubWatch() override { hub_.remove(state_); }
  void request_progress() override { hub_.request_progress(state_); }

 private:
  WatchHub& hub_;
  std::shared_ptr<WatchHub::State> state_;
};

WatchHub::WatchHub(HistoryFn history, std::size_t buffer_limit, Revision current, Revision compacted)
    : history_(std::move(history)), buffer_limit_(buffer_limit), current_(current), compacted_(compacted) {}

WatchHub::~WatchHub() { stop(); }

void WatchHub::start() {
  thread_ = std::thread([this] { run(); });
  thread_id_ = thread_.get_id();
}

void WatchHub::stop() {
  {
    std::lock_guard lock(mu_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // Watches still alive (their owners broke the contract or are racing
  // shutdown) hear that the store is going away.
  std::unique_lock lock(mu_);
  auto remaining = watches_;
  watches_.clear();
  for (const auto& state : remaining) {
    if (state->cancel_sent) continue;
    state->cancel_sent = true;
    lock.unlock();
    {
      std::lock_guard deliver(state->deliver_mu);
      if (!state->removed) state->observer->on_canceled(unavailable("kedge: store is shutting down"), 0);
    }
    lock.lock();
  }
}

std::size_t WatchHub::size() const {
  std::lock_guard lock(mu_);
  return watches_.size();
}

void WatchHub::queue(const std::shared_ptr<State>& state) {
  if (state->queued) return;
  state->queued = true;
  ready_.push_back(state);
  cv_.notify_all();
}

void WatchHub::cancel(const std::shared_ptr<State>& state, Status reason, Revision compact) {
  if (state->cancel) return;
  state->cancel = std::make_pair(std::move(reason), compact);
  state->pending.clear();
  queue(state);
}

void WatchHub::publish(std::vector<mvcc::RevisionEvents> revisions, Revision current) {
  std::lock_guard lock(mu_);
  current_ = std::max(current_, current);
  if (revisions.empty()) return;
  const Revision last = revisions.back().revision;
  for (const auto& state : watches_) {
    if (!state->synced || state->cancel) continue;
    const std::size_t before = state->pending.size();
    state->append(revisions);
    state->next_rev = std::max(state->next_rev, last + 1);
    if (state->pending.size() > buffer_limit_) {
      cancel(state, resource_exhausted("kedge: watch canceled: watcher fell behind by more than " +
                                       std::to_string(buffer_limit_) + " events"),
             0);
    } else if (state->pending.size() != before) {
      queue(state);
    }
  }
}

void WatchHub::set_compacted(Revision compacted) {
  std::lock_guard lock(mu_);
  compacted_ = std::max(compacted_, compacted);
}

std::unique_ptr<Watch> WatchHub::add(const WatchRequest& request, WatchObserver& observer) {
  auto state = std::make_shared<State>();
  state->request = request;
  state->observer = &observer;
  std::lock_guard lock(mu_);
  state->next_rev = request.start_revision > 0 ? request.start_revision : current_ + 1;
  state->synced = state->next_rev > current_;
  watches_.push_back(state);
  if (request.start_revision > 0 && request.start_revision < compacted_) {
    cancel(state, etcd_errors::compacted(), compacted_);
  } else if (!state->synced) {
    queue(state);
  }
  return std::make_unique<HubWatch>(*this, state);
}

void WatchHub::remove(const std::shared_ptr<State>& state) {
  {
    std::lock_guard lock(mu_);
    state->removed = true;
    watches_.remove(state);
  }
  // Wait for a callback in flight, unless we are inside one.
  if (std::this_thread::get_id() != thread_id_) {
    std::lock_guard deliver(state->deliver_mu);
  }
}

void WatchHub::request_progress(const std::shared_ptr<State>& state) {
  std::lock_guard lock(mu_);
  if (state->removed || state->cancel) return;
  state->progress = true;
  queue(state);
}

bool WatchHub::replay_step(const std::shared_ptr<State>& state, std::unique_lock<std::mutex>& lock) {
  const Revision from = state->next_rev;
  const Revision to = std::min(current_, from + kReplayWindow - 1);
  if (from > current_) {
    state->synced = true;
    return true;
  }
  lock.unlock();
  auto chunk = history_(from, to, state->request.prev_kv);
  lock.lock();
  if (state->removed || state->cancel) return true;
  if (!chunk.ok()) {
    cancel(state, chunk.status(), 0);
    return true;
  }
  if (from < chunk->compact_revision) {
    cancel(state, etcd_errors::compacted(), chunk->compact_revision);
    return true;
  }
  state->append(chunk->revisions);
  state->next_rev = to + 1;
  state->synced = state->next_rev > current_;
  return state->synced;
}

void WatchHub::deliver(const std::shared_ptr<State>& state, std::unique_lock<std::mutex>& lock) {
  if (state->cancel && !state->cancel_sent) {
    state->cancel_sent = true;
    auto [reason, compact] = *state->cancel;
    watches_.remove(state);
    lock.unlock();
    {
      std::lock_guard deliver(state->deliver_mu);
      if (!state->removed) state->observer->on_canceled(reason, compact);
    }
    lock.lock();
    return;
  }
  if (state->cancel) return;
  std::vector<Event> events;
  events.swap(state->pending);
  const bool progress = state->progress && state->synced;
  if (progress) state->progress = false;
  const Revision header = current_;
  if (events.empty() && !progress) return;
  lock.unlock();
  {
    std::lock_guard deliver(state->deliver_mu);
    if (!state->removed) {
      if (!events.empty()) state->observer->on_events(header, events);
      if (progress) state->observer->on_events(header, {});
    }
  }
  lock.lock();
}

void WatchHub::run() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stop_ || !ready_.empty(); });
    if (stop_) return;
    std::vector<std::shared_ptr<State>> batch;
    batch.swap(ready_);
    for (const auto& state : batch) state->queued = false;
    for (const auto& state : batch) {
      if (state->removed) continue;
      bool synced = state->synced;
      if (!synced && !state->cancel) synced = replay_step(state, lock);
      deliver(state, lock);
      // Still replaying (or new work arrived meanwhile): come back to it
      // after the others had their turn.
      if (!state->removed && !state->cancel_sent &&
          (!synced || !state->pending.empty() || state->cancel || (state->progress && state->synced))) {
        queue(state);
      }
      if (stop_) return;
    }
  }
}

}  // namespace kedge::store

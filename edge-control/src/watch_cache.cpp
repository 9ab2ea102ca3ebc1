#include "kedge/control/watch_cache.h"

#include <algorithm>

#include "kedge/base/log.h"

namespace kedge::control {

namespace {
std::string prefix_end(const std::string& prefix) {
  std::string end = prefix;
  end.back() = static_cast<char>(end.back() + 1);
  return end;
}
}  // namespace

WatchCache::WatchCache(store::Store& store, WatchCacheOptions options)
    : store_(store), options_(std::move(options)) {}

WatchCache::~WatchCache() { stop(); }

Status WatchCache::start() {
  // Learn the current revision with a cheap count-only read of the prefix.
  store::RangeRequest req{.key = options_.prefix, .range_end = prefix_end(options_.prefix),
                          .count_only = true};
  auto current = store_.range(req);
  if (!current.ok()) return current.status();
  {
    std::lock_guard lock(mu_);
    revision_ = current->revision;
    oldest_ = current->revision;
  }
  // Not under mu_: the store may deliver (on its notifier thread) before
  // watch() returns, and on_events takes mu_.
  store::WatchRequest wreq{.key = options_.prefix,
                           .range_end = prefix_end(options_.prefix),
                           .start_revision = current->revision + 1,
                           .prev_kv = true};
  auto w = store_.watch(wreq, *this);
  if (!w.ok()) return w.status();
  std::unique_ptr<store::Watch> discard;
  {
    std::lock_guard lock(mu_);
    if (stopped_) discard = std::move(*w);
    else watch_ = std::move(*w);
  }
  return {};
}

void WatchCache::stop() {
  std::unique_ptr<store::Watch> old;
  std::vector<std::shared_ptr<CacheWatcher>> watchers;
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
    old = std::move(watch_);
    watchers.swap(watchers_);
  }
  // Outside the lock: the store waits for a running callback to return.
  old.reset();
  for (auto& w : watchers) w->on_terminated(timeout_error("the server is shutting down"));
}

ApiStatus WatchCache::add_watcher(std::shared_ptr<CacheWatcher> watcher,
                                  store::Revision from_revision) {
  std::lock_guard lock(mu_);
  if (stopped_) return timeout_error("the server is shutting down");
  if (from_revision < oldest_) {
    return expired_error("too old resource version: " + std::to_string(from_revision) + " (" +
                         std::to_string(oldest_) + ")");
  }
  for (const auto& e : ring_) {
    if (e.revision <= from_revision) continue;
    if (!watcher->on_event(e)) return api_ok();
  }
  watchers_.push_back(std::move(watcher));
  return api_ok();
}

void WatchCache::remove_watcher(const CacheWatcher* watcher) {
  std::shared_ptr<CacheWatcher> keep;  // released outside the lock
  std::lock_guard lock(mu_);
  auto it = std::find_if(watchers_.begin(), watchers_.end(),
                         [&](const auto& w) { return w.get() == watcher; });
  if (it != watchers_.end()) {
    keep = std::move(*it);
    watchers_.erase(it);
  }
}

void WatchCache::request_progress() {
  std::lock_guard lock(mu_);
  if (watch_) watch_->request_progress();
}

std::size_t WatchCache::watcher_count() const {
  std::lock_guard lock(mu_);
  return watchers_.size();
}

store::Revision WatchCache::revision() const {
  std::lock_guard lock(mu_);
  return revision_;
}

void WatchCache::on_events(store::Revision header_revision, std::span<const store::Event> events) {
  std::vector<std::shared_ptr<CacheWatcher>> gone;
  std::lock_guard lock(mu_);
  if (events.empty()) {
    revision_ = std::max(revision_, header_revision);
    std::erase_if(watchers_, [&](const auto& w) {
      if (w->on_progress(revision_)) return false;
      gone.push_back(w);
      return true;
    });
    return;
  }
  for (const auto& ev : events) {
    CacheEvent ce;
    ce.revision = ev.kv.mod_revision;
    ce.key = ev.kv.key;
    if (ev.type == store::Event::Type::kPut) {
      ce.type = CacheEvent::Type::kPut;
      ce.value = ev.kv.value;
      ce.created = ev.kv.version == 1;
    } else {
      ce.type = CacheEvent::Type::kDelete;
    }
    if (ev.prev_kv) ce.prev_value = ev.prev_kv->value;
    revision_ = std::max(revision_, ce.revision);
    std::erase_if(watchers_, [&](const auto& w) {
      if (w->on_event(ce)) return false;
      gone.push_back(w);
      return true;
    });
    ring_.push_back(std::move(ce));
    while (ring_.size() > options_.capacity) {
      oldest_ = ring_.front().revision;
      ring_.pop_front();
    }
  }
}

void WatchCache::on_canceled(const Status& reason, store::Revision compact_revision) {
  log::logger("apiserver")
      ->warn("watch cache {}: store watch canceled ({}), compact revision {}; restarting",
             options_.prefix, reason.to_string(), compact_revision);
  if (!options_.post) return;
  options_.post([this] {
    std::unique_ptr<store::Watch> old;
    std::vector<std::shared_ptr<CacheWatcher>> watchers;
    {
      std::lock_guard lock(mu_);
      if (stopped_) return;
      old = std::move(watch_);
      watchers.swap(watchers_);
      ring_.clear();
    }
    old.reset();
    // Clients relist on 410 and come back with a fresh resourceVersion.
    for (auto& w : watchers) {
      w->on_terminated(expired_error("The resourceVersion for the provided watch is too old."));
    }
    auto st = start();
    if (!st.ok()) {
      log::logger("apiserver")->error("watch cache {}: restart failed: {}", options_.prefix,
                                      st.to_string());
    }
  });
}

}  // namespace kedge::control

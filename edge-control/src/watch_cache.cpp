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

constexpr std::int64_t kRelistPage = 1000;

ApiError initializing_error() { return too_many_requests_error("storage is (re)initializing"); }

}  // namespace

// Shared with scheduled restarts: `cache` is cleared (under `mu`) when the
// cache is destroyed, so a late timer does nothing.
struct WatchCache::Life {
  std::mutex mu;
  WatchCache* cache = nullptr;
};

WatchCache::WatchCache(store::Store& store, WatchCacheOptions options)
    : store_(store), options_(std::move(options)), life_(std::make_shared<Life>()) {
  life_->cache = this;
}

WatchCache::~WatchCache() {
  stop();
  std::lock_guard lock(life_->mu);  // waits for a restart in progress
  life_->cache = nullptr;
}

Status WatchCache::start() {
  // Read everything under the prefix at one revision R, page by page.
  const std::string end = prefix_end(options_.prefix);
  std::map<std::string, CachedObjectPtr, std::less<>> objects;
  std::string from = options_.prefix;
  store::Revision at = 0;
  while (true) {
    auto r = store_.range(store::RangeRequest{.key = from, .range_end = end, .limit = kRelistPage,
                                              .revision = at});
    if (!r.ok()) return r.status();
    if (at == 0) at = r->revision;
    for (auto& kv : r->kvs) {
      auto obj = CachedObject::make(kv.key, kv.value, kv.mod_revision);
      if (!obj) {
        log::logger("apiserver")->warn("watch cache: {} is not a JSON object; not served", kv.key);
        continue;
      }
      objects.emplace_hint(objects.end(), kv.key, std::move(obj));
    }
    if (!r->more || r->kvs.empty()) break;
    from = r->kvs.back().key + std::string(1, '\0');
  }
  {
    std::lock_guard lock(mu_);
    if (stopped_) return {};
    objects_.swap(objects);
    ring_.clear();
    revision_ = at;
    oldest_ = at;
  }
  // Not under mu_: the store may deliver (on its notifier thread) before
  // watch() returns, and on_events takes mu_.
  store::WatchRequest wreq{.key = options_.prefix, .range_end = end, .start_revision = at + 1};
  auto w = store_.watch(wreq, *this);
  if (!w.ok()) return w.status();
  std::unique_ptr<store::Watch> discard;
  {
    std::lock_guard lock(mu_);
    if (stopped_) {
      discard = std::move(*w);
    } else {
      watch_ = std::move(*w);
      ready_ = true;
      backoff_ = std::chrono::milliseconds(0);
    }
  }
  progressed_.notify_all();
  // Freed outside the lock (the old map can be large).
  objects.clear();
  return {};
}

void WatchCache::stop() {
  std::unique_ptr<store::Watch> old;
  std::vector<std::shared_ptr<CacheWatcher>> watchers;
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
    ready_ = false;
    old = std::move(watch_);
    watchers.swap(watchers_);
  }
  progressed_.notify_all();
  // Outside the lock: the store waits for a running callback to return.
  old.reset();
  for (auto& w : watchers) w->on_terminated(timeout_error("the server is shutting down"));
}

ApiStatus WatchCache::add_watcher(std::shared_ptr<CacheWatcher> watcher,
                                  store::Revision from_revision) {
  std::lock_guard lock(mu_);
  if (stopped_) return timeout_error("the server is shutting down");
  if (!ready_) return initializing_error();
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

ApiStatus WatchCache::list_and_watch(const CacheListOptions& options, CacheList& out,
                                     std::shared_ptr<CacheWatcher> watcher) {
  std::lock_guard lock(mu_);
  if (stopped_) return timeout_error("the server is shutting down");
  if (!ready_) return initializing_error();
  list_locked(options, out);
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

bool WatchCache::list(const CacheListOptions& options, CacheList& out) const {
  std::lock_guard lock(mu_);
  if (!ready_) return false;
  if (options.at != 0) {
    // The state at `at` equals today's for keys >= start if no buffered event
    // after `at` touched them; older than the buffer, we cannot tell.
    if (options.at < oldest_ || options.at > revision_) return false;
    const std::string& start = options.start.empty() ? options.prefix : options.start;
    const std::string end = prefix_end(options.prefix);
    for (const auto& e : ring_) {
      if (e.revision > options.at && e.key >= start && e.key < end) return false;
    }
  }
  list_locked(options, out);
  if (options.at != 0) out.revision = options.at;
  return true;
}

void WatchCache::list_locked(const CacheListOptions& options, CacheList& out) const {
  out.revision = revision_;
  const std::string& start = options.start.empty() ? options.prefix : options.start;
  auto it = objects_.lower_bound(start);
  for (; it != objects_.end(); ++it) {
    if (it->first.compare(0, options.prefix.size(), options.prefix) != 0) break;
    if (options.match && !options.match(*it->second)) continue;
    if (options.limit > 0 && out.items.size() >= options.limit) {
      out.more = true;
      break;
    }
    out.items.push_back(it->second);
  }
}

bool WatchCache::wait_for_revision(store::Revision revision, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  if (ready_ && revision_ >= revision) return true;
  if (ready_ && watch_) watch_->request_progress();
  return progressed_.wait_for(lock, timeout, [&] { return stopped_ || !ready_ || revision_ >= revision; }) &&
         ready_ && revision_ >= revision;
}

void WatchCache::request_progress() {
  std::lock_guard lock(mu_);
  if (watch_) watch_->request_progress();
}

bool WatchCache::ready() const {
  std::lock_guard lock(mu_);
  return ready_;
}

std::size_t WatchCache::watcher_count() const {
  std::lock_guard lock(mu_);
  return watchers_.size();
}

std::size_t WatchCache::object_count() const {
  std::lock_guard lock(mu_);
  return objects_.size();
}

store::Revision WatchCache::revision() const {
  std::lock_guard lock(mu_);
  return revision_;
}

void WatchCache::on_events(store::Revision header_revision, std::span<const store::Event> events) {
  std::vector<std::shared_ptr<CacheWatcher>> gone;  // released outside the lock
  {
    std::lock_guard lock(mu_);
    if (events.empty()) {
      revision_ = std::max(revision_, header_revision);
      std::erase_if(watchers_, [&](const auto& w) {
        if (w->on_progress(revision_)) return false;
        gone.push_back(w);
        return true;
      });
    }
    for (const auto& ev : events) {
      revision_ = std::max(revision_, ev.kv.mod_revision);
      CacheEvent ce;
      ce.revision = ev.kv.mod_revision;
      ce.key = ev.kv.key;
      auto it = objects_.find(ce.key);
      if (it != objects_.end()) ce.prev = it->second;
      if (ev.type == store::Event::Type::kPut) {
        ce.type = CacheEvent::Type::kPut;
        ce.object = CachedObject::make(ev.kv.key, ev.kv.value, ev.kv.mod_revision);
        if (!ce.object) {
          log::logger("apiserver")->warn("watch cache: {} is not a JSON object; not served", ce.key);
          if (it != objects_.end()) objects_.erase(it);
          continue;
        }
        if (it != objects_.end()) it->second = ce.object;
        else objects_.emplace(ce.key, ce.object);
      } else {
        ce.type = CacheEvent::Type::kDelete;
        if (it == objects_.end()) continue;  // never served: nothing to tell
        objects_.erase(it);
      }
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
  progressed_.notify_all();
}

void WatchCache::on_canceled(const Status& reason, store::Revision compact_revision) {
  log::logger("apiserver")
      ->warn("watch cache {}: store watch canceled ({}), compact revision {}; relisting",
             options_.prefix, reason.to_string(), compact_revision);
  {
    std::lock_guard lock(mu_);
    ready_ = false;
  }
  progressed_.notify_all();
  if (!options_.post) return;
  options_.post([life = life_] {
    std::lock_guard lock(life->mu);
    if (life->cache != nullptr) life->cache->restart();
  });
}

// Worker thread, under life_->mu.
void WatchCache::restart() {
  std::unique_ptr<store::Watch> old;
  std::vector<std::shared_ptr<CacheWatcher>> watchers;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    ready_ = false;
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
  if (st.ok()) {
    log::logger("apiserver")->info("watch cache {}: relisted at revision {}", options_.prefix, revision());
    return;
  }
  log::logger("apiserver")->warn("watch cache {}: relist failed: {}", options_.prefix, st.to_string());
  retry_later();
}

void WatchCache::retry_later() {
  std::chrono::milliseconds delay;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    backoff_ = backoff_.count() == 0 ? options_.min_backoff : std::min(backoff_ * 2, options_.max_backoff);
    delay = backoff_;
  }
  if (!options_.schedule || !options_.post) return;
  options_.schedule(delay, [life = life_, post = options_.post] {
    post([life] {
      std::lock_guard lock(life->mu);
      if (life->cache != nullptr) life->cache->restart();
    });
  });
}

}  // namespace kedge::control

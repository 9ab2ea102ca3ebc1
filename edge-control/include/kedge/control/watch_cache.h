// WatchCache: the per-resource cache of the API server. It holds every object
// of one resource (already serialized, plus the few fields selectors need),
// fed by ONE store watch, and serves lists and watches from memory.
//
// The cache reads the resource's key prefix (/registry/<resource>/) at
// revision R, then watches it from R+1. It keeps the current objects (a map by
// key) and the last `capacity` events, replayed to each new watcher whose
// resourceVersion is recent enough (older ones get 410 Expired, as from
// upstream's cache). So a thousand agents watching their pods cost one store
// watch plus a thousand cheap streams, and a list of 10k pods copies bytes
// instead of parsing and re-serializing 10k objects.
//
// When the store ends the cache's watch (compaction, an etcd outage), the cache
// ends its watchers with 410 (clients relist), and relists + rewatches with
// backoff until the store answers again; until then it is not ready (lists
// fall back to the store, watches are refused with 429 as upstream's
// "storage is (re)initializing").
//
// Threads: store events arrive on the store's notifier thread (on_events);
// watchers are called on that thread and must not block (they queue and post
// to their connection's strand). add_watcher/remove/list/wait_for_revision may
// be called from any thread (wait_for_revision blocks: worker threads only).
// Restarts run on `post`'s executor, retries are timed by `schedule`.
//
// Ownership: the ApiHandler owns the caches; watchers are shared_ptr held by
// the cache until removed or terminated. Cached objects are immutable and
// shared (shared_ptr<const>) by the map, the event ring and lists in flight.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "kedge/control/api_error.h"
#include "kedge/store/kv.h"

namespace kedge::control {

// One stored object as the API returns it. Immutable once made.
struct CachedObject {
  std::string key;
  store::Revision revision = 0;  // mod revision = metadata.resourceVersion
  // The object's JSON with metadata.resourceVersion set (compact, as stored).
  std::string json;
  std::uint32_t rv_offset = 0;  // where the resourceVersion digits are in `json`
  std::uint32_t rv_length = 0;
  // What selectors read: top-level scalars, the scalar members of top-level
  // objects (spec.nodeName, status.phase, involvedObject.name, ...) and
  // metadata.labels. Field selectors reach no deeper (strategy.cpp).
  boost::json::object fields;

  // `json` with another resourceVersion (a DELETED event carries the
  // revision of the delete).
  std::string json_at(store::Revision revision) const;
  // Parses `value` (stored JSON); null when it is not a JSON object.
  static std::shared_ptr<const CachedObject> make(std::string key, std::string_view value,
                                                  store::Revision revision);
};
using CachedObjectPtr = std::shared_ptr<const CachedObject>;

struct CacheEvent {
  enum class Type : std::uint8_t { kPut, kDelete };
  Type type = Type::kPut;
  store::Revision revision = 0;
  std::string key;
  CachedObjectPtr object;  // the new state; null for deletes
  CachedObjectPtr prev;    // the state before; null when created
};

// One API watch stream's end of the cache. Calls come from the notifier
// thread (or from add_watcher's caller during replay), never concurrently.
class CacheWatcher {
 public:
  virtual ~CacheWatcher() = default;
  // Returns false when the watcher is gone (it is then removed).
  virtual bool on_event(const CacheEvent& event) = 0;
  // Progress: nothing of this resource changed up to `revision`.
  virtual bool on_progress(store::Revision revision) = 0;
  // The cache lost its store watch (compaction, overload, outage): the stream
  // must end with this error; nothing more is delivered.
  virtual void on_terminated(const ApiError& error) = 0;
};

struct WatchCacheOptions {
  std::string prefix;            // "/registry/pods/"
  std::size_t capacity = 1024;   // events kept for replay
  // Runs `fn` on a worker thread (never the notifier thread).
  std::function<void(std::function<void()>)> post;
  // Runs `fn` after `delay` (restart backoff). Without it, restarts retry
  // once, at once.
  std::function<void(std::chrono::milliseconds delay, std::function<void()> fn)> schedule;
  std::chrono::milliseconds min_backoff{100};
  std::chrono::milliseconds max_backoff{5000};
};

struct CacheListOptions {
  std::string prefix;         // keys under it (namespace scoping); must be under the cache's prefix
  std::string start;          // first key (inclusive); empty = prefix
  std::size_t limit = 0;      // 0 = all
  std::function<bool(const CachedObject&)> match;  // null = every object
  // 0 = the cache's current state. Otherwise the state at this older
  // revision, answerable only while no buffered event after it touched keys
  // at or past `start` (a later page of a paginated list).
  store::Revision at = 0;
};

struct CacheList {
  std::vector<CachedObjectPtr> items;
  store::Revision revision = 0;  // the state the items are of
  bool more = false;             // objects past `limit` matched too
};

class WatchCache : public store::WatchObserver {
 public:
  WatchCache(store::Store& store, WatchCacheOptions options);
  ~WatchCache() override;
  WatchCache(const WatchCache&) = delete;
  WatchCache& operator=(const WatchCache&) = delete;

  // Reads the prefix and starts the store watch after it. Blocking (store
  // calls): worker thread only.
  Status start();
  void stop();

  // Registers `watcher` for events with revision > from_revision, replaying
  // buffered ones first. from_revision older than the buffer → 410 Expired;
  // not ready → 429.
  ApiStatus add_watcher(std::shared_ptr<CacheWatcher> watcher, store::Revision from_revision);
  // A list and the watcher's registration at the same revision, atomically:
  // the watcher gets every event after `out.revision`.
  ApiStatus list_and_watch(const CacheListOptions& options, CacheList& out,
                           std::shared_ptr<CacheWatcher> watcher);
  void remove_watcher(const CacheWatcher* watcher);

  // False when the cache cannot answer (not ready, or `at` no longer
  // answerable): the caller reads the store instead.
  bool list(const CacheListOptions& options, CacheList& out) const;

  // Blocks until the cache has seen `revision` (asking the store for a
  // progress notification, as upstream's consistent reads from cache), or
  // `timeout` passes / the cache is not ready (false).
  bool wait_for_revision(store::Revision revision, std::chrono::milliseconds timeout);

  // Asks the store for a progress notification (turned into bookmarks).
  void request_progress();

  bool ready() const;
  std::size_t watcher_count() const;
  std::size_t object_count() const;
  store::Revision revision() const;  // newest revision the cache has seen

  // store::WatchObserver (notifier thread).
  void on_events(store::Revision header_revision, std::span<const store::Event> events) override;
  void on_canceled(const Status& reason, store::Revision compact_revision) override;

 private:
  struct Life;
  void list_locked(const CacheListOptions& options, CacheList& out) const;
  void restart();
  void retry_later();

  store::Store& store_;
  const WatchCacheOptions options_;
  std::shared_ptr<Life> life_;  // lets scheduled restarts outlive the cache safely

  mutable std::mutex mu_;
  std::condition_variable progressed_;                // revision_ moved or ready_ changed
  std::map<std::string, CachedObjectPtr, std::less<>> objects_;  // guarded by mu_
  std::deque<CacheEvent> ring_;                      // guarded by mu_
  store::Revision oldest_ = 0;                       // replay covers (oldest_, revision_]; guarded by mu_
  store::Revision revision_ = 0;                     // guarded by mu_
  std::vector<std::shared_ptr<CacheWatcher>> watchers_;  // guarded by mu_
  std::unique_ptr<store::Watch> watch_;              // guarded by mu_
  bool ready_ = false;                               // guarded by mu_
  bool stopped_ = false;                             // guarded by mu_
  std::chrono::milliseconds backoff_{0};             // guarded by mu_
};

}  // namespace kedge::control

// WatchCache: one store watch per resource, fanned out to any number of API
// watchers from a ring buffer of recent events.
//
// The cache watches the resource's key prefix (/registry/<resource>/) from
// the revision it started at, keeps the last `capacity` events, and replays
// from that buffer to each new watcher whose resourceVersion is recent enough
// (older ones get 410 Expired, as from upstream's cache). So a thousand agents
// watching their pods cost one store watch plus a thousand cheap streams.
//
// Threads: store events arrive on the store's notifier thread (on_events);
// watchers are called on that thread and must not block (they queue and post
// to their connection's strand). add_watcher/remove may be called from any
// thread. restart after a canceled store watch runs on `post`'s executor.
//
// Ownership: the ApiServer owns the caches; watchers are shared_ptr held by
// the cache until removed or terminated.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kedge/control/api_error.h"
#include "kedge/store/kv.h"

namespace kedge::control {

struct CacheEvent {
  enum class Type : std::uint8_t { kPut, kDelete };
  Type type = Type::kPut;
  store::Revision revision = 0;
  std::string key;
  std::string value;       // object JSON as stored (no resourceVersion); empty for deletes
  std::string prev_value;  // previous object JSON, empty when created
  bool created = false;    // put of a key that did not exist before
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
  // The cache lost its store watch (compaction, overload): the stream must
  // end with this error; nothing more is delivered.
  virtual void on_terminated(const ApiError& error) = 0;
};

struct WatchCacheOptions {
  std::string prefix;            // "/registry/pods/"
  std::size_t capacity = 1024;   // events kept for replay
  // Runs `fn` on a worker thread (never the notifier thread).
  std::function<void(std::function<void()>)> post;
};

class WatchCache : public store::WatchObserver {
 public:
  WatchCache(store::Store& store, WatchCacheOptions options);
  ~WatchCache() override;
  WatchCache(const WatchCache&) = delete;
  WatchCache& operator=(const WatchCache&) = delete;

  // Starts the store watch at the store's current revision. Blocking (store
  // call): worker thread only.
  Status start();
  void stop();

  // Registers `watcher` for events with revision > from_revision, replaying
  // buffered ones first. from_revision older than the buffer → 410 Expired.
  // from_revision 0 is not accepted here (the caller sends the initial state
  // from a store read at revision R, then adds the watcher from R).
  ApiStatus add_watcher(std::shared_ptr<CacheWatcher> watcher, store::Revision from_revision);
  void remove_watcher(const CacheWatcher* watcher);

  // Asks the store for a progress notification (turned into bookmarks).
  void request_progress();

  std::size_t watcher_count() const;
  store::Revision revision() const;  // newest revision the cache has seen

  // store::WatchObserver (notifier thread).
  void on_events(store::Revision header_revision, std::span<const store::Event> events) override;
  void on_canceled(const Status& reason, store::Revision compact_revision) override;

 private:
  store::Store& store_;
  const WatchCacheOptions options_;

  mutable std::mutex mu_;
  std::deque<CacheEvent> ring_;                      // guarded by mu_
  store::Revision oldest_ = 0;                       // replay covers (oldest_, revision_]; guarded by mu_
  store::Revision revision_ = 0;                     // guarded by mu_
  std::vector<std::shared_ptr<CacheWatcher>> watchers_;  // guarded by mu_
  std::unique_ptr<store::Watch> watch_;              // guarded by mu_
  bool stopped_ = false;                             // guarded by mu_
};

}  // namespace kedge::control

// WatchStream: one API watch (GET ...?watch=true) — a StreamSource for the
// HTTP connection and a CacheWatcher of the resource's WatchCache. It filters
// events by namespace and selectors (objects moving out of a selector become
// DELETED, moving in become ADDED, as upstream) and writes one JSON event per
// line from the cached bytes, or a Table row when the client asked for tables.
//
// A watch without a resourceVersion first sends the current objects as ADDED
// (a cache snapshot taken with the watcher's registration, so nothing is
// missed or doubled); events arriving meanwhile wait in the stream. The
// snapshot is written with flow control, so 10k objects do not pile up in the
// connection's queue.
//
// Threads: start() on a worker; events on the store's notifier thread;
// cancel() from the connection's strand or a timer. All paths are guarded by
// mu_, and sink writes never block (the sink queues) except the snapshot's,
// which wait on the worker outside mu_.
// Internal to edge-control.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "kedge/control/http.h"
#include "kedge/control/resources.h"
#include "kedge/control/table.h"
#include "kedge/control/watch_cache.h"
#include "selection.h"

namespace kedge::control {

struct WatchStreamOptions {
  const ResourceInfo* info = nullptr;
  std::string key_prefix;  // only keys under it (namespace scoping)
  std::shared_ptr<const Selection> selection;
  bool table = false;
  IncludeObject include = IncludeObject::kMetadata;
  bool bookmarks = false;
  // True: send the cache's current objects as ADDED first, then events after
  // them. False: events after from_revision.
  bool send_initial = false;
  store::Revision from_revision = 0;
  std::optional<ApiError> initial_error;  // sent as the only event (e.g. 410)
  WatchCache* cache = nullptr;
  std::function<void()> on_finished;  // metrics
};

class WatchStream : public StreamSource,
                    public CacheWatcher,
                    public std::enable_shared_from_this<WatchStream> {
 public:
  explicit WatchStream(WatchStreamOptions options);
  ~WatchStream() override;

  // StreamSource
  void start(std::shared_ptr<StreamSink> sink) override;
  void cancel() override;

  // CacheWatcher
  bool on_event(const CacheEvent& event) override;
  bool on_progress(store::Revision revision) override;
  void on_terminated(const ApiError& error) override;

 private:
  void send_initial(const std::shared_ptr<StreamSink>& sink);
  bool deliver_locked(const CacheEvent& event);
  bool write_event(std::string_view type, const std::string& object_json);
  void finish_locked();

  WatchStreamOptions options_;
  std::mutex mu_;
  std::shared_ptr<StreamSink> sink_;  // guarded by mu_
  bool done_ = false;                 // guarded by mu_
  bool live_ = true;                  // false while the snapshot is written; guarded by mu_
  std::vector<CacheEvent> held_;      // events during the snapshot; guarded by mu_
  store::Revision last_sent_ = 0;     // guarded by mu_
};

}  // namespace kedge::control

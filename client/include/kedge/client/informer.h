// Informer: keeps a local copy of one collection of API objects current by
// LIST then WATCH (relisting when the server says the resourceVersion
// expired or the connection breaks), and tells handlers what changed — the
// pattern every controller, the agent and the proxy are built on.
//
// Threads: run() blocks its caller, which becomes the informer's thread;
// handlers are called on it, in event order, and must not block for long
// (hand work to your own queue). stop() and the cache readers (get, list,
// has_synced) may be called from any thread.
// Ownership: borrows the RestClient (must outlive the informer); cached
// objects are immutable snapshots shared with callers.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "kedge/base/packed_map.h"
#include "kedge/base/status.h"
#include "kedge/client/rest_client.h"

namespace kedge::client {

using Object = std::shared_ptr<const boost::json::value>;

class InformerHandler {
 public:
  virtual ~InformerHandler() = default;
  virtual void on_add(const Object& obj) = 0;
  virtual void on_update(const Object& old_obj, const Object& new_obj) = 0;
  // `obj` is the last state seen (after a relist it may be older than the deletion).
  virtual void on_delete(const Object& obj) = 0;
  // After each (re)list has been applied to the cache.
  virtual void on_synced() {}
};

struct InformerOptions {
  // Collection path without query: "/api/v1/pods", "/apis/apps/v1/deployments",
  // "/api/v1/namespaces/ns/configmaps".
  std::string path;
  std::string label_selector;
  std::string field_selector;  // e.g. "spec.nodeName=node1"
  // Asked of the server per watch; it ends the watch after this, and the
  // informer re-watches from the last resourceVersion seen.
  std::chrono::seconds watch_timeout{300};
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{30000};
  // What the cache keeps of each object. kObjects: the object as received;
  // get/list return it, and handlers get it as on_update's old_obj and in
  // on_delete after a relist. kVersions: only each object's key and
  // resourceVersion, for handlers that keep their own digest of what they
  // need (the service proxy: the JSON of 10k Services and EndpointSlices
  // was ~65 MB beside its own ~8 MB, bench/README.md); get, list, old_obj
  // and on_delete after a relist then see a stub holding only
  // metadata.namespace (if any), .name and .resourceVersion. Added and
  // updated objects, and deletions the server sends, are always delivered
  // whole.
  enum class Cache { kObjects, kVersions };
  Cache cache = Cache::kObjects;
};

class Informer {
 public:
  Informer(RestClient& client, InformerOptions options);
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // REQUIRES: before run(). The handler must outlive the informer's run().
  void add_handler(InformerHandler* handler);

  // Lists and watches until stop(); transport errors and expired versions
  // are retried with backoff (logged), so it returns OK after stop().
  Status run();
  void stop();

  // True once the first list has been delivered to every handler.
  bool has_synced() const;
  Object get(const std::string& ns, const std::string& name) const;
  std::vector<Object> list() const;
  // The resourceVersion of the newest event applied.
  std::string resource_version() const;

 private:
  Status list_and_replace();
  // Watches from resource_version_; returns when the stream ends.
  Status watch_once();
  void apply_event(std::string_view type, Object obj);
  std::string query(bool watch) const;
  bool keeps_objects() const { return options_.cache == InformerOptions::Cache::kObjects; }
  bool sleep_backoff(std::chrono::milliseconds d);

  RestClient& client_;
  const InformerOptions options_;
  std::vector<InformerHandler*> handlers_;  // constant once run() starts

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;                  // guarded by mu_
  bool synced_ = false;                    // guarded by mu_
  // Guarded by mu_: "ns/name" → object (Cache::kObjects) or → its
  // resourceVersion (Cache::kVersions, in one block: 20k small map nodes
  // allocated among the list's JSON pinned ~7 MB of freed heap); the other
  // stays empty.
  std::map<std::string, Object> cache_;
  PackedMap versions_;
  std::string resource_version_;           // guarded by mu_
  std::unique_ptr<LineStream> stream_;     // guarded by mu_
};

}  // namespace kedge::client

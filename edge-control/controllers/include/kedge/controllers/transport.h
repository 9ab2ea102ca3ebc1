// Transport: everything a controller may do with the API — read its caches,
// subscribe to changes, and write — behind one small interface, so the HTTPS
// implementation (RestTransport: RestClient + Informers, the way
// kube-controller-manager talks to kube-apiserver) can be replaced by an
// in-process one without touching controller logic, and tests can use an
// in-memory fake.
//
// Reads come from watch caches and may lag the controller's own writes; the
// controllers are written for that (expectations, idempotent syncs).
// Thread-safety: implementations must allow every method from any thread;
// handlers are called on the implementation's informer threads.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "kedge/base/status.h"
#include "kedge/client/informer.h"

namespace kedge::controllers {

using client::Object;

// One API resource: where it lives and what its objects are called.
struct Resource {
  std::string group_version;  // "v1", "apps/v1"
  std::string plural;         // "pods"
  std::string kind;           // "Pod"
  bool namespaced = true;

  // "/api/v1" or "/apis/apps/v1".
  std::string prefix() const;
  // Collection path, all namespaces when ns is empty.
  std::string collection(std::string_view ns) const;
  std::string object(std::string_view ns, std::string_view name) const;
  friend bool operator<(const Resource& a, const Resource& b) { return a.collection("") < b.collection(""); }
};

const Resource& pods_resource();
const Resource& replicasets_resource();
const Resource& deployments_resource();
const Resource& nodes_resource();
const Resource& namespaces_resource();

// metav1.DeleteOptions subset.
struct DeleteOptions {
  std::string propagation_policy;  // "", "Background", "Foreground", "Orphan"
  std::string precondition_uid;    // delete only this incarnation
};

class Transport {
 public:
  virtual ~Transport() = default;

  // REQUIRES: before start(). Caches `resource` and calls `handler` (which
  // must outlive stop()) on every change.
  virtual void watch(const Resource& resource, client::InformerHandler* handler) = 0;
  virtual void start() = 0;
  // Blocks until every watched cache has listed once, or stop().
  virtual bool wait_for_sync() = 0;
  virtual void stop() = 0;

  // Cache reads; ns "" = all namespaces. Null / empty for unwatched resources.
  virtual Object get(const Resource& resource, std::string_view ns, std::string_view name) const = 0;
  virtual std::vector<Object> list(const Resource& resource, std::string_view ns) const = 0;

  // A read from the API itself, not the cache: for decisions a stale cache
  // must not make (the garbage collector confirming an owner is gone).
  virtual Result<boost::json::value> get_live(const Resource& resource, std::string_view ns,
                                              std::string_view name) = 0;

  // Writes; they return the stored object (or the API's error as a Status:
  // NotFound, AlreadyExists, Aborted for a conflict, InvalidArgument...).
  virtual Result<boost::json::value> create(const Resource& resource, std::string_view ns,
                                            const boost::json::value& obj) = 0;
  // PUT of the whole object (metadata.resourceVersion guards it).
  virtual Result<boost::json::value> update(const Resource& resource, const boost::json::value& obj) = 0;
  virtual Result<boost::json::value> update_status(const Resource& resource, const boost::json::value& obj) = 0;
  // JSON merge patch (RFC 7386).
  virtual Result<boost::json::value> patch(const Resource& resource, std::string_view ns, std::string_view name,
                                           const boost::json::value& merge_patch) = 0;
  virtual Status remove(const Resource& resource, std::string_view ns, std::string_view name,
                        const DeleteOptions& options) = 0;
};

// "ns/name" (or "name" for cluster objects), the key the queues use.
std::string object_key(const boost::json::value& obj);
std::pair<std::string, std::string> split_key(std::string_view key);

}  // namespace kedge::controllers

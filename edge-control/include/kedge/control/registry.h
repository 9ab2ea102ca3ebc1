// Registry: the generic REST storage of every kind over the Store interface.
//
// Objects are stored as JSON under upstream's keys, /registry/<resource>/
// <namespace>/<name> (cluster-scoped: /registry/<resource>/<name>), without
// metadata.resourceVersion: an object's resourceVersion is the store's
// mod_revision of its key, set on every read. Writes are compare-and-swap
// transactions on that revision (etcd's optimistic concurrency), so a stale
// resourceVersion is refused with 409 Conflict whatever store is underneath.
//
// Thread-safety: every method may be called concurrently from worker threads.
// Methods block on the store: never call them on an event loop.
// Ownership: borrows the Store, which must outlive the Registry.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "kedge/control/api_error.h"
#include "kedge/control/resources.h"
#include "kedge/store/kv.h"

namespace kedge::control {

enum class FieldValidation : std::uint8_t { kIgnore, kWarn, kStrict };

struct WriteOptions {
  bool dry_run = false;
  FieldValidation field_validation = FieldValidation::kWarn;
  std::string field_manager;
};

// A write's result: the object as stored plus warnings for the Warning header.
struct WriteResult {
  boost::json::object object;
  std::vector<std::string> warnings;
  bool created = false;  // 201 instead of 200
};

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  std::int64_t limit = 0;    // 0 = all
  std::string continue_token;
  store::Revision revision = 0;  // read at this revision (resourceVersionMatch=Exact); 0 = now
};

struct ListResult {
  std::vector<boost::json::object> items;
  store::Revision revision = 0;
  std::string continue_token;
  std::optional<std::int64_t> remaining;
};

struct DeleteOptions {
  bool dry_run = false;
  std::optional<std::int64_t> grace_period_seconds;
  std::string propagation_policy;  // Background (default) | Foreground | Orphan
  std::optional<std::string> precondition_uid;
  std::optional<std::string> precondition_resource_version;
};

// What a PATCH applies; see patch content types in PROTOCOLS.md §1.
enum class PatchType : std::uint8_t { kJson, kMerge, kStrategic };

class ServiceAllocator;

class Registry {
 public:
  explicit Registry(store::Store& store);
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  static std::string key_for(const ResourceInfo& info, std::string_view ns, std::string_view name);
  // Prefix for a list in `ns` ("" = all namespaces), with a trailing '/'.
  static std::string prefix_for(const ResourceInfo& info, std::string_view ns);

  ApiResult<WriteResult> create(const ResourceInfo& info, std::string_view ns,
                                boost::json::object obj, const WriteOptions& options);
  ApiResult<boost::json::object> get(const ResourceInfo& info, std::string_view ns,
                                     std::string_view name);
  ApiResult<ListResult> list(const ResourceInfo& info, std::string_view ns,
                             const ListOptions& options);
  // PUT: `obj` replaces the stored object (or only its status for kStatus).
  ApiResult<WriteResult> update(const ResourceInfo& info, std::string_view ns,
                                std::string_view name, boost::json::object obj,
                                const WriteOptions& options, bool status_only);
  ApiResult<WriteResult> patch(const ResourceInfo& info, std::string_view ns,
                               std::string_view name, PatchType type, const boost::json::value& patch,
                               const WriteOptions& options, bool status_only);
  // GET/PUT of the autoscaling/v1 Scale view of spec.replicas.
  ApiResult<boost::json::object> get_scale(const ResourceInfo& info, std::string_view ns,
                                           std::string_view name);
  ApiResult<boost::json::object> update_scale(const ResourceInfo& info, std::string_view ns,
                                              std::string_view name, const boost::json::object& scale,
                                              const WriteOptions& options);
  // Returns the deleted object, or the object now carrying deletionTimestamp
  // when finalizers (or a pod's grace period) keep it; `finished` says which.
  ApiResult<boost::json::object> remove(const ResourceInfo& info, std::string_view ns,
                                        std::string_view name, const DeleteOptions& options,
                                        bool* finished = nullptr);
  ApiResult<ListResult> remove_collection(const ResourceInfo& info, std::string_view ns,
                                          const ListOptions& list_options,
                                          const DeleteOptions& options);

  // Creates the default namespaces if missing; finishes the deletion of
  // namespaces left Terminating by a previous run.
  Status bootstrap();
  // Points the `kubernetes` Service at this API server, as upstream's
  // endpoint reconciler does: Endpoints and EndpointSlice default/kubernetes
  // with `address`:`port`, and the Service's targetPort = `port`. Idempotent
  // (a restart with the same address writes nothing). Blocking.
  Status publish_apiserver_endpoints(std::string_view address, int port);
  // Deletes every object in namespace `ns`, then the namespace itself.
  // Blocking; run on a worker thread.
  void finalize_namespace(const std::string& ns);
  // Called with a namespace name when one starts terminating (the server
  // posts finalize_namespace to a worker).
  void set_namespace_terminating_hook(std::function<void(std::string)> hook);

  // Parses stored JSON and sets metadata.resourceVersion (= mod revision).
  static ApiResult<boost::json::object> decode(const store::KeyValue& kv);

  // What a write may change: the object without its status (an update),
  // only the status (the status subresource), or both (the server's own
  // writes that span them, such as a pod binding: spec.nodeName and the
  // PodScheduled condition in one revision).
  enum class Scope : std::uint8_t { kMain, kStatus, kMainAndStatus };

  // Read-modify-write with compare-and-swap, retried on races: `mutate` gets
  // the stored object and returns the desired one (a resourceVersion in it is
  // a precondition). Strategy, validation and allocation apply as for update.
  using Mutator = std::function<ApiResult<boost::json::object>(const boost::json::object& current)>;
  ApiResult<WriteResult> modify(const ResourceInfo& info, std::string_view ns,
                                std::string_view name, const Mutator& mutate,
                                const WriteOptions& options, Scope scope);

 private:
  ApiStatus check_namespace_writable(const ResourceInfo& info, std::string_view ns);
  ApiResult<boost::json::object> delete_now(const ResourceInfo& info, const std::string& key,
                                            const store::KeyValue& kv, boost::json::object obj);

  store::Store& store_;
  std::unique_ptr<ServiceAllocator> services_;
  std::mutex hook_mu_;
  std::function<void(std::string)> namespace_hook_;  // guarded by hook_mu_
};

}  // namespace kedge::control

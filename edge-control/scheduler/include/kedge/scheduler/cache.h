// The scheduler's cache: Nodes plus the pods bound (or assumed) to them, kept
// up to date incrementally from informer events, with the aggregates the
// plugins need already summed per node (requested resources, host ports) and
// indexed cluster-wide (pods by label, existing pods' affinity terms by
// topology value, images by node count). Scheduling one pod therefore never
// rescans every pod.
//
// Lifecycle of a pod, as upstream's scheduler cache:
//   pending (not in the cache) --schedule--> assume_pod(pod, node)
//     --bind ok, informer update with spec.nodeName--> add_pod(pod)  (confirms)
//     --bind failed--> forget_pod(key)
//   bound pods seen first through the informer go straight to add_pod().
//
// Thread-safety: NOT thread-safe. One owner thread (the scheduler loop) calls
// every method, including Scheduler::schedule(), which reads the cache.
// Ownership: the cache shares the immutable PodInfo/NodeInfo it is given.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "kedge/base/status.h"
#include "kedge/scheduler/types.h"

namespace kedge::scheduler {

class Cache {
 public:
  Cache();
  ~Cache();
  Cache(const Cache&) = delete;
  Cache& operator=(const Cache&) = delete;

  // Adds or replaces a Node (an informer ADDED or MODIFIED event).
  void upsert_node(std::shared_ptr<const NodeInfo> node);
  Status upsert_node(const boost::json::value& node_json);
  // Removes a Node. Pods still bound to it stay accounted (as upstream) until
  // they are removed, but the node is no longer a candidate.
  void remove_node(std::string_view name);

  // Adds or replaces a bound pod (spec.nodeName set). Confirms an assumed pod
  // of the same key, moving it if the API bound it elsewhere. A pod in a
  // terminal phase (Succeeded/Failed) holds nothing: it is removed instead,
  // as upstream's informer filters such pods out.
  // REQUIRES: !pod->node_name.empty() (else InvalidArgument).
  Status add_pod(std::shared_ptr<const PodInfo> pod);
  Status add_pod(const boost::json::value& pod_json);
  // Removes a pod (informer DELETED, or a pod that reached a terminal phase).
  // Unknown keys are ignored.
  void remove_pod(std::string_view key);

  // Accounts `pod` on `node_name` before the binding is written, so the next
  // scheduling decision already sees it. AlreadyExists if the key is in the
  // cache; NotFound if the node is unknown.
  Status assume_pod(std::shared_ptr<const PodInfo> pod, std::string_view node_name);
  // Drops an assumed pod (its binding failed). No-op for confirmed pods.
  void forget_pod(std::string_view key);

  // Labels of a namespace, for affinity terms with a namespaceSelector.
  void upsert_namespace(std::string_view name, boost::json::object labels);
  void remove_namespace(std::string_view name);

  std::size_t node_count() const;  // nodes that exist (candidates)
  std::size_t pod_count() const;   // bound + assumed pods
  bool has_pod(std::string_view key) const;
  bool is_assumed(std::string_view key) const;
  // The node a cached pod is accounted on, empty if unknown.
  std::string node_of(std::string_view key) const;
  // Requested resources summed over a node's pods; nullptr if unknown.
  const Resources* requested_on(std::string_view node_name) const;

  // Implementation shared with the scheduler's plugins (src/cache_impl.h).
  struct Impl;
  Impl& impl() { return *impl_; }
  const Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace kedge::scheduler

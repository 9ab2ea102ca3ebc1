// DaemonSet controller: one pod of the DaemonSet on every eligible node.
//
// A node is eligible when the pod template's nodeSelector and required node
// affinity match it and every NoSchedule/NoExecute taint on it is tolerated
// by the template's tolerations plus the ones upstream adds to every
// DaemonSet pod (not-ready and unreachable NoExecute; disk-, memory- and
// pid-pressure and unschedulable NoSchedule; network-unavailable NoSchedule
// for hostNetwork pods) — so a cordoned or not-ready node keeps its daemons.
//
// One sync(ns/name):
//  * pods are those whose controller ownerReference is this DaemonSet; a
//    pod's node is spec.nodeName, or, before binding, the node its affinity
//    pins it to;
//  * an eligible node without an active pod gets one (generateName
//    "<ds>-"), created as upstream does: with a required node affinity on
//    `metadata.name` (matchFields) replacing the template's node affinity
//    terms, and the default tolerations; the scheduler binds it. Failed
//    pods are deleted (and so replaced); duplicates and pods on ineligible
//    or vanished nodes are deleted;
//  * RollingUpdate: pods carry controller-revision-hash (a hash of the
//    template); old pods are deleted — unavailable ones first, available
//    ones while fewer than maxUnavailable (default 1; a percentage of the
//    eligible nodes, rounded up) nodes are without an available pod.
//    OnDelete: old pods stay until someone deletes them;
//  * status: desiredNumberScheduled, currentNumberScheduled,
//    numberMisscheduled, numberReady, updatedNumberScheduled,
//    numberAvailable (ready for minReadySeconds), numberUnavailable,
//    observedGeneration.
// Not implemented: ControllerRevision objects (rollout history/undo), maxSurge,
// adoption of orphaned pods.
//
// Threads: as Controller; handlers run on the transport's informer threads.
#pragma once

#include <functional>
#include <memory>

#include "kedge/controllers/controller.h"
#include "kedge/controllers/expectations.h"
#include "kedge/controllers/pod_util.h"

namespace kedge::controllers {

inline constexpr char kControllerRevisionHashLabel[] = "controller-revision-hash";

struct DaemonSetControllerOptions {
  WorkQueueOptions queue;
  Clock* clock = nullptr;  // expectations' clock; nullptr: real
  std::function<SystemTime()> now;  // minReadySeconds; nullptr: system_clock::now
};

class DaemonSetController final : public Controller {
 public:
  DaemonSetController(Transport& transport, DaemonSetControllerOptions options = {});
  ~DaemonSetController() override { stop(); }

  // Registers the DaemonSet, Pod and Node watches. REQUIRES: before transport.start().
  void register_watches();

  Status sync(const std::string& key) override;
  void resync_all() override;

 private:
  class DsHandler;
  class NodeHandler;

  struct Plan;
  Plan plan(const boost::json::value& ds, const std::string& hash) const;
  Status apply(const std::string& key, const boost::json::value& ds, const Plan& plan, const std::string& hash);
  Status write_status(const boost::json::value& ds, const Plan& plan);
  SystemTime now() const;

  DaemonSetControllerOptions options_;
  Expectations expectations_;
  std::unique_ptr<client::InformerHandler> ds_handler_;
  std::unique_ptr<client::InformerHandler> pod_handler_;
  std::unique_ptr<client::InformerHandler> node_handler_;
};

// Whether a pod of `ds` belongs on `node` (selector, affinity, taints).
bool daemon_should_run_on(const boost::json::value& ds, const boost::json::value& node);

}  // namespace kedge::controllers

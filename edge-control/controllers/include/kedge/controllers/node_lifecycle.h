// NodeLifecycleController: upstream's node lifecycle controller with
// taint-based eviction, in one reconciler keyed by node name.
//
// One sync(node):
//  1. Health. The node is alive while its Ready condition's
//     lastHeartbeatTime or its Lease (kube-node-lease/<node>) renewTime keeps
//     changing, as observed on our monotonic clock (node clocks are not
//     trusted). After grace_period (50 s, upstream's
//     --node-monitor-grace-period) without a change, Ready, MemoryPressure,
//     DiskPressure and PIDPressure become Unknown with reason
//     NodeStatusUnknown and message "Kubelet stopped posting node status.".
//  2. Taints. Ready=False → node.kubernetes.io/not-ready, Ready=Unknown →
//     node.kubernetes.io/unreachable, each as NoSchedule and NoExecute (with
//     timeAdded); Ready=True removes them.
//  3. Eviction (the taint manager). Pods on a node with NoExecute taints are
//     deleted at once if they do not tolerate one of them, after the
//     smallest tolerationSeconds if they do, never if they tolerate them
//     without a limit. The DefaultTolerationSeconds admission gives every
//     pod 300 s for not-ready and unreachable.
//  4. Requeue after monitor_period, or sooner when an eviction is due.
//
// Threads: the Controller's workers. Ownership: borrows the Transport.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "kedge/controllers/controller.h"

namespace kedge::controllers {

const Resource& leases_resource();

inline constexpr char kNodeLeaseNamespace[] = "kube-node-lease";
inline constexpr char kTaintNotReady[] = "node.kubernetes.io/not-ready";
inline constexpr char kTaintUnreachable[] = "node.kubernetes.io/unreachable";

struct NodeLifecycleOptions {
  WorkQueueOptions queue;
  std::chrono::milliseconds grace_period{50000};
  std::chrono::milliseconds monitor_period{5000};
};

class NodeLifecycleController final : public Controller {
 public:
  NodeLifecycleController(Transport& transport, NodeLifecycleOptions options = {});
  ~NodeLifecycleController() override;

  // Nodes, node Leases and Pods. REQUIRES: before transport.start().
  void register_watches();

  Status sync(const std::string& key) override;
  void resync_all() override;

 private:
  class Handler;
  using Steady = std::chrono::steady_clock;
  struct Health {
    std::string heartbeat;  // Ready's lastHeartbeatTime
    std::string renew;      // the Lease's renewTime
    Steady::time_point probe;  // when either last changed
  };

  // Returns the node as stored after any status write.
  Result<boost::json::value> update_health(const std::string& name, boost::json::value node);
  Result<boost::json::value> update_taints(boost::json::value node);
  // Deletes due pods; returns the time until the next one is due (or max()).
  std::chrono::milliseconds evict(const boost::json::value& node);

  NodeLifecycleOptions options_;
  std::unique_ptr<client::InformerHandler> node_handler_;
  std::mutex mu_;
  std::map<std::string, Health> health_;  // guarded by mu_
};

}  // namespace kedge::controllers
